// Deterministic simulation of a Cairn validator set running the REAL consensus core (in the spirit of
// TigerBeetle's VOPR and the Twins method). One seed fixes everything: the scenario, every delay, drop,
// duplicate, partition, crash point and payload. A simulated clock drives timers; nothing reads real time.
//
// Faults before GST: random delays (so reordering), drops, duplicates, partitions that heal, crashes (also in
// the middle of an action list) with restart from the persisted safety state and blocks, and Byzantine
// validators run as twin pairs sharing one key (so equivocating proposals, double votes and split views
// happen). At GST partitions heal, crashed validators restart and the network becomes timely and reliable.
//
// Checked after every commit: honest validators never commit different blocks (or state roots) at one
// height, each honest chain is contiguous from genesis (so all are prefixes of the longest). Checked
// throughout: execution is only requested on executed parents, payload requests name the exact pending
// ancestors, evidence only ever accuses Byzantine validators and verifies, no honest validator is reported
// for misbehaviour, no state divergence. After GST, every honest validator commits new blocks before any
// honest view gets more than a bounded number of views past the highest view at GST.

import { encode, decode } from "../../node/codec/codec.ts";
import { bytesEqual, concatBytes, toHex } from "../../node/codec/hex.ts";
import { BLOCK_FORMAT_VERSION, Block, type Block as BlockT, type QuorumCertificate as QcT, type SignedInvocation } from "../../node/codec/types.ts";
import { ConsensusMessage, SafetyState, type ConsensusMessage as ConsensusMessageT } from "../../node/codec/consensus.ts";
import { blockHash, consensusDigest, invocationsRoot, k12, merkleRoot, ZERO_HASH } from "../../node/crypto/index.ts";
import { ConsensusCore } from "../../node/consensus/core.ts";
import { verifyEvidence } from "../../node/consensus/evidence.ts";
import type { ConsensusAction, ConsensusConfig, ConsensusEvent } from "../../node/consensus/types.ts";
import { fakeCrypto, simPublicKey } from "./fake-crypto.ts";
import { Rng } from "./prng.ts";
import { TimeQueue } from "./time-queue.ts";

export const SIM_CHAIN = "sim-chain";
/** Union tag of "vote" in ConsensusMessage (proposal 0, vote 1, timeout 2). */
const VOTE_TAG = 1;

export interface Scenario {
  seed: number;
  n: number;
  /** Validator indexes run as twin pairs (two instances, one key): the Byzantine ones. */
  byzantine: number[];
  /** Validator indexes that never run at all (crash-faulty from the start); byzantine + silent <= f. */
  silent: number[];
  gstMs: number;
  pre: {
    minDelay: number;
    maxDelay: number;
    drop: number;
    dup: number;
    partitions: boolean;
    crashes: boolean;
    /** Chance, per event handled by an honest validator, of crashing part-way through its actions. */
    midStepCrash: number;
  };
  /**
   * Chance that a Byzantine leader replaces its proposal with a forged fork: same view, but extending a
   * certified ancestor 2..4 blocks below its highest QC (what the locking rule exists to refuse).
   */
  forkRate: number;
  /** Chance that a Byzantine validator also sends a bit-flipped copy of a message (hostile input). */
  garbageRate: number;
  /** Byzantine validators send each vote to a random half of the others. */
  selectiveVotes: boolean;
  /** After GST every message arrives within this many ms (and none is lost). */
  postMaxDelay: number;
  execDelay: [number, number];
  baseTimeoutMs: number;
  maxTimeoutMs: number;
  /** New blocks every honest validator must commit after GST. */
  commitsAfterGst: number;
  /** ... before any honest validator is this many views past the highest honest view at GST. */
  viewBoundAfterGst: number;
  maxEvents: number;
  /**
   * Churn instead of the random crashes: every periodMs before GST one honest validator (in turn) crashes and
   * restarts downMs later; the last one crashed stays down after GST when keepLastDown (a quorum is still up).
   */
  churn?: { periodMs: number; downMs: number; keepLastDown: boolean };
}

export interface SimStats {
  events: number;
  simTimeMs: number;
  maxView: bigint;
  committedHeight: bigint;
  evidence: number;
  crashes: number;
  partitions: number;
  viewsToRecover: number;
  gstView: bigint;
  /** Simulated ms and views (highest honest view past the GST view) from GST to the first new honest commit. */
  firstCommitMs: number;
  firstCommitViews: number;
}

export class SimFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SimFailure";
  }
}

/** Optional knobs for deliberately broken runs (mutation checks) and tracing. */
export interface SimHooks {
  trace?: (line: string) => void;
  /** Replace the core's crypto/config etc. — used by the mutation check to break the quorum size. */
  configure?: (cfg: ConsensusConfig) => ConsensusConfig;
}

type QueueItem =
  | { k: "deliver"; to: number; epoch: number; from: number; bytes: Uint8Array }
  | { k: "timer"; to: number; epoch: number; gen: number; view: bigint }
  | { k: "executed"; to: number; epoch: number; hash: Uint8Array; root: Uint8Array }
  | { k: "payload"; to: number; epoch: number; view: bigint; parentHash: Uint8Array; invocations: SignedInvocation[] }
  | { k: "sync"; to: number; epoch: number; from: number; bytes: Uint8Array; qc: QcT | null }
  | { k: "crash"; to: number }
  | { k: "restart"; to: number }
  | { k: "partition" }
  | { k: "heal" }
  | { k: "gst" };

