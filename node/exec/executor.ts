// Serial, deterministic execution of blocks on speculative overlays, and their atomic commit.
//
// Each executed block is a node holding its write set (an Overlay) on top of its parent's node, down to the
// committed state (RocksDB + an in-memory cache). executeBlock runs a block on its parent's result; commitBlock
// writes one block's results in one RocksDB batch, makes it the new base and drops the forks that lost.
// Execution and commit are serialized by one lock; read-only queries run beside them on the committed state
// and restart if a commit lands underneath them.

import { decode, encode } from "../codec/codec.ts";
import { bytesEqual, compareBytes, fromUtf8, toHex, utf8 } from "../codec/hex.ts";
import {
  BUILTIN_BANK,
  BUILTIN_DEPLOY,
  ContractVersionInfo,
  DeployPayload,
  LIMITS,
  TransferPayload,
  type Block,
  type ContractVersionInfo as ContractVersionInfoT,
  type DeployPayload as DeployPayloadT,
  type Genesis,
  type QuorumCertificate,
  type Receipt,
  type ReceiptStatus,
  type SignedInvocation,
  type SourceFile,
  type TransferPayload as TransferPayloadT,
} from "../codec/types.ts";
import { k12 } from "../crypto/hash.ts";
import { blockHash, genesisHash, invocationId, invocationIdHex, invocationSigningDigest } from "../crypto/digests.ts";
import { verifyStrict } from "../crypto/sodium.ts";
import type { Store } from "../store/store.ts";
import { verifyChain } from "../store/verify.ts";
import { ExecError } from "./errors.ts";
import { EXEC_GAS, U64_MAX, intrinsicGas } from "./gas.ts";
import { genesisBlock, genesisQc, genesisStateRoot, genesisStateWrites } from "./genesis.ts";
import { decodeAccount, encodeAccount, type AccountState } from "./account.ts";
import { Overlay, nextStateRoot, type OverlayWrite } from "./overlay.ts";
import { CommittedStateCache } from "./state-cache.ts";
import { ContractRecord, SourceList, keyString, stateKeys } from "./state-keys.ts";
import type { ContractSourcesInput, ContractVm, VmCallResult, VmStatus } from "./vm-adapter.ts";
import { ReleasingMap } from "../releasing-map.ts";

export interface ExecutorOptions {
  readonly genesis: Genesis;
  readonly vm: ContractVm;
  /** Bytes of committed state kept in memory for the vm's synchronous reads (default 64 MiB). */
  readonly stateCacheBytes?: number;
  /** Fill the state cache from RocksDB on open, up to stateCacheBytes (default true). */
  readonly preloadState?: boolean;
  /** Most missing-state re-runs of one invocation before giving up with ExecError 'unavailable' (default 100 000). */
  readonly maxStateRetries?: number;
  /** Gas cap of read-only queries (default 10 000 000). */
  readonly queryGasCap?: bigint;
  /** Run verifyChain before anything else on open (default true): a node must not start on a corrupt chain. */
  readonly verifyOnOpen?: boolean;
  /** Called after each committed-but-unapplied block re-executed on open. */
  readonly onReexecuted?: (height: bigint, stateRoot: Uint8Array) => void;
  /** Default for executeBlock's `verified` (e.g. `{ has: (id) => mempool.isVerified(id) }`). */
  readonly verifiedIds?: VerifiedIds;
}

/** Ids (hex) whose signatures were already checked (the mempool's cache), so blocks do not verify twice. */
export interface VerifiedIds {
  has(idHex: string): boolean;
}

export interface ExecutedBlock {
  readonly hash: Uint8Array;
  readonly height: bigint;
  /** root(block): what the child block's header must carry. */
  readonly stateRoot: Uint8Array;
  /** root(parent): what this block's header should carry. */
  readonly parentRoot: Uint8Array;
  /** header.stateRoot === root(parent); a validator votes only when true. */
  readonly headerRootMatches: boolean;
  readonly receipts: readonly Receipt[];
}

export interface CommittedHead {
  readonly height: bigint;
  readonly hash: Uint8Array;
  readonly stateRoot: Uint8Array;
}

export interface QueryRequest {
  readonly contract: string;
  readonly version: number;
  readonly method: string;
  readonly input: Uint8Array;
  readonly gasLimit?: bigint;
  readonly invoker?: Uint8Array;
}

export interface QueryResult {
  readonly status: string;
  readonly gasUsed: bigint;
  readonly output: Uint8Array;
  readonly error: string | null;
}

export interface ContractInfo {
  readonly name: string;
  readonly owner: Uint8Array;
  readonly versions: ContractVersionInfoT[];
}

interface ExecNode {
  readonly hash: Uint8Array;
  readonly hex: string;
  readonly block: Block;
  readonly height: bigint;
  /** null: the parent is the committed base. */
  parent: ExecNode | null;
  readonly overlay: Overlay;
  /** The overlay's writes in key order (hashed into stateRoot, and what the commit stores). */
  readonly writes: readonly OverlayWrite[];
  readonly stateRoot: Uint8Array;
  readonly parentRoot: Uint8Array;
  readonly receipts: Receipt[];
}

/** One run of the vm: its result, unless it asked for a key that is not in memory (`missing`). */
interface VmAttempt {
  readonly result: VmCallResult | null;
  readonly missing: { readonly key: Uint8Array; readonly str: string } | null;
}

/** What one invocation's handler decided, before fees and nonces. */
interface Outcome {
  status: VmStatus;
  gasUsed: bigint;
  output: Uint8Array;
  error: string | null;
  reads: Uint8Array[];
  writes: Array<{ key: Uint8Array; value: Uint8Array }>;
}

const ZERO32 = new Uint8Array(32);
const EMPTY = new Uint8Array(0);
const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;
const DEFAULT_QUERY_GAS = 10_000_000n;
const MAX_QUERY_RESTARTS = 16;

