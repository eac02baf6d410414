// Serial, deterministic execution of blocks on speculative overlays, and their atomic commit: the façade of the
// execution layer. It opens a store (verify, genesis, re-execute what was committed but not applied), executes
// blocks on their parent's result, commits one block's results in one RocksDB batch, and closes; the work is
// done by the modules it wires together (see README.md).
//
// Execution and commit are serialized by one lock; read-only queries run beside them on the committed state
// and restart if a commit lands underneath them.

import { bytesEqual, toHex } from "../codec/hex.ts";
import {
  minGasPriceOf,
  type Block,
  type Genesis,
  type QuorumCertificate,
  type Receipt,
  type SignedInvocation,
  type SourceFile,
  type ContractVersionInfo,
} from "../codec/types.ts";
import { blockHash, genesisHash } from "../crypto/digests.ts";
import type { Store } from "../store/store.ts";
import { START_CHECK_BLOCKS, verifyChain, verifyChainTail } from "../store/verify.ts";
import { CommittedState } from "./committed-state.ts";
import { ContractRunner } from "./contract-call.ts";
import { BlockContext } from "./context.ts";
import { Deployer } from "./deploy.ts";
import { ExecError } from "./errors.ts";
import { ForkTree, layersOver, summary, type ExecNode } from "./fork-tree.ts";
import { genesisBlock, genesisQc, genesisStateRoot, genesisStateWrites } from "./genesis.ts";
import { InvocationRunner } from "./invocation.ts";
import { Lock } from "./lock.ts";
import { Overlay, nextStateRoot } from "./overlay.ts";
import { CommittedReads } from "./reads.ts";
import type { CommittedStateCache } from "./state-cache.ts";
import { stateKeys } from "./state-keys.ts";
import { StateView } from "./state-view.ts";
import type {
  CommittedHead,
  ContractInfo,
  ExecStats,
  ExecutedBlock,
  ExecutorOptions,
  OpenCheck,
  QueryRequest,
  QueryResult,
  VerifiedIds,
} from "./types.ts";

export type { CommittedHead, ContractInfo, ExecutedBlock, ExecutorOptions, OpenCheck, OpenLog, QueryRequest, QueryResult, VerifiedIds } from "./types.ts";

const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;
const DEFAULT_QUERY_GAS = 10_000_000n;
const DEFAULT_MAX_STATE_RETRIES = 100_000;

export class Executor {
  readonly genesis: Genesis;
  readonly genesisBlock: Block;
  readonly genesisBlockHash: Uint8Array;
  /** @internal committed-state cache (exposed for tests and metrics). */
  readonly cache: CommittedStateCache;
  private readonly committed: CommittedState;
  private readonly lock = new Lock();
  /** Serializes commits (each spans two turns of `lock`, see commitBlock). */
  private readonly commitOrder = new Lock();
  private readonly forks = new ForkTree();
  private readonly deployer: Deployer;
  private readonly invocations: InvocationRunner;
  private readonly reads: CommittedReads;
  private readonly verifiedIds: VerifiedIds | undefined;
  private base: CommittedHead;
  private closed = false;
  /** What open checked of the committed chain, and how long it took (start-up logs and the benchmark read it). */
  readonly openCheck: OpenCheck;
  /** Counters for metrics and tests. */
  readonly stats: ExecStats = { stateRetries: 0, blocksExecuted: 0, blocksCommitted: 0, invocations: 0, queryRestarts: 0 };

  private constructor(
    readonly store: Store,
    options: ExecutorOptions,
    base: CommittedHead,
    openCheck: OpenCheck,
  ) {
    this.openCheck = openCheck;
    this.genesis = options.genesis;
    this.genesisBlock = genesisBlock(options.genesis);
    this.genesisBlockHash = blockHash(this.genesisBlock.header);
    this.committed = new CommittedState(store, options.stateCacheBytes ?? DEFAULT_CACHE_BYTES);
    this.cache = this.committed.cache;
    // Module bytes by code hash: the deployer adds what it compiles, contract calls fetch what the vm lacks.
    const codeCache = new Map<string, Uint8Array>();
    const contracts = new ContractRunner(options.vm, codeCache, options.maxStateRetries ?? DEFAULT_MAX_STATE_RETRIES, this.stats);
    this.deployer = new Deployer(options.vm, codeCache);
    this.invocations = new InvocationRunner(this.genesis.chainId, minGasPriceOf(this.genesis), contracts, this.deployer, this.stats);
    this.reads = new CommittedReads(this.committed, store, contracts, options.queryGasCap ?? DEFAULT_QUERY_GAS, this.stats);
    this.verifiedIds = options.verifiedIds;
    this.base = base;
  }

