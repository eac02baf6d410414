// Chained HotStuff as a pure, deterministic state machine.
//
// Events in (messages, timer expiries, execution results, payloads, synced blocks), actions out (persist,
// send, set timer, execute, ask for a payload, commit, fetch, evidence). No clock, socket, randomness or
// disk: the same events in the same order always give the same actions, which is what lets the simulator
// replay a failing seed exactly.
//
// Rules (Yin et al., "HotStuff", event-driven chained form, with views as the "height" of the paper):
// - every block's justify is a QC for its parent; a QC for view v certifies a block proposed in view v;
// - vote at most once per view, never after timing out in that view, only for a block that extends the
//   locked block or whose justify is newer than the lock (safeNode), and only when root(parent) computed
//   locally equals the block's stateRoot;
// - on a QC for b2 (child of b1, child of b0): lock on b2.justify (the 2-chain b1 <- b2);
//   commit b0 when b0, b1, b2 have consecutive views (the 3-chain);
// - pacemaker: a view timer with exponential backoff; timeouts carry the sender's highest QC; n - f
//   timeouts form a TC; any valid QC or TC for view >= current moves a validator to the next view;
// - votes are broadcast (not only sent to the next leader): every validator forms each QC itself.

import { decode, encode, encodingOf, rememberEncoding } from "../codec/codec.ts";
import { bytesEqual, toHex } from "../codec/hex.ts";
import { BLOCK_FORMAT_VERSION, BUILTIN_DEPLOY, Block, LIMITS, type Block as BlockT, type QuorumCertificate as QcT, type SignedInvocation } from "../codec/types.ts";
import {
  ConsensusMessage,
  type Proposal,
  type SafetyState,
  type Timeout,
  type TimeoutCertificate as TcT,
  type TimeoutSignature,
  type Vote,
} from "../codec/consensus.ts";
import { blockHash, consensusDigest, invocationsRoot } from "../crypto/digests.ts";
import { BlockTree, type TreeNode } from "./block-tree.ts";
import { EquivocationDetector } from "./evidence.ts";
import { CertVerifier, genesisBlockQc, leaderIndex, maxFaulty, quorumSize, type ValidatorSet } from "./quorum.ts";
import {
  ConsensusConfigError,
  ConsensusInvariantError,
  DEFAULT_LIMITS,
  type CommittedBlock,
  type ConsensusAction,
  type ConsensusConfig,
  type ConsensusCrypto,
  type ConsensusEvent,
  type ConsensusLimits,
  type InitialState,
  type LogLevel,
} from "./types.ts";

type Origin = { kind: "proposal"; from: number } | { kind: "sync"; from: number | null };

interface Buffered {
  block: BlockT;
  hash: Uint8Array;
  key: string;
  parentKey: string;
  origin: Origin;
}

/** Thrown inside a handler to drop a hostile or malformed input; step() turns it into a misbehaviour action. */
class Reject extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class ConsensusCore {
  private readonly cfg: ConsensusConfig;
  private readonly limits: ConsensusLimits;
  private readonly n: number;
  private readonly f: number;
  private readonly quorum: number;
  private readonly self: number | null;
  private readonly set: ValidatorSet;
  private readonly certs: CertVerifier;
  private readonly detector: EquivocationDetector;

  private readonly tree: BlockTree;
  private started = false;
  private out: ConsensusAction[] = [];

  // Safety state (persisted).
  private curView = 1n;
  private lastVotedView = 0n;
  private lastProposedView = 0n;
  private lastTimeout: Timeout | null = null;
  private lockedQc: QcT;
  private highQc: QcT;
  private highTc: TcT | null = null;

  // Pacemaker.
  /** Timer expiries in the current view: after the first, our timeout is re-sent every base timeout. */
  private retries = 0;
  /**
   * Views above the decided head whose leader timed out in them holding the previous view's QC (volatile: a
   * restart starts empty). Only these raise the backoff past FREE_BACKOFF doublings; see timerMs.
   */
  private readonly leaderTimedOut = new Set<bigint>();

  // Commit bookkeeping: decided may run ahead of committed (= emitted) while execution catches up.
  private decidedKey: string;
  private decidedCertQc: QcT | null = null;
  /** The stateRoot the decided head's certified child carries: root(decided head) as the quorum computed it. */
  private decidedChildRoot: Uint8Array | null = null;
  private decisionProof: QcT | null = null;

  // Per-view working state, bounded by the view window.
  private readonly proposalByView = new Map<bigint, string>();
  private readonly votes = new Map<bigint, { signers: Set<number>; byHash: Map<string, Map<number, Uint8Array>>; formed: boolean }>();
  private readonly timeouts = new Map<bigint, Map<number, TimeoutSignature>>();

  // Certificates for blocks above the committed head, by block key (one per block suffices).
  private readonly qcByBlock = new Map<string, QcT>();
  private readonly wanted = new Map<string, { hash: Uint8Array; hints: number[]; view: bigint }>();
  private readonly buffered = new Map<string, Buffered>();
  private payloadRequest: { view: bigint; parentKey: string } | null = null;

  private readonly initial: InitialState;