/** The queue of scheduled events: equal times keep scheduling order, so runs are exactly reproducible. */
class EventQueue extends TimeQueue<QueueItem> {}

interface CommittedEntry {
  height: bigint;
  hash: Uint8Array;
  key: string;
  root: Uint8Array;
  block: BlockT;
  /** The QC certifying it (the node keeps it with the committed block: store.qcAt). */
  qc: QcT | null;
}

interface Instance {
  id: number;
  index: number;
  honest: boolean;
  core: ConsensusCore | null;
  epoch: number;
  timerGen: number;
  group: number;
  // Durable (survives crashes).
  safety: Uint8Array | null;
  blocks: Map<string, Uint8Array>;
  committed: CommittedEntry[];
  // Volatile (in-memory execution overlays).
  roots: Map<string, Uint8Array>;
}

export function genesisFor(n: number, keys?: Uint8Array[]): { block: BlockT; hash: Uint8Array; root: Uint8Array; validators: Uint8Array[] } {
  const validators = keys ?? Array.from({ length: n }, (_, i) => simPublicKey(i));
  const block: BlockT = {
    header: {
      formatVersion: BLOCK_FORMAT_VERSION,
      chainId: SIM_CHAIN,
      height: 0n,
      view: 0n,
      proposer: ZERO_HASH,
      parentHash: k12("cairn.genesis", concatBytes(...validators)),
      justify: { view: 0n, blockHash: ZERO_HASH, signatures: [] },
      invocationsRoot: merkleRoot([]),
      stateRoot: ZERO_HASH,
    },
    invocations: [],
  };
  return { block, hash: blockHash(block.header), root: k12("cairn.state", new Uint8Array([n])), validators };
}

/** Block hashes memoized per block object (the core hands the same objects around). */
const hashCache = new WeakMap<BlockT, Uint8Array>();
function hashOf(block: BlockT): Uint8Array {
  let h = hashCache.get(block);
  if (h === undefined) hashCache.set(block, (h = blockHash(block.header)));
  return h;
}

/** The simulated executor: root(B) = K12(root(parent) ++ hash(B)), deterministic like the real hash chain. */
function fakeRoot(parentRoot: Uint8Array, hash: Uint8Array): Uint8Array {
  return k12("cairn.state", concatBytes(parentRoot, hash));
}

export class Simulation {
  private readonly rng: Rng;
  private readonly netRng: Rng;
  private readonly faultRng: Rng;
  private readonly queue = new EventQueue();
  private readonly instances: Instance[] = [];
  private readonly genesis: ReturnType<typeof genesisFor>;
  private readonly byzantine: Set<number>;
  private readonly silent: Set<number>;
  private now = 0;
  private afterGst = false;
  private gstView = 0n;
  private gstHeights = new Map<number, bigint>();
  /** Highest height any honest validator had committed at GST. */
  private gstTop = 0n;
  private readonly committedAt = new Map<bigint, { key: string; root: Uint8Array; view: bigint }>();
  /** Every block any instance proposed or stored, and every block any QC certified (keys), for the QC lemma. */
  private readonly blockInfo = new Map<string, { height: bigint; view: bigint; parentKey: string }>();
  private readonly certified = new Map<string, bigint>();
  private readonly signedOnce = new Map<string, Uint8Array>();
  /** Per (Byzantine index, view): whether the first twin to propose forged (then the other stays silent). */
  private readonly forgedViews = new Map<string, boolean>();
  /** Blocks committed directly (b0 of a 3-chain), by height: HotStuff's lemma is stated for these. */
  private readonly anchors = new Map<string, { key: string; height: bigint; view: bigint }>();
  private nonce = 0n;
  readonly stats: SimStats = {
    events: 0,
    simTimeMs: 0,
    maxView: 0n,
    committedHeight: 0n,
    evidence: 0,
    crashes: 0,
    partitions: 0,
    viewsToRecover: -1,
    gstView: 0n,
    firstCommitMs: -1,
    firstCommitViews: -1,
  };
  /** Instances that stay down after GST (churn with keepLastDown): not expected to commit. */
  private readonly downForGood = new Set<number>();

  constructor(
    private readonly s: Scenario,
    private readonly hooks: SimHooks = {},
  ) {
    const root = new Rng(s.seed);
    this.rng = root.fork();
    this.netRng = root.fork();
    this.faultRng = root.fork();
    this.genesis = genesisFor(s.n);
    this.byzantine = new Set(s.byzantine);
    this.silent = new Set(s.silent);
    for (let i = 0; i < s.n; i++) this.instances.push(this.newInstance(i, !this.byzantine.has(i) && !this.silent.has(i)));
    for (const b of s.byzantine) this.instances.push(this.newInstance(b, false));
  }

  private newInstance(index: number, honest: boolean): Instance {
    return {
      id: this.instances.length,
      index,
      honest,
      core: null,
      epoch: 0,
      timerGen: 0,
      group: 0,
      safety: null,
      blocks: new Map(),
      committed: [{ height: 0n, hash: this.genesis.hash, key: toHex(this.genesis.hash), root: this.genesis.root, block: this.genesis.block, qc: null }],
      roots: new Map(),
    };
  }

  private config(index: number): ConsensusConfig {
    const cfg: ConsensusConfig = {
      chainId: SIM_CHAIN,
      validators: this.genesis.validators,
      self: index,
      genesisBlockHash: this.genesis.hash,
      baseTimeoutMs: this.s.baseTimeoutMs,
      maxTimeoutMs: this.s.maxTimeoutMs,
      maxBlockBytes: 1 << 20,
    };
    return this.hooks.configure ? this.hooks.configure(cfg) : cfg;
  }