/** Truncates text to at most `max` UTF-8 bytes without splitting a character. */
function clip(text: string, max: number): string {
  const bytes = utf8(text);
  if (bytes.length <= max) return text;
  let end = max;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return fromUtf8(bytes.subarray(0, end));
}

function clipBytes(b: Uint8Array, max: number): Uint8Array {
  return b.length <= max ? b : b.slice(0, max);
}


const TRANSFER_PAYLOAD_BYTES = 40;
/** Gas of every well-formed transfer: its payload is always 40 bytes. */
const TRANSFER_GAS = intrinsicGas(TRANSFER_PAYLOAD_BYTES) + EXEC_GAS.transfer;
const transferScratch = new Uint8Array(8);
const transferScratchView = new DataView(transferScratch.buffer);

/** decode(TransferPayload, input) without the generic codec when the length is right (it is all the codec checks then). */
function decodeTransfer(input: Uint8Array): TransferPayloadT {
  if (input.length !== TRANSFER_PAYLOAD_BYTES) return decode(TransferPayload, input, "transfer payload");
  for (let i = 0; i < 8; i++) transferScratch[i] = input[32 + i]!;
  return { to: input.slice(0, 32), amount: transferScratchView.getBigUint64(0, true) };
}

const NONE: never[] = Object.freeze([]) as unknown as never[];

/** What one block's invocations share: its height, proposer and the contract versions already looked up. */
interface BlockContext {
  readonly height: bigint;
  readonly proposer: Uint8Array;
  readonly proposerKey: Uint8Array;
  readonly proposerStr: string;
  /**
   * Contract versions found in this block's state, by name and version. A version never changes once it
   * exists, so within one block (one fork's state) a hit is final; absence is not cached (a deploy may add it).
   */
  readonly versions: Map<string, ContractVersion>;
}

interface ContractVersion {
  readonly info: ContractVersionInfoT;
  /** stateKeys.storagePrefix(info.name). */
  readonly prefix: Uint8Array;
}

/** An invocation's receipt (output and error clipped to what a receipt may carry). */
function makeReceipt(
  id: Uint8Array,
  status: ReceiptStatus,
  gasUsed: bigint,
  fee: bigint,
  output: Uint8Array,
  error: string | null,
  height: bigint,
  index: number,
  reads: Uint8Array[],
  writes: Array<{ key: Uint8Array; value: Uint8Array }>,
): Receipt {
  return {
    id,
    status,
    gasUsed,
    fee,
    output: clipBytes(output, LIMITS.maxOutputBytes),
    error: error === null ? null : clip(error, LIMITS.maxErrorBytes),
    height,
    index,
    reads,
    writes,
  };
}

/**
 * The state a contract run reads (its own storage, through the view), noting the first key that is not in
 * memory: the vm is stopped there by its missing-state signal and the run is repeated once the key is loaded.
 * A class rather than closures: one object per run is all it costs.
 */
class ContractStateReader {
  missing: { readonly key: Uint8Array; readonly str: string } | null = null;

  constructor(
    private readonly view: StateView,
    private readonly prefix: Uint8Array,
    private readonly vm: ContractVm,
  ) {}

  get(userKey: Uint8Array): Uint8Array | null {
    const key = stateKeys.storage(this.prefix, userKey);
    const str = keyString(key);
    const v = this.view.peek(str);
    if (v !== undefined) return v;
    this.missing = { key, str };
    throw this.vm.missingState(key);
  }

  /** The attempt's outcome once the vm returned `result` (null: it threw the missing-state signal). */
  done(result: VmCallResult | null): VmAttempt {
    // Even when the vm turned the signal into some other outcome, a run that missed a key is not a result.
    if (this.missing === null && result === null) throw new ExecError("unavailable", "vm reported missing state without a key");
    return { result, missing: this.missing };
  }

  failed(e: unknown): VmAttempt {
    if (this.missing === null && this.vm.missingKey(e) === null) throw e;
    return this.done(null);
  }
}

/** A simple FIFO mutex: execution never interleaves with the checks and re-basing of a commit. */
class Lock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/**
 * Layers of writes (top first) over the committed state. Reads that hit memory (a layer, a value this run
 * loaded, the committed-state cache) answer synchronously; only a miss goes to RocksDB (load).
 */
class StateView {
  constructor(
    private readonly ex: Executor,
    readonly layers: Overlay[],
    /**
     * Committed values this run has seen: loaded from RocksDB, or found in the cache (pinned here on first
     * sight), so that neither a bounded cache evicting them nor a concurrent query can undo a run's progress.
     */
    readonly fetched = new Map<string, Uint8Array | null>(),
  ) {}

  /** The value of a key (keyString), or undefined when it is not in memory. */
  peek(str: string): Uint8Array | null | undefined {
    const layers = this.layers;
    for (let i = 0; i < layers.length; i++) {
      const w = layers[i]!.lookup(str);
      if (w !== undefined) return w.value;
    }
    const f = this.fetched.get(str);
    if (f !== undefined || this.fetched.has(str)) return f;
    const c = this.ex.cache.get(str);
    if (c !== undefined) this.fetched.set(str, c);
    return c;
  }

  /** The value of a key: synchronously when in memory, else a promise of the load. */
  read(key: Uint8Array, str = keyString(key)): Uint8Array | null | Promise<Uint8Array | null> {
    const v = this.peek(str);
    return v !== undefined ? v : this.load(key, str);
  }

  async load(key: Uint8Array, str = keyString(key)): Promise<Uint8Array | null> {
    const value = await this.ex.loadCommitted(key, str);
    this.fetched.set(str, value);
    return value;
  }
}

