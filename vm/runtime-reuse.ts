/**
 * Instance reuse: reset an instance to the post-start snapshot instead of instantiating and running
 * `__cairn_start` again (the idea of Wasmtime's pooling allocator and of wizer's pre-initialization).
 * Instantiating a contract and running its start function (AssemblyScript's runtime and GC setup) costs tens of
 * microseconds, most of a simple call; copying a few pages back and resetting the globals costs a few.
 *
 * WHY A RESTORED INSTANCE IS INDISTINGUISHABLE FROM A FRESH ONE
 * 1. The whole mutable state of an instance of an instrumented Cairn module is its memory (bytes and size), its
 *    mutable globals, its table and the dropped-flags of its data/element segments (functions and immutable
 *    globals are fixed by the module). vm/instrument/snapshot.ts lists why the table and the segment flags
 *    never change after instantiation (table and elem.drop instructions are refused; a module using data.drop
 *    is marked not reusable and never enters a pool).
 * 2. The snapshot is taken in a fresh instance right after `__cairn_start` returned, only if the start called
 *    no host function. Without host calls the start's execution depends on nothing from outside (the module
 *    cannot read `__cairn_gas`; floats are NaN-canonicalized), so every fresh instance reaches exactly the same
 *    state after it, with the same gas cost S whatever the limit L >= S (the metering charges a path's exact
 *    static and dynamic cost, and an execution succeeds iff that cost fits: see vm/instrument/inject.ts).
 *    After a fresh start with limit L >= S the instance is therefore in state (snapshot, gas = L - S,
 *    trap = 0, stack = 0), and nothing observable (reads, writes, output) has happened yet.
 * 3. Restoring sets every component of (1): memory bytes overwritten in full (only when the memory has exactly
 *    the snapshot's size — an instance whose memory grew is discarded, never reused), every mutable global set
 *    back bit-exactly through its shadow (vm/instrument/snapshot.ts), `__cairn_trap` and `__cairn_stack`
 *    zeroed, `__cairn_gas` = L - S. That is state (2), so the rest of the invocation runs exactly as in a fresh
 *    instance, whatever the previous invocation did — including one that trapped, ran out of gas or was stopped
 *    by a host function midway: a trap leaves nothing outside memory and globals, and those are overwritten.
 *    (Trapped instances are reused for that reason; discarding them would buy no extra safety.)
 * 4. A request with L < S (out of gas during start) never takes a pooled instance: it instantiates fresh and
 *    fails exactly as it always has. So does anything when the snapshot does not exist yet or is impossible.
 * 5. Imports forward to the invocation that currently owns the instance (HostBinding), so reads, writes,
 *    proposer and gas charging are those of the current invocation; an instance in a pool is owned by none.
 * 6. Pools are per LoadedContract (one module, one gas schedule baked in) and hold at most MAX_IDLE instances;
 *    an instance is taken out while it runs, so a re-entrant run of the same contract gets another instance.
 *    Invocations with extra imports (benchmarks) never reuse: their imports differ from call to call.
 * Any exception escaping the runtime (a StateView storage failure, an internal error) drops the instance.
 */

import { VmError } from "./errors.ts";
import type { SnapshotExports } from "./instrument/index.ts";
import { STACK_EXPORT, TRAP_EXPORT } from "./instrument/index.ts";
import { HostBinding, type InvocationHost } from "./runtime-host.ts";
import { isGlobal, isMemory, wasm, type Imports, type WasmGlobal, type WasmInstance, type WasmMemory, type WasmModule } from "./runtime-engine.ts";

/**
 * Idle instances kept per loaded contract. Runs are synchronous, so a single instance circulates unless a run
 * re-enters the same contract (a StateView calling back into the VM); the second slot serves that case.
 */
export const MAX_IDLE = 2;
/**
 * Largest post-start memory snapshotted (AssemblyScript contracts start with one or two 64 KiB pages).
 * Restoring copies all of it on every call, and every pooled instance keeps that much resident: with the
 * module cache's 256 entries this bounds what pools hold to 256 x 3 x 256 KiB. Bigger snapshots disable reuse
 * for that contract (results are the same either way).
 */
export const MAX_SNAPSHOT_BYTES = 256 * 1024;

/** An instance with the handles the runtime uses on every call. */
export interface Slot {
  readonly instance: WasmInstance;
  readonly exports: Record<string, unknown>;
  readonly binding: HostBinding;
}

interface Snapshot {
  /** The whole memory right after start (null: the module has no memory). */
  readonly memory: Uint8Array | null;
  /** Values of the shadow globals (bits of every mutable global) right after start. */
  readonly shadows: ReadonlyArray<number | bigint>;
  /** Gas the start function costs. */
  readonly startGas: bigint;
}

interface PooledSlot extends Slot {
  readonly memory: WasmMemory | null;
  readonly restore: () => unknown;
}

/** Creates an instance whose imports forward to `binding.current`. */
export function instantiate(module: WasmModule, binding: HostBinding, extraImports?: Imports): Slot {
  const instance = new wasm.Instance(module, binding.imports(extraImports));
  return { instance, exports: instance.exports, binding };
}