  private boot(inst: Instance): void {
    const head = inst.committed[inst.committed.length - 1]!;
    const committedKeys = new Set(inst.committed.map((c) => c.key));
    const blocks: BlockT[] = [];
    for (const [k, bytes] of inst.blocks) if (!committedKeys.has(k)) blocks.push(decode(Block, bytes));
    inst.roots = new Map([[head.key, head.root]]);
    inst.core = new ConsensusCore(
      this.config(inst.index),
      {
        committed: { block: head.block, stateRoot: head.root, qc: head.qc },
        safety: inst.safety === null ? null : decode(SafetyState, inst.safety),
        blocks,
      },
      fakeCrypto(inst.index),
    );
    this.apply(inst, inst.core.start());
  }

  run(): SimStats {
    for (const inst of this.instances) if (!this.silent.has(inst.index)) this.boot(inst);
    this.scheduleFaults();
    this.queue.push(this.s.gstMs, { k: "gst" });
    for (;;) {
      const e = this.queue.pop();
      if (e === undefined) throw new SimFailure("event queue ran dry (no timers armed)");
      this.now = e.time;
      this.stats.events++;
      if (this.stats.events > this.s.maxEvents) throw new SimFailure(`no recovery within ${this.s.maxEvents} events`);
      this.handle(e.item);
      if (this.afterGst && this.recovered()) break;
      // Stuck views (no view changes at all) never trip the view bound: bound simulated time too. Every
      // view lasts at most maxTimeoutMs once timers have backed off, so this is generous.
      if (this.afterGst && this.now > this.s.gstMs + 2 * this.s.viewBoundAfterGst * this.s.maxTimeoutMs) {
        throw new SimFailure(`liveness: no recovery ${this.now - this.s.gstMs} ms after GST (views stuck near ${this.stats.maxView})`);
      }
    }
    this.stats.simTimeMs = this.now;
    return this.stats;
  }

  private trace(line: string): void {
    if (this.hooks.trace) this.hooks.trace(`${String(this.now).padStart(7)} ${line}`);
  }

  // ---- faults -------------------------------------------------------------------------------------

  private scheduleFaults(): void {
    const r = this.faultRng;
    const gst = this.s.gstMs;
    if (this.s.pre.partitions) {
      let t = r.int(0, Math.floor(gst / 4));
      while (t < gst) {
        this.queue.push(t, { k: "partition" });
        const len = r.int(Math.floor(gst / 20), Math.floor(gst / 3));
        this.queue.push(Math.min(t + len, gst), { k: "heal" });
        t += len + r.int(Math.floor(gst / 20), Math.floor(gst / 4));
      }
    }
    if (this.s.churn) {
      const { periodMs, downMs, keepLastDown } = this.s.churn;
      const honest = this.instances.filter((x) => x.honest);
      let last: Instance | null = null;
      for (let t = periodMs, i = 0; t < gst; t += periodMs, i++) {
        last = honest[i % honest.length]!;
        this.queue.push(t, { k: "crash", to: last.id });
        if (t + downMs < gst) this.queue.push(t + downMs, { k: "restart", to: last.id });
      }
      if (last !== null && keepLastDown) this.downForGood.add(last.id);
    }
    if (this.s.pre.crashes) {
      const count = r.int(1, 4);
      for (let i = 0; i < count; i++) {
        const honest = this.instances.filter((x) => x.honest);
        const victim = r.pick(honest);
        const at = r.int(0, gst - 1);
        this.queue.push(at, { k: "crash", to: victim.id });
        this.queue.push(Math.min(gst, at + r.int(50, Math.floor(gst / 3))), { k: "restart", to: victim.id });
      }
    }
  }

  private crash(inst: Instance, why: string): void {
    if (inst.core === null) return;
    this.trace(`crash #${inst.id} (${why})`);
    inst.core = null;
    inst.epoch++;
    inst.roots = new Map();
    this.stats.crashes++;
  }

