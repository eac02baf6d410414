// An in-memory StorageEngine with RocksDB's write semantics as a power failure sees them, for the
// deterministic simulator: the Store's real logic runs on it, crashes fall between any two steps of any
// operation, and reads and writes fail on demand.
//
// The model. A MemoryDisk outlives the engines opened on it (one at a time, as RocksDB's lock file allows).
// Writes land one at a time on the disk's log in the order their landing steps run; a write with sync=true
// makes itself and every write that landed before it durable. disk.crash() is a power failure: every open
// engine dies (its unfinished operations never complete, later calls reject) and only durable writes stay,
// or, if asked, a prefix of the unsynced ones too (the OS wrote part of the log out before the power went).
// disk.kill() is the process dying with the power on: every landed write stays. Opening makes whatever it
// finds durable, as RocksDB's recovery flushes what it replays from the log into a synced table file.
//
// Asynchrony is the caller's: every step completes through `schedule`, which the simulator backs with its
// seeded event queue. A read is one step; a write is two, landing then reporting, so a crash between them
// keeps a write whose caller never heard back (an fsync may finish just before the power goes).

import type { BatchOp, EngineBatch, IterateOptions, StorageEngine } from "./engine.ts";
import { StoreError } from "./errors.ts";

export interface MemoryFaults {
  /** Called as a read of `key` runs (per key of getMany, per entry of an iteration); true fails the read. */
  failRead?(key: Uint8Array): boolean;
  /** Called as a write is about to land; true fails it and nothing of it lands. */
  failWrite?(ops: readonly BatchOp[], sync: boolean): boolean;
}

export interface MemoryDiskOptions {
  /** The engines' `location` (default "memory"). */
  name?: string;
  /** Runs each step of an operation later (default queueMicrotask). Steps run in the order it runs them. */
  schedule?: (fn: () => void) => void;
  /** Faults to inject; also settable later through `disk.faults`. */
  faults?: MemoryFaults;
}

export interface CrashOptions {
  /** How many of the oldest unsynced writes survive too (default 0: only durable writes). */
  keepUnsynced?: number;
}

/** Keys as strings of one UTF-16 unit per byte: JavaScript's string order is then the keys' byte order. */
function keyString(b: Uint8Array): string {
  // fromCharCode takes the bytes as arguments: fine for keys, and a long key goes through a Buffer view.
  if (b.length <= 1024) return String.fromCharCode.apply(null, b as unknown as number[]);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}

function keyBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** First index of `sorted` whose key is >= `k`. */
function lowerBound(sorted: readonly string[], k: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The live key-value map. Point reads and writes are Map operations; key order is rebuilt only when an
 * iteration asks for it (iterations are rare next to writes), by merging the keys added since into the last
 * order.
 */
class Table {
  private readonly map = new Map<string, Uint8Array>();
  /** Keys in order as of the last order(); may still hold keys deleted since. */
  private sorted: string[] = [];
  /** Keys inserted since the last order(), unordered, possibly repeated. */
  private added: string[] = [];
  private removed = 0;

  get size(): number {
    return this.map.size;
  }

  get(k: string): Uint8Array | undefined {
    return this.map.get(k);
  }

  /** `v` must not change afterwards: readers are handed copies, snapshots share it. */
  set(k: string, v: Uint8Array): void {
    if (!this.map.has(k)) {
      this.added.push(k);
      // Without iterations the list would grow with every insert of a new key; fold it in now and then.
      if (this.added.length > 1024 + 2 * this.map.size) this.order();
    }
    this.map.set(k, v);
  }

  delete(k: string): void {
    if (this.map.delete(k)) this.removed++;
  }

  /** Every present key, in order. The array is never changed afterwards (a later call makes a new one). */
  order(): readonly string[] {
    if (this.added.length === 0 && this.removed === 0) return this.sorted;
    const add = this.added.sort();
    const old = this.sorted;
    const out: string[] = [];
    let i = 0;
    let j = 0;
    // With no deletion since, every old key is present and every added one is new and added once.
    const check = this.removed > 0;
    let last: string | undefined;
    while (i < old.length || j < add.length) {
      const k = j >= add.length || (i < old.length && old[i]! <= add[j]!) ? old[i++]! : add[j++]!;
      if (check && (k === last || !this.map.has(k))) continue;
      out.push(k);
      last = k;
    }
    this.sorted = out;
    this.added = [];
    this.removed = 0;
    return out;
  }
}

/** What one iteration sees: the entries in range, in the order it yields them, as of its first step. */
interface Snapshot {
  readonly keys: readonly string[];
  readonly values: readonly Uint8Array[];
}

/** A disk that keeps its contents across engines, crashes and reopenings. */
export class MemoryDisk {
  readonly name: string;
  readonly schedule: (fn: () => void) => void;
  faults: MemoryFaults;
  private readonly table = new Table();
  /** The engine holding the disk's lock, if any (an engine that closed or died has released it). */
  private holder: MemoryEngine | null = null;
  // Undo log of the writes that landed since the last durable point: per operation its key and the value it
  // replaced (undefined: absent), and per write where its operations start. A crash rolls writes back from it.
  private undoKeys: string[] = [];
  private undoValues: Array<Uint8Array | undefined> = [];
  private writeStarts: number[] = [];

  constructor(options: MemoryDiskOptions = {}) {
    this.name = options.name ?? "memory";
    this.schedule = options.schedule ?? queueMicrotask;
    this.faults = options.faults ?? {};
  }

  /** Opens an engine on the disk; StoreError 'io' while another engine has it open. */
  open(): MemoryEngine {
    if (this.holder !== null) throw new StoreError("io", `${this.name} is locked: another engine has it open`);
    this.makeDurable();
    const engine = new MemoryEngine(this);
    this.holder = engine;
    return engine;
  }

  /**
   * A power failure: the open engine dies (its unfinished operations never complete, later calls reject with
   * 'closed'), and of the writes that landed only durable ones stay, plus the `keepUnsynced` oldest others.
   */
  crash(options: CrashOptions = {}): void {
    this.holder?.die();
    this.holder = null;
    const keep = Math.max(0, Math.min(options.keepUnsynced ?? 0, this.writeStarts.length));
    if (keep < this.writeStarts.length) {
      const from = this.writeStarts[keep]!;
      for (let i = this.undoKeys.length - 1; i >= from; i--) {
        const prev = this.undoValues[i];
        if (prev === undefined) this.table.delete(this.undoKeys[i]!);
        else this.table.set(this.undoKeys[i]!, prev);
      }
    }
    // What survived is on the medium: a second power failure before reopening loses nothing more.
    this.makeDurable();
  }

  /** The process dies with the power on: the open engine dies as in crash(), every landed write stays. */
  kill(): void {
    this.holder?.die();
    this.holder = null;
  }

  /** Writes that landed but a power failure would lose. */
  get unsyncedWrites(): number {
    return this.writeStarts.length;
  }

  /** Keys present (durable or not). */
  get size(): number {
    return this.table.size;
  }

  /** @internal the engine's lock is released (close finished). */
  release(engine: MemoryEngine): void {
    if (this.holder === engine) this.holder = null;
  }

  /** @internal one read of the live contents (the stored value, not a copy: callers copy). */
  read(k: string): Uint8Array | undefined {
    return this.table.get(k);
  }

  /** @internal lands one write (values are the engine's own copies; null deletes). */
  land(keys: readonly string[], values: ReadonlyArray<Uint8Array | null>, sync: boolean): void {
    this.writeStarts.push(this.undoKeys.length);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const v = values[i]!;
      this.undoKeys.push(k);
      this.undoValues.push(this.table.get(k));
      if (v !== null) this.table.set(k, v);
      else this.table.delete(k);
    }
    if (sync) this.makeDurable();
  }

  /** @internal the entries of a range, in iteration order. */
  snapshot(gte: string | undefined, lt: string | undefined, reverse: boolean, limit: number): Snapshot {
    const order = this.table.order();
    const lo = gte === undefined ? 0 : lowerBound(order, gte);
    const hi = Math.max(lo, lt === undefined ? order.length : lowerBound(order, lt));
    const n = limit < 0 ? hi - lo : Math.min(limit, hi - lo);
    const keys = reverse ? order.slice(hi - n, hi).reverse() : order.slice(lo, lo + n);
    return { keys, values: keys.map((k) => this.table.get(k)!) };
  }

  private makeDurable(): void {
    this.undoKeys = [];
    this.undoValues = [];
    this.writeStarts = [];
  }
}