export class Executor {
  readonly genesis: Genesis;
  readonly genesisBlock: Block;
  readonly genesisBlockHash: Uint8Array;
  /** @internal committed-state cache (exposed for tests and metrics). */
  readonly cache: CommittedStateCache;
  private readonly vm: ContractVm;
  private readonly lock = new Lock();
  /** Serializes commits (each spans two turns of `lock`, see commitBlock). */
  private readonly commitOrder = new Lock();
  private readonly executed = new ReleasingMap<string, ExecNode>();
  private readonly codeCache = new Map<string, Uint8Array>();
  private readonly maxRetries: number;
  private readonly queryGasCap: bigint;
  private readonly verifiedIds: VerifiedIds | undefined;
  private base: CommittedHead;
  /** Bumped by every commit: a read of committed state that spans a change is retried. */
  private epoch = 0;
  private closed = false;
  /** Counters for metrics and tests. */
  readonly stats = { stateRetries: 0, blocksExecuted: 0, blocksCommitted: 0, invocations: 0, queryRestarts: 0 };

  private constructor(
    readonly store: Store,
    options: ExecutorOptions,
    base: CommittedHead,
  ) {
    this.genesis = options.genesis;
    this.genesisBlock = genesisBlock(options.genesis);
    this.genesisBlockHash = blockHash(this.genesisBlock.header);
    this.vm = options.vm;
    this.cache = new CommittedStateCache(options.stateCacheBytes ?? DEFAULT_CACHE_BYTES);
    this.maxRetries = options.maxStateRetries ?? 100_000;
    this.queryGasCap = options.queryGasCap ?? DEFAULT_QUERY_GAS;
    this.verifiedIds = options.verifiedIds;
    this.base = base;
  }

  /**
   * Opens execution on a store: checks the chain (verifyChain), binds the genesis, writes the genesis block
   * and state on an empty database, then re-executes every committed block whose results are missing.
   */
  static async open(store: Store, options: ExecutorOptions): Promise<Executor> {
    const genesis = options.genesis;
    const gBlock = genesisBlock(genesis);
    const gHash = blockHash(gBlock.header);
    await store.bindGenesis(genesisHash(genesis));
    if (options.verifyOnOpen ?? true) await verifyChain(store);
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
    const ex = new Executor(store, options, { height: applied.height, hash: appliedHash, stateRoot: applied.stateRoot });
    if (options.preloadState ?? true) await ex.preload();
    await ex.reexecuteCommitted(options.onReexecuted);
    return ex;
  }

  private async preload(): Promise<void> {
    for await (const [k, v] of this.store.iterateState()) {
      if (this.cache.sizeBytes + k.length + v.length + 64 > this.cache.maxBytes) break;
      this.cache.set(keyString(k), v);
    }
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
    return this.executed.get(toHex(hash))?.stateRoot ?? null;
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
    return bytesEqual(hash, this.base.hash) || this.executed.has(toHex(hash));
  }

  /** Hashes of executed, uncommitted blocks (for tests and metrics). */
  pendingBlocks(): Uint8Array[] {
    return [...this.executed.values()].map((n) => n.hash);
  }

  /**
   * Starts compiling the sources of any deploy among `invocations` (in the vm's worker), so the compile runs
   * beside consensus and execution later finds it done. Also warms the state cache with the invokers' accounts.
   * Never throws; bad payloads are left for execution to report.
   */
  prefetch(invocations: readonly SignedInvocation[]): void {
    const accountKeys: Uint8Array[] = [];
    for (const inv of invocations) {
      accountKeys.push(stateKeys.account(inv.invoker));
      if (inv.contract !== BUILTIN_DEPLOY) continue;
      let payload: DeployPayloadT;
      try {
        payload = decode(DeployPayload, inv.input, "deploy payload");
      } catch {
        continue;
      }
      const sources = toContractSources(payload);
      if (typeof sources === "string" || !this.vm.supportedToolchains().includes(payload.toolchain)) continue;
      this.vm.compile(payload.toolchain, sources).catch(() => undefined);
    }
    void this.warm(accountKeys).catch(() => undefined);
  }

  /**
   * For admission: compiles a deploy's sources now (cached, in the worker) and says why this validator cannot
   * accept it when the compile fails for environmental reasons (a compiler crash or timeout). Such a deploy
   * could not be executed as a receipt, and admitting it would let it reach a block that no validator can
   * execute. Deterministic outcomes (success, or diagnostics that become a reverted receipt) return null, as
   * does anything that is not a deploy or is malformed (execution reports those).
   */
  async deployAdmissionError(inv: SignedInvocation): Promise<string | null> {
    if (inv.contract !== BUILTIN_DEPLOY) return null;
    let payload: DeployPayloadT;
    try {
      payload = decode(DeployPayload, inv.input, "deploy payload");
    } catch {
      return null;
    }
    const sources = toContractSources(payload);
    if (typeof sources === "string" || !this.vm.supportedToolchains().includes(payload.toolchain)) return null;
    try {
      await this.vm.compile(payload.toolchain, sources);
      return null;
    } catch (e) {
      return `the sources could not be compiled on this validator (${(e as Error).message}); not admitted`;
    }
  }

  private async warm(stateKeysToLoad: Uint8Array[]): Promise<void> {
    const wanted: Uint8Array[] = [];
    const strs: string[] = [];
    for (const k of stateKeysToLoad) {
      const str = keyString(k);
      if (this.cache.has(str)) continue;
      wanted.push(k);
      strs.push(str);
    }
    if (wanted.length === 0 || this.closed) return;
    const epoch = this.epoch;
    const values = await this.store.getStateMany(wanted);
    if (epoch !== this.epoch) return;
    strs.forEach((str, i) => {
      if (!this.cache.has(str)) this.cache.set(str, values[i]!);
    });
  }

  /** @internal Loads one committed value; caches it only if no commit happened meanwhile (else it may be stale). */
  async loadCommitted(key: Uint8Array, str: string): Promise<Uint8Array | null> {
    const epoch = this.epoch;
    const value = await this.store.getState(key);
    if (epoch === this.epoch) this.cache.set(str, value);
    return value;
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
    const known = this.executed.get(hex);
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
      const p = this.executed.get(toHex(h.parentHash));
      if (!p) throw new ExecError("unknown_parent", `parent ${toHex(h.parentHash)} of block ${hex} is neither the committed head nor an executed block`, h.height);
      parent = p;
      parentHeight = p.height;
      parentRoot = p.stateRoot;
    }
    if (h.height !== parentHeight + 1n) throw new ExecError("bad_block", `block ${hex} has height ${h.height}, its parent ${parentHeight}`, h.height);
    if (h.chainId !== this.genesis.chainId) throw new ExecError("bad_block", `block ${hex} is for chain ${h.chainId}, not ${this.genesis.chainId}`, h.height);

