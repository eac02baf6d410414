// npm run bench:cluster — 4 validator processes on loopback under closed-loop load through the REST API.
//
// Measures, in one run: the machine's strict single-core signature verification rate (libsodium, what
// validators use; measured before and after the load, the better counts), then committed invocations per second and submission-to-commit latency for a mix of
// native `bank` transfers and token-contract transfers, submitted in batches with ?wait=true by closed-loop
// clients. Prints a table and, last, `cluster-bench: tps=T p50_ms=L limit_tps=M ratio=R` where
// M = cores x verify rate / 4 (every invocation is verified by all four validators) and R = T / M.
//
// The load: LOOPS closed-loop clients, each with one batch in flight. The batch size is searched during warm-up
// unless fixed: the target is throughput with p50 under 100 ms, and how much load keeps p50 there depends on
// the machine's speed that day (the same code gave p50 64 ms at 4 x 64 on a quiet morning and 101 ms on a
// noisy one). Probes of 5 s each step the batch up from 64 by 16 (to 128) while the probe's p50 stays under
// BENCH_P50_AIM (85 ms: headroom under the 100 ms target for the 30 s window's own noise). The first step above
// 64 whose probe goes over it is probed again and judged on the mean of the two; a step over it sends the batch
// back to the step before, and the window is measured at that load. Bigger blocks pay each view's fixed costs
// (signatures on votes and certificates, a synced write, a commit, a handful of syscalls) over more invocations;
// more in flight lengthens each invocation's wait, so the aim bounds it.
//
// Knobs (environment): BENCH_SECONDS (30), BENCH_WARMUP (10), BENCH_BATCH (invocations per request; a number
// fixes it, unset or "auto" searches as above), BENCH_P50_AIM (85), BENCH_LOOPS (closed-loop clients, 4; fewer,
// larger requests cost less per invocation than 8 x 32), BENCH_ACCOUNTS (64), BENCH_TOKEN_SHARE (0.5),
// BENCH_SYNC (fsync, 1), BENCH_BLOCK_MAX (invocations per block, 1000), BENCH_WIRE (binary: the canonical
// codec bytes, as a high-rate client sends; json: the JSON form), BENCH_KEEP=1 (keep the devnet folder and its
// logs), BENCH_PER_INVOKER (the validators' mempool.perInvokerLimit; default the config default, 16: each
// account has at most 8 invocations in flight here, one request of up to 128 over 16 accounts).

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleepMs } from "node:timers/promises";
import { Client, Keypair } from "../node/client/index.ts";
import { decode, encode, toJson } from "../node/codec/codec.ts";
import { utf8 } from "../node/codec/hex.ts";
import { BINARY_MEDIA_TYPE, InvocationBatch, SignedInvocation, SubmitOutcomes, TransferPayload, type Invocation } from "../node/codec/types.ts";
import { invocationSigningDigest } from "../node/crypto/digests.ts";
import { SodiumSigner, verifyStrict } from "../node/crypto/sodium.ts";
import { initDevnet, spawnValidator } from "../node/devnet.ts";
import { freePortBase } from "../test/helpers/cluster.ts";
import { sendInWaves } from "./attack/funding.ts";
import { FastKey } from "./attack/keys.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 10);
const AUTO_BATCH = (process.env.BENCH_BATCH ?? "auto") === "auto";
const BATCH_STEPS = AUTO_BATCH ? [64, 80, 96, 112, 128] : [Number(process.env.BENCH_BATCH)];
const P50_AIM = Number(process.env.BENCH_P50_AIM ?? 85);
const PROBE_SECONDS = 5;
/** Time a batch change needs before its latency shows: the requests already in flight at the old size drain. */
const SETTLE_SECONDS = 1;
const LOOPS = Number(process.env.BENCH_LOOPS ?? 4);
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 64);
const TOKEN_SHARE = Number(process.env.BENCH_TOKEN_SHARE ?? 0.5);
const SYNC = (process.env.BENCH_SYNC ?? "1") !== "0";
const BLOCK_MAX = Number(process.env.BENCH_BLOCK_MAX ?? 1000);
const WIRE = process.env.BENCH_WIRE === "json" ? "json" : "binary";
const PER_INVOKER = process.env.BENCH_PER_INVOKER === undefined ? null : Number(process.env.BENCH_PER_INVOKER);