  /**
   * Opens execution on a store: binds the genesis, checks the chain (by default its last committed blocks and
   * every block this open re-executes, see verifyOnOpen), writes the genesis block and state on an empty
   * database, then re-executes every committed block whose results are missing.
   */
  static async open(store: Store, options: ExecutorOptions): Promise<Executor> {
    const genesis = options.genesis;
    const gBlock = genesisBlock(genesis);
    const gHash = blockHash(gBlock.header);
    await store.bindGenesis(genesisHash(genesis));
    const openCheck = await Executor.checkOnOpen(store, options);
    const committed0 = await store.blockHashAt(0n);
    if (committed0 !== null && !bytesEqual(committed0, gHash)) {
      throw new ExecError("bad_genesis", `the database's genesis block ${toHex(committed0)} is not this genesis's ${toHex(gHash)}`, 0n);
    }
    let applied = await store.lastApplied();
    if (applied === null) {
      const root = genesisStateRoot(genesis);
      await store.commitExecuted({ block: gBlock, qc: genesisQc(), stateRoot: root, state: genesisStateWrites(genesis), receipts: [] });
      applied = { height: 0n, stateRoot: root };
    }
    const appliedHash = await store.blockHashAt(applied.height);
    if (appliedHash === null) throw new ExecError("bad_block", `state is applied up to height ${applied.height}, which is not committed`, applied.height);
    const ex = new Executor(store, options, { height: applied.height, hash: appliedHash, stateRoot: applied.stateRoot }, openCheck);
    if (options.preloadState ?? true) await ex.committed.preload();
    await ex.reexecuteCommitted(options.onReexecuted);
    return ex;
  }

  /**
   * The start-up check of the committed chain (see ExecutorOptions.verifyOnOpen), logged as it begins and
   * ends: without the lines a long check looked like a hung validator.
   */
  private static async checkOnOpen(store: Store, options: ExecutorOptions): Promise<OpenCheck> {
    const setting = options.verifyOnOpen ?? true;
    if (setting === false) return { mode: "none", from: null, to: null, blocks: 0, ms: 0 };
    const log = options.openLog;
    const started = performance.now();
    let check: Omit<OpenCheck, "ms">;
    if (setting === "full") {
      log?.info("start-up check: verifying the whole committed chain");
      const r = await verifyChain(store);
      check = { mode: "full", from: r.head === null ? null : 0n, to: r.head, blocks: r.blocks };
    } else {
      // Blocks committed but not applied are re-executed below, so they are read anyway: check them all.
      const applied = await store.lastApplied();
      log?.info(`start-up check: the last ${START_CHECK_BLOCKS} committed blocks and any not yet applied`, { appliedHeight: applied?.height ?? null });
      const r = await verifyChainTail(store, { from: applied === null ? 0n : applied.height + 1n });
      check = { mode: "tail", from: r.from, to: r.head, blocks: r.blocks };
    }
    const ms = Math.round((performance.now() - started) * 10) / 10;
    log?.info(`start-up check passed: ${check.blocks} blocks in ${ms} ms`, { from: check.from, to: check.to, blocks: check.blocks, ms });
    return { ...check, ms };
  }

  /** Blocks committed (chain index written) but not yet applied: crash between the two, or wiped state. */
  private async reexecuteCommitted(onBlock?: (height: bigint, root: Uint8Array) => void): Promise<void> {
    const head = await this.store.committedHead();
    if (head === null) return;
    for (let h = this.base.height + 1n; h <= head.height; h++) {
      const block = await this.store.blockAt(h);
      if (block === null) throw new ExecError("bad_block", `committed block at height ${h} is missing`, h);
      const result = await this.executeBlock(block);
      await this.commitBlock(result.hash, await this.store.qcAt(h));
      onBlock?.(h, result.stateRoot);
    }
  }

  /** The committed and applied head. */
  head(): CommittedHead {
    return this.base;
  }

  /** root(block) of an executed (uncommitted) block or of the committed head; null when unknown here. */
  rootOf(hash: Uint8Array): Uint8Array | null {
    if (bytesEqual(hash, this.base.hash)) return this.base.stateRoot;
    return this.forks.get(toHex(hash))?.stateRoot ?? null;
  }

  /** What a child of `parentHash` must carry as header.stateRoot (= rootOf(parentHash)). */
  root(parentHash: Uint8Array): Uint8Array | null {
    return this.rootOf(parentHash);
  }

  /** root(block at height) of a committed height (from the store). */
  rootAt(height: bigint): Promise<Uint8Array | null> {
    return this.store.stateRootAt(height);
  }

  isExecuted(hash: Uint8Array): boolean {
    return bytesEqual(hash, this.base.hash) || this.forks.has(toHex(hash));
  }