    const overlay = new Overlay();
    const layers: Overlay[] = [overlay];
    for (let p = parent; p !== null; p = p.parent) layers.push(p.overlay);
    const view = new StateView(this, layers);
    const proposerKey = stateKeys.account(h.proposer);
    const ctx: BlockContext = { height: h.height, proposer: h.proposer, proposerKey, proposerStr: keyString(proposerKey), versions: new Map() };
    // Every accepted invocation may credit the proposer: have its account in memory before the first one.
    if (view.peek(ctx.proposerStr) === undefined) await view.load(proposerKey, ctx.proposerStr);
    const receipts: Receipt[] = [];
    for (let i = 0; i < block.invocations.length; i++) {
      // Most invocations complete synchronously (state in memory): no promise, no await.
      const r = this.runInvocation(view, overlay, block.invocations[i]!, i, ctx, verified);
      receipts.push(r instanceof Promise ? await r : r);
    }
    const writes = overlay.sorted();
    const stateRoot = nextStateRoot(parentRoot, writes);
    const node: ExecNode = { hash, hex, block, height: h.height, parent, overlay, writes, stateRoot, parentRoot, receipts };
    this.executed.set(hex, node);
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
    const node = this.executed.get(hex);
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
    const hex = node.hex;
    // Synchronously: the cache, the base and the fork tree change together.
    this.epoch++;
    for (const w of node.writes) this.cache.set(w.str, w.value);
    this.base = { height: node.height, hash: node.hash, stateRoot: node.stateRoot };
    this.executed.delete(hex);
    // Decide what survives before re-basing anything: survivors are the descendants of the committed block.
    const doomed: string[] = [];
    for (const [k, other] of this.executed) {
      let p: ExecNode | null = other;
      while (p !== null && p.parent !== node) p = p.parent;
      if (p === null) doomed.push(k);
    }
    for (const k of doomed) this.executed.delete(k);
    for (const other of this.executed.values()) if (other.parent === node) other.parent = null;
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

  // ---- one invocation ----------------------------------------------------------------------------------

  /**
   * Runs one invocation of a block on the block's overlay. Synchronous when every state it needs is in memory
   * (the common case); otherwise the keys are loaded first and the returned promise settles with the receipt.
   */
  private runInvocation(
    view: StateView,
    overlay: Overlay,
    inv: SignedInvocation,
    index: number,
    ctx: BlockContext,
    verified?: VerifiedIds,
  ): Receipt | Promise<Receipt> {
    const id = invocationId(inv);
    this.stats.invocations++;
    if (inv.chainId !== this.genesis.chainId) {
      return this.rejected(id, ctx, index, `wrong chain: invocation is for ${inv.chainId}, this chain is ${this.genesis.chainId}`);
    }
    if (!verified?.has(invocationIdHex(inv)) && !verifyStrict(inv.signature, invocationSigningDigest(inv), inv.invoker)) {
      return this.rejected(id, ctx, index, "bad signature: the signature does not verify against the invoker's key");
    }
    const accountKey = stateKeys.account(inv.invoker);
    const accountStr = keyString(accountKey);
    // A transfer also needs its recipient: load both before anything runs, so the run itself never waits.
    let transfer: TransferPayloadT | string | null = null;
    let toKey: Uint8Array | null = null;
    let toStr = "";
    if (inv.contract === BUILTIN_BANK && inv.method === "transfer") {
      try {
        transfer = decodeTransfer(inv.input);
        toKey = stateKeys.account(transfer.to);
        toStr = keyString(toKey);
      } catch (e) {
        transfer = `malformed transfer payload: ${(e as Error).message}`;
      }
    }
    const accountMissing = view.peek(accountStr) === undefined;
    const toMissing = toKey !== null && view.peek(toStr) === undefined;
    if (accountMissing || toMissing) {
      return (async () => {
        if (accountMissing) await view.load(accountKey, accountStr);
        if (toMissing) await view.load(toKey!, toStr);
        return this.runLoaded(view, overlay, inv, id, index, ctx, accountKey, accountStr, transfer, toKey, toStr);
      })();
    }
    return this.runLoaded(view, overlay, inv, id, index, ctx, accountKey, accountStr, transfer, toKey, toStr);
  }

  /** The rest of runInvocation, once the invoker's account (and a transfer's recipient) are in memory. */
  private runLoaded(
    view: StateView,
    overlay: Overlay,
    inv: SignedInvocation,
    id: Uint8Array,
    index: number,
    ctx: BlockContext,
    accountKey: Uint8Array,
    accountStr: string,
    transfer: TransferPayloadT | string | null,
    toKey: Uint8Array | null,
    toStr: string,
  ): Receipt | Promise<Receipt> {
    const account = decodeAccount(this.inMemory(view, accountStr));
    if (inv.nonce !== account.nonce) return this.rejected(id, ctx, index, `bad nonce: invocation has nonce ${inv.nonce}, the account's next nonce is ${account.nonce}`);
    const maxFee = inv.gasLimit * inv.gasPrice;
    if (maxFee > U64_MAX) return this.rejected(id, ctx, index, `gas limit ${inv.gasLimit} x gas price ${inv.gasPrice} overflows u64`);
    if (account.balance < maxFee) return this.rejected(id, ctx, index, `insufficient balance: ${account.balance} < gas limit x gas price = ${maxFee}`);

    // Accepted: from here on the invocation pays for the gas it used and its nonce is consumed. Handlers write
    // to the block's overlay only when they succeed (every failure returns before its first write).
    if (inv.contract === BUILTIN_BANK) {
      const outcome = this.runBank(overlay, inv, account, accountKey, accountStr, transfer, toKey, toStr, view);
      return this.settle(view, overlay, inv, id, index, ctx, accountKey, accountStr, outcome);
    }
    const pending = inv.contract === BUILTIN_DEPLOY ? this.runDeploy(view, overlay, inv, ctx.height) : this.runContract(view, overlay, inv, ctx);
    if (pending instanceof Promise) return pending.then((o) => this.settle(view, overlay, inv, id, index, ctx, accountKey, accountStr, o));
    return this.settle(view, overlay, inv, id, index, ctx, accountKey, accountStr, pending);
  }

