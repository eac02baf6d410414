// A validator's database: blocks, the committed chain, QCs, receipts and their indexes, the committed world
// state, per-height state roots, the last applied height and the consensus safety state, in one storage
// engine (RocksDB on a validator, the in-memory engine in the simulator).
//
// Invariants this class keeps (whoever calls it):
//  - the committed chain is append-only: a height, once committed, never names another block;
//  - a block's execution results (state, receipts, indexes, state root) land in ONE write batch together with
//    the last applied height, so after a crash either all of a block's effects are there or none are;
//  - execution results are applied in height order, on top of exactly the previous applied height;
//  - writes are serialized in this process, so a check-then-write (append-only, the receipt-by-id rule) is atomic;
//  - after a write fails with an I/O error, every later write is refused: what is durable is then unknown
//    (a failed fsync may have dropped earlier writes that a later fsync would not bring back).

import { Writer, encode, encodingOf } from "../codec/codec.ts";
import { bytesEqual, compareBytes, toHex } from "../codec/hex.ts";
import { Block, QuorumCertificate, Receipt, type Block as BlockT, type QuorumCertificate as QcT, type Receipt as ReceiptT } from "../codec/types.ts";
import { blockHash } from "../crypto/digests.ts";
import type { BatchOp, IterateOptions, StorageEngine } from "./engine.ts";
import { StoreError, decodeStored } from "./errors.ts";
import { META, STORE_FORMAT, TABLE, keys, prefixEnd, readU32be, readU64be, u32be, u64be } from "./keys.ts";
import { RocksDb } from "./rocks.ts";

const RECENT_HEIGHTS = 64;
/** Bound on Store.storedBlocks: far more than the uncommitted blocks a validator holds at once. */
const MAX_STORED_BLOCKS_NOTED = 4096;

export interface StoreOptions {
  /** fsync the batch that commits a block and its execution results (default true). */
  syncCommits?: boolean;
  /** fsync writes of the consensus safety state (default true: a vote must never outlive a lost safety state). */
  syncSafety?: boolean;
  /** fsync blocks stored before commit (persistBlock; default false: they can be fetched again from peers). */
  syncBlocks?: boolean;
  /** RocksDB block cache bytes (Store.open only). */
  cacheSize?: number;
}

export interface AppliedState {
  readonly height: bigint;
  /** root(B) of the block at `height`: what the next block's header must carry. */
  readonly stateRoot: Uint8Array;
}

export interface StateWrite {
  readonly key: Uint8Array;
  /** null deletes the key. */
  readonly value: Uint8Array | null;
}

/** Everything one block's commit writes, in one batch. */
export interface CommitRecord {
  readonly block: BlockT;
  /** The QC certifying this block, when known (stored under 'Q'). */
  readonly qc: QcT | null;
  /** root(block), the state root after applying it. */
  readonly stateRoot: Uint8Array;
  /** The block's complete state write set (any order; it is one batch). */
  readonly state: readonly StateWrite[];
  /** Receipts in block order (receipt.index === position). */
  readonly receipts: readonly ReceiptT[];
}

export interface ReceiptLocation {
  readonly height: bigint;
  readonly index: number;
}

