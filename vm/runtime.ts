/**
 * Running one contract method: load (validate + instrument + compile, cached by code hash), then an instance in
 * its post-start state (a fresh one: gas set, `__cairn_start` run; or a pooled one reset to the snapshot taken
 * after start, see runtime-reuse.ts), input handed over, method called, output read, and the outcome classified
 * into a RunResult. Nothing an invocation leaves in Wasm memory or globals is visible to the next one.
 */

import { VmError } from "./errors.ts";
import { DEFAULT_GAS_SCHEDULE, type GasSchedule } from "./gas.ts";
import { resolveLimits, type VmLimits } from "./limits.ts";
import {
  prepareContract, validateModule, GAS_EXPORT, TRAP_EXPORT, START_EXPORT, TRAP_OUT_OF_GAS, TRAP_STACK,
  type ModuleSummary, type SnapshotExports,
} from "./instrument/index.ts";
import { codeHash } from "./runtime-codehash.ts";
import { resolveRuntimeLimits, type RuntimeLimits } from "./runtime-limits.ts";
import { HostBinding, HostStop, InvocationHost, type ReadRecord, type StateView, type WriteRecord } from "./runtime-host.ts";
import { InstancePool, importsOnlyFunctions, instantiate, type PoolStats, type Slot } from "./runtime-reuse.ts";
import { wasm, isGlobal, isMemory, type Imports, type WasmModule } from "./runtime-engine.ts";
import { describeTrap } from "./runtime-traps.ts";

export type RunStatus = "ok" | "reverted" | "out_of_gas" | "trap" | "invalid" | "missing_state";

export interface RunResult {
  /**
   * ok: the method returned; its writes apply. reverted: context.revert / assert / abort / thrown error.
   * out_of_gas: gasUsed == gasLimit. trap: a Wasm trap, the stack-depth limit or a runtime limit.
   * invalid: the module or method cannot be run at all. missing_state: the StateView threw MissingState;
   * load `missingKey` and run again (nothing else in this result is meaningful).
   */
  readonly status: RunStatus;
  readonly gasUsed: bigint;
  /** The method's output; empty unless status is ok. */
  readonly output: Uint8Array;
  /** Null when ok; otherwise a deterministic message (revert message, trap name, limit, ...). */
  readonly error: string | null;
  /** Keys read from the StateView with the values seen, each once, sorted by key bytes (also on failure). */
  readonly reads: readonly ReadRecord[];
  /** Final value of every key written (empty value = delete), sorted by key bytes; empty unless ok. */
  readonly writes: readonly WriteRecord[];
  /** The key the StateView did not have, when status is missing_state. */
  readonly missingKey: Uint8Array | null;
}

export interface RunRequest {
  readonly method: string;
  readonly input?: Uint8Array;
  /** 32-byte ed25519 public key that signed the invocation. */
  readonly invoker: Uint8Array;
  /** 32-byte public key of the proposer of the block being executed. */
  readonly proposer: Uint8Array;
  /** Gas available, 0 <= gasLimit < 2^63. */
  readonly gasLimit: bigint;
  readonly state: StateView;
}

export interface LoadOptions {
  readonly schedule?: GasSchedule;
  readonly limits?: Partial<VmLimits>;
  /**
   * false: run the module as compiled, without gas or stack instrumentation (benchmarks only — an unmetered
   * module can loop forever). Host functions then charge nothing.
   */
  readonly metered?: boolean;
}

export interface RunOptions {
  readonly schedule?: GasSchedule;
  readonly runtimeLimits?: Partial<RuntimeLimits>;
  /** Extra import modules (benchmarks wire wasm-metering's `metering.usegas` here). Disables instance reuse. */
  readonly extraImports?: Imports;
  /**
   * Run in a pooled instance reset to the post-start snapshot when one is available (default true). Results
   * are identical either way (runtime-reuse.ts argues why, test/vm-reuse.test.ts compares); false always
   * instantiates and runs `__cairn_start`.
   */
  readonly reuseInstances?: boolean;
}

