// The StorageEngine a validator runs on: promise wrappers over the `rocksdb` package's callback API
// (abstract-leveldown 7). Keys and values are always bytes; this file is the only place that knows the
// binding's shapes and its error conventions.

import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { getPriority, setPriority } from "node:os";
import { ON_HEAP_MAX_BYTES, OffHeapScratch } from "../offheap.ts";
import type { BatchOp, EngineBatch, IterateOptions, StorageEngine } from "./engine.ts";
import { StoreError } from "./errors.ts";

type Callback<T = void> = (err: Error | null | undefined, value?: T) => void;

interface RawIterator {
  next(cb: (err: Error | null | undefined, key?: Buffer, value?: Buffer) => void): void;
  end(cb: Callback): void;
}

/** The package's native binding (rocksdb 5.2.1, pinned), used for chained batches without per-op wrappers. */
interface RawBinding {
  batch_init(context: unknown): unknown;
  batch_put(batch: unknown, key: Uint8Array, value: Uint8Array): void;
  batch_del(batch: unknown, key: Uint8Array): void;
  batch_write(batch: unknown, options: { sync: boolean }, cb: Callback): void;
}

interface RawDb {
  status: string;
  /** The binding's handle of this database. */
  context: unknown;
  open(options: Record<string, unknown>, cb: Callback): void;
  close(cb: Callback): void;
  get(key: Buffer, options: Record<string, unknown>, cb: Callback<Buffer>): void;
  getMany(keys: Buffer[], options: Record<string, unknown>, cb: Callback<Array<Buffer | undefined>>): void;
  put(key: Buffer, value: Buffer, options: Record<string, unknown>, cb: Callback): void;
  del(key: Buffer, options: Record<string, unknown>, cb: Callback): void;
  iterator(options: Record<string, unknown>): RawIterator;
}

const require = createRequire(import.meta.url);
const rocksdb = require("rocksdb") as (location: string) => RawDb;
const binding = require("rocksdb/binding") as RawBinding;

export interface RocksOpenOptions {
  createIfMissing?: boolean;
  errorIfExists?: boolean;
  /** Block cache size in bytes (RocksDB's own cache, not Cairn's state cache). */
  cacheSize?: number;
  /** Bytes of one memtable before it is flushed to a level-0 file (default WRITE_BUFFER_BYTES). */
  writeBufferSize?: number;
}

/**
 * Memtable size. The binding's default is LevelDB's 4 MiB: under load that flushes every couple of seconds
 * and each level-0 compaction then rewrites all of level 1 (ids and hashes are random keys, so every file
 * overlaps), which took about 7% of a loaded 4-validator machine. 16 MiB compacts a quarter as often; much
 * larger memtables cost more than they save, because every insert walks a deeper skiplist (64 MiB measured
 * no better than 4). bench:cluster, three alternating runs: 707 -> 681 us of validator CPU per invocation.
 */
export const WRITE_BUFFER_BYTES = 16 << 20;

/**
 * How much lower than the process's own CPU priority (in nice steps) RocksDB's compaction threads run.
 * Validators write the same data, so validators sharing a machine compact at the same moment, and a level-0
 * compaction rewrites all of level 1 (random keys overlap every file): seconds of CPU that, at the event
 * loops' priority, stalled consensus for everyone at once (bench:cluster, three alternating pairs at batches
 * of 80: p99 186/198/194 ms as it was, 152/158/165 at nice 10, throughput no lower). At nice 10 compaction
 * still keeps up on a saturated machine: over 150 s of load level 0 held at most 5 files and RocksDB counted
 * no write stall. RocksDB can do this itself (Env::LowerThreadPoolCPUPriority); the binding does not expose it.
 */
export const COMPACTION_NICE = 10;

/**
 * Lowers RocksDB's compaction threads (its thread pool names them "rocksdb:low<i>") to COMPACTION_NICE below
 * the calling thread. Linux only, where threads are listed under /proc/self/task and setpriority takes a
 * thread id; elsewhere, or if anything here fails, nothing changes: priority is never a reason not to open.
 */
