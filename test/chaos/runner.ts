// A Jepsen-style chaos run against real validator processes: 4 validators behind fault-injecting relays,
// bounded bank and token load through every REST submission route, and a seeded schedule of kills (one, two,
// all four), restarts, partitions, link delays, garbage and slow-loris peers. At the end everything is healed
// and the run checks, from the validators' REST APIs, that nothing acknowledged was lost or changed, supply is
// conserved, the validators agree, and none died of a fatal error. See run.ts for the command line.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { Client, Keypair } from "../../node/client/index.ts";
import { signInvocation } from "../../node/client/invocation.ts";
import { BANK, DEFAULT_GAS } from "../../node/client/builtins.ts";
import { encode } from "../../node/codec/codec.ts";
import { utf8 } from "../../node/codec/hex.ts";
import { TransferPayload, type SignedInvocation } from "../../node/codec/types.ts";
import { DEFAULT_NET_LIMITS } from "../../node/net/limits.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { commitProbe } from "../helpers/probe.ts";
import { sendInWaves } from "../../bench/attack/funding.ts";
import { checkAcks, checkCommonHeight, checkNonces, checkSupply, fatalLines } from "./checks.ts";
import { garbagePeer, SlowLoris } from "./hostile-peers.ts";
import { LoadGenerator, MODES } from "./load.ts";
import { HeightMonitor } from "./monitor.ts";
import { Prng } from "./prng.ts";
import { RelayMesh } from "./relay.ts";
import { describeSide, drawSchedule, type Cycle, type SideFault } from "./schedule.ts";

export interface ChaosOptions {
  cycles: number;
  seed: number;
  log: (line: string) => void;
  /** Keep the devnet folder (keys, databases, logs) after the run. */
  keep?: boolean;
}

export interface ChaosResult {
  cycles: number;
  acknowledged: number;
  lost: number;
  mismatched: number;
  supplyOk: boolean;
  longestStallS: number;
  /** Other failed checks: divergence, fatal errors, exits the run did not cause, nonce disagreements. */
  failures: string[];
  lastLine: string;
}

const VALIDATORS = 4;
const QUORUM = 3;
const HOST = "127.0.0.1";
const CLIENTS = 4;
const ACCOUNTS_PER_CLIENT = 5;
const BANK_FUNDING = 1_000_000_000_000n;
const TOKEN_FUNDING = 1_000_000n;
const TOKEN = { name: "token", version: 1 };
const TOKEN_SOURCE = fileURLToPath(new URL("../../contracts/examples/token.ts", import.meta.url));

