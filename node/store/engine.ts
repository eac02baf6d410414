// The storage engine under a validator's Store: an ordered byte-keyed map with atomic batches and a per-write
// choice of durability. RocksDB (rocks.ts) is the one a validator runs on; MemoryEngine (memory-engine.ts)
// models crashes and I/O faults for the deterministic simulator. Store, ConsensusLog and verifyChain use the
// database through this interface only, so the simulator runs their real logic.
//
// Contract every engine keeps:
//  - keys are ordered by their bytes (unsigned, lexicographic; a prefix sorts first), as RocksDB's default
//    comparator orders them;
//  - a batch lands atomically: after a crash either all of its operations are there or none are;
//  - a write with sync=true is durable when its promise resolves, and so is every write that landed before it;
//    a crash may lose writes that were not followed by a synced one;
//  - values handed out are the caller's to keep (never a view of the engine's own buffers), and bytes handed
//    in may be reused by the caller as soon as the call returns;
//  - a failure rejects with StoreError ('io' when the medium failed, 'closed' after close or a crash); a
//    failed write changes nothing.

export interface BatchOp {
  readonly type: "put" | "del";
  readonly key: Uint8Array;
  /** Required for "put". */
  readonly value?: Uint8Array;
}

export interface IterateOptions {
  /** Inclusive lower bound. */
  gte?: Uint8Array;
  /** Exclusive upper bound. */
  lt?: Uint8Array;
  /** Highest key first. */
  reverse?: boolean;
  /** At most this many entries; negative or absent means no limit, 0 yields nothing. */
  limit?: number;
}

/**
 * A batch being filled: put/del copy the key and value bytes at once, so callers may reuse their buffers for
 * the next operation. Nothing lands until the engine that made it writes it (StorageEngine.write).
 */
export interface EngineBatch {
  /** Operations added so far. */
  readonly length: number;
  put(key: Uint8Array, value: Uint8Array): void;
  del(key: Uint8Array): void;
}

export interface StorageEngine {
  /** Where the data lives (a folder for RocksDB, a name for an in-memory disk), for messages. */
  readonly location: string;
  readonly isOpen: boolean;
  get(key: Uint8Array): Promise<Uint8Array | null>;
  /** Values of `keys` in their order (null where absent), read at one instant. */
  getMany(keys: readonly Uint8Array[]): Promise<Array<Uint8Array | null>>;
  put(key: Uint8Array, value: Uint8Array, sync: boolean): Promise<void>;
  /** All operations land together or not at all; `sync` makes them (and everything before) durable first. */
  batch(ops: readonly BatchOp[], sync: boolean): Promise<void>;
  /** An empty batch to fill and hand to this engine's write(); an abandoned batch needs no cleanup. */
  newBatch(): EngineBatch;
  /** Writes a batch made by this engine's newBatch() atomically; another engine's batch is a TypeError. */
  write(batch: EngineBatch, sync: boolean): Promise<void>;
  /**
   * Entries in key order over [gte, lt) as of the first step of the iteration (a snapshot: later writes are
   * not seen). Stopping early (break, return) releases whatever the iteration held.
   */
  iterate(options?: IterateOptions): AsyncGenerator<[Uint8Array, Uint8Array]>;
  /** Idempotent. Operations after it reject with StoreError 'closed'. */
  close(): Promise<void>;
}