/** A contract module ready to run: validated, instrumented and compiled by the engine. */
export interface LoadedContract {
  readonly codeHash: Uint8Array;
  readonly codeHashHex: string;
  /** Exported functions of type () -> () whose names do not start with "__", sorted. */
  readonly methods: readonly string[];
  readonly metered: boolean;
  readonly module: WasmModule;
  /** Memory cap in pages (to explain an `unreachable` trap hit with memory full). */
  readonly maxMemoryPages: number;
}

const INVOKER_BYTES = 32;
const MAX_GAS = (1n << 63n) - 1n;

// ---- loading -----------------------------------------------------------------------------------------------

const MODULE_CACHE_ENTRIES = 256;
const moduleCache = new Map<string, LoadedContract>();
/** Instance pools of loaded contracts whose instances can be reset to a snapshot (metered, reusable modules). */
const pools = new WeakMap<LoadedContract, InstancePool>();

function loadUncached(bytes: Uint8Array, key: string, hash: Uint8Array, opts: LoadOptions): LoadedContract {
  const limits = resolveLimits(opts.limits);
  const metered = opts.metered !== false;
  let runnable: Uint8Array;
  let summary: ModuleSummary;
  let snapshot: SnapshotExports | null = null;
  if (metered) ({ wasm: runnable, summary, snapshot } = prepareContract(bytes, { schedule: opts.schedule, limits }));
  else [runnable, summary] = [bytes, validateModule(bytes, limits)];
  const methods = [...summary.methods].sort();
  let module: WasmModule;
  try {
    module = new wasm.Module(runnable);
  } catch (e) {
    throw new VmError("invalid_wasm", `the engine refused the module: ${(e as Error).message}`);
  }
  const loaded: LoadedContract = Object.freeze({
    codeHash: hash,
    codeHashHex: key.slice(0, 64),
    methods: Object.freeze(methods),
    metered,
    module,
    maxMemoryPages: limits.maxMemoryPages,
  });
  if (snapshot?.reusable && importsOnlyFunctions(module)) pools.set(loaded, new InstancePool(snapshot));
  return loaded;
}

/**
 * Validates, instruments and compiles a contract module (the uninstrumented bytes, as compiled and deployed).
 * Cached by code hash (and options). Throws VmError 'invalid_wasm' naming what is wrong.
 */
export function loadContract(bytes: Uint8Array, opts: LoadOptions = {}): LoadedContract {
  const hash = codeHash(bytes);
  const hex = Buffer.from(hash).toString("hex");
  const custom = opts.schedule !== undefined || opts.limits !== undefined;
  const key = `${hex}${opts.metered === false ? ":unmetered" : ""}`;
  if (!custom) {
    const hit = moduleCache.get(key);
    if (hit) {
      moduleCache.delete(key);
      moduleCache.set(key, hit);
      return hit;
    }
  }
  const loaded = loadUncached(bytes, key, hash, opts);
  if (!custom) {
    moduleCache.set(key, loaded);
    while (moduleCache.size > MODULE_CACHE_ENTRIES) moduleCache.delete(moduleCache.keys().next().value!);
  }
  return loaded;
}

/**
 * Instance-reuse counters of a loaded contract, or null when its instances are never reused (unmetered, or
 * the module uses data.drop). For tests and diagnostics only.
 */
export function instancePoolStats(contract: LoadedContract): PoolStats | null {
  return pools.get(contract)?.stats() ?? null;
}

/**
 * The contract loaded (with default options) for `codeHash`, if it is still in the cache: lets a caller that
 * knows the code hash skip fetching and re-hashing the module bytes on every invocation.
 */
export function cachedContract(codeHash: Uint8Array | string): LoadedContract | null {
  const key = typeof codeHash === "string" ? codeHash.toLowerCase() : Buffer.from(codeHash).toString("hex");
  return moduleCache.get(key) ?? null;
}

// ---- running -----------------------------------------------------------------------------------------------

function result(
  status: RunStatus,
  gasUsed: bigint,
  error: string | null,
  host: InvocationHost | null,
  extra: { output?: Uint8Array; missingKey?: Uint8Array | null } = {},
): RunResult {
  return {
    status,
    gasUsed,
    output: status === "ok" ? (extra.output ?? new Uint8Array(0)) : new Uint8Array(0),
    error,
    reads: host ? host.reads() : [],
    writes: status === "ok" && host ? host.writes() : [],
    missingKey: extra.missingKey ?? null,
  };
}