function genesisOf(dir: string): { total: bigint; validators: string[] } {
  const g = JSON.parse(readFileSync(join(dir, "genesis.json"), "utf8")) as {
    validators: Array<{ publicKey: string }>;
    allocations: Array<{ account: string; balance: string }>;
  };
  return { total: g.allocations.reduce((s, a) => s + BigInt(a.balance), 0n), validators: g.validators.map((v) => v.publicKey) };
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not answering yet
    }
    if (performance.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

/** Deploys the token and funds the load's accounts (bank and token) from the genesis account; answers their keys. */
async function setup(cluster: TestCluster, prng: Prng, log: (l: string) => void): Promise<{ accounts: Keypair[]; chainId: string; minted: bigint }> {
  const funded = Keypair.fromSecretHex(cluster.info.funded.secretKey);
  const client = new Client(cluster.info.rest[0]!, { requestTimeoutMs: 30_000 });
  const chainId = await client.chainId();
  const deployed = await client.deploy({ key: funded, ...TOKEN, sources: { "token.ts": readFileSync(TOKEN_SOURCE, "utf8") }, entry: "token.ts", wait: true, timeoutMs: 120_000 });
  if (deployed.receipt.status !== "ok") throw new Error(`token deploy: ${deployed.receipt.status} ${deployed.receipt.error}`);
  log(`chaos: token deployed at height ${deployed.receipt.height}`);
  const accounts = Array.from({ length: CLIENTS * ACCOUNTS_PER_CLIENT }, () => Keypair.fromSecret(prng.bytes(32)));
  // One invoker funds every account: in waves of 16 (the validators' limit of pending invocations per
  // invoker), each committed before the next is sent.
  const items = accounts.flatMap((a) => [{ a, mint: false }, { a, mint: true }]);
  await sendInWaves(client, items, (await client.account(funded.publicKey)).nonce, ({ a, mint }, nonce) =>
    mint
      ? signInvocation(funded, { chainId, contract: TOKEN.name, version: TOKEN.version, method: "mint", input: utf8(`${a.publicKeyHex} ${TOKEN_FUNDING}`), nonce, gasLimit: DEFAULT_GAS.invoke, gasPrice: 1n })
      : signInvocation(funded, { chainId, contract: BANK.contract, version: BANK.version, method: BANK.transfer, input: encode(TransferPayload, { to: a.publicKey, amount: BANK_FUNDING }), nonce, gasLimit: DEFAULT_GAS.transfer, gasPrice: 1n }),
  60_000);
  log(`chaos: funded ${accounts.length} accounts with ${BANK_FUNDING} and ${TOKEN_FUNDING} tokens each`);
  return { accounts, chainId, minted: TOKEN_FUNDING * BigInt(accounts.length) };
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const { log } = opts;
  const schedule = drawSchedule(opts.seed, opts.cycles, VALIDATORS);
  log(`chaos: seed=${opts.seed} cycles=${opts.cycles} (repeat with --seed ${opts.seed} --cycles ${opts.cycles})`);
  const failures: string[] = [];
  const cluster = await TestCluster.create(VALIDATORS, { syncWrites: true, consensus: { baseTimeoutMs: 500, maxTimeoutMs: 4_000 } });
  const listenPorts = cluster.info.rest.map((_, i) => cluster.listenPort(i));
  const mesh = await RelayMesh.create(VALIDATORS, HOST, listenPorts);
  for (let i = 0; i < VALIDATORS; i++) cluster.rewritePeers(i, (j, p) => (j === i ? p : { host: HOST, port: mesh.link(i, j).port }));
  log(`chaos: devnet in ${cluster.dir}; REST ${cluster.info.rest.join(" ")}; every peer link through a relay`);

  let stopping = false;
  const unexpectedExits: string[] = [];
  cluster.onExit = (e) => {
    if (e.requested || stopping) return;
    const line = `chaos: validator ${e.index} exited on its own (${e.signal ?? `code ${e.code}`}); restarting it`;
    unexpectedExits.push(line);
    log(line);
    setTimeout(() => {
      if (!stopping && !cluster.running(e.index)) cluster.start(e.index);
    }, 1_000);
  };

  const loris: SlowLoris[] = [];
  let load: LoadGenerator | null = null;
  const monitor = new HeightMonitor({ urls: cluster.info.rest, connected: (i, j) => mesh.connected(i, j), quorum: QUORUM, log, busy: () => (load?.pendingCount ?? 0) > 0 });
  try {
    cluster.startAll();
    await Promise.all(cluster.info.rest.map((_, i) => cluster.waitReady(i, 60_000)));
    const { accounts, chainId, minted } = await setup(cluster, Prng.derive(opts.seed, "accounts"), log);
    monitor.start();
    const perClient = Array.from({ length: CLIENTS }, (_, c) => accounts.slice(c * ACCOUNTS_PER_CLIENT, (c + 1) * ACCOUNTS_PER_CLIENT).map((key) => ({ key, nonce: 0n })));
    load = new LoadGenerator({
      urls: cluster.info.rest,
      chainId,
      tokenContract: TOKEN,
      clients: perClient,
      recipients: accounts.map((a) => a.publicKey),
      prng: Prng.derive(opts.seed, "load"),
      log,
    });
    load.start();
    await sleep(2_000);

    const faultPrng = Prng.derive(opts.seed, "fault-bytes");
    for (const cycle of schedule) await runCycle(cycle, { cluster, mesh, loris, log, prng: faultPrng, listenPorts, cycles: opts.cycles, failures });

    log("chaos: healing every link, stopping hostile peers, every validator up");
    mesh.healAll();
    for (const l of loris.splice(0)) l.stop();
    for (let i = 0; i < VALIDATORS; i++) if (!cluster.running(i)) cluster.start(i);
    await Promise.all(cluster.info.rest.map((_, i) => cluster.waitReady(i, 60_000)));
    const unresolvedCount = await load.drain(90_000);
    log(`chaos: load stopped; ${unresolvedCount} outcome(s) still unknown`);
    for (const u of load.unresolved()) log(`chaos: unresolved: account ${u.account.slice(0, 16)} nonce ${u.nonce} id ${u.id} (${u.resubmits} resubmits)`);

    // Progress after healing: every validator reaches a height above what any had when healing finished. The
    // load has stopped and an idle chain writes no blocks, so probe transfers give it work meanwhile.
    const target = monitor.maxHeight + 3n;
    let probes = 0;
    const allAt = async () => (await Promise.all(cluster.info.rest.map((_, i) => cluster.height(i)))).every((h) => h >= target);
    try {
      await waitFor(`all validators at height ${target}`, 90_000, async () => {
        if (await allAt()) return true;
        await commitProbe(cluster.info.rest[probes++ % VALIDATORS]!, cluster.info.funded.secretKey, 10_000).catch(() => undefined);
        return allAt();
      });
      log(`chaos: healed network progressed: every validator at height >= ${target}`);
    } catch {
      const hs = await Promise.all(cluster.info.rest.map((_, i) => cluster.height(i).catch(() => -1n)));
      const line = `no progress after healing: heights ${hs.join(",")}, target ${target}`;
      failures.push(line);
      log(`chaos: ${line}`);
    }
    await monitor.stop();

    const acks = [...load.acks.values()];
    const ackCheck = await checkAcks(cluster.info.rest, acks);
    for (const d of ackCheck.details.slice(0, 20)) log(`chaos: ${d}`);
    const unresolvedAccounts = new Set(load.unresolved().map((u) => u.account));
    const expected = new Map([...load.expectedNonces()].filter(([pk]) => !unresolvedAccounts.has(pk)));
    const nonceIssues = await checkNonces(cluster.info.rest, expected);
    for (const d of nonceIssues.slice(0, 20)) log(`chaos: ${d}`);
    failures.push(...nonceIssues);

    const genesis = genesisOf(cluster.dir);
    const bankAccounts = [cluster.info.funded.publicKey, ...accounts.map((a) => a.publicKeyHex), ...genesis.validators];
    const supply = await checkSupply(cluster.info.rest, bankAccounts, genesis.total, { ...TOKEN, minted, holders: accounts.map((a) => a.publicKeyHex) });
    for (const d of supply.details) log(`chaos: ${d}`);
    log(`chaos: bank total ${supply.bankTotal} of genesis ${supply.genesisTotal} over ${bankAccounts.length} accounts (validators included); token balances ${supply.tokenTotal}, totalSupply ${supply.tokenSupply}, minted ${minted}`);

    const common = await checkCommonHeight(cluster.info.rest);
    for (const d of common.details) log(`chaos: ${d}`);
    failures.push(...common.details);
    log(`chaos: common height ${common.height}: ${common.ok ? "same block hash and state commitment on all validators" : "DIVERGED"}`);

    const fatal = fatalLines(cluster.info.rest.map((_, i) => join(cluster.dir, `node${i}.log`)));
    for (const f of fatal) log(`chaos: fatal in log: ${f}`);
    failures.push(...fatal, ...unexpectedExits, ...monitor.stuckReports);

    const routes = MODES.map((m) => `${m} ${load!.acked.get(m)}/${load!.submitted.get(m)}`).join(", ");
    log(`chaos: acknowledged/submitted by route: ${routes}; GET polls ${load.polls}; resubmits ${load.resubmits}`);
    log(`chaos: unknown outcomes by cause: ${[...load.unknown].map(([k, n]) => `${k} ${n}`).join(", ") || "none"}`);
    if (failures.length > 0) log(`chaos: ${failures.length} other failed check(s) above (divergence, fatal errors, exits the run did not cause, stuck validators, nonces)`);

    const mismatched = ackCheck.mismatched + load.idMismatches;
    const longestStallS = monitor.longestStallMs / 1000;
    const lastLine = `chaos: cycles=${opts.cycles} acknowledged=${acks.length} lost=${ackCheck.lost} mismatched=${mismatched} supply_ok=${supply.ok} longest_stall_s=${longestStallS.toFixed(1)}`;
    return { cycles: opts.cycles, acknowledged: acks.length, lost: ackCheck.lost, mismatched, supplyOk: supply.ok, longestStallS, failures, lastLine };
  } finally {
    stopping = true;
    await load?.drain(0);
    await monitor.stop();
    for (const l of loris) l.stop();
    await cluster.stopAll().catch(() => undefined);
    await mesh.close();
    if (opts.keep) log(`chaos: kept ${cluster.dir}`);
    else await cluster.destroy().catch(() => undefined);
  }
}

interface CycleContext {
  cluster: TestCluster;
  mesh: RelayMesh;
  loris: SlowLoris[];
  log: (line: string) => void;
  prng: Prng;
  listenPorts: number[];
  cycles: number;
  failures: string[];
}

/** Starts a network fault; answers the function that ends it (immediately done for garbage peers). */
async function applySide(f: SideFault, ctx: CycleContext): Promise<() => void> {
  const { mesh } = ctx;
  switch (f.kind) {
    case "partition":
      mesh.partition(f.groups[0], f.groups[1]);
      return () => mesh.healAll();
    case "delay":
      for (let j = 0; j < VALIDATORS; j++) {
        if (j === f.node) continue;
        mesh.link(f.node, j).setDelay(f.delayMs);
        mesh.link(j, f.node).setDelay(f.delayMs);
      }
      return () => mesh.healAll();
    case "garbage":
      await Promise.all(Array.from({ length: f.count }, () => garbagePeer(HOST, ctx.listenPorts[f.node]!, f.size, ctx.prng)));
      return () => undefined;
    case "restart": {
      const stopped = ctx.cluster.kill(f.node, "SIGTERM").then(() => true);
      if (!(await Promise.race([stopped, sleep(20_000).then(() => false)]))) {
        const line = `validator ${f.node} did not stop within 20 s of SIGTERM; killed`;
        ctx.failures.push(line);
        ctx.log(`chaos: ${line}`);
        await ctx.cluster.kill(f.node, "SIGKILL");
      }
      ctx.cluster.start(f.node);
      await ctx.cluster.waitReady(f.node, 60_000).catch(() => {
        const line = `validator ${f.node} did not answer /v1/status within 60 s of its graceful restart`;
        ctx.failures.push(line);
        ctx.log(`chaos: ${line}`);
      });
      ctx.log(`chaos: validator ${f.node} restarted`);
      return () => undefined;
    }
    case "slowloris": {
      const l = new SlowLoris(HOST, ctx.listenPorts[f.node]!, f.conns, f.intervalMs, ctx.prng);
      ctx.loris.push(l);
      const since = performance.now();
      return () => {
        // Past the handshake timeout (plus scheduling slack) the validator should have dropped every one.
        const overdue = performance.now() - since > DEFAULT_NET_LIMITS.handshakeTimeoutMs + 2_000 && ctx.cluster.running(f.node) && l.open > 0;
        const line = `slow-loris on validator ${f.node} ends; ${l.open} of ${f.conns} connection(s) still open`;
        if (overdue) ctx.failures.push(`${line} after the handshake timeout`);
        ctx.log(`chaos: ${line}${overdue ? " after the handshake timeout: NOT DROPPED" : ""}`);
        l.stop();
        ctx.loris.splice(ctx.loris.indexOf(l), 1);
      };
    }
  }
}

function holdOf(f: SideFault): number {
  return f.kind === "garbage" || f.kind === "restart" ? 0 : f.holdMs;
}

async function runCycle(c: Cycle, ctx: CycleContext): Promise<void> {
  const { cluster, log } = ctx;
  const t0 = performance.now();
  let endSide: (() => void) | null = null;
  if (c.side) {
    log(`chaos: cycle ${c.index}/${ctx.cycles}: ${describeSide(c.side)}${c.overlap ? " (overlapping the kill)" : ""}`);
    endSide = await applySide(c.side, ctx);
    if (!c.overlap) {
      await sleep(holdOf(c.side));
      endSide();
      endSide = null;
      if (c.side.kind !== "garbage" && c.side.kind !== "restart") log(`chaos: cycle ${c.index}: healed`);
    }
  }
  log(`chaos: cycle ${c.index}/${ctx.cycles}: ${c.kill.kind}: SIGKILL validator(s) ${c.kill.targets.join(",")}, down ${c.kill.downMs} ms`);
  await Promise.all(c.kill.targets.map((i) => cluster.kill(i, "SIGKILL")));
  await sleep(c.kill.downMs);
  for (const i of c.kill.targets) if (!cluster.running(i)) cluster.start(i);
  // A validator that does not come back is a finding, not a reason to abandon the run: the end checks need it.
  const notReady = (await Promise.all(c.kill.targets.map((i) => cluster.waitReady(i, 60_000).then(() => null, () => i)))).filter((i) => i !== null);
  for (const i of notReady) {
    const line = `validator ${i} did not answer /v1/status within 60 s of its restart in cycle ${c.index}`;
    ctx.failures.push(line);
    log(`chaos: ${line}`);
  }
  log(`chaos: cycle ${c.index}: restarted validator(s) ${c.kill.targets.join(",")}`);
  if (endSide) {
    const left = holdOf(c.side!) - (performance.now() - t0);
    if (left > 0) await sleep(left);
    endSide();
    if (c.side!.kind !== "garbage") log(`chaos: cycle ${c.index}: healed`);
  }
  await sleep(c.settleMs);
}
