// The whole-validator simulation (in the spirit of TigerBeetle's VOPR): n real validators (store, executor,
// vm with real example contracts, mempool, consensus core and the node's own glue) on a simulated network,
// clock and disk, driven by one seed. Before GST: delays, loss, duplication, reordering, partitions, power
// failures at any storage step, injected read and write failures and compile crashes, Byzantine twins. At
// GST everything heals and every validator is restarted.
//
// Checked as it runs: no two honest validators commit different blocks or state commitments at a height;
// every receipt a client was given stays the same; a validator halts only where a fault was injected; a
// just-restarted validator that does not say `syncing` is not far behind. At the end: every acknowledged
// receipt is committed at the same height on every honest validator, all reach the same state commitment,
// total supply is conserved, every honest validator commits again after GST, and every valid invocation
// submitted after GST is final within a bounded time.

import { decode, encode } from "../../node/codec/codec.ts";
import { ConsensusMessage } from "../../node/codec/consensus.ts";
import { toHex } from "../../node/codec/hex.ts";
import { DeployPayload, type Genesis } from "../../node/codec/types.ts";
import { blockHash } from "../../node/crypto/digests.ts";
import { SodiumSigner } from "../../node/crypto/sodium.ts";
import { decodeAccount } from "../../node/exec/account.ts";
import { STATE_TAG } from "../../node/exec/state-keys.ts";
import { DEFAULT_TOOLCHAIN_ID } from "../../vm/toolchain.ts";
import { Rng } from "../sim/prng.ts";
import { SimClient, type Ack } from "./clients.ts";
import { SimNetwork } from "./network.ts";
import { SimNode } from "./node.ts";
import { Scheduler } from "./scheduler.ts";
import { exampleSources, precompile } from "./vm.ts";

export class SimFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SimFailure";
  }
}

export interface Scenario {
  seed: number;
  n: number;
  /** The validator index run as a twin pair (two instances, one key), or null. */
  twin: number | null;
  gstMs: number;
  pre: { minDelay: number; maxDelay: number; drop: number; dup: number; partitions: boolean; crashes: boolean; ioFaults: boolean };
  baseTimeoutMs: number;
  /** After GST: every honest validator commits this many new blocks, and valid invocations finish, within boundMs. */
  boundMs: number;
}

export interface SimStats {
  steps: number;
  simMs: number;
  height: bigint;
  crashes: number;
  halts: number;
  partitions: number;
  submitted: number;
  acknowledged: number;
  /** Gapped invocations clients saw expire. */
  expired: number;
  messages: number;
}

export function scenarioFromSeed(seed: number): Scenario {
  const r = new Rng(seed ^ 0x5eed);
  const n = r.chance(0.15) ? 7 : 4;
  return {
    seed,
    n,
    twin: r.chance(0.3) ? r.int(0, n - 1) : null,
    gstMs: r.int(2000, 4000),
    pre: {
      minDelay: 1,
      maxDelay: r.pick([5, 20, 60]),
      drop: r.pick([0, 0.02, 0.1]),
      dup: r.pick([0, 0.02]),
      partitions: r.chance(0.5),
      crashes: r.chance(0.7),
      ioFaults: r.chance(0.4),
    },
    baseTimeoutMs: 200,
    boundMs: 8000,
  };
}

const TOKEN = exampleSources("token");
const TOOLCHAIN = DEFAULT_TOOLCHAIN_ID;
const ACCOUNTS = 4;
const FUNDS = 1_000_000_000_000n;

/** Compiles the example contracts the simulation deploys (once per process). */
export function prepare(): Promise<void> {
  return precompile(TOOLCHAIN, [TOKEN]);
}

export interface SimHooks {
  trace?: (line: string) => void;
}

