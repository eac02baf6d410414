// The execution layer's public shapes (re-exported by executor.ts and index.ts), kept apart so that the modules
// behind the Executor can name them without importing the façade.

import type { ContractVersionInfo, Genesis, Receipt } from "../codec/types.ts";
import type { ContractVm } from "./vm-adapter.ts";

export interface ExecutorOptions {
  readonly genesis: Genesis;
  readonly vm: ContractVm;
  /** Bytes of committed state kept in memory for the vm's synchronous reads (default 64 MiB). */
  readonly stateCacheBytes?: number;
  /** Fill the state cache from RocksDB on open, up to stateCacheBytes (default true). */
  readonly preloadState?: boolean;
  /** Most missing-state re-runs of one invocation before giving up with ExecError 'unavailable' (default 100 000). */
  readonly maxStateRetries?: number;
  /** Gas cap of read-only queries (default 10 000 000). */
  readonly queryGasCap?: bigint;
  /**
   * What open checks of the committed chain before anything else, since a node must not start on a corrupt
   * chain. true (the default): the last START_CHECK_BLOCKS committed blocks and every block open re-executes
   * (verifyChainTail), a cost that does not grow with the chain; "full": the whole chain (verifyChain, what
   * `cairn verify-chain` runs); false: nothing.
   */
  readonly verifyOnOpen?: boolean | "full";
  /** Where open reports its start-up check (one line as it begins, one with blocks checked and time taken). */
  readonly openLog?: OpenLog;
  /** Called after each committed-but-unapplied block re-executed on open. */
  readonly onReexecuted?: (height: bigint, stateRoot: Uint8Array) => void;
  /** Default for executeBlock's `verified` (e.g. `{ has: (id) => mempool.isVerified(id) }`). */
  readonly verifiedIds?: VerifiedIds;
}

/** The part of a node's logger open writes to (node/net's Logger fits). */
export interface OpenLog {
  info(msg: string, fields?: Record<string, unknown>): void;
}

/** What open checked of the committed chain (Executor.openCheck). */
export interface OpenCheck {
  readonly mode: "tail" | "full" | "none";
  /** Lowest and highest height checked; null when nothing was (an empty database, or mode "none"). */
  readonly from: bigint | null;
  readonly to: bigint | null;
  readonly blocks: number;
  readonly ms: number;
}

/** Ids (hex) whose signatures were already checked (the mempool's cache), so blocks do not verify twice. */
export interface VerifiedIds {
  has(idHex: string): boolean;
}

export interface ExecutedBlock {
  readonly hash: Uint8Array;
  readonly height: bigint;
  /** root(block): what the child block's header must carry. */
  readonly stateRoot: Uint8Array;
  /** root(parent): what this block's header should carry. */
  readonly parentRoot: Uint8Array;
  /** header.stateRoot === root(parent); a validator votes only when true. */
  readonly headerRootMatches: boolean;
  readonly receipts: readonly Receipt[];
}

export interface CommittedHead {
  readonly height: bigint;
  readonly hash: Uint8Array;
  readonly stateRoot: Uint8Array;
}

export interface QueryRequest {
  readonly contract: string;
  readonly version: number;
  readonly method: string;
  readonly input: Uint8Array;
  readonly gasLimit?: bigint;
  readonly invoker?: Uint8Array;
}

export interface QueryResult {
  readonly status: string;
  readonly gasUsed: bigint;
  readonly output: Uint8Array;
  readonly error: string | null;
}

export interface ContractInfo {
  readonly name: string;
  readonly owner: Uint8Array;
  readonly versions: ContractVersionInfo[];
}

/** Counters for metrics and tests; one object shared by the Executor and the modules that count. */
export interface ExecStats {
  stateRetries: number;
  blocksExecuted: number;
  blocksCommitted: number;
  invocations: number;
  queryRestarts: number;
}