  private partition(): void {
    const r = this.faultRng;
    const mode = this.byzantine.size > 0 ? r.pick([0, 1, 2, 2]) : r.int(0, 1);
    if (mode === 0) {
      // Arbitrary split into two or three groups.
      const groups = r.int(2, 3);
      for (const inst of this.instances) inst.group = r.int(0, groups - 1);
    } else if (mode === 1) {
      // One honest validator cut off (it keeps timing out, then must catch up).
      const victim = r.pick(this.instances.filter((i) => i.honest));
      for (const inst of this.instances) inst.group = inst === victim ? 1 : 0;
    } else {
      // Twins split: each Byzantine key is active on both sides, honest validators are divided, so each side
      // may hold what looks like a quorum only if the quorum rule is wrong.
      const seen = new Set<number>();
      const honest = this.instances.filter((i) => i.honest);
      const firstSide = r.int(0, 1);
      const cut = r.chance(0.5) ? Math.floor(honest.length / 2) : Math.ceil(honest.length / 2);
      // Shuffle the honest validators, then cut the list roughly in half.
      for (let i = honest.length - 1; i > 0; i--) {
        const j = r.int(0, i);
        [honest[i], honest[j]] = [honest[j]!, honest[i]!];
      }
      honest.forEach((inst, i) => (inst.group = i < cut ? firstSide : 1 - firstSide));
      for (const inst of this.instances) {
        if (inst.honest) continue;
        inst.group = seen.has(inst.index) ? 1 : 0;
        seen.add(inst.index);
      }
    }
    this.stats.partitions++;
    this.trace(`partition ${this.instances.map((i) => `#${i.id}:${i.group}`).join(" ")}`);
  }

  private heal(): void {
    for (const inst of this.instances) inst.group = 0;
    this.trace("heal");
  }

  // ---- event handling -----------------------------------------------------------------------------

  private handle(item: QueueItem): void {
    switch (item.k) {
      case "partition":
        return this.partition();
      case "heal":
        return this.heal();
      case "crash":
        return this.crash(this.instances[item.to]!, "scheduled");
      case "restart": {
        const inst = this.instances[item.to]!;
        if (inst.core === null) {
          this.trace(`restart #${inst.id}`);
          this.boot(inst);
        }
        return;
      }
      case "gst":
        return this.onGst();
      default:
        break;
    }
    const inst = this.instances[item.to]!;
    if (inst.core === null || item.epoch !== inst.epoch) return;
    let ev: ConsensusEvent;
    switch (item.k) {
      case "deliver":
        ev = { type: "message", from: item.from, message: item.bytes };
        break;
      case "timer":
        if (item.gen !== inst.timerGen) return;
        ev = { type: "timer", view: item.view };
        break;
      case "executed":
        inst.roots.set(toHex(item.hash), item.root);
        ev = { type: "executed", blockHash: item.hash, stateRoot: item.root };
        break;
      case "payload":
        ev = { type: "payload", view: item.view, parentHash: item.parentHash, invocations: item.invocations };
        break;
      case "sync":
        ev = { type: "blockFromSync", block: decode(Block, item.bytes), qc: item.qc, from: item.from };
        break;
    }
    const actions = inst.core.step(ev);
    if (this.hooks.trace) this.trace(`#${inst.id} v${inst.core.view} <- ${describeEvent(ev)} -> ${actions.map(describeAction).join(", ")}`);
    let crashAt = -1;
    if (!this.afterGst && inst.honest && this.s.pre.midStepCrash > 0 && actions.length > 0 && this.faultRng.chance(this.s.pre.midStepCrash)) {
      crashAt = this.faultRng.int(0, actions.length - 1);
    }
    this.apply(inst, actions, crashAt);
    if (inst.core !== null && inst.honest && inst.core.view > this.stats.maxView) this.stats.maxView = inst.core.view;
    if (this.afterGst && inst.core !== null && inst.honest && inst.core.view > this.gstView + BigInt(this.s.viewBoundAfterGst)) {
      throw new SimFailure(
        `liveness: validator #${inst.id} reached view ${inst.core.view}, more than ${this.s.viewBoundAfterGst} views past the GST view ${this.gstView}, before every honest validator committed ${this.s.commitsAfterGst} new blocks`,
      );
    }
  }

  private onGst(): void {
    this.trace("GST");
    this.heal();
    for (const inst of this.instances) if (inst.core === null && !this.silent.has(inst.index) && !this.downForGood.has(inst.id)) this.boot(inst);
    this.afterGst = true;
    let v = 0n;
    for (const inst of this.instances) if (inst.honest && inst.core !== null && inst.core.view > v) v = inst.core.view;
    this.gstView = v;
    this.stats.gstView = v;
    for (const inst of this.instances) this.gstHeights.set(inst.id, this.committedHeightOf(inst));
    for (const h of this.gstHeights.values()) if (h > this.gstTop) this.gstTop = h;
  }

  private committedHeightOf(inst: Instance): bigint {
    return inst.committed[inst.committed.length - 1]!.height;
  }

  private recovered(): boolean {
    let maxH = 0n;
    for (const h of this.gstHeights.values()) if (h > maxH) maxH = h;
    for (const inst of this.instances) {
      if (!inst.honest || this.downForGood.has(inst.id)) continue;
      if (this.committedHeightOf(inst) < maxH + BigInt(this.s.commitsAfterGst)) return false;
    }
    let v = 0n;
    for (const inst of this.instances) if (inst.honest && inst.core !== null && inst.core.view > v) v = inst.core.view;
    this.stats.viewsToRecover = Number(v - this.gstView);
    return true;
  }

  // ---- actions ------------------------------------------------------------------------------------

  private apply(inst: Instance, actions: ConsensusAction[], crashAt = -1): void {
    for (let i = 0; i < actions.length; i++) {
      if (i === crashAt) {
        this.crash(inst, `mid-step before action ${i} of ${actions.length} (${actions[i]!.type})`);
        this.queue.push(this.now + this.faultRng.int(20, 400), { k: "restart", to: inst.id });
        return;
      }
      this.applyOne(inst, actions[i]!);
    }
  }

  private applyOne(inst: Instance, a: ConsensusAction): void {
    switch (a.type) {
      case "persistSafety":
        inst.safety = encode(SafetyState, a.state);
        return;
      case "persistBlock":
        inst.blocks.set(toHex(a.hash), encode(Block, a.block));
        this.noteBlock(a.block, a.hash);
        return;
      case "prune":
        for (const h of a.hashes) inst.blocks.delete(toHex(h));
        return;
      case "send": {
        if (inst.honest) this.checkSignedOnce(inst, a.message);
        if (!inst.honest && a.message.type === "proposal") {
          // Twins act as one Byzantine node: once one of them forged this view's proposal, the other withholds its own.
          const slot = `${inst.index}:${a.message.value.block.header.view}`;
          const decided = this.forgedViews.get(slot);
          if (decided === true) return;
          const forged = decided === undefined && this.rng.chance(this.s.forkRate) ? this.forgeFork(inst, a.message.value.block) : null;
          this.forgedViews.set(slot, forged !== null);
          if (forged !== null) {
            this.trace(`#${inst.id} forges a fork proposal at height ${forged.block.header.height} view ${forged.block.header.view}`);
            this.noteMessage({ type: "proposal", value: forged });
            return this.send(inst, a.to, encode(ConsensusMessage, { type: "proposal", value: forged }));
          }
        }
        this.noteMessage(a.message);
        return this.send(inst, a.to, encode(ConsensusMessage, a.message));
      }
      case "setTimer": {
        const gen = ++inst.timerGen;
        this.queue.push(this.now + a.ms, { k: "timer", to: inst.id, epoch: inst.epoch, gen, view: a.view });
        return;
      }
      case "execute":
        return this.execute(inst, a.block, a.hash);
      case "needPayload":
        return this.payload(inst, a);
      case "commit":
        return this.commit(inst, a);
      case "fetch":
        return this.fetch(inst, a.hash, a.hint);
      case "evidence": {
        if (!verifyEvidence(a.evidence, SIM_CHAIN, this.genesis.validators, fakeCrypto(null))) throw new SimFailure(`#${inst.id} emitted evidence that does not verify`);
        if (inst.honest && !this.byzantine.has(a.evidence.validator)) {
          throw new SimFailure(`#${inst.id} accused honest validator ${a.evidence.validator} of ${a.evidence.kind} equivocation in view ${a.evidence.view}`);
        }
        this.stats.evidence++;
        return;
      }
      case "misbehaviour": {
        const peerHonest = a.peer >= 0 && !this.byzantine.has(a.peer) && !this.silent.has(a.peer);
        if (inst.honest && peerHonest) throw new SimFailure(`#${inst.id} reported honest validator ${a.peer}: ${a.code} ${a.message}`);
        return;
      }
      case "log":
        if (a.level === "error" && inst.honest) throw new SimFailure(`#${inst.id} logged error ${a.code}: ${a.message}`);
        return;
    }
  }

  /** A Byzantine leader's forged proposal for the same view on an older certified ancestor (signed with its key). */
  private forgeFork(inst: Instance, honestBlock: BlockT): { block: BlockT; signature: Uint8Array; highTc: null } | null {
    const load = (key: string): BlockT | null => {
      const bytes = inst.blocks.get(key);
      if (bytes) return decode(Block, bytes);
      const c = inst.committed.find((e) => e.key === key);
      return c ? c.block : null;
    };
    // 2..4 blocks below the honest proposal's parent H (highest QC). Depth 2 makes a sibling of H's parent,
    // which validators that formed the next QC (but whose peers did not) have just decided; depth 3 a sibling
    // of H's grandparent, decided by the QC for H itself. Only the lock stops validators that have not yet
    // committed those blocks from voting for the fork. The QC for a block is its child's justify.
    const depth = this.rng.pick([2, 2, 3, 3, 4]);
    let child = honestBlock;
    let cur = load(toHex(honestBlock.header.parentHash));
    for (let i = 0; i < depth && cur !== null; i++) {
      child = cur;
      cur = load(toHex(cur.header.parentHash));
    }
    if (cur === null) return null;
    const anc = cur;
    const ancKey = toHex(blockHash(anc.header));
    const root = inst.roots.get(ancKey) ?? inst.committed.find((e) => e.key === ancKey)?.root;
    if (root === undefined) return null;
    const invocations = honestBlock.invocations;
    const block: BlockT = {
      header: {
        ...honestBlock.header,
        height: anc.header.height + 1n,
        parentHash: blockHash(anc.header),
        justify: child.header.justify,
        invocationsRoot: invocationsRoot(invocations),
        stateRoot: root,
      },
      invocations,
    };
    const digest = consensusDigest("cairn.proposal", SIM_CHAIN, block.header.view, blockHash(block.header));
    return { block, signature: fakeCrypto(inst.index).sign(digest), highTc: null };
  }

  /** An honest validator signs at most one vote, one timeout and one proposal per view, across restarts. */
  private checkSignedOnce(inst: Instance, m: ConsensusMessageT): void {
    const view = m.type === "proposal" ? m.value.block.header.view : m.value.view;
    const sig = m.value.signature;
    const key = `${inst.index}:${m.type}:${view}`;
    const prior = this.signedOnce.get(key);
    if (prior === undefined) this.signedOnce.set(key, sig);
    else if (m.type === "vote" || !bytesEqual(prior, sig)) {
      throw new SimFailure(`honest validator ${inst.index} (#${inst.id}) sent a second ${m.type} for view ${view}`);
    }
  }

  private noteBlock(block: BlockT, hash: Uint8Array): void {
    const key = toHex(hash);
    if (!this.blockInfo.has(key)) this.blockInfo.set(key, { height: block.header.height, view: block.header.view, parentKey: toHex(block.header.parentHash) });
  }

  private noteMessage(m: ConsensusMessageT): void {
    if (m.type === "proposal") {
      this.noteBlock(m.value.block, hashOf(m.value.block));
      this.noteCertified(m.value.block.header.justify);
    } else if (m.type === "timeout") this.noteCertified(m.value.highQc);
  }

  /**
   * HotStuff's key lemma, checked directly: once a block b0 is committed by a 3-chain b0 <- b1 <- b2 of
   * consecutive views, every QC of view >= view(b0) certifies b0 or a descendant. (Not so for blocks
   * committed only as ancestors of b0: an abandoned fork may hold a QC with a view between theirs and b0's.)
   */
  private noteCertified(qc: QcT): void {
    if (qc.view === 0n) return;
    const key = toHex(qc.blockHash);
    if (this.certified.has(key)) return;
    this.certified.set(key, qc.view);
    let best: { key: string; height: bigint; view: bigint } | null = null;
    for (const a of this.anchors.values()) if (a.view <= qc.view && (best === null || a.view > best.view)) best = a;
    if (best !== null) this.checkExtends(key, qc.view, best);
  }

  /** From a commit's proof (the QC for b2), finds b0 and checks every QC seen so far against it. */
  private noteAnchor(proof: QcT): void {
    const b2 = this.blockInfo.get(toHex(proof.blockHash));
    const b1 = b2 && this.blockInfo.get(b2.parentKey);
    const b0Key = b1?.parentKey;
    const b0 = b0Key === undefined ? undefined : this.blockInfo.get(b0Key);
    if (b0Key === undefined || b0 === undefined || this.anchors.has(b0Key)) return;
    if (b2!.view !== b1!.view + 1n || b1!.view !== b0.view + 1n) throw new SimFailure("commit proof does not close a 3-chain of consecutive views");
    const anchor = { key: b0Key, height: b0.height, view: b0.view };
    this.anchors.set(b0Key, anchor);
    for (const [ck, cv] of this.certified) if (cv >= anchor.view) this.checkExtends(ck, cv, anchor);
  }

  private checkExtends(key: string, view: bigint, b: { key: string; height: bigint }): void {
    let cur = key;
    for (;;) {
      const info = this.blockInfo.get(cur);
      if (info === undefined) return; // ancestry not observed; nothing to judge
      if (info.height === b.height) {
        if (cur !== b.key) throw new SimFailure(`SAFETY: a QC of view ${view} certifies a block that conflicts with the block committed at height ${b.height}`);
        return;
      }
      if (info.height < b.height) return;
      cur = info.parentKey;
    }
  }

  private connected(a: Instance, b: Instance): boolean {
    return this.afterGst || a.group === b.group;
  }

  private delay(): number {
    const r = this.netRng;
    return this.afterGst ? r.int(1, this.s.postMaxDelay) : r.int(this.s.pre.minDelay, this.s.pre.maxDelay);
  }

  private send(from: Instance, to: number | "all", bytes: Uint8Array): void {
    if (!from.honest && this.netRng.chance(this.s.garbageRate)) {
      const bad = bytes.slice();
      for (let k = this.netRng.int(1, 3); k > 0; k--) bad[this.netRng.int(0, bad.length - 1)]! ^= 1 << this.netRng.int(0, 7);
      this.deliverAll(from, to, bad);
    }
    // Byzantine votes reach only some validators, so a QC can form at a few of them and not the rest: those
    // then decide a block the others are merely locked on, the situation the locking rule exists for.
    this.deliverAll(from, to, bytes, !from.honest && this.s.selectiveVotes && bytes[0] === VOTE_TAG);
  }

  private deliverAll(from: Instance, to: number | "all", bytes: Uint8Array, selective = false): void {
    for (const target of this.instances) {
      if (target === from) continue;
      if (to === "all" ? false : target.index !== to) continue;
      if (selective && this.netRng.chance(0.5)) continue;
      if (!this.connected(from, target)) continue;
      if (!this.afterGst && this.netRng.chance(this.s.pre.drop)) continue;
      const copies = !this.afterGst && this.netRng.chance(this.s.pre.dup) ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        this.queue.push(this.now + this.delay(), { k: "deliver", to: target.id, epoch: target.epoch, from: from.index, bytes });
      }
    }
  }