  constructor(config: ConsensusConfig, initial: InitialState, private readonly crypto: ConsensusCrypto) {
    const n = config.validators.length;
    if (n < 1) throw new ConsensusConfigError("no validators");
    for (const [i, pk] of config.validators.entries()) {
      if (pk.length !== 32) throw new ConsensusConfigError(`validator ${i} public key is ${pk.length} bytes, expected 32`);
    }
    if (config.self !== null && (!Number.isInteger(config.self) || config.self < 0 || config.self >= n)) {
      throw new ConsensusConfigError(`self index ${config.self} is not a validator index (n = ${n})`);
    }
    if (!(config.baseTimeoutMs > 0) || !(config.maxTimeoutMs >= config.baseTimeoutMs)) {
      throw new ConsensusConfigError("timeouts must satisfy 0 < baseTimeoutMs <= maxTimeoutMs");
    }
    this.cfg = config;
    this.limits = { ...DEFAULT_LIMITS, ...(config.limits ?? {}) };
    this.n = n;
    this.f = maxFaulty(n);
    this.quorum = quorumSize(n);
    this.self = config.self;
    this.set = { chainId: config.chainId, validators: config.validators, genesisBlockHash: config.genesisBlockHash };
    this.certs = new CertVerifier(this.set, crypto, this.limits.certCacheSize);
    this.detector = new EquivocationDetector(config.chainId);

    const head = initial.committed;
    const headHash = blockHash(head.block.header);
    this.tree = new BlockTree(head.block, headHash, head.stateRoot);
    this.decidedKey = this.tree.root.key;
    const isGenesis = bytesEqual(headHash, config.genesisBlockHash);
    if (isGenesis && head.block.header.height !== 0n) throw new ConsensusConfigError("the genesis block must have height 0");

    const s = initial.safety;
    if (s) {
      this.curView = s.view > 1n ? s.view : 1n;
      this.lastVotedView = s.lastVotedView;
      this.lastProposedView = s.lastProposedView;
      this.lastTimeout = s.lastTimeout;
      this.lockedQc = s.lockedQc;
      this.highQc = s.highQc;
      this.highTc = s.highTc;
    } else {
      const qc = head.qc ?? (isGenesis ? genesisBlockQc(headHash) : null);
      if (qc === null) throw new ConsensusConfigError("restarting above genesis without a safety state needs the committed head's QC");
      this.lockedQc = qc;
      this.highQc = qc;
    }
    this.initial = initial;
  }

  // ---- public surface -------------------------------------------------------------------------------

  /** Restores the persisted blocks and arms the first timer. Call once before step() (step calls it if not). */
  start(): ConsensusAction[] {
    if (this.started) return [];
    this.started = true;
    this.out = [];
    this.restore();
    return this.takeActions();
  }

