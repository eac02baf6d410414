/**
 * The public API of Cairn's contract VM. Nothing under node/ is imported here or below.
 *
 * Pipeline: AssemblyScript sources --compileContract (pinned toolchain, worker thread, cached)--> Wasm bytes
 * (code hash = K12 of them) --loadContract (validate, instrument for gas/stack/NaN, engine compile; cached by
 * code hash)--> LoadedContract --runContract (a fresh instance per invocation, or an idle instance of the same
 * contract reset to its exact post-start snapshot: memory, size and every global; see runtime-reuse.ts)--> RunResult.
 *
 * ## State access and MissingState
 * A run reads state through a synchronous `StateView`. A node whose state lives in an async store (RocksDB)
 * cannot block inside `get`, so `get` may instead throw `new MissingState(key)`: the run stops at once with
 * status 'missing_state' and `missingKey` set. The caller loads that key asynchronously, adds it to the
 * view's cache and runs the invocation again from scratch. Because a run is a pure function of (module,
 * method, input, invoker, proposer, gas limit, state), the re-run takes exactly the same path up to the point
 * the key is needed and continues past it. Keys already loaded can be kept across re-runs; `reads` of a
 * finished run lists every key read, for prefetching next time.
 * Any other exception thrown by `get` is not a contract outcome: it propagates out of `runContract` unchanged
 * (a node may use this to carry its own missing-key signal, or to fail a block on a storage error).
 *
 * ## Results
 * `status`: ok | reverted | out_of_gas | trap | invalid | missing_state. Writes are buffered and returned only
 * when ok (sorted by key bytes; an empty value deletes the key). A read-only query is a run whose writes the
 * caller ignores. `gasUsed` is a bigint; on out_of_gas it equals the limit.
 */

export { VmError, isVmError, type VmErrorCode } from "./errors.ts";
export { DEFAULT_GAS_SCHEDULE, type GasSchedule } from "./gas.ts";
export { DEFAULT_VM_LIMITS, type VmLimits } from "./limits.ts";
export { DEFAULT_RUNTIME_LIMITS, type RuntimeLimits } from "./runtime-limits.ts";

export {
  ASC_VERSION,
  SDK_VERSION,
  DEFAULT_TOOLCHAIN_ID,
  installedToolchain,
  resolveToolchain,
  supportedToolchains,
  type Toolchain,
} from "./toolchain.ts";
export {
  compileContract,
  shutdownCompiler,
  formatDiagnostic,
  CompileError,
  type CompileOptions,
  type CompilePriority,
  type CompiledContract,
  type Diagnostic,
} from "./compile.ts";
export { checkSources, loadContractSources, sourcesHash, type ContractSources, type LoadedSources } from "./compile-sources.ts";

export { codeHash, codeHashHex } from "./runtime-codehash.ts";
export { MissingState, type StateView, type ReadRecord, type WriteRecord } from "./runtime-host.ts";
export {
  loadContract,
  cachedContract,
  runContract,
  execute,
  type LoadedContract,
  type LoadOptions,
  type RunOptions,
  type RunRequest,
  type RunResult,
  type RunStatus,
} from "./runtime.ts";
export { validateModule, type ModuleSummary } from "./validate.ts";