  private execute(inst: Instance, block: BlockT, hash: Uint8Array): void {
    const parentRoot = inst.roots.get(toHex(block.header.parentHash));
    if (parentRoot === undefined) throw new SimFailure(`#${inst.id} asked to execute height ${block.header.height} before its parent was executed`);
    const root = fakeRoot(parentRoot, hash);
    const [lo, hi] = this.s.execDelay;
    this.queue.push(this.now + this.rng.int(lo, hi), { k: "executed", to: inst.id, epoch: inst.epoch, hash, root });
  }

  private payload(inst: Instance, a: Extract<ConsensusAction, { type: "needPayload" }>): void {
    // The ancestors must be exactly the uncommitted chain from the committed head to the parent.
    const head = inst.committed[inst.committed.length - 1]!;
    let prev = head.hash;
    let h = head.height;
    for (const b of a.pendingAncestors) {
      if (!bytesEqual(b.header.parentHash, prev) || b.header.height !== h + 1n) throw new SimFailure(`#${inst.id} needPayload ancestors are not a chain from the committed head`);
      prev = hashOf(b);
      h++;
    }
    if (!bytesEqual(prev, a.parentHash) || a.height !== h + 1n) throw new SimFailure(`#${inst.id} needPayload ancestors do not end at the parent`);
    const count = this.rng.int(0, 2);
    const invocations: SignedInvocation[] = [];
    for (let i = 0; i < count; i++) {
      invocations.push({
        chainId: SIM_CHAIN,
        contract: "bank",
        version: 1,
        method: "transfer",
        input: new Uint8Array([inst.id]),
        invoker: this.genesis.validators[inst.index]!,
        nonce: this.nonce++,
        gasLimit: 1000n,
        gasPrice: 1n,
        signature: new Uint8Array(64),
      });
    }
    this.queue.push(this.now + this.rng.int(0, 5), { k: "payload", to: inst.id, epoch: inst.epoch, view: a.view, parentHash: a.parentHash, invocations });
  }

