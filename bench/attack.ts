// npm run attack -- [--phases abcdef] [--window-s 8] [--flood 50000] [--flood-keys 2500] [--depth 12]
//                   [--churn-s 40] [--deploy-timeout-s 60] [--honest-price P] [--keep]
//
// Replays the attacks of issue 19 against a real 4-validator devnet (validator processes, TCP between them,
// RocksDB on disk, fsync before votes: what `npm start` runs) while an honest client, the genesis-funded key,
// sends one native transfer at a time and records its commit latency. Phases:
//   a  free invocations: gasPrice 0 and never-funded keys (all should be refused, none committed)
//   b  one gapped invocation: blocks/s of the idle chain against blocks/s while it is pending
//   c  flood: 50,000 gapped and underpriced invocations from funded and never-funded keys
//   d  strangers holding the P2P connection slots of a validator that is then killed and restarted
//   e  churn: a validator SIGKILLed every 10 s (restarted 5 s later); the longest stall
//   f  a deploy whose generics double at each level of nesting
// One line per phase (honest p50/p99 during it and the attack's own figures), and last:
//   attack: honest_p99_ms=L blocks_per_s_idle=X blocks_per_s_attacked=Y refused_honest=R
// Progress goes to stderr. Every process and the devnet folder are removed at the end, also on failure or
// Ctrl-C (--keep leaves the folder with its logs).

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { Client } from "../node/client/index.ts";
import { toJson } from "../node/codec/codec.ts";
import { SignedInvocation } from "../node/codec/types.ts";
import { TestCluster } from "../test/helpers/cluster.ts";
import { buildFlood, DEFAULT_FLOOD, formatCounts, keysThatCommitted, sendFlood } from "./attack/flood.ts";
import { fundMany } from "./attack/funding.ts";
import { nestedGenericsSource } from "../test/fixtures/hostile-sources.ts";
import { HonestClient, percentile, type Sample } from "./attack/honest.ts";
import { FastKey, invocationIdHex } from "./attack/keys.ts";
import { loopbackHosts, StrangerCrowd } from "./attack/strangers.ts";

const USAGE =
  "usage: npm run attack -- [--phases abcdef] [--window-s S] [--flood N] [--flood-keys K] [--depth D] [--churn-s S] [--deploy-timeout-s S] [--honest-price P] [--keep]";

interface Options {
  phases: Set<string>;
  windowS: number;
  flood: number;
  floodKeys: number;
  depth: number;
  churnS: number;
  deployTimeoutS: number;
  honestPrice: bigint | null;
  keep: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      phases: { type: "string" },
      "window-s": { type: "string" },
      flood: { type: "string" },
      "flood-keys": { type: "string" },
      depth: { type: "string" },
      "churn-s": { type: "string" },
      "deploy-timeout-s": { type: "string" },
      "honest-price": { type: "string" },
      keep: { type: "boolean" },
    },
  });
  const num = (v: string | undefined, dflt: number, name: string): number => {
    const n = v === undefined ? dflt : Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
    return n;
  };
  const phases = new Set((values.phases ?? "abcdef").split(""));
  for (const p of phases) if (!"abcdef".includes(p)) throw new Error(`unknown phase ${p}`);
  return {
    phases,
    windowS: num(values["window-s"], 8, "window-s"),
    flood: Math.floor(num(values.flood, DEFAULT_FLOOD.total, "flood")),
    // 2,500 funded keys x 16 gapped each stays under a pool of 50,000: see bench/PERFORMANCE.md for the
    // attacker with enough keys to fill it.
    floodKeys: Math.floor(num(values["flood-keys"], 2500, "flood-keys")),
    depth: Math.floor(num(values.depth, 12, "depth")),
    churnS: num(values["churn-s"], 40, "churn-s"),
    deployTimeoutS: num(values["deploy-timeout-s"], 60, "deploy-timeout-s"),
    honestPrice: values["honest-price"] === undefined ? null : BigInt(values["honest-price"]),
    keep: values.keep ?? false,
  };
}

const progress = (line: string): void => void process.stderr.write(`[${(performance.now() / 1000).toFixed(1)}s] ${line}\n`);
const result = (line: string): void => void process.stdout.write(line + "\n");