  step(event: ConsensusEvent): ConsensusAction[] {
    const pre = this.started ? [] : this.start();
    this.out = pre;
    try {
      switch (event.type) {
        case "message":
          this.onMessage(event.from, event.message);
          break;
        case "timer":
          this.onTimer(event.view);
          break;
        case "executed":
          this.onExecuted(event.blockHash, event.stateRoot);
          break;
        case "payload":
          this.onPayload(event.view, event.parentHash, event.invocations);
          break;
        case "blockFromSync":
          this.onSyncedBlock(event.block, event.qc ?? null, event.from ?? null);
          break;
        default:
          this.log("warn", "unknown_event", `unknown event type ${String((event as { type?: unknown }).type)}`);
      }
    } catch (e) {
      if (e instanceof ConsensusInvariantError) throw e;
      if (e instanceof Reject) {
        const from = event.type === "message" ? event.from : event.type === "blockFromSync" ? (event.from ?? -1) : -1;
        this.out.push({ type: "misbehaviour", peer: from, code: e.code, message: e.message });
      } else {
        // Hostile input is refused above (Reject); anything else is a bug, and the handler may have changed
        // part of the state before it threw: the node must stop, not carry on from a state nobody designed.
        throw new ConsensusInvariantError(`unexpected error handling ${event.type}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
    }
    return this.takeActions();
  }

  get view(): bigint {
    return this.curView;
  }
  get committedHeight(): bigint {
    return this.tree.root.height;
  }
  get committedHash(): Uint8Array {
    return this.tree.root.hash;
  }
  get highestQc(): QcT {
    return this.highQc;
  }
  /**
   * Height of the highest certified block this core holds in its tree (its highest QC's block, else the
   * committed root): heights of blocks outside the tree are a proposer's claim, not known to be true.
   */
  get certifiedHeight(): bigint {
    return this.tree.getByHash(this.highQc.blockHash)?.height ?? this.tree.root.height;
  }
  /**
   * False while this core holds a quorum certificate for a block it has not received: a quorum has gone past
   * what this validator has, however far (a certificate carries no height), so it is behind.
   */
  get holdsCertifiedBlock(): boolean {
    return this.tree.getByHash(this.highQc.blockHash) !== undefined;
  }
  get lockedCertificate(): QcT {
    return this.lockedQc;
  }
  /** Uncommitted blocks held (for tests and metrics). */
  get pendingBlocks(): number {
    return this.tree.size - 1;
  }
  leader(view: bigint): number {
    return leaderIndex(view, this.n);
  }
  safetyState(): SafetyState {
    return {
      view: this.curView,
      lastVotedView: this.lastVotedView,
      lastProposedView: this.lastProposedView,
      lastTimeout: this.lastTimeout,
      lockedQc: this.lockedQc,
      highQc: this.highQc,
      highTc: this.highTc,
    };
  }

  // ---- restore ------------------------------------------------------------------------------------

  private restore(): void {
    const root = this.tree.root;
    const blocks = this.initial.blocks
      .map((b) => ({ block: b, hash: blockHash(b.header) }))
      .sort((a, b) => (a.block.header.height < b.block.header.height ? -1 : a.block.header.height > b.block.header.height ? 1 : 0));
    const dropped: Uint8Array[] = [];
    const restored: TreeNode[] = [];
    for (const { block, hash } of blocks) {
      const key = toHex(hash);
      if (this.tree.has(key)) continue;
      const parent = this.tree.get(toHex(block.header.parentHash));
      if (block.header.height <= root.height || !parent || block.header.height !== parent.height + 1n) {
        dropped.push(hash);
        continue;
      }
      restored.push(this.tree.add(block, hash));
    }
    if (dropped.length > 0) this.out.push({ type: "prune", hashes: dropped });
    // A block we stored but had not voted for (crash in between) can still get our vote in its view.
    for (const node of restored) if (!this.proposalByView.has(node.view)) this.proposalByView.set(node.view, node.key);
    this.curView = maxBig(this.curView, this.highQc.view + 1n, this.highTc ? this.highTc.view + 1n : 0n);
    this.setTimer();
    // Certificates inside stored blocks were verified when the blocks arrived: they lock, commit and move the view.
    for (const node of restored) this.processQc(node.block.header.justify, -1);
    for (const qc of [this.lockedQc, this.highQc]) this.processQc(qc, -1);
    this.executeReady(this.tree.root);
    const pk = this.proposalByView.get(this.curView);
    if (pk !== undefined) this.tryVote(this.tree.get(pk)!);
    this.tryPropose();
  }

  // ---- messages -----------------------------------------------------------------------------------

  private onMessage(from: number, raw: ConsensusMessage | Uint8Array): void {
    if (!Number.isInteger(from) || from < 0 || from >= this.n) throw new Reject("unknown_peer", `message from ${from}, not a validator index`);
    let msg: ConsensusMessage;
    if (raw instanceof Uint8Array) {
      try {
        msg = decode(ConsensusMessage, raw, "consensus message", this.cfg.interner ?? null);
      } catch (e) {
        throw new Reject("malformed", e instanceof Error ? e.message : "undecodable consensus message");
      }
    } else msg = raw;
    switch (msg.type) {
      case "proposal":
        return this.onProposal(from, msg.value);
      case "vote":
        return this.onVote(msg.value);
      case "timeout":
        return this.onTimeout(from, msg.value);
      default:
        throw new Reject("malformed", "unknown consensus message type");
    }
  }

  private onProposal(from: number, p: Proposal): void {
    const h = p.block.header;
    if (h.chainId !== this.cfg.chainId) throw new Reject("wrong_chain", `proposal for chain ${h.chainId}`);
    if (h.formatVersion !== BLOCK_FORMAT_VERSION) throw new Reject("malformed", `block format version ${h.formatVersion}`);
    if (h.view < 1n) throw new Reject("malformed", "proposal for view 0");
    const leader = leaderIndex(h.view, this.n);
    if (!bytesEqual(h.proposer, this.cfg.validators[leader]!)) throw new Reject("wrong_proposer", `proposer of view ${h.view} is not its leader ${leader}`);
    const hash = blockHash(h);
    if (!this.certs.signature("cairn.proposal", h.view, hash, leader, p.signature)) {
      throw new Reject("bad_signature", `proposal signature for view ${h.view}`);
    }
    if (this.inWindow(h.view)) {
      const ev = this.detector.observe("proposal", h.view, leader, { blockHash: hash, signature: p.signature });
      if (ev) this.out.push({ type: "evidence", evidence: ev });
    }
    if (p.highTc) {
      if (p.highTc.view >= h.view) throw new Reject("malformed", "proposal's TC is not older than the proposal");
      this.requireTc(p.highTc);
    }
    this.checkJustify(p.block);
    if (p.highTc) this.processTc(p.highTc);
    this.processQc(h.justify, from);

    const key = toHex(hash);
    if (h.view < this.curView - BigInt(this.limits.viewWindow) && !this.certifiedOrWanted(key)) return;
    const firstKey = this.proposalByView.get(h.view);
    if (firstKey !== undefined && firstKey !== key && !this.certifiedOrWanted(key)) return; // equivocation: keep the first
    this.acceptBlock(p.block, hash, { kind: "proposal", from });
  }

  private onVote(v: Vote): void {
    if (!Number.isInteger(v.signer) || v.signer < 0 || v.signer >= this.n) throw new Reject("malformed", `vote signer ${v.signer}`);
    // Votes are broadcast and every validator forms the QC itself: were they sent only to the next leader,
    // one dead validator among four would stop all commits (with round-robin leaders, the QC completing any
    // 3-chain of consecutive honest views would be formed by the dead one). Only QCs newer than ours matter.
    if (v.view < 1n || v.view <= this.highQc.view || v.view > this.curView + BigInt(this.limits.viewWindow)) return;
    if (!this.certs.signature("cairn.vote", v.view, v.blockHash, v.signer, v.signature)) throw new Reject("bad_signature", `vote of ${v.signer} for view ${v.view}`);
    this.countVote(v);
  }

  private countVote(v: Vote): void {
    const ev = this.detector.observe("vote", v.view, v.signer, { blockHash: v.blockHash, signature: v.signature });
    if (ev) this.out.push({ type: "evidence", evidence: ev });
    let entry = this.votes.get(v.view);
    if (!entry) this.votes.set(v.view, (entry = { signers: new Set(), byHash: new Map(), formed: false }));
    if (entry.signers.has(v.signer) || entry.formed) return;
    entry.signers.add(v.signer);
    const hk = toHex(v.blockHash);
    let sigs = entry.byHash.get(hk);
    if (!sigs) entry.byHash.set(hk, (sigs = new Map()));
    sigs.set(v.signer, v.signature);
    if (sigs.size < this.quorum) return;
    entry.formed = true;
    const signatures = [...sigs.entries()].sort((a, b) => a[0] - b[0]).map(([signer, signature]) => ({ signer, signature }));
    this.processQc({ view: v.view, blockHash: v.blockHash, signatures }, this.self ?? -1);
  }

  private onTimeout(from: number, t: Timeout): void {
    if (!Number.isInteger(t.signer) || t.signer < 0 || t.signer >= this.n) throw new Reject("malformed", `timeout signer ${t.signer}`);
    if (t.view < 1n || t.highQc.view >= t.view || (t.highTc !== null && t.highTc.view >= t.view)) {
      throw new Reject("malformed", `timeout for view ${t.view} with certificates not below it`);
    }
    if (!this.certs.signature("cairn.timeout", t.view, t.highQc.blockHash, t.signer, t.signature)) throw new Reject("bad_signature", `timeout of ${t.signer} for view ${t.view}`);
    if (this.inWindow(t.view)) {
      const ev = this.detector.observe("timeout", t.view, t.signer, { blockHash: t.highQc.blockHash, signature: t.signature });
      if (ev) this.out.push({ type: "evidence", evidence: ev });
    }
    this.requireQc(t.highQc);
    if (t.highTc) this.requireTc(t.highTc);
    this.noteLeaderTimeout(t);
    if (t.highTc) this.processTc(t.highTc);
    this.processQc(t.highQc, from);
    if (t.view < this.curView || t.view > this.curView + BigInt(this.limits.viewWindow)) return;
    let m = this.timeouts.get(t.view);
    if (!m) this.timeouts.set(t.view, (m = new Map()));
    if (!m.has(t.signer)) m.set(t.signer, { signer: t.signer, highQcHash: t.highQc.blockHash, signature: t.signature });
    this.checkTimeouts(t.view);
  }

  // ---- blocks -------------------------------------------------------------------------------------

  /** The parts of a block's validity that need no parent: its justify, payload commitment and size. */
  private checkJustify(block: BlockT): void {
    const h = block.header;
    if (!bytesEqual(h.justify.blockHash, h.parentHash)) throw new Reject("invalid_block", "justify does not certify the parent");
    if (h.justify.view >= h.view) throw new Reject("invalid_block", "justify is not older than the block");
    if (h.height < 1n) throw new Reject("invalid_block", "height 0 is the genesis block");
    this.requireQc(h.justify);
    if (!bytesEqual(h.invocationsRoot, invocationsRoot(block.invocations))) throw new Reject("invalid_block", "invocationsRoot does not match the invocations");
    const deploys = deployCount(block.invocations);
    if (deploys > LIMITS.maxDeploysPerBlock) throw new Reject("invalid_block", `${deploys} deploys exceed the ${LIMITS.maxDeploysPerBlock} a block may carry`);
    // The bytes it arrived as (remembered by the codec): measuring must not copy a whole block again.
    const size = encodingOf(Block, block).length;
    if (size > this.cfg.maxBlockBytes) throw new Reject("too_large", `block of ${size} bytes exceeds ${this.cfg.maxBlockBytes}`);
  }

  private onSyncedBlock(block: BlockT, qc: QcT | null, from: number | null): void {
    const h = block.header;
    const hash = blockHash(h);
    const key = toHex(hash);
    if (this.tree.has(key) || this.buffered.has(key)) return;
    if (h.height <= this.tree.root.height) return;
    if (qc !== null) {
      if (!bytesEqual(qc.blockHash, hash)) throw new Reject("invalid_block", "synced block's certificate is for another block");
      this.requireQc(qc);
    }
    if (qc === null && !this.certifiedOrWanted(key)) return; // unsolicited and uncertified: could be anything
    if (h.chainId !== this.cfg.chainId) throw new Reject("wrong_chain", `synced block for chain ${h.chainId}`);
    if (h.formatVersion !== BLOCK_FORMAT_VERSION) throw new Reject("malformed", `block format version ${h.formatVersion}`);
    if (!bytesEqual(h.proposer, this.cfg.validators[leaderIndex(h.view, this.n)]!)) throw new Reject("wrong_proposer", "synced block's proposer is not its view's leader");
    this.checkJustify(block);
    this.processQc(h.justify, from ?? -1);
    if (qc) this.noteQc(qc);
    this.acceptBlock(block, hash, { kind: "sync", from });
    if (qc) this.processQc(qc, from ?? -1);
  }

  /** Adds a checked block to the tree, or buffers it until its parent arrives; then releases its waiting children. */
  private acceptBlock(block: BlockT, hash: Uint8Array, origin: Origin): void {
    const work: Buffered[] = [{ block, hash, key: toHex(hash), parentKey: toHex(block.header.parentHash), origin }];
    while (work.length > 0) {
      const item = work.shift()!;
      const node = this.insert(item);
      if (node === null) continue;
      for (const [k, b] of this.buffered) {
        if (b.parentKey === node.key) {
          this.buffered.delete(k);
          work.push(b);
        }
      }
    }
  }

  private insert(item: Buffered): TreeNode | null {
    const root = this.tree.root;
    const h = item.block.header;
    const existing = this.tree.get(item.key);
    if (existing) {
      if (item.origin.kind === "proposal") this.considerProposal(existing);
      return null;
    }
    if (h.height <= root.height) return null;
    const parent = this.tree.get(item.parentKey);
    if (!parent) {
      // A block at root height + 1 whose parent is not the committed head conflicts with a commit.
      if (h.height === root.height + 1n) return null;
      this.bufferBlock(item);
      this.want(h.parentHash, item.origin.from === null || item.origin.from < 0 ? [] : [item.origin.from]);
      return null;
    }
    if (h.height !== parent.height + 1n || h.view <= parent.view || h.justify.view !== parent.view) {
      this.out.push({
        type: "misbehaviour",
        peer: item.origin.from ?? -1,
        code: "invalid_block",
        message: `block ${item.key.slice(0, 16)} does not follow its parent (height/view)`,
      });
      return null;
    }
    const node = this.tree.add(item.block, item.hash);
    this.wanted.delete(item.key);
    this.out.push({ type: "persistBlock", block: item.block, hash: item.hash });
    this.executeReady(parent);
    const qc = this.qcByBlock.get(node.key);
    this.updateChain(parent, h.justify);
    if (qc) this.updateChain(node, qc);
    if (item.origin.kind === "proposal") this.considerProposal(node);
    if (bytesEqual(this.highQc.blockHash, node.hash)) this.tryPropose();
    return node;
  }

  private considerProposal(node: TreeNode): void {
    if (!this.proposalByView.has(node.view) && this.inWindow(node.view)) this.proposalByView.set(node.view, node.key);
    if (this.proposalByView.get(node.view) === node.key && node.view === this.curView) this.tryVote(node);
  }

  private bufferBlock(item: Buffered): void {
    if (this.buffered.has(item.key)) return;
    if (this.buffered.size >= this.limits.maxBufferedBlocks) this.buffered.delete(this.buffered.keys().next().value!);
    this.buffered.set(item.key, item);
  }

  /**
   * Asks the node for a certified block we lack. A block already buffered waits for its own ancestors, so the
   * request goes to the oldest missing one. A hash still missing is asked for again at most once per view:
   * when views advance on QCs alone the timer never fires, and a request lost in a partition must not be final.
   */
  private want(hash: Uint8Array, hints: number[]): void {
    let key = toHex(hash);
    for (let i = 0, b = this.buffered.get(key); b !== undefined && i <= this.buffered.size; i++, b = this.buffered.get(key)) {
      key = b.parentKey;
      hash = b.block.header.parentHash;
    }
    if (this.tree.has(key)) return;
    const w = this.wanted.get(key);
    if (w) {
      for (const h of hints) if (!w.hints.includes(h)) w.hints.push(h);
      if (w.view < this.curView) {
        w.view = this.curView;
        this.out.push({ type: "fetch", hash: w.hash, hint: [...w.hints] });
      }
      return;
    }
    if (this.wanted.size >= this.limits.maxWanted) this.wanted.delete(this.wanted.keys().next().value!);
    this.wanted.set(key, { hash, hints: [...hints], view: this.curView });
    this.out.push({ type: "fetch", hash, hint: [...hints] });
  }

  private certifiedOrWanted(key: string): boolean {
    return this.wanted.has(key) || this.qcByBlock.has(key);
  }

  /** Requests execution of every child of `node` (and so on down) whose parent is executed. */
  private executeReady(node: TreeNode): void {
    if (node.stateRoot === null) return;
    for (const ck of node.children) {
      const child = this.tree.get(ck)!;
      if (child.executeRequested) continue;
      child.executeRequested = true;
      this.out.push({ type: "execute", block: child.block, hash: child.hash });
    }
  }

  private onExecuted(hash: Uint8Array, stateRoot: Uint8Array): void {
    const node = this.tree.getByHash(hash);
    if (!node || node === this.tree.root) return;
    if (node.stateRoot !== null) {
      if (!bytesEqual(node.stateRoot, stateRoot)) this.log("error", "state_divergence", `block ${node.key} executed twice with different roots`);
      return;
    }
    if (stateRoot.length !== 32) {
      this.log("error", "bad_state_root", `executed root of ${stateRoot.length} bytes`);
      return;
    }
    node.stateRoot = stateRoot;
    this.executeReady(node);
    const pk = this.proposalByView.get(this.curView);
    if (pk !== undefined) {
      const p = this.tree.get(pk);
      if (p && p.parentKey === node.key) this.tryVote(p);
    }
    this.tryPropose();
    this.emitCommits();
  }

  // ---- certificates, locking, committing -----------------------------------------------------------

  private requireQc(qc: QcT): void {
    const r = this.certs.qc(qc);
    if (!r.ok) throw new Reject("invalid_certificate", r.reason);
  }

  private requireTc(tc: TcT): void {
    const r = this.certs.tc(tc);
    if (!r.ok) throw new Reject("invalid_certificate", r.reason);
  }

  private noteQc(qc: QcT): void {
    if (qc.view <= this.tree.root.view) return;
    const key = toHex(qc.blockHash);
    if (!this.qcByBlock.has(key)) this.qcByBlock.set(key, qc);
  }

  /** A verified QC: raise highQc, lock and commit through its block, move the view on. */
  private processQc(qc: QcT, from: number): void {
    if (qc.view > this.highQc.view) this.highQc = qc;
    this.noteQc(qc);
    const node = this.tree.get(toHex(qc.blockHash));
    if (node) this.updateChain(node, qc);
    if (qc.view >= this.curView) this.enterView(qc.view + 1n);
    else if (this.highQc === qc) this.tryPropose();
    if (!node && qc.view > this.tree.root.view) this.want(qc.blockHash, from >= 0 ? [from] : []);
  }

  private processTc(tc: TcT): void {
    if (this.highTc === null || tc.view > this.highTc.view) this.highTc = tc;
    if (tc.view >= this.curView) this.enterView(tc.view + 1n);
  }

  /** `qc` certifies b2: lock on b2's justify (2-chain), commit b0 on a 3-chain of consecutive views. */
  private updateChain(b2: TreeNode, qc: QcT): void {
    if (qc.view !== b2.view) return; // cannot happen for valid certificates; never act on it
    const j = b2.block.header.justify;
    if (j.view > this.lockedQc.view && b2 !== this.tree.root) this.lockedQc = j;
    const b1 = this.tree.parent(b2);
    if (!b1) return;
    const b0 = this.tree.parent(b1);
    if (!b0) return;
    if (b2.view === b1.view + 1n && b1.view === b0.view + 1n) this.decide(b0, b1, qc);
  }

  private decide(b0: TreeNode, b1: TreeNode, proof: QcT): void {
    const decided = this.tree.get(this.decidedKey)!;
    if (b0.height <= decided.height) {
      if (!this.tree.extends(decided, b0.key)) {
        throw new ConsensusInvariantError(`conflicting commit: ${b0.key} at height ${b0.height} is not on the decided chain`);
      }
      return;
    }
    if (!this.tree.extends(b0, this.decidedKey)) {
      throw new ConsensusInvariantError(`conflicting commit: ${b0.key} at height ${b0.height} does not extend the decided head ${this.decidedKey}`);
    }
    this.decidedKey = b0.key;
    this.pruneLeaderTimeouts(0n);
    this.decidedCertQc = b1.block.header.justify;
    this.decidedChildRoot = b1.block.header.stateRoot;
    this.decisionProof = proof;
    this.emitCommits();
  }

  /** Emits the executed prefix of the decided chain as one commit, then makes its last block the root. */
  private emitCommits(): void {
    const root = this.tree.root;
    if (this.decidedKey === root.key) return;
    const decided = this.tree.get(this.decidedKey)!;
    const path = this.tree.pathFromRoot(decided);
    const blocks: CommittedBlock[] = [];
    for (let i = 0; i < path.length; i++) {
      const node = path[i]!;
      if (node.stateRoot === null) break;
      const next = path[i + 1];
      const qc = next ? next.block.header.justify : this.decidedCertQc!;
      const expected = next ? next.block.header.stateRoot : this.decidedChildRoot!;
      if (!bytesEqual(expected, node.stateRoot)) {
        this.log("error", "state_divergence", `root(${node.key}) computed here differs from the one its certified child carries`);
      }
      blocks.push({ block: node.block, hash: node.hash, stateRoot: node.stateRoot, qc });
    }
    if (blocks.length === 0) return;
    const first = blocks[0]!;
    if (first.block.header.height !== root.height + 1n || !bytesEqual(first.block.header.parentHash, root.hash)) {
      throw new ConsensusInvariantError("commit does not extend the previous commit");
    }
    const last = blocks[blocks.length - 1]!;
    this.out.push({ type: "commit", blocks, proof: this.decisionProof! });
    const { dropped } = this.tree.reroot(toHex(last.hash));
    if (dropped.length > 0) this.out.push({ type: "prune", hashes: dropped.map((d) => d.hash) });
    const newRoot = this.tree.root;
    for (const [k, qc] of this.qcByBlock) if (qc.view <= newRoot.view && !this.tree.has(k)) this.qcByBlock.delete(k);
    for (const [k, b] of this.buffered) if (b.block.header.height <= newRoot.height) this.buffered.delete(k);
    const awaited = new Set<string>();
    for (const b of this.buffered.values()) awaited.add(b.parentKey);
    for (const k of this.wanted.keys()) if (!this.qcByBlock.has(k) && !awaited.has(k)) this.wanted.delete(k);
  }

  // ---- pacemaker ----------------------------------------------------------------------------------

  private timerMs(): number {
    // Back off on views without commit progress, not on views without a QC: were a QC enough to reset the
    // timer, views that are too short for execution would alternate between a QC and a timeout and never
    // form the three consecutive certified views a commit needs. In steady state the current view is three
    // past the decided head's, so the exponent is 0.
    const decidedView = this.tree.get(this.decidedKey)!.view;
    const behind = this.curView - decidedView - 3n;
    // A view whose leader is down, or that a crash or partition broke, fails whatever its length, so such
    // views raise the exponent only up to FREE_BACKOFF: once a quorum is back, the chain is not left behind
    // timers grown while it was not. A view whose leader held the previous view's QC and still timed out in it
    // is evidence that views are too short for execution and lifts that cap by one each.
    let slow = 0;
    for (const v of this.leaderTimedOut) if (v > decidedView && v < this.curView) slow++;
    const exp = Math.min(behind > 0n ? Number(behind > 30n ? 30n : behind) : 0, FREE_BACKOFF + slow, 30);
    return Math.min(this.cfg.baseTimeoutMs * 2 ** exp, this.cfg.maxTimeoutMs);
  }

  private setTimer(): void {
    // Re-sends of a timeout wait the base timeout: the view has already failed here, and a peer that comes
    // back (or a link that heals) should get our timeout, and so the TC, promptly rather than after a wait
    // that grew while nobody was listening.
    const ms = this.retries > 0 ? this.cfg.baseTimeoutMs : this.timerMs();
    this.out.push({ type: "setTimer", view: this.curView, ms });
  }

  /**
   * Notes a view whose leader timed out in it holding the QC of the view before: it had a fresh parent and a
   * quorum that had just voted, so what was missing was time, above all to execute that parent before
   * proposing and voting on it. A leader that is down, or entered by a TC, says nothing about view length.
   */
  private noteLeaderTimeout(t: Timeout): void {
    if (t.signer !== leaderIndex(t.view, this.n) || t.highQc.view + 1n !== t.view) return;
    if (t.view <= this.tree.get(this.decidedKey)!.view || t.view > this.curView + BigInt(this.limits.viewWindow)) return;
    if (this.nothingToExecute(t.highQc.blockHash)) return;
    this.leaderTimedOut.add(t.view);
  }

  /**
   * True when the block `hash` and its ancestors above the decided head carry no invocations: a leader holding
   * its QC had nothing to execute before proposing, so its timeout means it had nothing to propose (an idle
   * chain writes no blocks), not that views are too short. Unknown blocks count as work.
   */
  private nothingToExecute(hash: Uint8Array): boolean {
    let node = this.tree.getByHash(hash);
    while (node !== undefined && node.key !== this.decidedKey) {
      if (node.block.invocations.length > 0) return false;
      node = this.tree.parent(node);
    }
    return node !== undefined;
  }

  private enterView(view: bigint): void {
    if (view <= this.curView) return;
    this.curView = view;
    this.retries = 0;
    this.payloadRequest = null;
    this.setTimer();
    const low = view > BigInt(this.limits.viewWindow) ? view - BigInt(this.limits.viewWindow) : 0n;
    this.detector.prune(low);
    for (const m of [this.proposalByView, this.votes, this.timeouts] as Map<bigint, unknown>[]) {
      for (const k of m.keys()) if (k < low) m.delete(k);
    }
    for (const k of this.timeouts.keys()) if (k < view) this.timeouts.delete(k);
    this.pruneLeaderTimeouts(low);
    const pk = this.proposalByView.get(view);
    if (pk !== undefined) {
      const node = this.tree.get(pk);
      if (node) this.tryVote(node);
    }
    if (this.curView !== view) return; // the vote above already moved us on
    this.tryPropose();
    if (this.timeouts.has(view)) this.checkTimeouts(view);
  }

  /** Forgets leader timeouts at or below the decided head's view (they no longer count) and below `low`. */
  private pruneLeaderTimeouts(low: bigint): void {
    const decidedView = this.tree.get(this.decidedKey)!.view;
    for (const v of this.leaderTimedOut) if (v <= decidedView || v < low) this.leaderTimedOut.delete(v);
  }

  private onTimer(view: bigint): void {
    if (view !== this.curView) return;
    this.retries++;
    if (this.self !== null) this.localTimeout();
    if (this.curView === view) this.setTimer();
    let n = 0;
    for (const w of this.wanted.values()) {
      if (n++ >= this.limits.maxRefetchPerTimer) break;
      this.out.push({ type: "fetch", hash: w.hash, hint: [...w.hints] });
    }
  }

  /** Time out the current view: sign once (persisted first), re-send the same message on later expiries. */
  private localTimeout(): void {
    const self = this.self;
    if (self === null) return;
    const v = this.curView;
    let t = this.lastTimeout;
    if (t !== null && t.view > v) return; // restored state is ahead; never sign for a lower view
    if (t !== null && t.view === v) {
      this.out.push({ type: "send", to: "all", message: { type: "timeout", value: t } });
    } else {
      t = {
        view: v,
        highQc: this.highQc,
        highTc: this.highTc !== null && this.highTc.view >= this.highQc.view ? this.highTc : null,
        signer: self,
        signature: this.crypto.sign(consensusDigest("cairn.timeout", this.cfg.chainId, v, this.highQc.blockHash)),
      };
      this.lastTimeout = t;
      this.persistSafety();
      this.out.push({ type: "send", to: "all", message: { type: "timeout", value: t } });
    }
    this.noteLeaderTimeout(t);
    // Count our own timeout here too: after a restart the re-sent one is the only copy we hold, and with
    // exactly n - f validators up, a TC needs every one of them.
    let m = this.timeouts.get(v);
    if (!m) this.timeouts.set(v, (m = new Map()));
    m.set(self, { signer: self, highQcHash: t.highQc.blockHash, signature: t.signature });
    this.checkTimeouts(v);
  }

  private checkTimeouts(view: bigint): void {
    const m = this.timeouts.get(view);
    if (!m || view < this.curView) return;
    // f + 1 others gave up on our view: at least one honest did, so join rather than wait out our timer.
    if (view === this.curView && this.self !== null && (this.lastTimeout === null || this.lastTimeout.view < view)) {
      let others = 0;
      for (const s of m.keys()) if (s !== this.self) others++;
      if (others >= this.f + 1) {
        this.localTimeout();
        return; // localTimeout re-enters checkTimeouts
      }
    }
    if (m.size < this.quorum) return;
    const signatures = [...m.values()].sort((a, b) => a.signer - b.signer);
    this.processTc({ view, signatures });
  }

  // ---- voting and proposing ------------------------------------------------------------------------

  /** "ok" when we may vote for `node` now; "wait" when only its parent's execution is missing. */
  private voteCheck(node: TreeNode): "ok" | "wait" | "no" {
    if (this.self === null || node.view !== this.curView || node.view <= this.lastVotedView) return "no";
    if (this.lastTimeout !== null && this.lastTimeout.view >= node.view) return "no";
    const lock = this.lockedQc;
    const safe = node.block.header.justify.view > lock.view || this.tree.extends(node, toHex(lock.blockHash));
    if (!safe) return "no";
    const parent = this.tree.parent(node);
    if (!parent) return "no";
    if (parent.stateRoot === null) return "wait";
    if (!bytesEqual(parent.stateRoot, node.block.header.stateRoot)) {
      this.log("warn", "state_root_mismatch", `block ${node.key.slice(0, 16)} of view ${node.view} carries a parent root that differs from ours`);
      return "no";
    }
    return "ok";
  }

  private tryVote(node: TreeNode): void {
    if (this.voteCheck(node) !== "ok") return;
    this.lastVotedView = node.view;
    this.persistSafety();
    this.castVote(node);
  }

  private castVote(node: TreeNode): void {
    const self = this.self!;
    const vote: Vote = {
      view: node.view,
      blockHash: node.hash,
      signer: self,
      signature: this.crypto.sign(this.certs.digest("cairn.vote", node.view, node.hash)),
    };
    this.certs.remember("cairn.vote", vote.view, vote.blockHash, self, vote.signature);
    this.countVote(vote);
    this.out.push({ type: "send", to: "all", message: { type: "vote", value: vote } });
  }

  private tryPropose(): void {
    const self = this.self;
    const v = this.curView;
    if (self === null || leaderIndex(v, this.n) !== self || this.lastProposedView >= v) return;
    // Propose only with a certificate for v - 1, which is what moves everyone else into v.
    if (this.highQc.view + 1n !== v && (this.highTc === null || this.highTc.view + 1n !== v)) return;
    const parent = this.tree.get(toHex(this.highQc.blockHash));
    if (!parent) {
      this.want(this.highQc.blockHash, []);
      return;
    }
    if (parent.stateRoot === null) return;
    if (this.payloadRequest !== null && this.payloadRequest.view === v && this.payloadRequest.parentKey === parent.key) return;
    this.payloadRequest = { view: v, parentKey: parent.key };
    this.out.push({
      type: "needPayload",
      view: v,
      parentHash: parent.hash,
      height: parent.height + 1n,
      pendingAncestors: parent === this.tree.root ? [] : this.tree.pathFromRoot(parent).map((n) => n.block),
    });
  }

  private onPayload(view: bigint, parentHash: Uint8Array, invocations: SignedInvocation[]): void {
    const self = this.self;
    const req = this.payloadRequest;
    if (self === null || req === null || req.view !== view || view !== this.curView || toHex(parentHash) !== req.parentKey) return;
    if (this.lastProposedView >= view) return;
    const parent = this.tree.get(req.parentKey);
    if (!parent || parent.stateRoot === null || parent.key !== toHex(this.highQc.blockHash)) {
      // highQc moved while the node gathered the payload: ask again for the new parent.
      this.payloadRequest = null;
      this.tryPropose();
      return;
    }
    let block: BlockT = this.buildBlock(view, parent, invocations);
    // Encoded once here; sending, storing and serving the block reuse these bytes.
    const encoded = encode(Block, block);
    rememberEncoding(block, encoded);
    if (encoded.length > this.cfg.maxBlockBytes) {
      this.log("error", "payload_too_large", `payload for view ${view} exceeds maxBlockBytes; proposing an empty block`);
      block = this.buildBlock(view, parent, []);
    } else if (deployCount(invocations) > LIMITS.maxDeploysPerBlock) {
      this.log("error", "payload_invalid", `payload for view ${view} carries more than ${LIMITS.maxDeploysPerBlock} deploys; proposing an empty block`);
      block = this.buildBlock(view, parent, []);
    }
    const hash = blockHash(block.header);
    const signature = this.crypto.sign(consensusDigest("cairn.proposal", this.cfg.chainId, view, hash));
    this.detector.observe("proposal", view, self, { blockHash: hash, signature });
    const node = this.tree.add(block, hash);
    this.proposalByView.set(view, node.key);
    // One durable write covers both the proposal and our own vote for it.
    this.lastProposedView = view;
    const vote = this.voteCheck(node) === "ok";
    if (vote) this.lastVotedView = view;
    this.persistSafety();
    this.out.push({ type: "persistBlock", block, hash });
    this.executeReady(parent);
    const highTc = this.highQc.view + 1n === view ? null : this.highTc;
    this.out.push({ type: "send", to: "all", message: { type: "proposal", value: { block, signature, highTc } } });
    if (vote) this.castVote(node);
  }

  private buildBlock(view: bigint, parent: TreeNode, invocations: SignedInvocation[]): BlockT {
    return {
      header: {
        formatVersion: BLOCK_FORMAT_VERSION,
        chainId: this.cfg.chainId,
        height: parent.height + 1n,
        view,
        proposer: this.cfg.validators[this.self!]!,
        parentHash: parent.hash,
        justify: this.highQc,
        invocationsRoot: invocationsRoot(invocations),
        stateRoot: parent.stateRoot!,
      },
      invocations,
    };
  }

  // ---- helpers ------------------------------------------------------------------------------------

  private persistSafety(): void {
    this.out.push({ type: "persistSafety", state: this.safetyState() });
  }

  private inWindow(view: bigint): boolean {
    const w = BigInt(this.limits.viewWindow);
    return view + w >= this.curView && view <= this.curView + w;
  }

  private log(level: LogLevel, code: string, message: string): void {
    this.out.push({ type: "log", level, code, message });
  }

  private takeActions(): ConsensusAction[] {
    const a = this.out;
    this.out = [];
    return a;
  }
}

function deployCount(invocations: readonly SignedInvocation[]): number {
  let n = 0;
  for (const inv of invocations) if (inv.contract === BUILTIN_DEPLOY) n++;
  return n;
}

/** Doublings of the view timer that views failing for any reason may cause (see timerMs). */
const FREE_BACKOFF = 1;

function maxBig(...xs: bigint[]): bigint {
  let m = xs[0]!;
  for (const x of xs) if (x > m) m = x;
  return m;
}