function lowerCompactionPriority(): void {
  if (process.platform !== "linux") return;
  let tids: string[];
  try {
    tids = readdirSync("/proc/self/task");
  } catch {
    return; // a /proc we may not read
  }
  const target = Math.min(19, getPriority() + COMPACTION_NICE);
  for (const tid of tids) {
    try {
      if (!readFileSync(`/proc/self/task/${tid}/comm`, "utf8").startsWith("rocksdb:low")) continue;
      // Every open comes here; a thread lowered by an earlier one stays where it is.
      if (getPriority(Number(tid)) < target) setPriority(Number(tid), target);
    } catch {
      // The thread exited between the listing and here.
    }
  }
}

/**
 * A RocksDB WriteBatch being filled: put/del copy the key and value bytes into the native batch at once, so
 * callers may reuse their buffers for the next operation. Nothing lands until RocksDb.write(batch).
 */
export class WriteBatch implements EngineBatch {
  private count = 0;

  /** @internal use RocksDb.newBatch(). */
  constructor(readonly handle: unknown) {}

  /** Operations added so far. */
  get length(): number {
    return this.count;
  }

  put(key: Uint8Array, value: Uint8Array): void {
    // The binding would store anything that is not bytes as an empty slice: refuse it here instead.
    if (!(key instanceof Uint8Array) || !(value instanceof Uint8Array)) throw new TypeError("WriteBatch.put takes a Uint8Array key and value");
    // The binding copies plain Uint8Arrays (any ArrayBufferView is a buffer to N-API); no Buffer wrapper needed.
    binding.batch_put(this.handle, keyScratch.view(key), valueScratch.view(value));
    this.count++;
  }

  del(key: Uint8Array): void {
    if (!(key instanceof Uint8Array)) throw new TypeError("WriteBatch.del takes a Uint8Array key");
    binding.batch_del(this.handle, keyScratch.view(key));
    this.count++;
  }
}

/** Short keys and values (most of them) pass to the binding through these; it copies them at once. */
const keyScratch = new OffHeapScratch();
const valueScratch = new OffHeapScratch();

