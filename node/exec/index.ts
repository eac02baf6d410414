export {
  Executor,
  type ExecutorOptions,
  type ExecutedBlock,
  type CommittedHead,
  type VerifiedIds,
  type QueryRequest,
  type QueryResult,
  type ContractInfo,
} from "./executor.ts";
export { ExecError, isExecError, isTransientExecError, type ExecErrorCode } from "./errors.ts";
export { replay, type ReplayOptions, type ReplayReport, type ReplayMismatch } from "./replay.ts";
export { genesisBlock, genesisBlockHash, genesisQc, genesisStateRoot, genesisStateWrites, checkGenesis } from "./genesis.ts";
export { EXEC_GAS, intrinsicGas } from "./gas.ts";
export { stateKeys, STATE_TAG, ContractRecord } from "./state-keys.ts";
export { nextStateRoot, deltaHash } from "./overlay.ts";
export {
  RealContractVm,
  type ContractVm,
  type RealVmOptions,
  type VmCallRequest,
  type VmCallResult,
  type VmStateView,
  type CompileOutcome,
} from "./vm-adapter.ts";
