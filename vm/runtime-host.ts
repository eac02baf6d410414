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

/**
 * The records of a log in key-byte order. A run touches a handful of keys, and Array.prototype.sort allocates
 * its work arrays on every call (a few hundred bytes per invocation, measured): an insertion sort of that
 * few allocates nothing. Bigger logs take the library sort.
 */
function sortedByKey<T extends { readonly key: Uint8Array }>(log: Map<string, T>): T[] {
  const out: T[] = [];
  for (const r of log.values()) out.push(r);
  if (out.length > 16) return out.sort((a, b) => Buffer.compare(a.key, b.key));
  for (let i = 1; i < out.length; i++) {
    const r = out[i]!;
    let j = i - 1;
    while (j >= 0 && Buffer.compare(out[j]!.key, r.key) > 0) {
      out[j + 1] = out[j]!;
      j--;
    }
    out[j + 1] = r;
  }
  return out;
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

/** Map key for byte strings: one char per byte, cheap and collision-free. */
function mapKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
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

  private readonly readLog = new Map<string, ReadRecord>();
  private readonly writeLog = new Map<string, WriteRecord>();
  private readonly costs: HostCosts;

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
    return sortedByKey(this.readLog);
  }

  /** Final value of every written key, sorted by key bytes. */
  writes(): WriteRecord[] {
    return sortedByKey(this.writeLog);
  }

  // ---- host functions ------------------------------------------------------------------------------------

  get(keyPtr: number, keyLen: number, bufPtr: number, bufCap: number): number {
    this.calls++;
    keyLen >>>= 0;
    this.charge(this.costs.call(keyLen));
    this.checkKey(keyLen);
    const key = this.copyIn(keyPtr, keyLen);
    const value = this.lookup(key);
    if (value === null) return -1;
    if (value.length <= bufCap >>> 0) {
      this.charge(this.costs.bytes(value.length));
      this.view(bufPtr, value.length).set(value);
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
    const key = this.copyIn(keyPtr, keyLen);
    const value = this.copyIn(valPtr, valLen);
    const k = mapKey(key);
    if (!this.writeLog.has(k) && this.writeLog.size >= this.limits.maxWrites) {
      throw this.halt("trap", `limit: more than ${this.limits.maxWrites} keys written`);
    }
    this.writeLog.set(k, { key, value });
  }

  proposerAddr(ptr: number): void {
    this.calls++;
    this.charge(this.costs.call(PROPOSER_BYTES));
    this.view(ptr, PROPOSER_BYTES).set(this.proposer);
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

  /** The value a read sees: this run's own write, else the state (recorded once per key). */
  private lookup(key: Uint8Array): Uint8Array | null {
    const k = mapKey(key);
    const written = this.writeLog.get(k);
    if (written) return written.value.length === 0 ? null : written.value;
    const seen = this.readLog.get(k);
    if (seen) return seen.value;
    let value: Uint8Array | null;
    try {
      value = this.state.get(key);
    } catch (e) {
      if (e instanceof MissingState) throw this.halt("missing_state", e.message, e.key.slice());
      throw e;
    }
    // Empty values do not exist (writing one deletes the key); copy so later mutation by the caller cannot leak in.
    const stored = value === null || value.length === 0 ? null : value.slice();
    this.readLog.set(k, { key, value: stored });
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

  /** A live view of [ptr, ptr+len) of the instance memory, or a deterministic trap when out of bounds. */
  view(ptr: number, len: number): Uint8Array {
    const memory = this.memory;
    if (!memory) throw this.halt("trap", "host: the module exports no memory");
    const buffer = memory.buffer;
    const start = ptr >>> 0;
    if (start + len > buffer.byteLength) throw this.halt("trap", "host: out of bounds memory access");
    return new Uint8Array(buffer, start, len);
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