/** A batch of a MemoryEngine: holds copies of what it is given (keys as strings, see keyString). */
export class MemoryBatch implements EngineBatch {
  /** @internal */
  readonly keys: string[] = [];
  /** @internal null deletes. */
  readonly values: Array<Uint8Array | null> = [];

  /** @internal use MemoryEngine.newBatch(). */
  constructor(readonly engine: MemoryEngine) {}

  get length(): number {
    return this.keys.length;
  }

  put(key: Uint8Array, value: Uint8Array): void {
    if (!(key instanceof Uint8Array) || !(value instanceof Uint8Array)) throw new TypeError("MemoryBatch.put takes a Uint8Array key and value");
    this.keys.push(keyString(key));
    this.values.push(value.slice());
  }

  del(key: Uint8Array): void {
    if (!(key instanceof Uint8Array)) throw new TypeError("MemoryBatch.del takes a Uint8Array key");
    this.keys.push(keyString(key));
    this.values.push(null);
  }
}

/** A write as the failWrite fault sees it (built only when that fault is set). */
function opsOf(keys: readonly string[], values: ReadonlyArray<Uint8Array | null>): BatchOp[] {
  return keys.map((k, i) => {
    const v = values[i]!;
    return v === null ? { type: "del", key: keyBytes(k) } : { type: "put", key: keyBytes(k), value: v.slice() };
  });
}

type EngineState = "open" | "closing" | "closed" | "dead";

export class MemoryEngine implements StorageEngine {
  private state: EngineState = "open";
  /** Operations started and not yet completed; close() completes after the last of them, as RocksDB's does. */
  private inflight = 0;
  private closeDone: (() => void) | null = null;
  private closing: Promise<void> | null = null;

  /** @internal use MemoryDisk.open(). */
  constructor(private readonly disk: MemoryDisk) {}

  get location(): string {
    return this.disk.name;
  }

  get isOpen(): boolean {
    return this.state === "open";
  }

  /** @internal a crash or kill: nothing of this engine runs again. */
  die(): void {
    this.state = "dead";
  }

  private unusable(): StoreError {
    return new StoreError("closed", this.state === "dead" ? `the engine on ${this.disk.name} died in a crash` : `the engine on ${this.disk.name} is closed`);
  }

  private ioError(what: string): StoreError {
    return new StoreError("io", `${what} on ${this.disk.name} failed (injected fault)`);
  }

  /**
   * Runs `fn` at a scheduled step and settles with its result or what it throws. A dead engine's step never
   * runs `fn` and the promise never settles.
   */
  private step<T>(fn: () => T): Promise<T> {
    if (this.state !== "open") return Promise.reject(this.unusable());
    this.inflight++;
    return new Promise<T>((resolve, reject) => {
      this.disk.schedule(() => {
        if (this.state === "dead") return;
        try {
          resolve(fn());
        } catch (e) {
          reject(e);
        }
        this.finished();
      });
    });
  }

  private finished(): void {
    this.inflight--;
    if (this.inflight === 0 && this.closeDone !== null) this.closeDone();
  }

  private readKey(k: string, kb: Uint8Array): Uint8Array | null {
    if (this.disk.faults.failRead?.(kb)) throw this.ioError("read");
    const v = this.disk.read(k);
    return v === undefined ? null : v.slice();
  }