  private commit(inst: Instance, a: Extract<ConsensusAction, { type: "commit" }>): void {
    if (inst.honest) this.noteAnchor(a.proof);
    for (const cb of a.blocks) {
      const last = inst.committed[inst.committed.length - 1]!;
      const hdr = cb.block.header;
      const key = toHex(cb.hash);
      if (hdr.height !== last.height + 1n || !bytesEqual(hdr.parentHash, last.hash)) {
        throw new SimFailure(`#${inst.id} committed height ${hdr.height} that does not extend its previous commit at ${last.height}`);
      }
      if (!bytesEqual(hashOf(cb.block), cb.hash)) throw new SimFailure(`#${inst.id} commit hash mismatch`);
      if (!bytesEqual(cb.qc.blockHash, cb.hash)) throw new SimFailure(`#${inst.id} commit certificate is for another block`);
      const own = inst.roots.get(key);
      if (own === undefined || !bytesEqual(own, cb.stateRoot)) throw new SimFailure(`#${inst.id} committed height ${hdr.height} before executing it`);
      if (inst.honest) {
        const prior = this.committedAt.get(hdr.height);
        if (prior === undefined) this.committedAt.set(hdr.height, { key, root: cb.stateRoot, view: hdr.view });
        else if (prior.key !== key) throw new SimFailure(`SAFETY: two honest validators committed different blocks at height ${hdr.height}`);
        else if (!bytesEqual(prior.root, cb.stateRoot)) throw new SimFailure(`SAFETY: state roots differ at height ${hdr.height}`);
        if (hdr.height > this.stats.committedHeight) this.stats.committedHeight = hdr.height;
        if (this.afterGst && this.stats.firstCommitMs < 0 && hdr.height > this.gstTop) {
          this.stats.firstCommitMs = this.now - this.s.gstMs;
          this.stats.firstCommitViews = Number(this.stats.maxView - this.gstView);
        }
      }
      inst.committed.push({ height: hdr.height, hash: cb.hash, key, root: cb.stateRoot, block: cb.block, qc: cb.qc });
      this.trace(`#${inst.id} COMMIT h${hdr.height} v${hdr.view} ${key.slice(0, 8)}`);
    }
  }