function bad(what: string): VmError {
  return new VmError("bad_request", `run request: ${what}`);
}

function checkRequest(req: RunRequest): void {
  if (typeof req.method !== "string") throw bad("method must be a string");
  if (!(req.invoker instanceof Uint8Array) || req.invoker.length !== INVOKER_BYTES) throw bad("invoker must be 32 bytes");
  if (!(req.proposer instanceof Uint8Array) || req.proposer.length !== 32) throw bad("proposer must be 32 bytes");
  if (typeof req.gasLimit !== "bigint" || req.gasLimit < 0n || req.gasLimit > MAX_GAS) {
    throw bad("gasLimit must be a bigint in [0, 2^63)");
  }
  if (req.input !== undefined && !(req.input instanceof Uint8Array)) throw bad("input must be a Uint8Array");
  if (!req.state || typeof req.state.get !== "function") throw bad("state must be a StateView");
}

type Fn = (...args: number[]) => unknown;

function exportedFunction(exports: Record<string, unknown>, name: string): Fn | null {
  const v = exports[name];
  return typeof v === "function" ? (v as Fn) : null;
}

/**
 * Runs `req.method` of a loaded contract in a fresh instance (or a pooled one reset to exactly that state).
 * Never throws for anything the contract does; throws VmError 'bad_request' for a malformed request, and
 * rethrows whatever the StateView throws other than MissingState (a storage failure is not a contract outcome).
 */
export function runContract(contract: LoadedContract, req: RunRequest, opts: RunOptions = {}): RunResult {
  checkRequest(req);
  const input = req.input ?? new Uint8Array(0);
  const limits = resolveRuntimeLimits(opts.runtimeLimits);
  if (!contract.methods.includes(req.method)) {
    const known = contract.methods.length ? contract.methods.join(", ") : "none";
    return result("invalid", 0n, `no such method '${req.method}' (methods: ${known})`, null);
  }
  if (input.length > limits.maxInputBytes) {
    return result("invalid", 0n, `input of ${input.length} bytes exceeds ${limits.maxInputBytes}`, null);
  }

  const host = new InvocationHost(req.state, req.proposer.slice(), opts.schedule ?? DEFAULT_GAS_SCHEDULE, limits);
  const pool = opts.reuseInstances !== false && opts.extraImports === undefined ? (pools.get(contract) ?? null) : null;
  let slot = pool?.usable ? pool.take(req.gasLimit) : null;
  const restored = slot !== null;
  if (slot === null) {
    try {
      slot = instantiate(contract.module, new HostBinding(), opts.extraImports);
    } catch (e) {
      if (e instanceof wasm.LinkError) return result("invalid", 0n, `cannot link the module: ${e.message}`, null);
      throw e;
    }
  }
  slot.binding.current = host;
  // An exception escaping runInSlot (storage failure, internal error) skips release: the instance is dropped.
  const r = runInSlot(contract, req, input, limits, host, slot, restored ? pool!.startGas : null, pool);
  if (pool) pool.release(slot);
  else slot.binding.current = null;
  return r;
}

/**
 * The invocation proper. `startGas` null: a fresh instance, run `__cairn_start` (and let the pool snapshot it);
 * otherwise an instance already in its post-start state, charged the start's recorded cost.
 */