/** A Buffer of the bytes, as the binding wants; a short array is copied into Buffer's pool (see offheap.ts). */
function buf(b: Uint8Array): Buffer {
  if (Buffer.isBuffer(b)) return b;
  return b.length <= ON_HEAP_MAX_BYTES ? Buffer.from(b) : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** A plain Uint8Array copy: callers keep values around and compare them; a Buffer view would pin the slab. */
function bytesOf(b: Buffer): Uint8Array {
  return new Uint8Array(b);
}

function isNotFound(err: Error): boolean {
  return (err as { notFound?: boolean }).notFound === true || /NotFound/i.test(err.message);
}

function ioError(what: string, err: Error): StoreError {
  return new StoreError("io", `${what}: ${err.message}`, null, { cause: err });
}

export class RocksDb implements StorageEngine {
  private readonly db: RawDb;
  private closed = false;

  private constructor(
    readonly location: string,
    db: RawDb,
  ) {
    this.db = db;
  }

  static async open(location: string, options: RocksOpenOptions = {}): Promise<RocksDb> {
    const raw = rocksdb(location);
    await new Promise<void>((resolve, reject) => {
      raw.open(
        {
          createIfMissing: options.createIfMissing ?? true,
          errorIfExists: options.errorIfExists ?? false,
          // What Cairn stores is mostly hashes, signatures and public keys, which barely compress, while snappy
          // took about 1% of a loaded machine's CPU (perf under bench:cluster). Disk is the cheaper resource.
          compression: false,
          writeBufferSize: options.writeBufferSize ?? WRITE_BUFFER_BYTES,
          ...(options.cacheSize !== undefined ? { cacheSize: options.cacheSize } : {}),
        },
        (err) => (err ? reject(ioError(`cannot open RocksDB at ${location}`, err)) : resolve()),
      );
    });
    lowerCompactionPriority();
    return new RocksDb(location, raw);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  private closedError(): StoreError {
    return new StoreError("closed", `RocksDB at ${this.location} is closed`);
  }

  get(key: Uint8Array): Promise<Uint8Array | null> {
    if (this.closed) return Promise.reject(this.closedError());
    return new Promise((resolve, reject) => {
      this.db.get(buf(key), { asBuffer: true }, (err, value) => {
        if (err) {
          if (isNotFound(err)) resolve(null);
          else reject(ioError("RocksDB get failed", err));
        } else resolve(bytesOf(value!));
      });
    });
  }

  getMany(keys: readonly Uint8Array[]): Promise<Array<Uint8Array | null>> {
    if (this.closed) return Promise.reject(this.closedError());
    if (keys.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.db.getMany(keys.map(buf), { asBuffer: true }, (err, values) => {
        if (err) reject(ioError("RocksDB getMany failed", err));
        else resolve(values!.map((v) => (v === undefined ? null : bytesOf(v))));
      });
    });
  }

  put(key: Uint8Array, value: Uint8Array, sync: boolean): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    return new Promise((resolve, reject) => {
      this.db.put(buf(key), buf(value), { sync }, (err) => (err ? reject(ioError("RocksDB put failed", err)) : resolve()));
    });
  }

  /** All operations land together or not at all (RocksDB WriteBatch); `sync` fsyncs the WAL before resolving. */
  batch(ops: readonly BatchOp[], sync: boolean): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    if (ops.length === 0) return Promise.resolve();
    const batch = this.newBatch();
    for (const op of ops) {
      if (op.type === "put") batch.put(op.key, op.value!);
      else batch.del(op.key);
    }
    return this.write(batch, sync);
  }

  /** An empty batch to fill and hand to write(); an abandoned batch is freed by the garbage collector. */
  newBatch(): WriteBatch {
    if (this.closed) throw this.closedError();
    return new WriteBatch(binding.batch_init(this.db.context));
  }

  /** Writes a filled batch atomically (all or nothing); `sync` fsyncs the WAL before resolving. */
  write(batch: EngineBatch, sync: boolean): Promise<void> {
    if (!(batch instanceof WriteBatch)) throw new TypeError("RocksDb.write takes a batch from RocksDb.newBatch()");
    if (this.closed) return Promise.reject(this.closedError());
    if (batch.length === 0) return Promise.resolve();
    const handle = batch.handle;
    return new Promise((resolve, reject) => {
      binding.batch_write(handle, { sync }, (err) => (err ? reject(ioError("RocksDB batch write failed", err)) : resolve()));
    });
  }

  /** Entries in key order over [gte, lt); the iterator is always ended, also when the consumer stops early. */
  async *iterate(options: IterateOptions = {}): AsyncGenerator<[Uint8Array, Uint8Array]> {
    if (this.closed) throw this.closedError();
    const it = this.db.iterator({
      ...(options.gte ? { gte: buf(options.gte) } : {}),
      ...(options.lt ? { lt: buf(options.lt) } : {}),
      reverse: options.reverse ?? false,
      limit: options.limit ?? -1,
      keyAsBuffer: true,
      valueAsBuffer: true,
    });
    let failed = false;
    try {
      for (;;) {
        const entry = await new Promise<[Buffer, Buffer] | null>((resolve, reject) => {
          it.next((err, key, value) => {
            if (err) reject(ioError("RocksDB iteration failed", err));
            else if (key === undefined) resolve(null);
            else resolve([key, value!]);
          });
        });
        if (entry === null) return;
        yield [bytesOf(entry[0]), bytesOf(entry[1])];
      }
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      await new Promise<void>((resolve, reject) =>
        it.end((err) => {
          // After a failed step the caller already gets that failure; an error ending the iterator then adds
          // nothing, and throwing it here would replace the first one.
          if (err && !failed) reject(ioError("RocksDB iterator end failed", err));
          else resolve();
        }),
      );
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve, reject) => {
      this.db.close((err) => (err ? reject(ioError("RocksDB close failed", err)) : resolve()));
    });
  }
}