  /**
   * Sync as a node would do it: the provider answers with the block asked for and, below it, the ancestors the
   * requester lacks (down to its committed height, at most 64), oldest first, each with the QC certifying it
   * (its child's justify), so a validator far behind catches up in one round trip.
   */
  private fetch(inst: Instance, hash: Uint8Array, hint: number[]): void {
    const key = toHex(hash);
    const providers = this.instances.filter((p) => p !== inst && p.core !== null && p.blocks.has(key) && this.connected(inst, p));
    if (providers.length === 0) return; // the core retries on its timer
    const hinted = providers.filter((p) => hint.includes(p.index));
    const p = this.netRng.pick(hinted.length > 0 ? hinted : providers);
    if (!this.afterGst && this.netRng.chance(this.s.pre.drop)) return;
    const floor = this.committedHeightOf(inst);
    const chain: Array<{ bytes: Uint8Array; block: BlockT }> = [];
    let cur: string | null = key;
    while (cur !== null && chain.length < 64) {
      const bytes = p.blocks.get(cur);
      if (bytes === undefined) break;
      const block = decode(Block, bytes);
      if (block.header.height <= floor) break;
      chain.push({ bytes, block });
      cur = toHex(block.header.parentHash);
    }
    chain.reverse();
    const at = this.now + this.delay() * 2;
    chain.forEach((c, i) => {
      const qc = i + 1 < chain.length ? chain[i + 1]!.block.header.justify : null;
      this.queue.push(at, { k: "sync", to: inst.id, epoch: inst.epoch, from: p.index, bytes: c.bytes, qc });
    });
  }
}

function describeEvent(e: ConsensusEvent): string {
  switch (e.type) {
    case "message": {
      let m: ConsensusMessageT;
      try {
        m = e.message instanceof Uint8Array ? decode(ConsensusMessage, e.message) : e.message;
      } catch {
        return `garbage from ${e.from}`;
      }
      if (m.type === "proposal") return `proposal v${m.value.block.header.view} h${m.value.block.header.height} from ${e.from}`;
      if (m.type === "vote") return `vote v${m.value.view} ${toHex(m.value.blockHash).slice(0, 8)} from ${m.value.signer}`;
      return `timeout v${m.value.view} qc${m.value.highQc.view} from ${m.value.signer}`;
    }
    case "timer":
      return `timer v${e.view}`;
    case "executed":
      return `executed ${toHex(e.blockHash).slice(0, 8)}`;
    case "payload":
      return `payload v${e.view}`;
    case "blockFromSync":
      return `synced h${e.block.header.height}`;
  }
}

