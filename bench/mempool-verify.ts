// Micro benchmark: signature verification for mempool admission, on the event loop vs a worker pool.
// Prints invocations per second for the verifier alone and for whole `admitBatch` calls, and how much of
// the event loop each path keeps busy (what is left for HTTP parsing, consensus and execution).
//   node --import tsx bench/mempool-verify.ts [count]

import { performance } from "node:perf_hooks";
import { encode, SignedInvocation, type Invocation } from "../node/codec/index.ts";
import { invocationSigningDigest } from "../node/crypto/digests.ts";
import { SodiumSigner } from "../node/crypto/sodium.ts";
import { Mempool } from "../node/mempool/mempool.ts";
import { InlineVerifier } from "../node/mempool/verify.ts";
import { WorkerPoolVerifier, createVerifier } from "../node/mempool/verify-pool.ts";
import type { SignatureVerifier } from "../node/mempool/types.ts";

const COUNT = Number(process.argv[2] ?? 20_000);
const CHAIN = "bench";

function makeInvocations(n: number, invokers: number): SignedInvocation[] {
  const signers = Array.from({ length: invokers }, (_, i) => new SodiumSigner(new Uint8Array(32).fill(i + 1)));
  const out: SignedInvocation[] = [];
  for (let i = 0; i < n; i++) {
    const s = signers[i % invokers]!;
    const inv: Invocation = {
      chainId: CHAIN,
      contract: "counter",
      version: 1,
      method: "increment",
      input: new Uint8Array(64).fill(i & 255),
      invoker: s.publicKey,
      nonce: BigInt(Math.floor(i / invokers)),
      gasLimit: 100_000n,
      gasPrice: 1n,
    };
    out.push({ ...inv, signature: s.sign(invocationSigningDigest(inv)) });
  }
  return out;
}

function chunks<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/** Runs `work` with up to `inFlight` batches outstanding; returns rate and event-loop utilisation. */
async function measure(label: string, batches: number, inFlight: number, work: (i: number) => Promise<void>): Promise<void> {
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  let next = 0;
  const lanes = Array.from({ length: inFlight }, async () => {
    while (next < batches) await work(next++);
  });
  await Promise.all(lanes);
  const ms = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  const rate = Math.round((COUNT / ms) * 1000);
  console.log(
    `${label.padEnd(46)} ${String(rate).padStart(7)} inv/s   event loop busy ${(elu.utilization * 100).toFixed(0).padStart(3)}%`,
  );
}

async function benchVerifier(label: string, v: SignatureVerifier, items: { encoded: Uint8Array; publicKey: Uint8Array }[], batch: number, inFlight: number): Promise<void> {
  const parts = chunks(items, batch);
  await v.verify(parts[0]!.slice(0, 8)); // start workers outside the timing
  await measure(`${label} (batch ${batch}, ${inFlight} in flight)`, parts.length, inFlight, async (i) => {
    const ok = await v.verify(parts[i]!);
    if (ok.some((b) => !b)) throw new Error("a valid signature failed");
  });
}

async function benchAdmit(label: string, verifier: SignatureVerifier, invs: SignedInvocation[], batch: number, inFlight: number): Promise<void> {
  const pool = new Mempool({
    chainId: CHAIN,
    getAccount: async () => ({ balance: 1n << 60n, nonce: 0n }),
    maxTotal: invs.length + 1,
    maxPerInvoker: invs.length,
    verifier,
  });
  const parts = chunks(invs, batch);
  await measure(`admitBatch ${label} (batch ${batch}, ${inFlight} in flight)`, parts.length, inFlight, async (i) => {
    const out = await pool.admitBatch(parts[i]!);
    const bad = out.find((o) => !o.ok);
    if (bad && !bad.ok) throw bad.error;
  });
  if (pool.size !== invs.length) throw new Error(`admitted ${pool.size} of ${invs.length}`);
  await pool.close();
}

const invs = makeInvocations(COUNT, 200);
const items = invs.map((inv) => ({ encoded: encode(SignedInvocation, inv), publicKey: inv.invoker }));
console.log(`${COUNT} invocations, 200 invokers, 64-byte inputs; ${(await import("node:os")).availableParallelism()} cores`);

const inline = new InlineVerifier();
const pool1 = new WorkerPoolVerifier({ workers: 1 });
const pool2 = new WorkerPoolVerifier({ workers: 2 });
for (const batch of [16, 256]) {
  await benchVerifier("verify inline", inline, items, batch, 1);
  await benchVerifier("verify 1 worker", pool1, items, batch, 2);
  await benchVerifier("verify 2 workers", pool2, items, batch, 2);
}
for (const batch of [1, 16, 256]) {
  await benchAdmit("inline", new InlineVerifier(), invs, batch, 4);
  await benchAdmit("1 worker", new WorkerPoolVerifier({ workers: 1 }), invs, batch, 4);
}
await benchAdmit("2 workers", new WorkerPoolVerifier({ workers: 2 }), invs, 256, 4);
// Single-invocation submissions as REST produces them, many outstanding at once.
await benchAdmit("inline, singles", new InlineVerifier(), invs, 1, 64);
await benchAdmit("default (coalescing), singles", createVerifier(), invs, 1, 64);
await benchAdmit("default (coalescing)", createVerifier(), invs, 256, 4);
await pool1.close();
await pool2.close();
