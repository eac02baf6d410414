// npm run bench:exec — the execution layer alone: blocks of bank transfers and token-contract transfers
// executed and committed on one RocksDB, no consensus or network. Prints microseconds per invocation, so the
// cluster benchmark's per-validator execution cost can be read apart from consensus and transport.

import { readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { encode } from "../node/codec/codec.ts";
import { utf8, toHex } from "../node/codec/hex.ts";
import { DeployPayload } from "../node/codec/types.ts";
import { RealContractVm } from "../node/exec/vm-adapter.ts";
import { TestChain } from "../test/fixtures/exec/harness.ts";
import { sign, signer, testGenesis, transfer } from "../test/fixtures/exec/chain.ts";

const BLOCK = Number(process.env.BENCH_BLOCK ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ACCOUNTS = 64;
/** BENCH_PROFILE=dir writes a CPU profile of the timed regions of each kind to dir/exec-<kind>.cpuprofile. */
const PROFILE_DIR = process.env.BENCH_PROFILE;

async function main(): Promise<void> {
  const owner = signer(1);
  const keys = Array.from({ length: ACCOUNTS }, (_, i) => signer(10 + i));
  const chain = await TestChain.open(
    testGenesis([owner, ...keys].map((k) => ({ account: k.publicKey, balance: 10n ** 15n }))),
    new RealContractVm(),
  );
  const nonces = new Map<string, bigint>();
  const next = (k: { publicKey: Uint8Array }): bigint => {
    const h = toHex(k.publicKey);
    const n = nonces.get(h) ?? 0n;
    nonces.set(h, n + 1n);
    return n;
  };
  const source = readFileSync(new URL("../contracts/examples/token.ts", import.meta.url), "utf8");
  const deploy = sign(owner, {
    contract: "deploy",
    method: "deploy",
    nonce: next(owner),
    gasLimit: 100_000_000n,
    input: encode(DeployPayload, { name: "token", version: 1, toolchain: "asc-0.28.20+sdk-2", entry: "token.ts", sources: [{ path: "token.ts", content: source }] }),
  });
  const [d] = await chain.run([deploy]);
  if (d!.status !== "ok") throw new Error(`deploy: ${d!.error}`);
  await chain.run(keys.map((k) => sign(owner, { contract: "token", method: "mint", nonce: next(owner), input: utf8(`${toHex(k.publicKey)} 1000000000`) })));

  const kinds = ["bank", "token"] as const;
  const session = PROFILE_DIR === undefined ? null : new Session();
  if (session !== null) {
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 100 });
  }
  for (const kind of kinds) {
    const times: number[] = [];
    const execTimes: number[] = [];
    const cpuTimes: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const invs = Array.from({ length: BLOCK }, (_, i) => {
        const from = keys[i % ACCOUNTS]!;
        const to = keys[(i + 1) % ACCOUNTS]!.publicKey;
        return kind === "bank"
          ? transfer(from, to, 1n, next(from), { gasLimit: 10_000n })
          : sign(from, { contract: "token", method: "transfer", nonce: next(from), gasLimit: 200_000n, input: utf8(`${toHex(to)} 1`) });
      });
      // As in a validator, the mempool already checked these signatures at admission.
      const block = chain.next(invs);
      if (session !== null) await session.post("Profiler.start");
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const executed = await chain.ex.executeBlock(block, { has: () => true });
      const t1 = performance.now();
      await chain.ex.commitBlock(executed.hash);
      const t2 = performance.now();
      const c = process.cpuUsage(c0);
      cpuTimes.push((c.user + c.system) / 1000);
      if (session !== null) {
        const { profile } = await session.post("Profiler.stop");
        profiles.push(profile as Profile);
      }
      times.push(t2 - t0);
      execTimes.push(t1 - t0);
      chain.head = block;
      const receipts = executed.receipts;
      const bad = receipts.filter((x) => x.status !== "ok");
      if (bad.length > 0) throw new Error(`${kind}: ${bad.length} not ok, e.g. ${bad[0]!.status} ${bad[0]!.error}`);
    }
    const median = medianOf(times);
    const execMedian = medianOf(execTimes);
    console.log(
      `${kind.padEnd(6)} block of ${BLOCK}: median ${median.toFixed(1)} ms = ${((median * 1000) / BLOCK).toFixed(1)} us/invocation ` +
        `(execute + commit; signatures pre-checked as by the mempool; execute alone ${((execMedian * 1000) / BLOCK).toFixed(1)} us; ` +
        `process CPU ${((medianOf(cpuTimes) * 1000) / BLOCK).toFixed(1)} us, all threads)`,
    );
    if (PROFILE_DIR !== undefined) writeFileSync(`${PROFILE_DIR}/exec-${kind}.cpuprofile`, JSON.stringify(mergeProfiles(profiles.splice(0))));
  }
  await chain.close();
  process.exit(0);
}

function medianOf(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

type Profile = { nodes: Array<{ id: number; children?: number[] }>; samples?: number[]; timeDeltas?: number[]; startTime: number; endTime: number };
const profiles: Profile[] = [];

/** Concatenates profiles of separate timed regions into one (node ids renumbered per profile). */
function mergeProfiles(ps: Profile[]): Profile {
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  const out: Profile = { nodes: [], samples, timeDeltas, startTime: 0, endTime: 0 };
  let base = 0;
  for (const p of ps) {
    let maxId = 0;
    for (const n of p.nodes) {
      out.nodes.push({ ...n, id: n.id + base, ...(n.children ? { children: n.children.map((c) => c + base) } : {}) });
      maxId = Math.max(maxId, n.id);
    }
    samples.push(...(p.samples ?? []).map((s) => s + base));
    timeDeltas.push(0, ...(p.timeDeltas ?? []).slice(1));
    out.endTime += p.endTime - p.startTime;
    base += maxId + 1;
  }
  return out;
}

main().catch((e) => {
  process.stderr.write(`exec-bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
