export { Store, type StoreOptions, type AppliedState, type StateWrite, type CommitRecord, type ReceiptLocation } from "./store.ts";
export { StoreError, isStoreError, type StoreErrorCode } from "./errors.ts";
export { verifyChain, type VerifyChainOptions, type VerifyChainResult } from "./verify.ts";
export { RocksDb } from "./rocks.ts";
export type { BatchOp, EngineBatch, IterateOptions, StorageEngine } from "./engine.ts";
export { MemoryDisk, MemoryEngine, MemoryBatch, type MemoryDiskOptions, type MemoryFaults, type CrashOptions } from "./memory-engine.ts";
export { keys as storeKeys, TABLE, META, STORE_FORMAT, prefixEnd } from "./keys.ts";