async function status(url: string, timeoutMs = 2_000): Promise<{ height: bigint; mempool: number; minGasPrice: bigint; chainId: string } | null> {
  try {
    const res = await fetch(url + "/v1/status", { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return null;
    const j = (await res.json()) as { height: string; mempool: number; minGasPrice: string; chainId: string };
    return { height: BigInt(j.height), mempool: j.mempool, minGasPrice: BigInt(j.minGasPrice), chainId: j.chainId };
  } catch {
    return null;
  }
}

async function maxHeight(urls: readonly string[]): Promise<bigint> {
  const hs = await Promise.all(urls.map((u) => status(u)));
  return hs.reduce((m, s) => (s !== null && s.height > m ? s.height : m), -1n);
}

/** Blocks per second committed over `seconds` (highest height any validator reports). */
async function blockRate(urls: readonly string[], seconds: number): Promise<number> {
  const h0 = await maxHeight(urls);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const h1 = await maxHeight(urls);
  return Number(h1 - h0) / ((performance.now() - t0) / 1000);
}

async function peersConnected(url: string): Promise<number | null> {
  try {
    const text = await (await fetch(url + "/metrics", { signal: AbortSignal.timeout(2_000) })).text();
    const m = /^cairn_peers_connected (\d+)/m.exec(text);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** CPU seconds (user + system, all threads) the given processes have used so far, from /proc; null without it. */
function cpuSeconds(pids: readonly (number | undefined)[]): number | null {
  try {
    let ticks = 0;
    for (const pid of pids) {
      if (pid === undefined) return null;
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    }
    return ticks / 100; // USER_HZ
  } catch {
    return null;
  }
}

/** Polls the highest committed height every 100 ms; the longest time it did not move. */
class StallWatch {
  longestMs = 0;
  private running = true;
  private readonly loop: Promise<void>;

  constructor(urls: readonly string[]) {
    this.loop = (async () => {
      let best = -1n;
      let since = performance.now();
      while (this.running) {
        const h = await maxHeight(urls);
        const now = performance.now();
        if (h > best) {
          best = h;
          since = now;
        } else this.longestMs = Math.max(this.longestMs, now - since);
        await sleep(100);
      }
    })();
  }

  async stop(): Promise<number> {
    this.running = false;
    await this.loop;
    return this.longestMs;
  }
}

/** Phase windows, for the honest client's figures. */
interface Window {
  name: string;
  from: number;
  to: number;
}

function latencyText(samples: readonly Sample[], refused: number): string {
  const l = samples.map((s) => s.latencyMs);
  return `honest p50_ms=${percentile(l, 50).toFixed(0)} p99_ms=${percentile(l, 99).toFixed(0)} n=${l.length} refused=${refused}`;
}

/** The longest time between consecutive honest commits whose invocations were sent in the window. */
function longestHonestGapMs(samples: readonly Sample[], from: number, to: number): number {
  const done = samples.filter((s) => s.doneAt >= from && s.sentAt < to).map((s) => s.doneAt).sort((a, b) => a - b);
  let gap = done.length > 0 ? done[0]! - from : to - from;
  for (let i = 1; i < done.length; i++) gap = Math.max(gap, done[i]! - done[i - 1]!);
  return gap;
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = options();
  } catch (e) {
    process.stderr.write(`attack: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const W = opts.windowS;
  progress("starting a 4-validator devnet (fsync on, fee floor 1)");
  const cluster = await TestCluster.create(4, { syncWrites: true });
  const crowds: StrangerCrowd[] = [];
  let honest: HonestClient | null = null;
  let cleaning: Promise<void> | null = null;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const c of crowds) c.stop();
      await honest?.stop().catch(() => undefined);
      // SIGKILL: a validator busy compiling may take long to stop, and the chain is thrown away anyway.
      await Promise.all(cluster.info.rest.map((_, i) => cluster.kill(i, "SIGKILL").catch(() => undefined)));
      if (opts.keep) progress(`kept ${cluster.dir}`);
      else await cluster.destroy().catch(() => undefined);
    })());
  const onSignal = (): void => {
    progress("interrupted: stopping validators");
    void cleanup().then(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  try {
    const urls = cluster.info.rest;
    cluster.startAll();
    await Promise.all(urls.map((_, i) => cluster.waitReady(i, 60_000)));
    // Linked to its peers and taking writes (an idle chain may write no blocks, so no height is awaited).
    for (const url of urls) {
      const until = performance.now() + 60_000;
      while (((await fetch(url + "/v1/status").then((r) => r.json())) as { syncing: boolean }).syncing) {
        if (performance.now() > until) throw new Error(`${url} still syncing 60 s after start`);
        await sleep(100);
      }
    }
    const s0 = (await status(urls[0]!))!;
    const chainId = s0.chainId;
    const floor = s0.minGasPrice;
    const price = opts.honestPrice ?? floor;
    const root = FastKey.fromSecretHex(cluster.info.funded.secretKey);
    const client = new Client([...urls], { chainId, minGasPrice: floor });

    // Setup, before the honest client (which signs with the genesis key) starts: the attacker's funded keys.
    const floodKeys = opts.phases.has("c") ? opts.floodKeys : 0;
    progress(`funding ${floodKeys + 2} attacker keys from the genesis key`);
    const t0 = performance.now();
    const funded = await fundMany(client, chainId, root, 0n, floodKeys + 2, 10n ** 9n, floor);
    // mallory sends the free and the gapped invocations, the deployer the deploy, the rest the flood.
    const [mallory, deployer] = funded.keys as [FastKey, FastKey];
    const attackerKeys = funded.keys.slice(2);
    progress(`funded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const windows: Window[] = [];
    const blocksAttacked: number[] = [];
    honest = new HonestClient(urls, chainId, root, price);

    // Baseline: the idle chain, then the honest client alone.
    const idleRate = await blockRate(urls, W);
    let from = performance.now();
    honest.start();
    const honestRate = await blockRate(urls, W);
    let to = performance.now();
    result(`attack baseline: ${latencyText(honest.between(from, to), honest.refusalsBetween(from, to).length)} | blocks_per_s idle=${idleRate.toFixed(1)} honest_only=${honestRate.toFixed(1)} honest_price=${price}`);

    if (opts.phases.has("a")) {
      progress("a: free invocations");
      from = performance.now();
      const strangers = Array.from({ length: 20 }, () => FastKey.generate());
      const sink = FastKey.generate().publicKey;
      const free = [
        // gasPrice 0 from keys that were never funded
        ...strangers.slice(0, 10).flatMap((k) => Array.from({ length: 10 }, (_, n) => k.transfer(chainId, sink, 1n, BigInt(n), 0n))),
        // the fee floor from keys that were never funded: nothing to pay with
        ...strangers.slice(10).flatMap((k) => Array.from({ length: 10 }, (_, n) => k.transfer(chainId, sink, 1n, BigInt(n), floor))),
        // gasPrice 0 from a funded key
        ...Array.from({ length: 16 }, (_, n) => mallory.transfer(chainId, sink, 1n, BigInt(n), 0n)),
      ];
      // Half one at a time on the single route, half in batches.
      const singles = free.filter((_, k) => k % 2 === 0);
      const batched = free.filter((_, k) => k % 2 === 1);
      const codes = new Map<string, number>();
      let admitted = 0;
      await Promise.all(
        singles.map(async (inv, k) => {
          try {
            const res = await fetch(`${urls[k % urls.length]}/v1/invocations`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify(toJson(SignedInvocation, inv)),
              signal: AbortSignal.timeout(10_000),
            });
            const j = (await res.json()) as any;
            if (res.ok) admitted++;
            else codes.set(j?.error?.code ?? String(res.status), (codes.get(j?.error?.code ?? String(res.status)) ?? 0) + 1);
          } catch {
            codes.set("transport", (codes.get("transport") ?? 0) + 1);
          }
        }),
      );
      const b = await sendFlood(urls, batched, { batch: 25 });
      admitted += b.admitted;
      for (const [c, n] of b.refused) codes.set(c, (codes.get(c) ?? 0) + n);
      await sleep(W * 500);
      const committed = await keysThatCommitted(urls, [...strangers, mallory]);
      to = performance.now();
      windows.push({ name: "a", from, to });
      const refused = [...codes.values()].reduce((x, y) => x + y, 0);
      result(`attack a free: ${latencyText(honest.between(from, to), honest.refusalsBetween(from, to).length)} | sent=${free.length} refused=${refused} admitted=${admitted} committed_keys=${committed.committed} (${formatCounts(codes)})`);
    }

    if (opts.phases.has("b")) {
      progress("b: one gapped invocation");
      await honest.stop();
      await sleep(1_500); // the honest client's last invocation commits; the chain goes idle
      const idleAgain = await blockRate(urls, W);
      const gapped = mallory.transfer(chainId, FastKey.generate().publicKey, 1n, 1n, floor);
      const submitted = await client.submitBatch([gapped]);
      if ("error" in submitted[0]!) throw new Error(`the gapped invocation was refused: ${submitted[0].error.code}`);
      await sleep(500);
      const pendingRate = await blockRate(urls, W);
      blocksAttacked.push(pendingRate);
      from = performance.now();
      honest.start();
      await sleep(W * 1000);
      to = performance.now();
      windows.push({ name: "b", from, to });
      const state = await client.receipt(invocationIdHex(gapped));
      result(
        `attack b gapped: ${latencyText(honest.between(from, to), honest.refusalsBetween(from, to).length)} | blocks_per_s idle=${idleAgain.toFixed(1)} gapped_pending=${pendingRate.toFixed(1)} gapped_status=${state?.status ?? "unknown"}`,
      );
    }

    if (opts.phases.has("c")) {
      progress(`c: signing a flood of ${opts.flood}`);
      const flood = buildFlood(chainId, attackerKeys, floor, { ...DEFAULT_FLOOD, total: opts.flood });
      progress(`c: flooding (${flood.kinds.gapped} gapped at the floor from ${attackerKeys.length} funded keys, ${flood.kinds.underpriced} at gasPrice 0, ${flood.kinds.unfunded} from never-funded keys)`);
      let poolMax = 0;
      let watching = true;
      const poolWatch = (async () => {
        while (watching) {
          for (const u of urls) poolMax = Math.max(poolMax, (await status(u))?.mempool ?? 0);
          await sleep(250);
        }
      })();
      const h0 = await maxHeight(urls);
      from = performance.now();
      const watch = new StallWatch(urls);
      const pids = urls.map((_, i) => cluster.pid(i));
      const cpu0 = cpuSeconds(pids);
      const sent = await sendFlood(urls, flood.invocations);
      const sendEnd = performance.now();
      const cpu1 = cpuSeconds(pids);
      // Validator CPU per flood invocation while it was sent (with the honest client's share, a few percent).
      const cpuText = cpu0 !== null && cpu1 !== null ? ` validator_cpu_s=${(cpu1 - cpu0).toFixed(1)} (${(((cpu1 - cpu0) / sent.sent) * 1e6).toFixed(0)} us per invocation)` : "";
      const duringRate = Number((await maxHeight(urls)) - h0) / ((sendEnd - from) / 1000);
      await sleep(W * 500);
      to = performance.now();
      const chainStall = await watch.stop();
      windows.push({ name: "c", from, to });
      // Blocks/s with the flood still pooled, the honest client paused: what the pooled flood alone causes.
      await honest.stop();
      await sleep(1_500);
      const pendingRate = await blockRate(urls, W);
      blocksAttacked.push(pendingRate);
      watching = false;
      await poolWatch;
      honest.start();
      const committed = await keysThatCommitted(urls, flood.keys);
      result(
        `attack c flood: ${latencyText(honest.between(from, to), honest.refusalsBetween(from, to).length)} | sent=${sent.sent} in ${sent.seconds.toFixed(1)}s admitted=${sent.admitted}${cpuText} committed_keys=${committed.committed}/${flood.keys.length} pool_max=${poolMax} blocks_per_s during_send=${duringRate.toFixed(1)} flood_pending=${pendingRate.toFixed(1)} longest_chain_stall_s=${(chainStall / 1000).toFixed(1)} longest_honest_gap_s=${(longestHonestGapMs(honest.samples, from, to) / 1000).toFixed(1)} (${formatCounts(sent.refused)})`,
      );
    }

    if (opts.phases.has("d")) {
      const target = 3;
      const port = cluster.listenPort(target);
      // Ten addresses that are no validator's (8 slots each would be taken) and the validators' own address.
      const crowd = new StrangerCrowd(port, [...loopbackHosts(10), "127.0.0.1"], 10);
      crowds.push(crowd);
      progress(`d: strangers from 11 addresses, 10 connections each, on validator ${target}'s P2P port; then it is killed and restarted`);
      from = performance.now();
      crowd.start();
      await sleep(2_000);
      const openBefore = crowd.open;
      await cluster.kill(target, "SIGKILL");
      const restartAt = performance.now();
      cluster.start(target);
      const deadline = restartAt + 60_000;
      let readyS = NaN;
      let peersS = NaN;
      let movedS = NaN;
      let startHeight: bigint | null = null;
      while (performance.now() < deadline && Number.isNaN(movedS + peersS)) {
        const s = await status(urls[target]!, 1_000);
        const now = performance.now();
        if (s !== null) {
          if (Number.isNaN(readyS)) {
            readyS = (now - restartAt) / 1000;
            startHeight = s.height;
          }
          if (Number.isNaN(movedS) && s.height > startHeight!) movedS = (now - restartAt) / 1000;
          if (Number.isNaN(peersS) && ((await peersConnected(urls[target]!)) ?? 0) >= 3) peersS = (performance.now() - restartAt) / 1000;
        }
        await sleep(100);
      }
      const openAfter = crowd.open;
      crowd.stop();
      to = performance.now();
      windows.push({ name: "d", from, to });
      const f = (x: number): string => (Number.isNaN(x) ? "never(60s)" : x.toFixed(1));
      result(
        `attack d slots: ${latencyText(honest.between(from, to), honest.refusalsBetween(from, to).length)} | strangers_open before_kill=${openBefore} at_end=${openAfter} accepted=${crowd.accepted} restarted_ready_s=${f(readyS)} peers_3_s=${f(peersS)} height_moves_s=${f(movedS)}`,
      );
    }

    if (opts.phases.has("e")) {
      progress(`e: churn for ${opts.churnS} s`);
      from = performance.now();
      const watch = new StallWatch(urls);
      const kills: number[] = [];
      for (let k = 0; performance.now() - from < opts.churnS * 1000; k++) {
        const victim = k % urls.length;
        kills.push(victim);
        await cluster.kill(victim, "SIGKILL");
        await sleep(5_000);
        cluster.start(victim);
        await sleep(5_000);
      }
      await Promise.all(urls.map((_, i) => cluster.waitReady(i, 60_000)));
      to = performance.now();
      const chainStall = await watch.stop();
      windows.push({ name: "e", from, to });
      result(
        `attack e churn: ${latencyText(honest.between(from, to), honest.refusalsBetween(from, to).length)} | kills=${kills.length} longest_honest_gap_s=${(longestHonestGapMs(honest.samples, from, to) / 1000).toFixed(1)} longest_chain_stall_s=${(chainStall / 1000).toFixed(1)}`,
      );
    }

    if (opts.phases.has("f")) {
      const source = nestedGenericsSource(opts.depth);
      progress(`f: deploying nested generics, depth ${opts.depth} (${source.length} bytes)`);
      from = performance.now();
      const deployClient = new Client([...urls], { chainId, minGasPrice: floor, requestTimeoutMs: opts.deployTimeoutS * 1000 });
      const deploy = deployClient
        .deploy({ key: deployer.seed, name: "nested", sources: { "nested.ts": source }, entry: "nested.ts", wait: true, timeoutMs: opts.deployTimeoutS * 1000 })
        .then(
          (r) => `committed status=${r.receipt.status}${r.receipt.error ? ` error=${JSON.stringify(r.receipt.error.slice(0, 120))}` : ""} gas_used=${r.receipt.gasUsed}`,
          (e: { code?: string; message?: string }) => `refused code=${e.code ?? "error"} message=${JSON.stringify(String(e.message).slice(0, 160))}`,
        );
      const outcome = await Promise.race([deploy, sleep(opts.deployTimeoutS * 1000 + 5_000).then(() => `no answer within ${opts.deployTimeoutS} s`)]);
      const answeredS = (performance.now() - from) / 1000;
      // A few more honest commits show whether the chain is still busy with it.
      await sleep(Math.min(W, 5) * 1000);
      to = performance.now();
      windows.push({ name: "f", from, to });
      result(
        `attack f generics: ${latencyText(honest.between(from, to), honest.refusalsBetween(from, to).length)} | depth=${opts.depth} source_bytes=${source.length} answered_s=${answeredS.toFixed(1)} longest_honest_gap_s=${(longestHonestGapMs(honest.samples, from, to) / 1000).toFixed(1)} ${outcome}`,
      );
    }

    await honest.stop();
    const attacked = honest.samples.filter((s) => windows.some((w) => s.sentAt >= w.from && s.sentAt < w.to));
    const p99 = percentile(attacked.map((s) => s.latencyMs), 99);
    const refusedHonest = honest.refusals.length;
    for (const r of honest.refusals.slice(0, 5)) progress(`honest refusal: ${r.code} ${r.message}`);
    if (honest.lost > 0) progress(`honest invocations never seen committed within 120 s: ${honest.lost}`);
    const blocksAttackedMax = blocksAttacked.length > 0 ? Math.max(...blocksAttacked) : NaN;
    result(`attack: honest_p99_ms=${p99.toFixed(0)} blocks_per_s_idle=${idleRate.toFixed(1)} blocks_per_s_attacked=${blocksAttackedMax.toFixed(1)} refused_honest=${refusedHonest}`);
    return 0;
  } catch (e) {
    progress(`attack run failed: ${(e as Error).stack ?? String(e)}`);
    for (let i = 0; i < 4; i++) {
      const log = (() => {
        try {
          return readFileSync(join(cluster.dir, `node${i}.log`), "utf8");
        } catch {
          return "";
        }
      })();
      if (log) progress(`validator ${i} log tail:\n${log.slice(-1500)}`);
    }
    return 1;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`attack: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