function runInSlot(
  contract: LoadedContract,
  req: RunRequest,
  input: Uint8Array,
  limits: RuntimeLimits,
  host: InvocationHost,
  slot: Slot,
  startGas: bigint | null,
  pool: InstancePool | null,
): RunResult {
  const exports = slot.exports;
  const memory = exports.memory;
  host.memory = isMemory(memory) ? memory : null;
  const gas = exports[GAS_EXPORT];
  const trap = exports[TRAP_EXPORT];
  if (contract.metered) {
    if (!isGlobal(gas) || !isGlobal(trap)) throw new VmError("internal", "instrumented module lacks its gas globals");
    host.meter = { gas, trap };
    gas.value = startGas === null ? req.gasLimit : req.gasLimit - startGas;
  }

  let output: Uint8Array;
  try {
    if (startGas === null) {
      exportedFunction(exports, START_EXPORT)?.();
      if (pool && host.meter) pool.afterStart(slot, host, req.gasLimit, host.meter.gas);
    }
    const prepare = exportedFunction(exports, "__cairn_prepare");
    if (prepare) host.writeCall(Number(prepare(INVOKER_BYTES + input.length)), req.invoker, input);
    exportedFunction(exports, req.method)!();
    const outPtr = exportedFunction(exports, "__cairn_output_ptr");
    const outLen = exportedFunction(exports, "__cairn_output_len");
    if (outPtr && outLen) {
      const len = Number(outLen()) >>> 0;
      if (len > limits.maxOutputBytes) {
        return result("trap", gasUsedBy(host, req), `limit: output of ${len} bytes exceeds ${limits.maxOutputBytes}`, host);
      }
      output = len === 0 ? new Uint8Array(0) : host.copyIn(Number(outPtr()), len);
    } else {
      output = new Uint8Array(0);
    }
  } catch (e) {
    return classify(e, contract, req, host);
  }
  if (host.stop) {
    // A host function stopped the run but the engine swallowed the exception: cannot happen without Wasm
    // exception handling (rejected by validation); refuse to report success regardless.
    return classify(host.stop, contract, req, host);
  }
  return result("ok", gasUsedBy(host, req), null, host, { output });
}

/** Gas the run has used so far: the limit less what the meter has left (0 for an unmetered run). */
function gasUsedBy(host: InvocationHost, req: RunRequest): bigint {
  return host.meter ? req.gasLimit - (host.meter.gas.value as bigint) : 0n;
}

function classify(
  e: unknown,
  contract: LoadedContract,
  req: RunRequest,
  host: InvocationHost,
): RunResult {
  const gasUsed = (): bigint => gasUsedBy(host, req);
  const stop = host.stop ?? (e instanceof HostStop ? e : null);
  if (stop) {
    switch (stop.kind) {
      case "out_of_gas":
        return result("out_of_gas", req.gasLimit, "out of gas", host);
      case "missing_state":
        return result("missing_state", gasUsed(), stop.message, host, { missingKey: stop.key });
      default:
        return result(stop.kind, gasUsed(), stop.message, host);
    }
  }
  if (e instanceof wasm.RuntimeError) {
    const trapCode = host.meter ? Number(host.meter.trap.value) : 0;
    if (trapCode === TRAP_OUT_OF_GAS) return result("out_of_gas", req.gasLimit, "out of gas", host);
    if (trapCode === TRAP_STACK) return result("trap", gasUsed(), "stack depth exceeded", host);
    let error = describeTrap(e.message);
    if (error === "unreachable" && host.memory && host.memory.buffer.byteLength >= contract.maxMemoryPages * 65_536) {
      // AssemblyScript's allocator executes `unreachable` when memory.grow fails; say so.
      error = `unreachable (memory is at its cap of ${contract.maxMemoryPages} pages)`;
    }
    return result("trap", gasUsed(), error, host);
  }
  if (e instanceof RangeError && /call stack/i.test(e.message)) {
    // The instrumenter's stack limit is set so V8's own stack never overflows first; if it ever does, the run
    // still ends as a trap rather than taking the node down.
    return result("trap", gasUsed(), "native stack exhausted", host);
  }
  throw e;
}

/** Loads (cached) and runs in one step; a module that cannot be loaded gives status 'invalid'. */
export function execute(bytes: Uint8Array, req: RunRequest, opts: RunOptions & LoadOptions = {}): RunResult {
  let contract: LoadedContract;
  try {
    contract = loadContract(bytes, opts);
  } catch (e) {
    if (e instanceof VmError && e.code === "invalid_wasm") {
      checkRequest(req);
      return result("invalid", 0n, e.message, null);
    }
    throw e;
  }
  return runContract(contract, req, opts);
}