  get(key: Uint8Array): Promise<Uint8Array | null> {
    const kb = key.slice();
    const k = keyString(kb);
    return this.step(() => this.readKey(k, kb));
  }

  getMany(keys: readonly Uint8Array[]): Promise<Array<Uint8Array | null>> {
    const kbs = keys.map((k) => k.slice());
    const ks = kbs.map(keyString);
    return this.step(() => ks.map((k, i) => this.readKey(k, kbs[i]!)));
  }

  put(key: Uint8Array, value: Uint8Array, sync: boolean): Promise<void> {
    const b = new MemoryBatch(this);
    b.put(key, value);
    return this.writeBatch(b, sync);
  }

  batch(ops: readonly BatchOp[], sync: boolean): Promise<void> {
    const b = new MemoryBatch(this);
    for (const op of ops) {
      if (op.type === "put") b.put(op.key, op.value!);
      else b.del(op.key);
    }
    return this.writeBatch(b, sync);
  }

  newBatch(): MemoryBatch {
    if (this.state !== "open") throw this.unusable();
    return new MemoryBatch(this);
  }

  write(batch: EngineBatch, sync: boolean): Promise<void> {
    if (!(batch instanceof MemoryBatch) || batch.engine !== this) throw new TypeError("MemoryEngine.write takes a batch from this engine's newBatch()");
    return this.writeBatch(batch, sync);
  }

  /** Lands what `batch` holds now at one step and reports at the next. */
  private writeBatch(batch: MemoryBatch, sync: boolean): Promise<void> {
    if (this.state !== "open") return Promise.reject(this.unusable());
    // The caller may add to a batch once written; this write is what it held now.
    const keys = batch.keys.slice();
    const values = batch.values.slice();
    this.inflight++;
    return new Promise<void>((resolve, reject) => {
      this.disk.schedule(() => {
        if (this.state === "dead") return;
        const faults = this.disk.faults;
        if (faults.failWrite !== undefined && faults.failWrite(opsOf(keys, values), sync)) {
          reject(this.ioError("write"));
          this.finished();
          return;
        }
        if (keys.length > 0) this.disk.land(keys, values, sync);
        this.disk.schedule(() => {
          if (this.state === "dead") return;
          resolve();
          this.finished();
        });
      });
    });
  }

  iterate(options: IterateOptions = {}): AsyncGenerator<[Uint8Array, Uint8Array]> {
    // Bounds are read now: the caller may reuse their buffers before the first step.
    const gte = options.gte === undefined ? undefined : keyString(options.gte);
    const lt = options.lt === undefined ? undefined : keyString(options.lt);
    return this.entries(gte, lt, options.reverse ?? false, options.limit ?? -1);
  }

  private async *entries(gte: string | undefined, lt: string | undefined, reverse: boolean, limit: number): AsyncGenerator<[Uint8Array, Uint8Array]> {
    const snap = await this.step(() => this.disk.snapshot(gte, lt, reverse, limit));
    for (let i = 0; i < snap.keys.length; i++) {
      yield await this.step((): [Uint8Array, Uint8Array] => {
        const kb = keyBytes(snap.keys[i]!);
        if (this.disk.faults.failRead?.(kb)) throw this.ioError("iteration");
        return [kb, snap.values[i]!.slice()];
      });
    }
  }

  close(): Promise<void> {
    if (this.state === "dead" || this.state === "closed") return Promise.resolve();
    if (this.closing !== null) return this.closing;
    this.state = "closing";
    this.closing = new Promise<void>((resolve) => {
      this.closeDone = () => {
        this.closeDone = null;
        // A crash while closing: the engine is dead and the disk's lock was released by the crash.
        this.disk.schedule(() => {
          if (this.state === "dead") return;
          this.state = "closed";
          this.disk.release(this);
          resolve();
        });
      };
      if (this.inflight === 0) this.closeDone();
    });
    return this.closing;
  }
}