/**
 * Strict verifications per second on one core: the best of several short slices. Neighbours on a shared host
 * only ever slow a slice down, so the best one is the machine's rate; a single long measurement taken in a
 * noisy second inflated the ratio of whole runs (limits from 6,000 to 10,500 on the same machine).
 */
function verifyRate(): number {
  const signer = new SodiumSigner(new Uint8Array(32).fill(5));
  const msgs = Array.from({ length: 256 }, (_, i) => new Uint8Array(32).fill(i));
  const sigs = msgs.map((m) => signer.sign(m));
  let best = 0;
  for (let slice = 0; slice < 8; slice++) {
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 250) {
      for (let i = 0; i < 256; i++) if (!verifyStrict(sigs[i]!, msgs[i]!, signer.publicKey)) throw new Error("verify failed");
      n += 256;
    }
    best = Math.max(best, n / ((performance.now() - t0) / 1000));
  }
  return best;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * One POST on a kept-alive connection, answered with the whole response body. The load generator shares the
 * validators' two cores, so it uses node:http directly: fetch (undici) spent several times more CPU per
 * request, all of it taken from them.
 */
function post(url: URL, body: Uint8Array | string, contentType: string, agent: Agent): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const headers = { "content-type": contentType, accept: contentType, "content-length": Buffer.byteLength(body) };
    const req = request(url, { method: "POST", agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const all = Buffer.concat(chunks);
        if (res.statusCode === 503 && all.includes('"syncing"')) reject(new SyncingError());
        else if (res.statusCode !== 200) reject(new Error(`batch refused (${res.statusCode}): ${all.toString("utf8").slice(0, 300)}`));
        else resolve(all);
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A validator refused the whole batch as `syncing` (behind its peers or its own certified blocks): nothing was admitted. */
class SyncingError extends Error {}

/** What the bench counts of one batch item's outcome, from either wire format. */
type Outcome = "ok" | "failed" | "refused" | "pending";

async function submit(url: URL, body: Uint8Array | string[], agent: Agent): Promise<Outcome[]> {
  if (body instanceof Uint8Array) {
    const res = await post(url, body, BINARY_MEDIA_TYPE, agent);
    return decode(SubmitOutcomes, res, "answer").map((o) =>
      o.type === "committed" ? (o.value.status === "ok" ? "ok" : "failed") : o.type === "refused" ? "refused" : "pending",
    );
  }
  const res = await post(url, "[" + body.join(",") + "]", "application/json", agent);
  const parsed = JSON.parse(res.toString("utf8")) as { results: Array<{ receipt?: { status: string }; error?: unknown }> };
  return parsed.results.map((r) => (r.receipt ? (r.receipt.status === "ok" ? "ok" : "failed") : r.error ? "refused" : "pending"));
}

/**
 * One account's pre-signed invocations in nonce order. Binary: their canonical encodings back to back in one
 * buffer, so a batch body is a count and a copy of one run per account, and the load generator's heap holds
 * no per-invocation objects (a million signed invocations as objects made its collections cost up to 26 us of
 * the shared CPU per invocation). JSON: one string each.
 */
interface Presigned {
  readonly count: number;
  /** 1 where the invocation is a token-contract call, 0 for a bank transfer. */
  readonly token: Uint8Array;
  /** Binary: encodings back to back; ends[i] is where invocation i's encoding ends (its start is ends[i - 1]). */
  readonly bytes: Uint8Array;
  readonly ends: Uint32Array;
  readonly json: string[];
}

/** The batch body for runs [from, to) of the given accounts' invocations, in the wire format of the run. */
function batchBody(runs: ReadonlyArray<{ p: Presigned; from: number; to: number }>): Uint8Array | string[] {
  if (WIRE === "json") return runs.flatMap(({ p, from, to }) => p.json.slice(from, to));
  const start = (p: Presigned, i: number): number => (i === 0 ? 0 : p.ends[i - 1]!);
  let count = 0;
  let size = 4;
  for (const { p, from, to } of runs) {
    count += to - from;
    size += start(p, to) - start(p, from);
  }
  // InvocationBatch's encoding: a u32 (little-endian) count, then the items' encodings back to back.
  const body = new Uint8Array(size);
  new DataView(body.buffer).setUint32(0, count, true);
  let pos = 4;
  for (const { p, from, to } of runs) {
    body.set(p.bytes.subarray(start(p, from), start(p, to)), pos);
    pos += start(p, to) - start(p, from);
  }
  return body;
}

/**
 * CPU seconds (user + system) the given processes have used so far, in all their threads and in their main
 * threads (the event loops) alone, from /proc; null where /proc is not there. It moves less with what the
 * neighbours take than throughput does, but on a shared virtual machine it moves too (up to 15% here).
 */
function cpuSeconds(pids: readonly number[]): { all: number; main: number } | null {
  const ticksOf = (path: string): number => {
    const stat = readFileSync(path, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of proc(5))
  };
  try {
    let all = 0;
    let main = 0;
    for (const pid of pids) {
      all += ticksOf(`/proc/${pid}/stat`);
      main += ticksOf(`/proc/${pid}/task/${pid}/stat`);
    }
    return { all: all / 100, main: main / 100 }; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

interface Ticks {
  busy: number;
  idle: number;
  steal: number;
}

/** Whole-machine CPU ticks by kind since boot (null without /proc): how much of the machine the run got. */
function machineTicks(): Ticks | null {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
    return { busy: user + nice + system + irq + softirq, idle: idle + iowait, steal };
  } catch {
    return null;
  }
}

async function heightOf(url: string): Promise<number> {
  return Number(((await (await fetch(url + "/v1/status")).json()) as { height: string }).height);
}

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(url + "/v1/status")).ok) return;
    } catch {
      // starting
    }
    await sleepMs(100);
  }
  throw new Error(`${url} never became ready`);
}