  /** Charges the fee (debit the invoker, bump its nonce, credit the proposer) and makes the receipt. */
  private settle(
    view: StateView,
    overlay: Overlay,
    inv: SignedInvocation,
    id: Uint8Array,
    index: number,
    ctx: BlockContext,
    accountKey: Uint8Array,
    accountStr: string,
    outcome: Outcome,
  ): Receipt {
    const height = ctx.height;
    if (outcome.gasUsed > inv.gasLimit) throw new ExecError("unavailable", `internal: gas used ${outcome.gasUsed} exceeds limit ${inv.gasLimit}`, height);
    const fee = outcome.gasUsed * inv.gasPrice;
    const after = decodeAccount(this.inMemory(view, accountStr));
    if (after.balance < fee) throw new ExecError("unavailable", `internal: invoker balance ${after.balance} below fee ${fee}`, height);
    overlay.set(accountKey, encodeAccount(after.balance - fee, after.nonce + 1n), accountStr);
    if (fee > 0n) {
      const prop = decodeAccount(this.inMemory(view, ctx.proposerStr));
      if (prop.balance + fee > U64_MAX) throw new ExecError("unavailable", "internal: proposer balance overflows u64", height);
      overlay.set(ctx.proposerKey, encodeAccount(prop.balance + fee, prop.nonce), ctx.proposerStr);
    }
    const landed = outcome.status === "ok";
    return makeReceipt(id, outcome.status, outcome.gasUsed, fee, outcome.output, outcome.error, height, index, outcome.reads, landed ? outcome.writes : NONE);
  }

  private rejected(id: Uint8Array, ctx: BlockContext, index: number, reason: string): Receipt {
    return makeReceipt(id, "rejected", 0n, 0n, EMPTY, reason, ctx.height, index, NONE, NONE);
  }

  /** A value this invocation made sure is in memory (its account, a transfer's recipient, the proposer). */
  private inMemory(view: StateView, str: string): Uint8Array | null {
    const v = view.peek(str);
    if (v === undefined) throw new ExecError("unavailable", "internal: state loaded for this invocation is no longer in memory");
    return v;
  }

  private static invalid(gasLimit: bigint, error: string): Outcome {
    return { status: "invalid", gasUsed: gasLimit < EXEC_GAS.invalid ? gasLimit : EXEC_GAS.invalid, output: EMPTY, error, reads: NONE, writes: NONE };
  }

  private static outOfGas(gasLimit: bigint, needed: bigint): Outcome {
    return { status: "out_of_gas", gasUsed: gasLimit, output: EMPTY, error: `out of gas: needs ${needed}, gas limit is ${gasLimit}`, reads: NONE, writes: NONE };
  }

  private static reverted(gasUsed: bigint, error: string, output: Uint8Array = EMPTY): Outcome {
    return { status: "reverted", gasUsed, output, error, reads: NONE, writes: NONE };
  }

  /**
   * bank.transfer: the fee is set aside first, so a transfer can never leave the invoker unable to pay it.
   * `transfer` is the decoded payload (or why it does not decode), its recipient's account already in memory.
   */
  private runBank(
    overlay: Overlay,
    inv: SignedInvocation,
    from: AccountState,
    fromKey: Uint8Array,
    fromStr: string,
    transfer: TransferPayloadT | string | null,
    toKey: Uint8Array | null,
    toStr: string,
    view: StateView,
  ): Outcome {
    if (inv.method !== "transfer") return Executor.invalid(inv.gasLimit, `bank has no method ${JSON.stringify(inv.method)} (it has: transfer)`);
    if (typeof transfer === "string") return Executor.invalid(inv.gasLimit, transfer);
    const payload = transfer!;
    const gas = TRANSFER_GAS;
    if (inv.gasLimit < gas) return Executor.outOfGas(inv.gasLimit, gas);
    const balance = from.balance;
    const fee = gas * inv.gasPrice;
    const available = balance - fee;
    if (available < payload.amount) {
      return Executor.reverted(gas, `insufficient funds: balance ${balance} minus fee ${fee} leaves ${available}, transfer needs ${payload.amount}`);
    }
    // `from` is the invoker's account as read for the checks; nothing has written it since.
    const fromAfter = from.balance - payload.amount;
    if (toStr === fromStr) {
      // A self-transfer: debit and credit cancel (the fee is charged by settle, which writes the account).
      return { status: "ok", gasUsed: gas, output: EMPTY, error: null, reads: NONE, writes: NONE };
    }
    const to = decodeAccount(this.inMemory(view, toStr));
    if (to.balance + payload.amount > U64_MAX) return Executor.reverted(gas, "recipient balance would overflow u64");
    overlay.set(fromKey, encodeAccount(fromAfter, from.nonce), fromStr);
    overlay.set(toKey!, encodeAccount(to.balance + payload.amount, to.nonce), toStr);
    return { status: "ok", gasUsed: gas, output: EMPTY, error: null, reads: NONE, writes: NONE };
  }

