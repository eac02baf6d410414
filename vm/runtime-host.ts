/**
 * The host side of one invocation: the functions a contract may import (cairn.get, cairn.set,
 * cairn.proposer_addr, env.abort), the buffered writes, the record of reads, and gas charging for host work.
 *
 * A host function that must stop the run throws a `HostStop`; the runtime recognises it (it is not a Wasm
 * trap) and turns it into the result status. Every check here depends only on the arguments, the memory and
 * the state, so the same invocation stops the same way on every node.
 */

import type { GasSchedule } from "./gas.ts";
import type { RuntimeLimits } from "./runtime-limits.ts";
import type { Imports, WasmGlobal, WasmMemory } from "./runtime-engine.ts";

/** Read-only view of the contract's own key space (the node prefixes keys with the contract's name). */
export interface StateView {
  /**
   * The value at `key`, or null when absent. May throw `MissingState(key)` when the value is not loaded yet
   * (e.g. it lives in an async store): the run stops with status 'missing_state' and can be re-run from scratch
   * once the key is loaded. Any other exception propagates to the caller of the run unchanged.
   */
  get(key: Uint8Array): Uint8Array | null;
}

/** Thrown by a StateView that does not have `key` at hand; see StateView.get. */
export class MissingState extends Error {
  override readonly name = "MissingState";
  readonly code = "missing_state";
  readonly key: Uint8Array;

  constructor(key: Uint8Array) {
    super(`state key ${Buffer.from(key).toString("hex")} is not loaded`);
    this.key = key;
  }
}

/** A key with the value a run saw for it (null = absent). */
export interface ReadRecord {
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
}

/** A key with its final value (empty = delete). */
export interface WriteRecord {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export type StopKind = "out_of_gas" | "reverted" | "trap" | "missing_state";

/** Thrown out of a host function to end the run; never escapes the runtime. */
export class HostStop {
  constructor(
    readonly kind: StopKind,
    readonly message: string | null,
    readonly key: Uint8Array | null = null,
  ) {}
}

/** The gas globals of an instrumented instance; absent for unmetered runs (benchmarks only). */
export interface GasMeter {
  readonly gas: WasmGlobal;
  readonly trap: WasmGlobal;
}

const INVOKER_BYTES = 32;
const PROPOSER_BYTES = 32;
const TRAP_OUT_OF_GAS = 1;

/** Logs of up to this many keys are searched by comparing bytes; bigger ones keep a Map index as well. */
const SMALL_LOG = 16;

/** mem[start, start+len) as a Map key: one char per byte, cheap and collision-free. */
function mapKey(mem: Uint8Array, start: number, len: number): string {
  return Buffer.from(mem.buffer, mem.byteOffset + start, len).toString("latin1");
}

/**
 * The records of one log, one per key, in the order first seen. A run touches a handful of keys, and comparing
 * those bytes where the contract left them, in its memory, costs less than making a string for a Map lookup on
 * every host call (that string was a tenth of a token transfer's time). Past SMALL_LOG keys a Map index keeps
 * lookups constant-time, so a contract touching thousands of keys costs no quadratic work.
 */
class KeyLog<T extends { readonly key: Uint8Array }> {
  readonly records: T[] = [];
  private index: Map<string, number> | null = null;

  get size(): number {
    return this.records.length;
  }

  /** Position of the record whose key equals mem[start, start+len), or -1. */
  find(mem: Uint8Array, start: number, len: number): number {
    if (this.index !== null) return this.index.get(mapKey(mem, start, len)) ?? -1;
    const records = this.records;
    next: for (let i = 0; i < records.length; i++) {
      const k = records[i]!.key;
      if (k.length !== len) continue;
      for (let j = 0; j < len; j++) if (k[j] !== mem[start + j]) continue next;
      return i;
    }
    return -1;
  }

  /** Adds a record for a key not in the log yet. */
  add(record: T): void {
    const records = this.records;
    records.push(record);
    if (this.index !== null) this.index.set(mapKey(record.key, 0, record.key.length), records.length - 1);
    else if (records.length > SMALL_LOG) {
      this.index = new Map();
      for (let i = 0; i < records.length; i++) this.index.set(mapKey(records[i]!.key, 0, records[i]!.key.length), i);
    }
  }