  /** Hashes of executed, uncommitted blocks (for tests and metrics). */
  pendingBlocks(): Uint8Array[] {
    return this.forks.hashes();
  }

  /**
   * Starts compiling the sources of any deploy among `invocations` (in the vm's worker), so the compile runs
   * beside consensus and execution later finds it done. Also warms the state cache with the invokers' accounts.
   * Never throws; bad payloads are left for execution to report.
   */
  prefetch(invocations: readonly SignedInvocation[]): void {
    const accountKeys: Uint8Array[] = [];
    for (const inv of invocations) accountKeys.push(stateKeys.account(inv.invoker));
    this.deployer.prefetch(invocations);
    void this.committed.warm(accountKeys).catch(() => undefined);
  }

  /**
   * For admission: compiles a deploy's sources now (cached, in the worker) and says why this validator cannot
   * accept it when the compile fails for environmental reasons (a compiler crash or timeout); null otherwise.
   */
  deployAdmissionError(inv: SignedInvocation): Promise<string | null> {
    return this.deployer.admissionError(inv);
  }

  /** @internal Loads one committed value; caches it only if no commit happened meanwhile (else it may be stale). */
  loadCommitted(key: Uint8Array, str: string): Promise<Uint8Array | null> {
    return this.committed.load(key, str);
  }

  // ---- block execution ---------------------------------------------------------------------------------

  /**
   * Executes `block` on top of its parent's result (the committed head or an executed, uncommitted block) and
   * keeps the result in memory. Idempotent: an executed or committed block returns its earlier result.
   * `verified` lists invocation ids whose signatures the mempool already checked.
   */
  executeBlock(block: Block, verified?: VerifiedIds): Promise<ExecutedBlock> {
    return this.lock.run(() => this.executeLocked(block, verified ?? this.verifiedIds));
  }

  private async executeLocked(block: Block, verified?: VerifiedIds): Promise<ExecutedBlock> {
    this.checkOpen();
    const hash = blockHash(block.header);
    const hex = toHex(hash);
    const known = this.forks.get(hex);
    if (known) return summary(known);
    const h = block.header;
    if (h.height <= this.base.height) {
      const committed = await this.store.blockHashAt(h.height);
      if (committed !== null && bytesEqual(committed, hash)) return this.committedSummary(h.height, hash, block);
      throw new ExecError("unknown_parent", `block ${hex} at height ${h.height} is at or below the committed head ${this.base.height} and not on the committed chain`, h.height);
    }
    let parent: ExecNode | null;
    let parentHeight: bigint;
    let parentRoot: Uint8Array;
    if (bytesEqual(h.parentHash, this.base.hash)) {
      parent = null;
      parentHeight = this.base.height;
      parentRoot = this.base.stateRoot;
    } else {
      const p = this.forks.get(toHex(h.parentHash));
      if (!p) throw new ExecError("unknown_parent", `parent ${toHex(h.parentHash)} of block ${hex} is neither the committed head nor an executed block`, h.height);
      parent = p;
      parentHeight = p.height;
      parentRoot = p.stateRoot;
    }
    if (h.height !== parentHeight + 1n) throw new ExecError("bad_block", `block ${hex} has height ${h.height}, its parent ${parentHeight}`, h.height);
    if (h.chainId !== this.genesis.chainId) throw new ExecError("bad_block", `block ${hex} is for chain ${h.chainId}, not ${this.genesis.chainId}`, h.height);

    const overlay = new Overlay();
    const view = new StateView(this.committed, layersOver(overlay, parent));
    const ctx = new BlockContext(view, overlay, h.height, h.proposer, verified);
    // Every accepted invocation may credit the proposer: have its account in memory before the first one.
    if (view.peek(ctx.proposerStr) === undefined) await view.load(ctx.proposerKey, ctx.proposerStr);
    const receipts: Receipt[] = [];
    for (let i = 0; i < block.invocations.length; i++) {
      // Most invocations complete synchronously (state in memory): no promise, no await.
      const r = this.invocations.run(ctx, block.invocations[i]!, i);
      receipts.push(r instanceof Promise ? await r : r);
    }
    const writes = overlay.sorted();
    const stateRoot = nextStateRoot(parentRoot, writes);
    const node: ExecNode = { hash, hex, block, height: h.height, parent, overlay, writes, stateRoot, parentRoot, receipts };
    this.forks.add(node);
    this.stats.blocksExecuted++;
    return summary(node);
  }