export async function runSeed(seed: number, hooks: SimHooks = {}): Promise<SimStats> {
  const sc = scenarioFromSeed(seed);
  const rng = new Rng(seed);
  const s = new Scheduler();
  const faults = { ...sc.pre };
  let failure: string | null = null;
  const fail = (m: string): void => {
    failure ??= `at ${s.now} ms: ${m}`;
  };

  const secrets = Array.from({ length: sc.n }, () => bytes(rng, 32));
  const keys = secrets.map((k) => new SodiumSigner(k));
  const accounts = Array.from({ length: ACCOUNTS }, () => new SodiumSigner(bytes(rng, 32)));
  const genesis: Genesis = {
    chainId: `vsim-${seed}`,
    validators: keys.map((k, i) => ({ publicKey: k.publicKey, name: `v${i}` })),
    allocations: accounts.map((a) => ({ account: a.publicKey, balance: FUNDS })),
  };
  const supply = FUNDS * BigInt(ACCOUNTS);
  const net = new SimNetwork(sc.n, genesis.chainId, s, rng.fork(), { minDelay: faults.minDelay, maxDelay: faults.maxDelay, drop: faults.drop, dup: faults.dup });
  const settings = { baseTimeoutMs: sc.baseTimeoutMs, maxTimeoutMs: 2000, ioMaxDelay: 2 };

  // Agreement: the block hash and state commitment each honest validator committed at each height.
  const chain = new Map<bigint, { hash: string; root: string }>();
  const nodes: SimNode[] = [];
  let halts = 0;
  const onHalt = (node: SimNode): void => {
    halts++;
    // The supervisor (cairn devnet, systemd) restarts a validator that exited.
    s.after(rng.int(50, 400), () => node.start());
  };
  for (let i = 0; i < sc.n; i++) {
    const copies = sc.twin === i ? 2 : 1;
    for (let t = 0; t < copies; t++) {
      nodes.push(
        new SimNode({ index: i, twin: t, byzantine: sc.twin === i, secret: secrets[i]!, genesis, scheduler: s, net, rng: rng.fork(), settings, onHalt, onFailure: fail, trace: hooks.trace ?? null }),
      );
    }
  }
  const honest = nodes.filter((n) => !n.byzantine);
  // Agreement is checked on every commit of every honest incarnation, from the moment it comes up.
  for (const node of honest) {
    node.onRuntime = (rt) => {
      rt.commits.onCommitted((block) => {
        const hash = toHex(blockHash(block.header));
        const root = toHex(rt.world.executor.head().stateRoot);
        const seen = chain.get(block.header.height);
        if (seen === undefined) chain.set(block.header.height, { hash, root });
        else if (seen.hash !== hash) fail(`validator ${node.index} committed block ${hash} at height ${block.header.height}, another honest validator ${seen.hash}`);
        else if (seen.root !== root) fail(`validator ${node.index} has state commitment ${root} after height ${block.header.height}, another honest validator ${seen.root}`);
      });
    };
  }

  // An honest validator never votes for two blocks in one view, across crashes and restarts: its safety state
  // must be durable before its vote leaves.
  const votes = new Map<string, string>();
  const voteCrashRng = rng.fork();
  let gst = false;
  net.onSent = (from, bytes) => {
    if (sc.twin === from) return;
    const m = decode(ConsensusMessage, bytes, "sent consensus message");
    if (m.type !== "vote") return;
    const key = `${m.value.signer}/${m.value.view}`;
    const block = toHex(m.value.blockHash);
    const before = votes.get(key);
    if (before === undefined) {
      votes.set(key, block);
      // Power failures right after a vote leaves, when its safety state may not be durable yet.
      if (!gst && faults.crashes && voteCrashRng.chance(0.02)) {
        const victim = nodes.find((nd) => nd.index === from && nd.up);
        if (victim) {
          s.after(voteCrashRng.int(0, 2), () => victim.crash());
          s.after(voteCrashRng.int(20, 300), () => victim.start());
        }
      }
    } else if (before !== block) fail(`honest validator ${m.value.signer} voted for two blocks in view ${m.value.view} (${before.slice(0, 12)}, ${block.slice(0, 12)})`);
  };

  const acked = new Map<string, Ack>();
  let tokenReady = false;
  const env = {
    chainId: genesis.chainId,
    now: () => s.now,
    honest: () => honest,
    tokenReady: () => tokenReady,
    accounts,
    acked,
    fail,
    topologyChangedAt: () => net.changedAt,
    levelHeight: (node: SimNode) => {
      const f = Math.floor((sc.n - 1) / 3);
      const hs = honest.filter((o) => o !== node && o.up).map((o) => o.runtime!.world.executor.head().height);
      if (hs.length < f + 1) return null;
      hs.sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
      return hs[f]!;
    },
    maxCommitted: () => {
      let h = 0n;
      for (const k of chain.keys()) if (k > h) h = k;
      return h;
    },
  };
  const clients = accounts.map((a) => new SimClient(a, env, rng.fork()));

  for (const node of nodes) node.start();
  if (faults.ioFaults) for (const node of honest) node.faults = { readFail: 0.001, writeFail: 0.001, compileCrash: 0.3 };

  // The fault schedule before GST.
  let partitions = 0;
  const faultRng = rng.fork();
  for (let t = faultRng.int(100, 400); t < sc.gstMs; t += faultRng.int(150, 700)) {
    s.at(t, () => {
      const roll = faultRng.float();
      if (faults.crashes && roll < 0.4) {
        const victim = faultRng.pick(nodes);
        victim.crash();
        s.after(faultRng.int(50, 800), () => victim.start());
      } else if (faults.partitions && roll < 0.7) {
        partitions++;
        net.partition(Array.from({ length: sc.n }, () => faultRng.int(0, 1)));
        s.after(faultRng.int(100, 600), () => net.heal());
      }
    });
  }

  s.at(sc.gstMs, () => {
    gst = true;
    net.faults = { minDelay: 1, maxDelay: 15, drop: 0, dup: 0 };
    net.heal();
    for (const node of nodes) {
      node.faults = { readFail: 0, writeFail: 0, compileCrash: 0 };
      node.start();
    }
  });
  const heightsAtGst = new Map<SimNode, bigint>();
  const loadEnd = sc.gstMs + 2500;
  const end = sc.gstMs + sc.boundMs;

  // The token: account 0 deploys it and mints to every account, then clients use it.
  let setup = 0;
  const owner = clients[0]!;
  let ownerNonce = 0n;
  const setupSteps = async (): Promise<void> => {
    if (owner.busy || tokenReady) return;
    const node = honest.find((n) => n.up && !n.runtime!.services.syncState().syncing);
    if (!node) return;
    const acc = await node.call(node.runtime!.services.getAccount(owner.me.publicKey)).catch(() => null);
    if (acc === null) return;
    ownerNonce = acc.nonce;
    const contract = await node.call(node.runtime!.services.getContract("token")).catch(() => undefined);
    if (contract === undefined) return;
    if (contract === null) {
      const payload = encode(DeployPayload, { name: "token", version: 1, toolchain: TOOLCHAIN, entry: TOKEN.entry, sources: Object.entries(TOKEN.files).map(([path, content]) => ({ path, content })) });
      await owner.send(owner.sign({ contract: "deploy", version: 0, method: "deploy", input: payload, nonce: ownerNonce, gasLimit: 50_000_000n }), "deploy");
      return;
    }
    if (setup < ACCOUNTS) {
      const to = accounts[setup]!.publicKey;
      await owner.send(owner.sign({ contract: "token", version: 1, method: "mint", input: new TextEncoder().encode(`${toHex(to)} 1000000`), nonce: ownerNonce, gasLimit: 2_000_000n }), "mint");
      setup++;
      return;
    }
    tokenReady = true;
  };

  const clientTick = async (): Promise<void> => {
    if (s.now >= end) return;
    await setupSteps();
    for (const c of clients) if (c !== owner || tokenReady) await c.tick(s.now < loadEnd, gst, sc.boundMs - 3000);
    if (gst && heightsAtGst.size === 0) for (const node of honest) heightsAtGst.set(node, node.runtime?.world.executor.head().height ?? 0n);
    s.after(rng.int(20, 80), () => void clientTick().catch((e: unknown) => fail(`client error: ${(e as Error).stack ?? e}`)));
  };
  s.at(10, () => void clientTick());

  while (failure === null && s.now < end && (await s.step()));
  if (failure !== null) throw new SimFailure(failure);

  // Liveness after GST: every honest validator is up and has committed everything any honest validator has (an
  // idle chain writes no blocks, so there is no count of new blocks to expect once the load has ended), and the
  // invocations submitted after GST finished (below).
  const top = honest.reduce((m, n) => {
    const h = n.runtime?.world.executor.head().height ?? 0n;
    return h > m ? h : m;
  }, 0n);
  for (const node of honest) {
    if (!node.up) throw new SimFailure(`validator ${node.index} is not running ${sc.boundMs} ms after GST (halts: ${JSON.stringify(node.halts)})`);
    const h = node.runtime!.world.executor.head().height;
    const before = heightsAtGst.get(node) ?? 0n;
    if (h < top) {
      const w = node.runtime!.world;
      throw new SimFailure(
        `validator ${node.index} is at height ${h} ${sc.boundMs} ms after GST while another honest one is at ${top} (${h - before} blocks since GST; core view ${w.core.view}, ` +
          `core committed ${w.core.committedHeight}, certified ${w.core.certifiedHeight}, pending blocks ${w.core.pendingBlocks}, sync ${JSON.stringify(node.runtime!.services.syncState(), (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}, ` +
          `others at ${honest.map((o) => o.runtime?.world.executor.head().height).join("/")})`,
      );
    }
  }
  for (const c of clients) for (const [id, deadline] of c.obligations) if (deadline < s.now) throw new SimFailure(`invocation ${id} submitted after GST is neither committed nor refused by its deadline`);

  await finalChecks(honest, acked, supply, s);
  return {
    steps: s.steps,
    simMs: s.now,
    height: env.maxCommitted(),
    crashes: nodes.reduce((a, n) => a + n.crashes, 0),
    halts,
    partitions,
    submitted: clients.reduce((a, c) => a + c.submitted, 0),
    acknowledged: acked.size,
    expired: clients.reduce((a, c) => a + c.expired, 0),
    messages: net.messages,
  };
}