  /**
   * The records in key-byte order. A handful is insertion-sorted: Array.prototype.sort allocates its work
   * arrays on every call (a few hundred bytes per invocation, measured). Bigger logs take the library sort.
   */
  sorted(): T[] {
    const out = this.records.slice();
    if (out.length > SMALL_LOG) return out.sort((a, b) => compareKeys(a.key, b.key));
    for (let i = 1; i < out.length; i++) {
      const r = out[i]!;
      let j = i - 1;
      while (j >= 0 && compareKeys(out[j]!.key, r.key) > 0) {
        out[j + 1] = out[j]!;
        j--;
      }
      out[j + 1] = r;
    }
    return out;
  }
}

/**
 * Byte order of two keys. Keys are fresh copies out of instance memory, and one of up to 64 bytes lives in V8's
 * heap: Buffer.compare (native) would make V8 move it out first, about 0.85 us a key. Such keys are compared
 * here instead; longer ones natively.
 */
function compareKeys(a: Uint8Array, b: Uint8Array): number {
  if (a.length > 64 || b.length > 64) return Buffer.compare(a, b);
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Byte counts whose charges are kept ready: every key, and values up to a few KiB. */
const CACHED_COSTS = 4096;

/**
 * Host-call charges of one schedule: base + perByte x n, and perByte x n. The same exact bigints as computing
 * them on each call, without the three or four bigint allocations each call made (a token transfer makes a
 * handful of host calls).
 */
class HostCosts {
  private readonly withBase: Array<bigint | undefined> = new Array(CACHED_COSTS).fill(undefined);
  private readonly bytesOnly: Array<bigint | undefined> = new Array(CACHED_COSTS).fill(undefined);
  private readonly base: bigint;
  private readonly perByte: bigint;

  constructor(schedule: GasSchedule) {
    this.base = BigInt(schedule.hostCallBase);
    this.perByte = BigInt(schedule.hostPerByte);
  }

  /** base + perByte x n (n is a u32 byte count). */
  call(n: number): bigint {
    if (n >= CACHED_COSTS) return this.base + this.perByte * BigInt(n);
    return (this.withBase[n] ??= this.base + this.perByte * BigInt(n));
  }

  /** perByte x n. */
  bytes(n: number): bigint {
    if (n >= CACHED_COSTS) return this.perByte * BigInt(n);
    return (this.bytesOnly[n] ??= this.perByte * BigInt(n));
  }
}

const hostCosts = new WeakMap<GasSchedule, HostCosts>();

function hostCostsOf(schedule: GasSchedule): HostCosts {
  let c = hostCosts.get(schedule);
  if (c === undefined) hostCosts.set(schedule, (c = new HostCosts(schedule)));
  return c;
}

const utf16 = new TextDecoder("utf-16le");

/**
 * The imports of one instance, forwarding every host call to the invocation currently using the instance.
 * An instance outlives an invocation when the runtime reuses it (vm/runtime-reuse.ts), so its imports cannot
 * be bound to one InvocationHost; between invocations `current` is null and a call would be refused.
 */
export class HostBinding {
  current: InvocationHost | null = null;

  private host(): InvocationHost {
    const h = this.current;
    if (h === null) throw new Error("host function called while no invocation owns the instance");
    return h;
  }

  /** The import object for an instance; `extra` adds modules (benchmarks wire wasm-metering's import here). */
  imports(extra?: Imports): Imports {
    return {
      cairn: {
        get: (keyPtr: number, keyLen: number, bufPtr: number, bufCap: number) => this.host().get(keyPtr, keyLen, bufPtr, bufCap),
        set: (keyPtr: number, keyLen: number, valPtr: number, valLen: number) => this.host().set(keyPtr, keyLen, valPtr, valLen),
        proposer_addr: (ptr: number) => this.host().proposerAddr(ptr),
      },
      env: {
        abort: (msgPtr: number, filePtr: number, line: number, column: number) => this.host().abort(msgPtr, filePtr, line, column),
      },
      ...extra,
    };
  }
}

export class InvocationHost {
  memory: WasmMemory | null = null;
  meter: GasMeter | null = null;
  /** Set when a host function stopped the run (the thrown value may be wrapped or lost by the engine). */
  stop: HostStop | null = null;
  /** Host functions entered so far (the runtime checks that `__cairn_start` called none before snapshotting). */
  calls = 0;

  private readonly readLog = new KeyLog<ReadRecord>();
  private readonly writeLog = new KeyLog<WriteRecord>();
  private readonly costs: HostCosts;
  /** A view of the whole instance memory, remade when growth replaces the memory's buffer. */
  private memBytes: Uint8Array | null = null;

  constructor(
    private readonly state: StateView,
    private readonly proposer: Uint8Array,
    schedule: GasSchedule,
    private readonly limits: RuntimeLimits,
  ) {
    this.costs = hostCostsOf(schedule);
  }

  /** Keys read from the state (not from this run's own writes), each once, sorted by key bytes. */
  reads(): ReadRecord[] {
    return this.readLog.sorted();
  }

  /** Final value of every written key, sorted by key bytes. */
  writes(): WriteRecord[] {
    return this.writeLog.sorted();
  }

  // ---- host functions ------------------------------------------------------------------------------------

  get(keyPtr: number, keyLen: number, bufPtr: number, bufCap: number): number {
    this.calls++;
    keyLen >>>= 0;
    this.charge(this.costs.call(keyLen));
    this.checkKey(keyLen);
    const mem = this.range(keyPtr, keyLen);
    const value = this.lookup(mem, keyPtr >>> 0, keyLen);
    if (value === null) return -1;
    if (value.length <= bufCap >>> 0) {
      this.charge(this.costs.bytes(value.length));
      this.range(bufPtr, value.length).set(value, bufPtr >>> 0);
    }
    return value.length;
  }

  set(keyPtr: number, keyLen: number, valPtr: number, valLen: number): void {
    this.calls++;
    keyLen >>>= 0;
    valLen >>>= 0;
    this.charge(this.costs.call(keyLen + valLen));
    this.checkKey(keyLen);
    if (valLen > this.limits.maxValueBytes) {
      throw this.halt("trap", `limit: value of ${valLen} bytes exceeds ${this.limits.maxValueBytes}`);
    }
    this.range(keyPtr, keyLen);
    const mem = this.range(valPtr, valLen);
    const keyStart = keyPtr >>> 0;
    const valStart = valPtr >>> 0;
    const log = this.writeLog;
    const at = log.find(mem, keyStart, keyLen);
    if (at < 0 && log.size >= this.limits.maxWrites) {
      throw this.halt("trap", `limit: more than ${this.limits.maxWrites} keys written`);
    }
    // Copies: memory may grow (detaching views) and the contract may overwrite it.
    const value = mem.slice(valStart, valStart + valLen);
    if (at >= 0) log.records[at] = { key: log.records[at]!.key, value };
    else log.add({ key: mem.slice(keyStart, keyStart + keyLen), value });
  }

  proposerAddr(ptr: number): void {
    this.calls++;
    this.charge(this.costs.call(PROPOSER_BYTES));
    this.range(ptr, PROPOSER_BYTES).set(this.proposer, ptr >>> 0);
  }

  abort(msgPtr: number, filePtr: number, line: number, column: number): void {
    this.calls++;
    this.charge(this.costs.call(0));
    const message = this.readString(msgPtr);
    let error: string;
    if (message !== null) {
      error = message;
    } else {
      const file = this.readString(filePtr);
      error = file !== null ? `abort at ${file}:${line >>> 0}:${column >>> 0}` : "abort";
    }
    throw this.halt("reverted", error);
  }

  // ---- helpers -------------------------------------------------------------------------------------------

  /** The value a read of mem[start, start+len) sees: this run's own write, else the state (recorded once per key). */
  private lookup(mem: Uint8Array, start: number, len: number): Uint8Array | null {
    const written = this.writeLog.find(mem, start, len);
    if (written >= 0) {
      const v = this.writeLog.records[written]!.value;
      return v.length === 0 ? null : v;
    }
    const seen = this.readLog.find(mem, start, len);
    if (seen >= 0) return this.readLog.records[seen]!.value;
    const key = mem.slice(start, start + len);
    let value: Uint8Array | null;
    try {
      value = this.state.get(key);
    } catch (e) {
      if (e instanceof MissingState) throw this.halt("missing_state", e.message, e.key.slice());
      throw e;
    }
    // Empty values do not exist (writing one deletes the key); copy so later mutation by the caller cannot leak in.
    const stored = value === null || value.length === 0 ? null : value.slice();
    this.readLog.add({ key, value: stored });
    return stored;
  }

  private checkKey(keyLen: number): void {
    if (keyLen > this.limits.maxKeyBytes) {
      throw this.halt("trap", `limit: key of ${keyLen} bytes exceeds ${this.limits.maxKeyBytes}`);
    }
  }

  charge(amount: bigint): void {
    const meter = this.meter;
    if (!meter) return;
    const left = meter.gas.value as bigint;
    if (left < amount) {
      meter.gas.value = 0n;
      meter.trap.value = TRAP_OUT_OF_GAS;
      throw this.halt("out_of_gas", null);
    }
    meter.gas.value = left - amount;
  }

  halt(kind: StopKind, message: string | null, key: Uint8Array | null = null): HostStop {
    const stop = new HostStop(kind, message, key);
    // The first stop wins: a later one can only come from code running after the first was thrown, which the
    // engine does not do, but keep the record of what actually ended the run.
    if (!this.stop) this.stop = stop;
    return stop;
  }

  /**
   * The whole instance memory as bytes, once [ptr, ptr+len) is checked to lie inside it (else a deterministic
   * trap). Callers index it at ptr >>> 0; the view is reused until growth replaces the memory's buffer.
   */
  range(ptr: number, len: number): Uint8Array {
    const memory = this.memory;
    if (!memory) throw this.halt("trap", "host: the module exports no memory");
    const buffer = memory.buffer;
    let mem = this.memBytes;
    if (mem === null || mem.buffer !== buffer) this.memBytes = mem = new Uint8Array(buffer);
    if ((ptr >>> 0) + len > mem.length) throw this.halt("trap", "host: out of bounds memory access");
    return mem;
  }

  /** A live view of [ptr, ptr+len) of the instance memory, or a deterministic trap when out of bounds. */
  view(ptr: number, len: number): Uint8Array {
    const start = ptr >>> 0;
    return this.range(start, len).subarray(start, start + len);
  }

  /** A copy of [ptr, ptr+len): memory may grow (detaching views) and the contract may overwrite it. */
  copyIn(ptr: number, len: number): Uint8Array {
    // slice() is one memcpy; Uint8Array.from walks the view as an iterable.
    return this.view(ptr, len).slice();
  }

  /** Writes invoker ++ input at `ptr` (the buffer returned by `__cairn_prepare`). */
  writeCall(ptr: number, invoker: Uint8Array, input: Uint8Array): void {
    const target = this.view(ptr, INVOKER_BYTES + input.length);
    target.set(invoker, 0);
    target.set(input, INVOKER_BYTES);
  }

  /**
   * An AssemblyScript string at `ptr` (UTF-16LE; its byte length sits in the object header at ptr-4), cut to
   * `maxErrorChars`. Null for a null pointer or one whose header is out of bounds.
   */
  readString(ptr: number): string | null {
    const start = ptr >>> 0;
    const memory = this.memory;
    if (start === 0 || start < 4 || !memory) return null;
    const buffer = memory.buffer;
    if (start > buffer.byteLength) return null;
    const byteLength = new DataView(buffer).getUint32(start - 4, true);
    const wanted = Math.min(byteLength, this.limits.maxErrorChars * 2) & ~1;
    if (start + wanted > buffer.byteLength) return null;
    return utf16.decode(new Uint8Array(buffer, start, wanted));
  }
}