  /** deploy: version 1 creates a name (invoker becomes owner); version n+1 by the owner adds a version. */
  private async runDeploy(view: StateView, overlay: Overlay, inv: SignedInvocation, height: bigint): Promise<Outcome> {
    if (inv.method !== "deploy") return Executor.invalid(inv.gasLimit, `deploy has no method ${JSON.stringify(inv.method)} (it has: deploy)`);
    let payload: DeployPayloadT;
    try {
      payload = decode(DeployPayload, inv.input, "deploy payload");
    } catch (e) {
      return Executor.invalid(inv.gasLimit, `malformed deploy payload: ${(e as Error).message}`);
    }
    let sourceBytes = 0;
    for (const f of payload.sources) sourceBytes += utf8(f.path).length + utf8(f.content).length;
    const gas = intrinsicGas(inv.input.length) + EXEC_GAS.deployBase + EXEC_GAS.deployPerSourceByte * BigInt(sourceBytes);
    if (inv.gasLimit < gas) return Executor.outOfGas(inv.gasLimit, gas);

    const name = payload.name;
    const recordKey = stateKeys.contract(name);
    const recordRaw = await view.read(recordKey);
    const record = recordRaw === null ? null : decode(ContractRecord, recordRaw, "contract record");
    if (payload.version === 0) return Executor.reverted(gas, "contract versions start at 1");
    if (record === null) {
      if (payload.version !== 1) return Executor.reverted(gas, `contract ${name} does not exist: its first deploy must be version 1, not ${payload.version}`);
    } else {
      if (!bytesEqual(record.owner, inv.invoker)) {
        return Executor.reverted(gas, `contract ${name} belongs to ${toHex(record.owner)}; only its owner may deploy new versions`);
      }
      if (payload.version !== record.latest + 1) {
        return Executor.reverted(gas, `contract ${name} is at version ${record.latest}; the next deploy must be version ${record.latest + 1}, not ${payload.version}`);
      }
    }
    if (!this.vm.supportedToolchains().includes(payload.toolchain)) {
      return Executor.reverted(gas, `toolchain ${JSON.stringify(payload.toolchain)} is not supported (supported: ${this.vm.supportedToolchains().join(", ")})`);
    }
    const sources = toContractSources(payload);
    if (typeof sources === "string") return Executor.reverted(gas, sources);
    let compiled;
    try {
      compiled = await this.vm.compile(payload.toolchain, sources);
    } catch (e) {
      throw new ExecError("unavailable", `compiling ${name} v${payload.version} failed outside the sources' control: ${(e as Error).message}`, height, { cause: e });
    }
    if (!compiled.ok) return Executor.reverted(gas, compiled.error, clipBytes(utf8(compiled.details), LIMITS.maxOutputBytes));
    const invalid = this.vm.validate(compiled.wasm);
    if (invalid !== null) return Executor.reverted(gas, `compiled module is not acceptable: ${invalid}`);

    const sourceList: SourceFile[] = payload.sources;
    const sourcesEncoded = encode(SourceList, sourceList);
    const info: ContractVersionInfoT = {
      name,
      version: payload.version,
      owner: record === null ? inv.invoker : record.owner,
      toolchain: payload.toolchain,
      entry: payload.entry,
      codeHash: compiled.codeHash,
      sourcesHash: k12("cairn.sources", sourcesEncoded),
      deployedAt: height,
    };
    overlay.set(recordKey, encode(ContractRecord, { owner: info.owner, latest: payload.version }));
    overlay.set(stateKeys.version(name, payload.version), encode(ContractVersionInfo, info));
    overlay.set(stateKeys.sources(name, payload.version), sourcesEncoded);
    overlay.set(stateKeys.code(compiled.codeHash), compiled.wasm);
    this.codeCache.set(toHex(compiled.codeHash), compiled.wasm);
    return { status: "ok", gasUsed: gas, output: compiled.codeHash, error: null, reads: NONE, writes: NONE };
  }

  /** A contract version of this block's state (cached per block), or null when there is no such version. */
  private contractVersion(view: StateView, ctx: BlockContext, name: string, version: number): ContractVersion | null | Promise<ContractVersion | null> {
    const cacheKey = `${version}/${name}`;
    const hit = ctx.versions.get(cacheKey);
    if (hit !== undefined) return hit;
    const found = (raw: Uint8Array | null): ContractVersion | null => {
      if (raw === null) return null;
      const info = decode(ContractVersionInfo, raw, "contract version");
      const entry = { info, prefix: stateKeys.storagePrefix(info.name) };
      ctx.versions.set(cacheKey, entry);
      return entry;
    };
    const raw = view.read(stateKeys.version(name, version));
    return raw instanceof Promise ? raw.then(found) : found(raw);
  }

  private runContract(view: StateView, overlay: Overlay, inv: SignedInvocation, ctx: BlockContext): Outcome | Promise<Outcome> {
    const version = this.contractVersion(view, ctx, inv.contract, inv.version);
    if (version instanceof Promise) return version.then((v) => this.runContractVersion(view, overlay, inv, ctx, v));
    return this.runContractVersion(view, overlay, inv, ctx, version);
  }

  private runContractVersion(view: StateView, overlay: Overlay, inv: SignedInvocation, ctx: BlockContext, version: ContractVersion | null): Outcome | Promise<Outcome> {
    if (version === null) return Executor.invalid(inv.gasLimit, `unknown contract ${inv.contract} version ${inv.version}`);
    const intrinsic = intrinsicGas(inv.input.length);
    if (inv.gasLimit < intrinsic) return Executor.outOfGas(inv.gasLimit, intrinsic);
    const vmGas = inv.gasLimit - intrinsic;
    const result = this.callVm(view, version.info, version.prefix, inv.method, inv.input, inv.invoker, ctx.proposer, vmGas);
    if (result instanceof Promise) return result.then((r) => contractOutcome(r, vmGas, intrinsic, overlay, version.prefix));
    return contractOutcome(result, vmGas, intrinsic, overlay, version.prefix);
  }