export class Store {
  private writeChain: Promise<unknown> = Promise.resolve();
  /** Safety-state writes, ordered among themselves but never queued behind a block commit (see putSafety). */
  private safetyChain: Promise<unknown> = Promise.resolve();
  // What this store last wrote, so a commit need not read it back (each RocksDB get costs the event loop
  // ~0.1 ms under write load). Heights and the applied record are written only by the serialized methods
  // below, which keep these in step; undefined/null means "read it from disk".
  private tip: { height: bigint; hash: Uint8Array } | null = null;
  /**
   * The last RECENT_HEIGHTS committed (height, hash) pairs, by height modulo their number. A validator asks
   * for the hash at a just-committed height every view (pruning), and the chain index is append-only, so a
   * remembered pair never goes stale.
   */
  private readonly recent: Array<{ height: bigint; hash: Uint8Array } | undefined> = new Array(RECENT_HEIGHTS);
  private applied: AppliedState | null | undefined = undefined;
  /**
   * Blocks (by hash, hex) whose bytes a write of this store has landed under 'B' and that nothing has asked to
   * delete since: committing one writes its indexes only. Writing its 10-20 KB again cost every byte twice in
   * the WAL, the memtable, flushes and compactions. A landed write precedes the commit's synced batch in the
   * WAL, so that fsync makes it durable too. Forgetting is always safe (the bytes are written again), so the
   * set is cleared when it grows past its bound and starts empty after a restart.
   */
  private readonly storedBlocks = new Set<string>();
  private readonly syncCommits: boolean;
  private readonly syncSafety: boolean;
  private readonly syncBlocks: boolean;
  /** Buffers and encoder reused by commits (serialized, so never shared between two at once). */
  private readonly scratch = new CommitScratch();
  private writer = new Writer(4096);
  /** The first I/O failure of a write; once set, every write is refused (see the invariants above). */
  private failure: StoreError | null = null;

  private constructor(
    readonly db: StorageEngine,
    options: StoreOptions,
  ) {
    this.syncCommits = options.syncCommits ?? true;
    this.syncSafety = options.syncSafety ?? true;
    this.syncBlocks = options.syncBlocks ?? false;
  }

  /** Opens (creating if missing) the RocksDB database in the folder `path`. */
  static async open(path: string, options: StoreOptions = {}): Promise<Store> {
    const db = await RocksDb.open(path, { createIfMissing: true, ...(options.cacheSize !== undefined ? { cacheSize: options.cacheSize } : {}) });
    return Store.openOn(db, options);
  }

  /**
   * A store on an open engine, which it then owns: Store.close() closes it, and so does a failed open.
   * Checks (or, on an empty database, writes) the layout version.
   */
  static async openOn(engine: StorageEngine, options: StoreOptions = {}): Promise<Store> {
    const store = new Store(engine, options);
    try {
      const format = await engine.get(keys.meta(META.format));
      if (format === null) await engine.put(keys.meta(META.format), u32be(STORE_FORMAT), true);
      else if (format.length !== 4 || readU32be(format) !== STORE_FORMAT) {
        throw new StoreError("corrupt_chain", `database at ${engine.location} has layout version ${format.length === 4 ? readU32be(format) : "?"}, this build reads ${STORE_FORMAT}`);
      }
    } catch (e) {
      try {
        await engine.close();
      } catch (closeError) {
        throw new StoreError("io", `${(e as Error).message}; closing the database afterwards failed too: ${(closeError as Error).message}`, null, { cause: e });
      }
      throw e;
    }
    return store;
  }

  get path(): string {
    return this.db.location;
  }

  async close(): Promise<void> {
    // Let queued writes finish first: closing under a pending batch would lose it. Their failures were
    // already reported to whoever issued them, so here they only mean "settled".
    await this.writeChain.catch(() => undefined);
    await this.safetyChain.catch(() => undefined);
    await this.db.close();
  }