function describeAction(a: ConsensusAction): string {
  switch (a.type) {
    case "send":
      return `send(${a.to},${a.message.type}${a.message.type === "proposal" ? "" : " v" + a.message.value.view})`;
    case "setTimer":
      return `timer(v${a.view},${a.ms})`;
    case "commit":
      return `commit(h${a.blocks[0]!.block.header.height}..${a.blocks[a.blocks.length - 1]!.block.header.height})`;
    case "fetch":
      return `fetch(${toHex(a.hash).slice(0, 8)})`;
    case "execute":
      return `exec(${toHex(a.hash).slice(0, 8)})`;
    case "log":
    case "misbehaviour":
      return `${a.type}(${a.code}: ${a.message})`;
    default:
      return a.type;
  }
}

/** Everything about a run follows from the seed: size, Byzantine twins, fault mix, timings. */
export function scenarioFromSeed(seed: number): Scenario {
  const r = new Rng(seed ^ 0x5eed);
  const n = r.chance(0.5) ? 4 : 7;
  const f = Math.floor((n - 1) / 3);
  // Every fourth seed runs without twins (half of those with f validators down for good); otherwise
  // 1..f Byzantine twin pairs.
  const twinCount = seed % 4 === 3 ? 0 : r.int(1, f);
  const silentCount = seed % 4 === 3 && r.chance(0.5) ? f : 0;
  const byzantine: number[] = [];
  const silent: number[] = [];
  const taken = (b: number) => byzantine.includes(b) || silent.includes(b);
  while (byzantine.length < twinCount) {
    const b = r.int(0, n - 1);
    if (!taken(b)) byzantine.push(b);
  }
  while (silent.length < silentCount) {
    const b = r.int(0, n - 1);
    if (!taken(b)) silent.push(b);
  }
  const maxDelay = r.int(10, 250);
  return {
    seed,
    n,
    byzantine,
    silent,
    gstMs: r.int(3000, 8000),
    pre: {
      minDelay: 1,
      maxDelay,
      drop: r.chance(0.7) ? r.float() * 0.25 : 0,
      dup: r.chance(0.5) ? r.float() * 0.1 : 0,
      partitions: r.chance(0.6),
      crashes: r.chance(0.6),
      midStepCrash: r.chance(0.5) ? 0.01 : 0,
    },
    forkRate: r.chance(0.5) ? 0.5 : 0,
    garbageRate: r.chance(0.5) ? 0.1 : 0,
    selectiveVotes: r.chance(0.5),
    postMaxDelay: 40,
    // Sometimes execution is slow (big blocks): decided blocks then wait to be committed, which widens the
    // window in which a validator still accepts (and must refuse to vote for) a fork below its decision.
    execDelay: [0, r.chance(0.3) ? r.int(100, 400) : r.int(0, 60)],
    baseTimeoutMs: 300,
    maxTimeoutMs: 2400,
    commitsAfterGst: 3,
    // Observed worst over seeds 20,000..24,999: 14 views (n = 4) and 13 (n = 7). After GST the views sync
    // within a couple of views; a commit then needs three consecutive views whose leaders and votes all
    // cooperate, which every rotation of n views offers with f faulty leaders, but Byzantine twins (split or
    // withheld votes, forged forks) can waste a view per rotation or two; three rotations plus slack is the bound.
    viewBoundAfterGst: 3 * n + 8,
    maxEvents: 1_000_000,
  };
}

export function runSeed(seed: number, hooks: SimHooks = {}): SimStats {
  return new Simulation(scenarioFromSeed(seed), hooks).run();
}

/**
 * Churn before GST (like a devnet where a validator is killed every few seconds): n = 4, one validator in turn
 * crashes every periodBases base timeouts and restarts downBases later; after GST the network is timely and the
 * last one crashed stays down, so exactly a quorum is up. maxTimeoutMs / baseTimeoutMs is the node's default 30.
 */
export function churnScenario(seed: number, opts: { periodBases?: number; downBases?: number; slowExec?: boolean } = {}): Scenario {
  const r = new Rng(seed ^ 0xc4a9);
  const base = 300;
  return {
    seed,
    n: 4,
    byzantine: [],
    silent: [],
    gstMs: base * r.int(50, 70),
    pre: { minDelay: 1, maxDelay: 40, drop: 0, dup: 0, partitions: false, crashes: false, midStepCrash: 0 },
    forkRate: 0,
    garbageRate: 0,
    selectiveVotes: false,
    postMaxDelay: 40,
    execDelay: opts.slowExec ? [100, 400] : [0, 60],
    baseTimeoutMs: base,
    maxTimeoutMs: 30 * base,
    commitsAfterGst: 3,
    viewBoundAfterGst: 3 * 4 + 8,
    maxEvents: 1_000_000,
    churn: { periodMs: (opts.periodBases ?? 3) * base, downMs: (opts.downBases ?? 2) * base, keepLastDown: true },
  };
}

/**
 * A seed's scenario with execution several base timeouts long: views only succeed once the backoff has grown
 * past it, which the pacemaker must reach after GST although views keep failing for that reason alone.
 */
export function slowExecutionScenario(seed: number): Scenario {
  const s = scenarioFromSeed(seed);
  // Views that fail only while they are too short are cheap but many: every doubling needs a leader that
  // entered with a fresh QC and still failed, and views between wait for an older parent's execution.
  return { ...s, execDelay: [5 * s.baseTimeoutMs, 8 * s.baseTimeoutMs], maxTimeoutMs: 30 * s.baseTimeoutMs, viewBoundAfterGst: 6 * s.n + 24 };
}