  /**
   * Runs a method until it completes without touching a key that is not in memory: synchronously when the
   * code is loaded and every key it reads is in memory, else re-running from scratch after each load.
   */
  private callVm(
    view: StateView,
    info: ContractVersionInfoT,
    prefix: Uint8Array,
    method: string,
    input: Uint8Array,
    invoker: Uint8Array,
    proposer: Uint8Array,
    gasLimit: bigint,
  ): VmCallResult | Promise<VmCallResult> {
    if (!this.vm.hasCode(info.codeHash)) return this.callVmSlow(view, info, prefix, method, input, invoker, proposer, gasLimit, null);
    const attempt = this.attemptVm(view, info.codeHash, null, prefix, method, input, invoker, proposer, gasLimit);
    if (attempt instanceof Promise) return this.callVmSlow(view, info, prefix, method, input, invoker, proposer, gasLimit, attempt);
    if (attempt.missing === null) return attempt.result!;
    return this.callVmSlow(view, info, prefix, method, input, invoker, proposer, gasLimit, attempt);
  }

  /** One run of the vm; `missing` is the first key it asked for that is not in memory (then the result is not one). */
  private attemptVm(
    view: StateView,
    codeHash: Uint8Array,
    wasm: Uint8Array | null,
    prefix: Uint8Array,
    method: string,
    input: Uint8Array,
    invoker: Uint8Array,
    proposer: Uint8Array,
    gasLimit: bigint,
  ): VmAttempt | Promise<VmAttempt> {
    const state = new ContractStateReader(view, prefix, this.vm);
    let pending: VmCallResult | Promise<VmCallResult>;
    try {
      pending = this.vm.call({ codeHash, wasm, method, input, invoker, proposer, gasLimit, state });
    } catch (e) {
      return state.failed(e);
    }
    return pending instanceof Promise ? pending.then((r) => state.done(r), (e: unknown) => state.failed(e)) : state.done(pending);
  }

  /** The asynchronous rest of callVm: fetch the code if needed, load each missing key, run again. */
  private async callVmSlow(
    view: StateView,
    info: ContractVersionInfoT,
    prefix: Uint8Array,
    method: string,
    input: Uint8Array,
    invoker: Uint8Array,
    proposer: Uint8Array,
    gasLimit: bigint,
    first: VmAttempt | Promise<VmAttempt> | null,
  ): Promise<VmCallResult> {
    let wasm: Uint8Array | null = null;
    if (first === null) {
      const codeHex = toHex(info.codeHash);
      wasm = this.codeCache.get(codeHex) ?? (await view.read(stateKeys.code(info.codeHash)));
      if (wasm === null) throw new ExecError("unavailable", `code ${codeHex} of ${info.name} v${info.version} is missing from the state`);
      this.codeCache.set(codeHex, wasm);
      if (this.codeCache.size > 64) this.codeCache.delete(this.codeCache.keys().next().value!);
    }
    let attempt = await (first ?? this.attemptVm(view, info.codeHash, wasm, prefix, method, input, invoker, proposer, gasLimit));
    for (let reruns = 0; ; reruns++) {
      if (attempt.missing === null) return attempt.result!;
      if (reruns >= this.maxRetries) throw new ExecError("unavailable", `invocation still missing state after ${reruns} re-runs`);
      this.stats.stateRetries++;
      await view.load(attempt.missing.key, attempt.missing.str);
      attempt = await this.attemptVm(view, info.codeHash, wasm, prefix, method, input, invoker, proposer, gasLimit);
    }
  }

  // ---- reads for the REST layer ------------------------------------------------------------------------

  private async readCommitted(key: Uint8Array): Promise<Uint8Array | null> {
    const str = keyString(key);
    const cached = this.cache.get(str);
    if (cached !== undefined) return cached;
    return this.loadCommitted(key, str);
  }

  async getAccount(publicKey: Uint8Array): Promise<{ balance: bigint; nonce: bigint }> {
    if (publicKey.length !== 32) return { balance: 0n, nonce: 0n };
    return decodeAccount(await this.readCommitted(stateKeys.account(publicKey)));
  }

  async getContract(name: string): Promise<ContractInfo | null> {
    if (!validName(name)) return null;
    const raw = await this.readCommitted(stateKeys.contract(name));
    if (raw === null) return null;
    const record = decode(ContractRecord, raw, "contract record");
    const versions: ContractVersionInfoT[] = [];
    for (let v = 1; v <= record.latest; v++) {
      const infoRaw = await this.readCommitted(stateKeys.version(name, v));
      if (infoRaw !== null) versions.push(decode(ContractVersionInfo, infoRaw, "contract version"));
    }
    return { name, owner: record.owner, versions };
  }

  async getContractVersion(name: string, version: number): Promise<{ info: ContractVersionInfoT; sources: SourceFile[] } | null> {
    if (!validName(name) || !Number.isInteger(version) || version < 0 || version > 0xffffffff) return null;
    const infoRaw = await this.readCommitted(stateKeys.version(name, version));
    if (infoRaw === null) return null;
    // Sources are large and rarely read: straight from RocksDB, not through the cache.
    const sourcesRaw = await this.store.getState(stateKeys.sources(name, version));
    return {
      info: decode(ContractVersionInfo, infoRaw, "contract version"),
      sources: sourcesRaw === null ? [] : decode(SourceList, sourcesRaw, "contract sources"),
    };
  }

  async getState(contract: string, key: Uint8Array): Promise<Uint8Array | null> {
    if (!validName(contract)) return null;
    return this.readCommitted(stateKeys.storage(stateKeys.storagePrefix(contract), key));
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
    if (q.contract === BUILTIN_BANK || q.contract === BUILTIN_DEPLOY) {
      return { status: "invalid", gasUsed: 0n, output: EMPTY, error: `built-in ${q.contract} cannot be queried` };
    }
    if (!validName(q.contract)) return { status: "invalid", gasUsed: 0n, output: EMPTY, error: `unknown contract ${q.contract} version ${q.version}` };
    if (q.invoker !== undefined && q.invoker.length !== 32) return { status: "invalid", gasUsed: 0n, output: EMPTY, error: "invoker must be 32 bytes" };
    const gasLimit = q.gasLimit === undefined || q.gasLimit > this.queryGasCap ? this.queryGasCap : q.gasLimit;
    for (let restart = 0; ; restart++) {
      const epoch = this.epoch;
      const view = new StateView(this, []);
      const infoRaw = await view.read(stateKeys.version(q.contract, q.version));
      if (infoRaw === null) return { status: "invalid", gasUsed: 0n, output: EMPTY, error: `unknown contract ${q.contract} version ${q.version}` };
      const info = decode(ContractVersionInfo, infoRaw, "contract version");
      const result = await this.callVm(view, info, stateKeys.storagePrefix(info.name), q.method, q.input, q.invoker ?? ZERO32, ZERO32, gasLimit);
      if (epoch === this.epoch || restart >= MAX_QUERY_RESTARTS) {
        const o = toOutcome(result, gasLimit);
        return { status: o.status, gasUsed: o.gasUsed, output: o.output, error: o.error };
      }
      this.stats.queryRestarts++;
    }
  }