  /**
   * Runs `fn` after every earlier write of this store has settled, so check-then-write sequences are atomic.
   * The chain only orders: a failure reaches the caller through the returned promise.
   */
  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writeChain.then(fn, fn);
    this.writeChain = run.catch(() => undefined);
    return run;
  }

  /** Throws when an earlier write failed (see `failure`). */
  private checkWritable(): void {
    if (this.failure !== null) {
      throw new StoreError("io", `database at ${this.path} refuses writes after an earlier write failed: ${this.failure.message}`, null, { cause: this.failure });
    }
  }

  /** Records a write's failure (an I/O one fails the store) and returns it to throw. */
  private failed(e: unknown): unknown {
    if (e instanceof StoreError && e.code === "io" && this.failure === null) this.failure = e;
    return e;
  }

  /** Writes `ops` in one batch, refused after an earlier write failed (for ConsensusLog's tables). */
  async writeOps(ops: readonly BatchOp[], sync: boolean): Promise<void> {
    this.checkWritable();
    try {
      await this.db.batch(ops, sync);
    } catch (e) {
      throw this.failed(e);
    }
  }

  /** One put, refused after an earlier write failed. */
  private async putOne(key: Uint8Array, value: Uint8Array, sync: boolean): Promise<void> {
    this.checkWritable();
    try {
      await this.db.put(key, value, sync);
    } catch (e) {
      throw this.failed(e);
    }
  }

  // ---- genesis binding ---------------------------------------------------------------------------------

  async genesisHash(): Promise<Uint8Array | null> {
    return this.db.get(keys.meta(META.genesis));
  }

  /** Records which chain this database belongs to; refuses a database of another chain. */
  bindGenesis(hash: Uint8Array): Promise<void> {
    return this.serialize(async () => {
      const existing = await this.db.get(keys.meta(META.genesis));
      if (existing === null) await this.putOne(keys.meta(META.genesis), hash, true);
      else if (!bytesEqual(existing, hash)) {
        throw new StoreError("genesis_mismatch", `database at ${this.path} belongs to genesis ${toHex(existing)}, not ${toHex(hash)}`);
      }
    });
  }

  // ---- blocks ------------------------------------------------------------------------------------------

  /** Stores a block by its hash (certified or proposed blocks, before commit). Returns the hash. */
  async putBlock(block: BlockT): Promise<Uint8Array> {
    const hash = blockHash(block.header);
    await this.putOne(keys.block(hash), encodingOf(Block, block), this.syncBlocks);
    this.noteBlockStored(hash);
    return hash;
  }

  /** Records that a write of this store which put `hash`'s bytes under 'B' has landed (see storedBlocks). */
  noteBlockStored(hash: Uint8Array): void {
    if (this.storedBlocks.size >= MAX_STORED_BLOCKS_NOTED) this.storedBlocks.clear();
    this.storedBlocks.add(toHex(hash));
  }

  /** Call before asking to delete `hash`'s bytes (or when they no longer matter): a commit will write them. */
  forgetBlockStored(hash: Uint8Array): void {
    this.storedBlocks.delete(toHex(hash));
  }

  async getBlock(hash: Uint8Array): Promise<BlockT | null> {
    const raw = await this.db.get(keys.block(hash));
    return raw === null ? null : decodeStored(Block, raw, "stored block");
  }

  /** The raw stored encoding of a block (what verifyChain re-hashes). */
  getBlockBytes(hash: Uint8Array): Promise<Uint8Array | null> {
    return this.db.get(keys.block(hash));
  }

  blockHashAt(height: bigint): Promise<Uint8Array | null> {
    const r = this.recent[Number(height % BigInt(RECENT_HEIGHTS))];
    if (r !== undefined && r.height === height) return Promise.resolve(r.hash);
    return this.db.get(keys.height(height));
  }

  async blockAt(height: bigint): Promise<BlockT | null> {
    const hash = await this.blockHashAt(height);
    return hash === null ? null : this.getBlock(hash);
  }

  /** The highest committed height and its block hash, or null on an empty database. */
  async committedHead(): Promise<{ height: bigint; hash: Uint8Array } | null> {
    for await (const [k, v] of this.db.iterate({ gte: keys.table(TABLE.height), lt: keys.table(TABLE.height + 1), reverse: true, limit: 1 })) {
      return { height: readU64be(k, 1), hash: v };
    }
    return null;
  }

  async qcAt(height: bigint): Promise<QcT | null> {
    const raw = await this.db.get(keys.qc(height));
    return raw === null ? null : decodeStored(QuorumCertificate, raw, "stored QC");
  }

  /**
   * Records `block` as committed at its height (block, chain index, QC) without execution results: the
   * executor applies it later (on start it re-executes every committed-but-unapplied block).
   * Idempotent for the same block; a different block at a committed height is StoreError 'chain_conflict'.
   */
  appendCommitted(block: BlockT, qc: QcT | null): Promise<Uint8Array> {
    return this.serialize(async () => {
      const hash = blockHash(block.header);
      const ops = await this.commitIndexOps(block, hash, qc);
      await this.writeOps(ops, this.syncCommits);
      this.noteTip(block.header.height, hash);
      return hash;
    });
  }

  private async commitIndexOps(block: BlockT, hash: Uint8Array, qc: QcT | null): Promise<BatchOp[]> {
    const height = block.header.height;
    // Right above the height this store committed last, the height is free and the parent is known.
    const afterTip = this.tip !== null && this.tip.height + 1n === height;
    const existing = afterTip ? null : await this.db.get(keys.height(height));
    if (existing !== null && !bytesEqual(existing, hash)) {
      throw new StoreError(
        "chain_conflict",
        `height ${height} is committed as block ${toHex(existing)}; refusing to overwrite it with ${toHex(hash)}`,
        height,
      );
    }
    if (height > 0n) {
      const parent = afterTip ? this.tip!.hash : await this.db.get(keys.height(height - 1n));
      if (parent === null) {
        throw new StoreError("chain_conflict", `cannot commit height ${height}: height ${height - 1n} is not committed`, height);
      }
      if (!bytesEqual(parent, block.header.parentHash)) {
        throw new StoreError(
          "chain_conflict",
          `block ${toHex(hash)} at height ${height} has parent ${toHex(block.header.parentHash)}, but height ${height - 1n} is ${toHex(parent)}`,
          height,
        );
      }
    }
    const genesisQc = height === 0n && qc !== null && qc.view === 0n && qc.signatures.length === 0 && qc.blockHash.every((b) => b === 0);
    if (qc !== null && !genesisQc && !bytesEqual(qc.blockHash, hash)) {
      throw new StoreError("chain_conflict", `the QC for height ${height} certifies ${toHex(qc.blockHash)}, not ${toHex(hash)}`, height);
    }
    const ops: BatchOp[] = [{ type: "put", key: keys.height(height), value: hash }];
    // Bytes already under 'B' (the block was stored uncommitted) stay; only a block never stored here is written.
    if (!this.storedBlocks.delete(toHex(hash))) ops.push({ type: "put", key: keys.block(hash), value: encodingOf(Block, block) });
    if (qc !== null) ops.push({ type: "put", key: keys.qc(height), value: encode(QuorumCertificate, qc) });
    return ops;
  }

  // ---- execution results -------------------------------------------------------------------------------

  async lastApplied(): Promise<AppliedState | null> {
    if (this.applied !== undefined) return this.applied;
    const raw = await this.db.get(keys.meta(META.applied));
    if (raw === null) return null;
    if (raw.length !== 40) throw new StoreError("corrupt_chain", `last applied record has ${raw.length} bytes, expected 40`);
    return { height: readU64be(raw, 0), stateRoot: raw.slice(8) };
  }

  private noteTip(height: bigint, hash: Uint8Array): void {
    this.recent[Number(height % BigInt(RECENT_HEIGHTS))] = { height, hash };
    if (this.tip === null || height > this.tip.height) this.tip = { height, hash };
  }

  stateRootAt(height: bigint): Promise<Uint8Array | null> {
    return this.db.get(keys.root(height));
  }

  /**
   * Commits a block with its execution results in ONE write batch: block, chain index, QC, state writes,
   * receipts, receipt and nonce indexes, state root and the last applied height.
   * The block must extend the last applied height by one (or be height 0 on an empty state).
   *
   * Receipt-by-id index: a non-rejected receipt always owns its id's entry (it is the run that consumed the
   * nonce, and an id can run non-rejected at most once). A rejected receipt indexes its id only when no entry
   * exists yet and no other receipt of this block claims it, so a replayed duplicate never hides the receipt
   * of the invocation that did run, and an id that was rejected first and ran later points at the run.
   */
  commitExecuted(record: CommitRecord): Promise<void> {
    return this.serialize(async () => {
      const { block, receipts } = record;
      const height = block.header.height;
      const hash = blockHash(block.header);
      const applied = await this.lastApplied();
      const expected = applied === null ? 0n : applied.height + 1n;
      if (height !== expected) {
        throw new StoreError(
          "chain_conflict",
          `cannot apply block at height ${height}: the state is at ${applied === null ? "nothing (empty)" : `height ${applied.height}`}`,
          height,
        );
      }
      const ops = await this.commitIndexOps(block, hash, record.qc);
      for (let i = 0; i < receipts.length; i++) {
        const r = receipts[i]!;
        if (r.index !== i || r.height !== height) {
          throw new StoreError("chain_conflict", `receipt ${i} of height ${height} is labelled (${r.height}, ${r.index})`, height);
        }
      }
      const indexesRejected = await this.rejectedThatIndex(receipts);
      this.checkWritable();

      const batch = this.db.newBatch();
      for (const op of ops) {
        if (op.type === "put") batch.put(op.key, op.value!);
        else batch.del(op.key);
      }
      const k = this.scratch;
      for (const w of record.state) {
        const key = k.state(w.key);
        if (w.value === null) batch.del(key);
        else batch.put(key, w.value);
      }
      k.setHeight(height);
      const w = this.writer;
      // Table by table and, within the two indexes of random keys, in key order: RocksDB's memtable resumes each
      // insert from where the last one landed, so neighbouring keys skip most of the skiplist's search. Scratch
      // benchmark of commit-shaped batches (flushes and compactions included): grouped by table took 10-15%
      // less CPU than receipt by receipt, and sorting the indexes 20-27% less again.
      for (let i = 0; i < receipts.length; i++) {
        w.reset();
        Receipt.write(w, receipts[i]!);
        batch.put(k.receipt(i), w.bytes());
      }
      const indexed: number[] = [];
      for (let i = 0; i < receipts.length; i++) if (receipts[i]!.status !== "rejected" || indexesRejected!.has(i)) indexed.push(i);
      // Stable, and each id is indexed at most once (rejectedThatIndex), so the order changes no outcome.
      indexed.sort((a, b) => compareBytes(receipts[a]!.id, receipts[b]!.id));
      for (const i of indexed) batch.put(k.receiptById(receipts[i]!.id), k.location(i));
      const accepted: number[] = [];
      for (let i = 0; i < receipts.length; i++) if (receipts[i]!.status !== "rejected") accepted.push(i);
      const invs = block.invocations;
      accepted.sort((a, b) => compareBytes(invs[a]!.invoker, invs[b]!.invoker) || (invs[a]!.nonce < invs[b]!.nonce ? -1 : invs[a]!.nonce > invs[b]!.nonce ? 1 : 0));
      for (const i of accepted) {
        const inv = invs[i]!;
        batch.put(inv.invoker.length === 32 ? k.nonce(inv.invoker, inv.nonce) : keys.nonce(inv.invoker, inv.nonce), receipts[i]!.id);
      }
      batch.put(keys.root(height), record.stateRoot);
      const appliedBytes = new Uint8Array(40);
      appliedBytes.set(u64be(height), 0);
      appliedBytes.set(record.stateRoot, 8);
      batch.put(keys.meta(META.applied), appliedBytes);
      // One huge receipt must not pin its encoding buffer for the life of the store.
      if (w.capacity > 4 * 1024 * 1024) this.writer = new Writer(4096);
      try {
        await this.db.write(batch, this.syncCommits);
      } catch (e) {
        throw this.failed(e);
      }
      this.noteTip(height, hash);
      this.applied = { height, stateRoot: record.stateRoot };
    });
  }

  /** Positions of the rejected receipts that take their id's index entry (see commitExecuted); null when none is rejected. */
  private async rejectedThatIndex(receipts: readonly ReceiptT[]): Promise<Set<number> | null> {
    const rejected: number[] = [];
    for (let i = 0; i < receipts.length; i++) if (receipts[i]!.status === "rejected") rejected.push(i);
    if (rejected.length === 0) return null;
    const known = await this.db.getMany(rejected.map((i) => keys.receiptById(receipts[i]!.id)));
    const claimed = new Set<string>();
    for (const r of receipts) if (r.status !== "rejected") claimed.add(toHex(r.id));
    const out = new Set<number>();
    rejected.forEach((i, j) => {
      const idHex = toHex(receipts[i]!.id);
      if (known[j] === null && !claimed.has(idHex)) {
        claimed.add(idHex);
        out.add(i);
      }
    });
    return out;
  }

  /**
   * Deletes every execution result (state, receipts, indexes, roots, last applied) and keeps the chain, so the
   * executor rebuilds them from the committed blocks on its next start.
   */
  resetExecution(): Promise<void> {
    return this.serialize(async () => {
      for (const table of [TABLE.state, TABLE.receipt, TABLE.receiptById, TABLE.nonceIndex, TABLE.root]) {
        let ops: BatchOp[] = [];
        for await (const [k] of this.db.iterate({ gte: keys.table(table), lt: keys.table(table + 1) })) {
          ops.push({ type: "del", key: k });
          if (ops.length >= 1000) {
            await this.writeOps(ops, false);
            ops = [];
          }
        }
        await this.writeOps(ops, false);
      }
      this.applied = undefined;
      await this.writeOps([{ type: "del", key: keys.meta(META.applied) }], true);
    });
  }

  // ---- receipts ----------------------------------------------------------------------------------------

  async receiptLocation(id: Uint8Array): Promise<ReceiptLocation | null> {
    const raw = await this.db.get(keys.receiptById(id));
    if (raw === null) return null;
    if (raw.length !== 12) throw new StoreError("corrupt_chain", `receipt index entry of ${toHex(id)} has ${raw.length} bytes, expected 12`);
    return { height: readU64be(raw, 0), index: readU32be(raw, 8) };
  }

  async receiptById(id: Uint8Array): Promise<ReceiptT | null> {
    const loc = await this.receiptLocation(id);
    return loc === null ? null : this.receiptAt(loc.height, loc.index);
  }

  async receiptAt(height: bigint, index: number): Promise<ReceiptT | null> {
    const raw = await this.db.get(keys.receipt(height, index));
    return raw === null ? null : decodeStored(Receipt, raw, "stored receipt");
  }

  async receiptsOfBlock(height: bigint): Promise<ReceiptT[]> {
    const prefix = keys.receiptsOf(height);
    const out: ReceiptT[] = [];
    for await (const [, v] of this.db.iterate({ gte: prefix, lt: prefixEnd(prefix)! })) out.push(decodeStored(Receipt, v, "stored receipt"));
    return out;
  }

  /** Ids of an account's accepted invocations with nonce in [fromNonce, fromNonce + limit). */
  async invocationsOf(invoker: Uint8Array, fromNonce = 0n, limit = 100): Promise<Array<{ nonce: bigint; id: Uint8Array }>> {
    const prefix = keys.nonceOf(invoker);
    const out: Array<{ nonce: bigint; id: Uint8Array }> = [];
    for await (const [k, v] of this.db.iterate({ gte: keys.nonce(invoker, fromNonce), lt: prefixEnd(prefix)!, limit })) {
      out.push({ nonce: readU64be(k, 33), id: v });
    }
    return out;
  }

  // ---- state -------------------------------------------------------------------------------------------

  getState(stateKey: Uint8Array): Promise<Uint8Array | null> {
    return this.db.get(keys.state(stateKey));
  }

  getStateMany(stateKeys: readonly Uint8Array[]): Promise<Array<Uint8Array | null>> {
    return this.db.getMany(stateKeys.map((k) => keys.state(k)));
  }

  /** Committed state entries whose state key starts with `prefix`, in key order (keys without the table byte). */
  async *iterateState(prefix: Uint8Array = new Uint8Array(0), options: { limit?: number; after?: Uint8Array } = {}): AsyncGenerator<[Uint8Array, Uint8Array]> {
    const full = keys.state(prefix);
    const range: IterateOptions = { gte: options.after ? nextKey(keys.state(options.after)) : full, lt: prefixEnd(full)!, limit: options.limit ?? -1 };
    for await (const [k, v] of this.db.iterate(range)) yield [k.subarray(1), v];
  }

  // ---- consensus safety state --------------------------------------------------------------------------

  /**
   * Durable (fsynced unless configured otherwise) before it resolves: votes are sent only after this.
   * A vote leaves only after this resolves, so it sits on every view's critical path. It is one key no
   * check-then-write depends on: queueing it behind a commit batch (and that batch's fsync) only added
   * milliseconds to every view. `alongside` are written in the same batch (the blocks the same step of the core
   * asked to store: one WAL write and one fsync instead of two writes).
   */
  putSafety(state: Uint8Array, alongside: readonly BatchOp[] = []): Promise<void> {
    const run = this.safetyChain.then(() =>
      alongside.length === 0
        ? this.putOne(keys.safety(), state, this.syncSafety)
        : this.writeOps([{ type: "put", key: keys.safety(), value: state }, ...alongside], this.syncSafety),
    );
    // Orders only: a failure reaches the caller through `run`.
    this.safetyChain = run.catch(() => undefined);
    return run;
  }

  getSafety(): Promise<Uint8Array | null> {
    return this.db.get(keys.safety());
  }
}