  private async committedSummary(height: bigint, hash: Uint8Array, block: Block): Promise<ExecutedBlock> {
    const root = await this.store.stateRootAt(height);
    const parentRoot = height === 0n ? root : await this.store.stateRootAt(height - 1n);
    if (root === null || parentRoot === null) throw new ExecError("bad_block", `committed height ${height} has no recorded state root`, height);
    return {
      hash,
      height,
      stateRoot: root,
      parentRoot,
      headerRootMatches: height === 0n || bytesEqual(block.header.stateRoot, parentRoot),
      receipts: await this.store.receiptsOfBlock(height),
    };
  }

  /**
   * Commits an executed block: its state writes, receipts, indexes, the block and the last applied height go
   * to RocksDB in ONE batch; then it becomes the base and every executed block not descending from it is
   * dropped. The block must extend the committed head, and its header must carry our root(parent) (else
   * ExecError 'state_diverged': a quorum committed a state this validator does not have).
   */
  commitBlock(hash: Uint8Array, qc: QuorumCertificate | null = null): Promise<CommittedHead> {
    // Commits run one at a time. The executor lock is held to check and start the write and again to re-base,
    // but not while RocksDB writes and fsyncs: executions of descendants go on meanwhile (they read the
    // committing block's overlay, which stays in their layers, so they see the same state either way).
    return this.commitOrder.run(async () => {
      const started = await this.lock.run(async () => this.startCommit(hash, qc));
      if (started === null) return this.base;
      await started.write;
      return this.lock.run(async () => this.finishCommit(started.node));
    });
  }

  private startCommit(hash: Uint8Array, qc: QuorumCertificate | null): { node: ExecNode; write: Promise<void> } | null {
    this.checkOpen();
    const hex = toHex(hash);
    if (bytesEqual(hash, this.base.hash)) return null;
    const node = this.forks.get(hex);
    if (!node) throw new ExecError("not_executed", `block ${hex} was not executed here`);
    if (node.parent !== null) {
      throw new ExecError("not_executed", `block ${hex} at height ${node.height} does not extend the committed head ${this.base.height}; commit its ancestors first`, node.height);
    }
    if (!bytesEqual(node.block.header.stateRoot, this.base.stateRoot)) {
      throw new ExecError(
        "state_diverged",
        `block at height ${node.height} carries state root ${toHex(node.block.header.stateRoot)}, but this validator computed ${toHex(this.base.stateRoot)} for height ${this.base.height}`,
        node.height,
      );
    }
    const write = this.store.commitExecuted({ block: node.block, qc, stateRoot: node.stateRoot, state: node.writes, receipts: node.receipts });
    return { node, write };
  }

  private finishCommit(node: ExecNode): CommittedHead {
    this.checkOpen();
    // Synchronously: the cache, the base and the fork tree change together.
    this.committed.applyCommitted(node.writes);
    this.base = { height: node.height, hash: node.hash, stateRoot: node.stateRoot };
    this.forks.committed(node);
    this.stats.blocksCommitted++;
    return this.base;
  }

  /**
   * Executes (if needed) and commits a committed block in one call: for blocks learned through sync or on
   * restart, whose commit is already decided.
   */
  async applyCommitted(block: Block, qc: QuorumCertificate | null = null): Promise<ExecutedBlock> {
    const result = await this.executeBlock(block);
    await this.commitBlock(result.hash, qc);
    return result;
  }

  // ---- reads for the REST layer (see reads.ts) ---------------------------------------------------------

  getAccount(publicKey: Uint8Array): Promise<{ balance: bigint; nonce: bigint }> {
    return this.reads.getAccount(publicKey);
  }

  getContract(name: string): Promise<ContractInfo | null> {
    return this.reads.getContract(name);
  }

  getContractVersion(name: string, version: number): Promise<{ info: ContractVersionInfo; sources: SourceFile[] } | null> {
    return this.reads.getContractVersion(name, version);
  }

  getState(contract: string, key: Uint8Array): Promise<Uint8Array | null> {
    return this.reads.getState(contract, key);
  }

  getReceipt(id: Uint8Array): Promise<Receipt | null> {
    return this.store.receiptById(id);
  }

  async getBlock(height: bigint | "latest"): Promise<Block | null> {
    return this.store.blockAt(height === "latest" ? this.base.height : height);
  }

  /**
   * Runs a method against the latest committed state: no signature, no fee, nothing written. Built-ins are not
   * queryable (their state is served by getAccount / getContract).
   */
  async query(q: QueryRequest): Promise<QueryResult> {
    this.checkOpen();
    return this.reads.query(q);
  }

  // ---- lifecycle ---------------------------------------------------------------------------------------

  private checkOpen(): void {
    if (this.closed) throw new ExecError("closed", "executor is closed");
  }

  /** Drops speculative results and waits for a running execution or commit. Does not close the store. */
  async close(): Promise<void> {
    await this.lock.run(async () => {
      this.closed = true;
      this.forks.clear();
      this.committed.close();
    });
  }
}