/** Stops the clock for the end checks: storage steps still complete (they are run here directly). */
async function drain<T>(s: Scheduler, p: Promise<T>): Promise<T> {
  let done = false;
  let value: T | undefined;
  let error: unknown = null;
  p.then(
    (v) => ((done = true), (value = v)),
    (e: unknown) => ((done = true), (error = e ?? new Error("rejected"))),
  );
  while (!done && (await s.step()));
  if (!done) throw new SimFailure("an end check's read never completed");
  if (error !== null) throw error;
  return value as T;
}

async function finalChecks(honest: SimNode[], acked: Map<string, Ack>, supply: bigint, s: Scheduler): Promise<void> {
  const heads = honest.map((n) => n.runtime!.world.executor.head().height);
  const common = heads.reduce((a, b) => (a < b ? a : b));
  let root: string | null = null;
  let hash: string | null = null;
  for (const node of honest) {
    const store = node.runtime!.world.store;
    const r = await drain(s, store.stateRootAt(common));
    const h = await drain(s, store.blockHashAt(common));
    if (r === null || h === null) throw new SimFailure(`validator ${node.index} has no state commitment at height ${common}`);
    if (root !== null && (toHex(r) !== root || toHex(h!) !== hash)) throw new SimFailure(`validators disagree at common height ${common}`);
    root = toHex(r);
    hash = toHex(h!);
    for (const a of acked.values()) {
      if (a.height > node.runtime!.world.executor.head().height) continue;
      const got = await drain(s, store.receiptById(Uint8Array.from(Buffer.from(a.id, "hex"))));
      if (got === null || got.height !== a.height || got.status !== a.status || got.index !== a.index) {
        throw new SimFailure(`acknowledged invocation ${a.id} (height ${a.height}, ${a.status}) is ${got === null ? "missing" : `at height ${got.height} (${got.status})`} on validator ${node.index}`);
      }
    }
    let total = 0n;
    const accounts = node.runtime!.world.store.iterateState(new Uint8Array([STATE_TAG.account]));
    for (;;) {
      const next = await drain(s, accounts.next());
      if (next.done) break;
      total += decodeAccount(next.value[1]).balance;
    }
    if (total !== supply) throw new SimFailure(`validator ${node.index}: balances sum to ${total}, genesis supply is ${supply}`);
  }
}

function bytes(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(0, 255);
  return out;
}
