// What the REST layer needs from a running node (docs: notes/node-contract.md). The validator wiring
// implements it; tests implement it in memory. The API never reaches past this interface.

import type { Block, ContractVersionInfo, Receipt, SignedInvocation, SourceFile } from "../codec/types.ts";
import type { AdmitOutcome, Displaced } from "../mempool/types.ts";
import type { FinalOutcome } from "../receipt-waiters.ts";

export type { Displaced, FinalOutcome };

export type SubmitResult = { id: string } | { error: { code: string; message: string } };

/** A mempool admission outcome as the batch route reports it. */
export function submitResult(o: AdmitOutcome): SubmitResult {
  return o.ok ? { id: o.idHex } : { error: { code: o.error.code, message: o.error.message } };
}

export interface QueryRequest {
  contract: string;
  version: number;
  method: string;
  input: Uint8Array;
  gasLimit?: bigint;
  invoker?: Uint8Array;
}

export interface QueryResult {
  status: string;
  gasUsed: bigint;
  output: Uint8Array;
  error: string | null;
}

export interface NodeStatus {
  chainId: string;
  /** Last committed and applied height, its block hash, and the state commitment after it. */
  height: bigint;
  headHash: Uint8Array;
  stateRoot: Uint8Array;
  view: bigint;
  validators: Array<{ publicKey: Uint8Array; name: string }>;
  self: number | null;
  mempool: number;
  /** The genesis's fee floor: the lowest gas price this chain admits and executes (0 when the genesis has none). */
  minGasPrice: bigint;
}

export interface SyncState {
  /** True while the node knows it is behind: just started and not yet level with its peers, catching up, or seeing certificates above its executed height. */
  syncing: boolean;
  /** Why, for humans (e.g. "starting: heard from 1 of 2 peers needed", "catching up: height 12 of 250"), null when not syncing. */
  reason: string | null;
  /** The committed height reads are answered at. */
  height: bigint;
  /** The highest committed height heard of from peers, null when none yet. */
  knownHeight: bigint | null;
}

export interface NodeServices {
  readonly chainId: string;
  /** Admits to the mempool; throws CairnError (400/409/413/503 codes). Resolves to the invocation id. */
  submit(inv: SignedInvocation): Promise<Uint8Array>;
  submitBatch(invs: SignedInvocation[]): Promise<SubmitResult[]>;
  /**
   * Resolves when every invocation has a final outcome (its receipt, or its displacement by the invocation that
   * used its nonce), with null for those still open after timeoutMs. The validator: `ReceiptWaiters.wait`.
   */
  waitForReceipts(ids: Uint8Array[], timeoutMs: number): Promise<(FinalOutcome | null)[]>;
  getReceipt(id: Uint8Array): Promise<Receipt | null>;
  isPending(id: Uint8Array): boolean;
  /**
   * The record of an invocation the mempool let go for good, if remembered (`Mempool.displacedBy`): another used
   * its nonce first, or it expired (its gap outlived gapExpiryMs, or it was evicted or replaced).
   */
  displaced(id: Uint8Array): Displaced | null;
  /** Whether the node knows it is behind; while it is, the API refuses writes and labels reads as syncing. */
  syncState(): SyncState;
  query(q: QueryRequest): Promise<QueryResult>;
  getBlock(height: bigint | "latest"): Promise<Block | null>;
  getAccount(pk: Uint8Array): Promise<{ balance: bigint; nonce: bigint }>;
  getContract(name: string): Promise<{ name: string; owner: Uint8Array; versions: ContractVersionInfo[] } | null>;
  getContractVersion(name: string, version: number): Promise<{ info: ContractVersionInfo; sources: SourceFile[] } | null>;
  getState(contract: string, key: Uint8Array): Promise<Uint8Array | null>;
  status(): NodeStatus;
  evidence(): Promise<unknown[]>;
  /** Prometheus text exposition of the node's own metrics. */
  metrics(): string;
  /**
   * Optional: the nonce the invoker should sign next counting its pending invocations (the mempool's
   * `nextNonce`), so clients can pipeline without tracking nonces. Absent: clients use the committed nonce.
   */
  pendingNonce?(pk: Uint8Array): bigint | null;
}