/**
 * Keys and small values of one commit, built in buffers reused from one operation to the next: a WriteBatch
 * copies what it is given, so a block's thousands of index entries need no allocation each.
 */
class CommitScratch {
  private readonly receiptKey = new Uint8Array(13);
  private readonly receiptView = new DataView(this.receiptKey.buffer);
  private readonly idKey = new Uint8Array(33);
  private readonly locationValue = new Uint8Array(12);
  private readonly locationView = new DataView(this.locationValue.buffer);
  private readonly nonceKey = new Uint8Array(41);
  private readonly nonceView = new DataView(this.nonceKey.buffer);
  private stateKey = new Uint8Array(256);

  constructor() {
    this.receiptKey[0] = TABLE.receipt;
    this.idKey[0] = TABLE.receiptById;
    this.nonceKey[0] = TABLE.nonceIndex;
  }

  setHeight(height: bigint): void {
    this.receiptView.setBigUint64(1, height, false);
    this.locationView.setBigUint64(0, height, false);
  }

  /** 'R' ++ u64be(height) ++ u32be(index), height from setHeight. */
  receipt(index: number): Uint8Array {
    this.receiptView.setUint32(9, index, false);
    return this.receiptKey;
  }

  /** u64be(height) ++ u32be(index), height from setHeight. */
  location(index: number): Uint8Array {
    this.locationView.setUint32(8, index, false);
    return this.locationValue;
  }

  /** 'I' ++ id (32 bytes). */
  receiptById(id: Uint8Array): Uint8Array {
    this.idKey.set(id, 1);
    return this.idKey;
  }

  /** 'N' ++ invoker (32 bytes) ++ u64be(nonce). */
  nonce(invoker: Uint8Array, nonce: bigint): Uint8Array {
    this.nonceKey.set(invoker, 1);
    this.nonceView.setBigUint64(33, nonce, false);
    return this.nonceKey;
  }

  /** 'S' ++ stateKey, as a view of exactly that length. */
  state(stateKey: Uint8Array): Uint8Array {
    if (stateKey.length + 1 > this.stateKey.length) {
      this.stateKey = new Uint8Array(Math.max(stateKey.length + 1, this.stateKey.length * 2));
    }
    this.stateKey[0] = TABLE.state;
    this.stateKey.set(stateKey, 1);
    return this.stateKey.subarray(0, stateKey.length + 1);
  }
}

/** The smallest key after `k` (k ++ 0x00). */
function nextKey(k: Uint8Array): Uint8Array {
  const out = new Uint8Array(k.length + 1);
  out.set(k, 0);
  return out;
}