async function main(): Promise<void> {
  const cores = availableParallelism();
  process.stderr.write(`measuring single-core strict verification rate...\n`);
  const rateBefore = verifyRate();

  const dir = mkdtempSync(join(tmpdir(), "cairn-bench-"));
  const basePort = await freePortBase(4);
  const { info } = initDevnet(dir, { validators: 4, basePort, syncWrites: SYNC, consensus: { baseTimeoutMs: 1000, maxBlockInvocations: BLOCK_MAX } });
  if (PER_INVOKER !== null) {
    for (let i = 0; i < 4; i++) {
      const path = join(dir, `node${i}.json`);
      const config = JSON.parse(readFileSync(path, "utf8")) as { mempool: { perInvokerLimit: number } };
      config.mempool.perInvokerLimit = PER_INVOKER;
      writeFileSync(path, JSON.stringify(config, null, 2) + "\n", { mode: 0o600 });
    }
  }
  const procs = [0, 1, 2, 3].map((i) => spawnValidator(dir, i));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    for (const p of procs) if (p.exitCode === null) p.kill("SIGTERM");
    await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once("exit", r)))));
    if (process.env.BENCH_KEEP === "1") process.stderr.write(`kept ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(info.rest.map(waitReady));
    const client = new Client(info.rest[0]!);
    const funded = Keypair.fromSecretHex(info.funded.secretKey);
    const chainId = info.chainId;

    process.stderr.write(`deploying the token contract and funding ${ACCOUNTS} accounts...\n`);
    const source = readFileSync(new URL("../contracts/examples/token.ts", import.meta.url), "utf8");
    const dep = await client.deploy({ key: funded, name: "token", sources: { "token.ts": source }, entry: "token.ts", wait: true, timeoutMs: 180_000 });
    if (dep.receipt.status !== "ok") throw new Error(`deploy failed: ${dep.receipt.error}`);
    const accounts = Array.from({ length: ACCOUNTS }, () => Keypair.generate());
    // A bank transfer and a token mint per account, from one invoker: in waves of 16, the validators' limit
    // of pending invocations per invoker, each committed before the next is sent.
    const root = FastKey.fromSecretHex(info.funded.secretKey);
    const setupItems = accounts.flatMap((a) => [{ a, mint: false }, { a, mint: true }]);
    await sendInWaves(client, setupItems, (await client.account(root.publicKey)).nonce, ({ a, mint }, nonce) =>
      mint
        ? root.sign({ chainId, contract: "token", version: 1, method: "mint", input: utf8(`${a.publicKeyHex} 1000000000`), nonce, gasLimit: 1_000_000n, gasPrice: 1n })
        : root.transfer(chainId, a.publicKey, 10n ** 12n, nonce, 1n),
    120_000);

    // Pre-sign every invocation the run can use, so the load generator spends no CPU on signing.
    // Every step probed, one of them twice, and the settling after a step back.
    const searchSeconds = AUTO_BATCH ? BATCH_STEPS.length * (SETTLE_SECONDS + PROBE_SECONDS) + PROBE_SECONDS + SETTLE_SECONDS : 0;
    const perAccount = Math.ceil((((SECONDS + WARMUP + searchSeconds + 10) * ((cores * rateBefore) / 4) * 1.2) / ACCOUNTS));
    process.stderr.write(`pre-signing ${perAccount * ACCOUNTS} invocations...\n`);
    const signers = accounts.map((a) => new SodiumSigner(a.secretKey));
    const presigned: Presigned[] = accounts.map((a, ai) => {
      const to = accounts[(ai + 1) % ACCOUNTS]!;
      const token = new Uint8Array(perAccount);
      const ends = new Uint32Array(perAccount);
      const json: string[] = [];
      let bytes = new Uint8Array(WIRE === "binary" ? perAccount * 256 : 0);
      let pos = 0;
      for (let n = 0; n < perAccount; n++) {
        token[n] = (n * 7919 + ai) % 1000 < TOKEN_SHARE * 1000 ? 1 : 0;
        const inv: Invocation = token[n]
          ? { chainId, contract: "token", version: 1, method: "transfer", input: utf8(`${to.publicKeyHex} 1`), invoker: a.publicKey, nonce: BigInt(n), gasLimit: 200_000n, gasPrice: 1n }
          : { chainId, contract: "bank", version: 0, method: "transfer", input: encode(TransferPayload, { to: to.publicKey, amount: 1n }), invoker: a.publicKey, nonce: BigInt(n), gasLimit: 10_000n, gasPrice: 1n };
        const signed = { ...inv, signature: signers[ai]!.sign(invocationSigningDigest(inv)) };
        if (WIRE === "json") {
          json.push(JSON.stringify(toJson(SignedInvocation, signed)));
          continue;
        }
        const enc = encode(SignedInvocation, signed);
        if (pos + enc.length > bytes.length) {
          const grown = new Uint8Array(2 * bytes.length + enc.length);
          grown.set(bytes.subarray(0, pos));
          bytes = grown;
        }
        bytes.set(enc, pos);
        pos += enc.length;
        ends[n] = pos;
      }
      return { count: perAccount, token, bytes: bytes.slice(0, pos), ends, json };
    });
    if (WIRE === "binary" && decode(InvocationBatch, batchBody([{ p: presigned[0]!, from: 0, to: 3 }]) as Uint8Array, "batch").length !== 3) {
      throw new Error("a batch body built from pre-signed encodings does not decode as an InvocationBatch");
    }

    // Closed-loop clients: each owns a slice of the accounts and sends one batch at a time, round robin over
    // its accounts (consecutive nonces per account), to validator (loop mod 4), waiting for the commit. A
    // request counts in the measured window if it was sent and answered inside it.
    let batch = BATCH_STEPS[0]!;
    let window: { from: number; to: number } | null = null;
    let probe: { from: number; latencies: number[] } | null = null;
    let done = false;
    const latencies: number[] = [];
    const counts = { ok: 0, failed: 0, bank: 0, token: 0, refused: 0, pending: 0 };
    const cursor = accounts.map(() => 0);
    const sent = { requests: 0, items: 0 };
    let syncingRetries = 0;
    const loop = async (li: number): Promise<void> => {
      const url = new URL(info.rest[li % 4]! + "/v1/invocations/batch?wait=true&timeoutMs=20000");
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const mine = accounts.map((_, i) => i).filter((i) => i % LOOPS === li);
      while (!done) {
        // Whole rounds over this client's accounts: the batch actually sent can be a little under the asked.
        const perAcct = Math.max(1, Math.floor(batch / mine.length));
        const runs: { p: Presigned; from: number; to: number }[] = [];
        const itemTokens: number[] = [];
        for (const ai of mine) {
          const p = presigned[ai]!;
          const from = cursor[ai]!;
          const to = Math.min(p.count, from + perAcct);
          if (to === from) continue;
          runs.push({ p, from, to });
          for (let i = from; i < to; i++) itemTokens.push(p.token[i]!);
          cursor[ai] = to;
        }
        if (itemTokens.length === 0) throw new Error("the pre-signed invocations ran out");
        const w = window;
        const t0 = performance.now();
        // A validator that fell behind under the load refuses writes until it catches up; the same batch goes
        // again (its nonces were not used, and the accounts' later ones would be gapped without it).
        const body = batchBody(runs);
        let outcomes: Outcome[] | null = null;
        for (let attempt = 0; outcomes === null; attempt++) {
          try {
            outcomes = await submit(url, body, agent);
          } catch (e) {
            if (!(e instanceof SyncingError) || attempt >= 200) throw e;
            syncingRetries++;
            await sleepMs(50);
          }
        }
        const t1 = performance.now();
        if (probe !== null && t0 >= probe.from) for (const o of outcomes) if (o === "ok") probe.latencies.push(t1 - t0);
        if (w === null || t1 > w.to) continue;
        sent.requests++;
        sent.items += itemTokens.length;
        outcomes.forEach((o, i) => {
          if (o === "ok") {
            counts.ok++;
            counts[itemTokens[i] === 1 ? "token" : "bank"]++;
            latencies.push(t1 - t0);
          } else counts[o]++;
        });
      }
      agent.destroy();
    };
    const sleep = (s: number): Promise<void> => sleepMs(s * 1000);
    const probes: string[] = [];
    let windowBlocks = 0;
    const pids = procs.map((p) => p.pid!);
    // CPU and machine counters at the start and the end of the measured window.
    const at: Array<{ cpu: { all: number; main: number } | null; machine: Ticks | null; self: NodeJS.CpuUsage }> = [];
    const mark = (): number => at.push({ cpu: cpuSeconds(pids), machine: machineTicks(), self: process.cpuUsage() });
    const conduct = async (): Promise<void> => {
      await sleep(WARMUP);
      const probeP50 = async (): Promise<number> => {
        probe = { from: performance.now(), latencies: [] };
        await sleep(PROBE_SECONDS);
        const p50 = percentile(probe.latencies.sort((a, b) => a - b), 50);
        probe = null;
        return p50;
      };
      let secondLook = true;
      for (let i = 0; AUTO_BATCH && i < BATCH_STEPS.length; i++) {
        batch = BATCH_STEPS[i]!;
        await sleep(SETTLE_SECONDS);
        let p50 = await probeP50();
        probes.push(`${batch}: ${p50.toFixed(1)} ms`);
        if (p50 > P50_AIM && secondLook && i > 0) {
          // Once per run, a step over the aim is probed again and judged on the mean of both probes: early probes
          // run on validators still being optimized, and one 5 s probe swings by 10 ms either way.
          secondLook = false;
          const again = await probeP50();
          probes.push(`${batch} again: ${again.toFixed(1)} ms`);
          p50 = (p50 + again) / 2;
        }
        if (p50 > P50_AIM) {
          batch = BATCH_STEPS[Math.max(0, i - 1)]!;
          await sleep(SETTLE_SECONDS);
          break;
        }
      }
      process.stderr.write(`measuring at batches of ${batch}${probes.length > 0 ? ` (probe p50 by batch: ${probes.join(", ")})` : ""}\n`);
      // Only requests sent from here on count (the loops read `window` before sending).
      const from = performance.now();
      window = { from, to: from + SECONDS * 1000 };
      mark();
      const h0 = await heightOf(info.rest[0]!);
      await sleep(SECONDS);
      mark();
      windowBlocks = (await heightOf(info.rest[0]!)) - h0;
      done = true;
    };
    process.stderr.write(`load: ${LOOPS} closed-loop clients, ${WARMUP} s warm-up, ${AUTO_BATCH ? `batch searched over ${BATCH_STEPS.join("/")} for probe p50 <= ${P50_AIM} ms` : `batches of ${batch}`}, ${SECONDS} s measured\n`);
    await Promise.all([conduct(), ...Array.from({ length: LOOPS }, (_, i) => loop(i))]);
    const tps = counts.ok / SECONDS;
    latencies.sort((a, b) => a - b);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    const heights = await Promise.all(info.rest.map(heightOf));
    // The rate again on the quiet machine, once the validators are gone; the better of the two counts.
    await stop();
    const rateAfter = verifyRate();
    const rate = Math.max(rateBefore, rateAfter);
    const limit = (cores * rate) / 4;

    const rows: [string, string][] = [
      ["cores", String(cores)],
      ["strict verify rate, one core", `${rate.toFixed(0)}/s (best 250 ms slice: ${rateBefore.toFixed(0)} before, ${rateAfter.toFixed(0)} after)`],
      ["limit M = cores x rate / 4", `${limit.toFixed(0)} invocations/s`],
      ["batch size (asked / sent) / clients", `${batch} / ${(sent.items / Math.max(1, sent.requests)).toFixed(1)} / ${LOOPS}${AUTO_BATCH ? " (searched)" : " (fixed)"}`],
      ...(probes.length > 0 ? [["warm-up probes, p50 by batch", probes.join(", ")] as [string, string]] : []),
      ["wire format", WIRE === "binary" ? `binary (${BINARY_MEDIA_TYPE})` : "JSON"],
      ["max invocations per block", String(BLOCK_MAX)],
      ["fsync", SYNC ? "before every vote (the safety state; commits become durable with it)" : "off"],
      ["committed ok (measured window)", `${counts.ok} (bank ${counts.bank}, token ${counts.token})`],
      ["failed / refused / still pending", `${counts.failed} / ${counts.refused} / ${counts.pending}`],
      ["batches sent again after 503 syncing", String(syncingRetries)],
      ["throughput", `${tps.toFixed(0)} invocations/s`],
      ["latency p50 / p99", `${p50.toFixed(1)} ms / ${p99.toFixed(1)} ms`],
      ["final heights", heights.join(", ")],
      // Each view costs a fixed amount (proposal, votes, their signatures, two RocksDB writes, fsync) whatever
      // the block holds, so fewer, fuller blocks leave more of the machine to invocations.
      ["blocks/s, invocations per block", `${(windowBlocks / SECONDS).toFixed(1)}, ${(counts.ok / Math.max(1, windowBlocks)).toFixed(0)} (measured window)`],
    ];
    const [open, close] = at;
    if (open?.cpu != null && close?.cpu != null && counts.ok > 0) {
      const us = (sec: number): string => ((sec / counts.ok) * 1e6).toFixed(0);
      const [all, main] = [close.cpu.all - open.cpu.all, close.cpu.main - open.cpu.main];
      rows.push(["validator CPU per committed invocation", `${us(all)} us (4 processes, user + system; event loops ${us(main)}, other threads ${us(all - main)})`]);
      const self = close.self.user - open.self.user + (close.self.system - open.self.system);
      rows.push(["load generator CPU per invocation", `${us(self / 1e6)} us (this process: requests, answers, bookkeeping)`]);
    }
    if (open?.machine && close?.machine) {
      const [a, b] = [open.machine, close.machine];
      const total = b.busy - a.busy + (b.idle - a.idle) + (b.steal - a.steal);
      const pct = (x: number): string => `${((x / Math.max(1, total)) * 100).toFixed(0)}%`;
      rows.push(["machine busy / idle / stolen", `${pct(b.busy - a.busy)} / ${pct(b.idle - a.idle)} / ${pct(b.steal - a.steal)}`]);
    }
    for (const [k, v] of rows) console.log(`${k.padEnd(36)} ${v}`);
    writeFileSync(join(tmpdir(), "cairn-bench-last.json"), JSON.stringify({ tps, p50, p99, rate, limit, counts }, null, 2));
    // Three decimals: at two, a run at 0.296 printed 0.30 and read as meeting a target of 0.30.
    console.log(`cluster-bench: tps=${tps.toFixed(0)} p50_ms=${p50.toFixed(1)} limit_tps=${limit.toFixed(0)} ratio=${(tps / limit).toFixed(3)}`);
  } finally {
    await stop();
  }
}

main().catch((e) => {
  process.stderr.write(`cluster-bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});