  // ---- lifecycle ---------------------------------------------------------------------------------------

  private checkOpen(): void {
    if (this.closed) throw new ExecError("closed", "executor is closed");
  }

  /** Drops speculative results and waits for a running execution or commit. Does not close the store. */
  async close(): Promise<void> {
    await this.lock.run(async () => {
      this.closed = true;
      this.executed.clear();
      this.cache.clear();
    });
  }
}

function summary(n: ExecNode): ExecutedBlock {
  return {
    hash: n.hash,
    height: n.height,
    stateRoot: n.stateRoot,
    parentRoot: n.parentRoot,
    headerRootMatches: bytesEqual(n.block.header.stateRoot, n.parentRoot),
    receipts: n.receipts,
  };
}

function validName(name: string): boolean {
  return typeof name === "string" && /^[a-z][a-z0-9_-]{0,63}$/.test(name);
}

/** Deploy payload sources as the compiler takes them, or the reason they cannot be. */
function toContractSources(payload: DeployPayloadT): ContractSourcesInput | string {
  const files: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const f of payload.sources) {
    if (Object.hasOwn(files, f.path)) return `source path ${JSON.stringify(f.path)} appears twice`;
    files[f.path] = f.content;
  }
  if (!Object.hasOwn(files, payload.entry)) return `entry ${JSON.stringify(payload.entry)} is not one of the sources`;
  return { entry: payload.entry, files: { ...files } };
}

/** A contract run's outcome (gas including the intrinsic charge); its writes land on the overlay when it is ok. */
function contractOutcome(result: VmCallResult, vmGas: bigint, intrinsic: bigint, overlay: Overlay, prefix: Uint8Array): Outcome {
  const outcome = toOutcome(result, vmGas);
  outcome.gasUsed += intrinsic;
  if (outcome.status === "ok") {
    for (const w of outcome.writes) overlay.set(stateKeys.storage(prefix, w.key), w.value.length === 0 ? null : w.value);
  }
  return outcome;
}

/**
 * Normalizes a vm result into an outcome the receipt codec can hold: sorted reads and writes, and limits the
 * codec enforces turned into a deterministic trap rather than an encoding failure later.
 */
function toOutcome(r: VmCallResult, gasLimit: bigint): Outcome {
  const gasUsed = r.status === "out_of_gas" ? gasLimit : r.gasUsed > gasLimit ? gasLimit : r.gasUsed;
  // The vm returns both distinct and in key order; check that in one pass rather than sort again.
  const reads = strictlyAscending(r.reads) ? (r.reads as Uint8Array[]) : uniqueSorted(r.reads);
  let writes = r.writes as Array<{ key: Uint8Array; value: Uint8Array }>;
  if (!keysAscending(writes)) writes = [...writes].sort(byKey);
  let error: string | null = null;
  if (reads.length > LIMITS.maxReadsWrites || writes.length > LIMITS.maxReadsWrites) {
    error = `more than ${LIMITS.maxReadsWrites} distinct keys read or written`;
  } else if (longestKey(reads, writes) > LIMITS.maxKeyBytes) {
    error = `a state key exceeds ${LIMITS.maxKeyBytes} bytes`;
  } else if (largestValue(writes) > LIMITS.maxValueBytes) {
    error = `a state value exceeds ${LIMITS.maxValueBytes} bytes`;
  } else if (r.output.length > LIMITS.maxOutputBytes) {
    error = `output exceeds ${LIMITS.maxOutputBytes} bytes`;
  }
  if (error !== null) return { status: "trap", gasUsed, output: EMPTY, error, reads: [], writes: [] };
  return { status: r.status, gasUsed, output: r.output, error: r.error, reads, writes };
}

function byKey(a: { key: Uint8Array }, b: { key: Uint8Array }): number {
  return compareBytes(a.key, b.key);
}

function strictlyAscending(ks: readonly Uint8Array[]): boolean {
  for (let i = 1; i < ks.length; i++) if (compareBytes(ks[i - 1]!, ks[i]!) >= 0) return false;
  return true;
}

function keysAscending(ws: ReadonlyArray<{ key: Uint8Array }>): boolean {
  for (let i = 1; i < ws.length; i++) if (compareBytes(ws[i - 1]!.key, ws[i]!.key) >= 0) return false;
  return true;
}

/** Distinct keys in byte order. */
function uniqueSorted(ks: readonly Uint8Array[]): Uint8Array[] {
  if (ks.length === 0) return NONE;
  const m = new Map<string, Uint8Array>();
  for (const k of ks) m.set(keyString(k), k);
  // keyString order is byte order.
  const strs = [...m.keys()].sort();
  const out: Uint8Array[] = [];
  for (const str of strs) out.push(m.get(str)!);
  return out;
}

function longestKey(reads: readonly Uint8Array[], writes: ReadonlyArray<{ key: Uint8Array }>): number {
  let max = 0;
  for (const k of reads) if (k.length > max) max = k.length;
  for (const w of writes) if (w.key.length > max) max = w.key.length;
  return max;
}

function largestValue(writes: ReadonlyArray<{ value: Uint8Array }>): number {
  let max = 0;
  for (const w of writes) if (w.value.length > max) max = w.value.length;
  return max;
}