/** Counters of a pool, for tests and tools (not part of any result). */
export interface PoolStats {
  /** A snapshot exists (a start ran to completion without host calls). */
  readonly snapshot: boolean;
  /** Reuse was found impossible for this contract (start calls the host, snapshot too big). */
  readonly disabled: boolean;
  readonly startGas: bigint | null;
  readonly idle: number;
  /** Invocations that ran in a restored instance. */
  readonly reused: number;
  /** Instances dropped after an invocation because their memory size differed from the snapshot's. */
  readonly discarded: number;
}

export class InstancePool {
  private snapshot: Snapshot | null = null;
  private reused = 0;
  private discarded = 0;
  /** Reuse found impossible for this contract (start calls the host, memory too big, ...). */
  private disabled = false;
  private readonly idle: PooledSlot[] = [];

  constructor(private readonly plan: SnapshotExports) {}

  get usable(): boolean {
    return !this.disabled;
  }

  /** Gas the start function costs, once a snapshot exists. */
  get startGas(): bigint | null {
    return this.snapshot?.startGas ?? null;
  }

  /**
   * An idle instance reset to the post-start state (gas not set), or null when there is none or the request
   * cannot afford the start (then it must instantiate fresh, which runs out of gas in the start as always).
   */
  take(gasLimit: bigint): Slot | null {
    const snap = this.snapshot;
    if (snap === null || gasLimit < snap.startGas) return null;
    const slot = this.idle.pop();
    if (!slot) return null;
    if (slot.memory) {
      const buffer = slot.memory.buffer;
      // release() only pools instances of exactly the snapshot's size; check again rather than trust it
      if (buffer.byteLength !== snap.memory!.length) return null;
      new Uint8Array(buffer).set(snap.memory!);
    }
    slot.restore();
    this.reused++;
    return slot;
  }

  /**
   * Called on a fresh instance right after `__cairn_start` returned normally (or right after instantiation
   * when there is no start): takes the contract's snapshot if there is none yet.
   */
  afterStart(slot: Slot, host: InvocationHost, gasLimit: bigint, gas: WasmGlobal): void {
    if (this.snapshot !== null || this.disabled) return;
    if (host.calls !== 0) return this.disable(); // the start's result may depend on state or proposer
    const handles = this.handles(slot);
    if (!handles) return this.disable();
    const ex = slot.exports;
    const trap = ex[TRAP_EXPORT];
    const stack = ex[STACK_EXPORT];
    if (!isGlobal(trap) || !isGlobal(stack) || trap.value !== 0 || stack.value !== 0) {
      throw new VmError("internal", "instrumented start returned with a trap code or stack units in use");
    }
    const memory = handles.memory ? new Uint8Array(handles.memory.buffer).slice() : null;
    if (memory && memory.length > MAX_SNAPSHOT_BYTES) return this.disable();
    const save = ex[this.plan.save] as () => unknown;
    save();
    this.snapshot = {
      memory,
      shadows: this.plan.shadows.map((name) => (ex[name] as WasmGlobal).value),
      startGas: gasLimit - (gas.value as bigint),
    };
  }

  /** Returns an instance after an invocation: kept if it can be restored exactly, else dropped. */
  release(slot: Slot): void {
    slot.binding.current = null;
    const snap = this.snapshot;
    if (snap === null || this.disabled || this.idle.length >= MAX_IDLE) return;
    const pooled = "restore" in slot ? (slot as PooledSlot) : this.handles(slot);
    if (!pooled) return;
    const size = pooled.memory ? pooled.memory.buffer.byteLength : 0;
    if (size !== (snap.memory?.length ?? 0)) {
      this.discarded++; // memory grew (or start never finished): never reuse
      return;
    }
    if (!("restore" in slot)) {
      // first time in the pool: prime its shadows with the contract's snapshot (they are per instance)
      const ex = slot.exports;
      this.plan.shadows.forEach((name, i) => ((ex[name] as WasmGlobal).value = snap.shadows[i]!));
    }
    this.idle.push(pooled);
  }

  stats(): PoolStats {
    return {
      snapshot: this.snapshot !== null,
      disabled: this.disabled,
      startGas: this.startGas,
      idle: this.idle.length,
      reused: this.reused,
      discarded: this.discarded,
    };
  }

  private handles(slot: Slot): PooledSlot | null {
    const ex = slot.exports;
    const restore = ex[this.plan.restore];
    const save = ex[this.plan.save];
    if (typeof restore !== "function" || typeof save !== "function") return null;
    if (!this.plan.shadows.every((name) => isGlobal(ex[name]))) return null;
    let memory: WasmMemory | null = null;
    if (this.plan.memory !== null) {
      const m = ex[this.plan.memory];
      if (!isMemory(m)) return null;
      memory = m;
    }
    return { ...slot, memory, restore: restore as () => unknown };
  }

  private disable(): void {
    this.disabled = true;
    this.idle.length = 0;
  }
}

/** The tables of a module must be immutable for reuse (see vm/instrument/snapshot.ts): none may be imported. */
export function importsOnlyFunctions(module: WasmModule): boolean {
  return wasm.Module.imports(module).every((i) => i.kind === "function");
}
