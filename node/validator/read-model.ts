// The answers the REST layer gets from a validator (NodeServices): submissions through admission, reads of the
// committed state, receipts, blocks, status and metrics. A halted or stopping validator admits nothing.

import { toJson } from "../codec/codec.ts";
import { Evidence as EvidenceCodec } from "../codec/consensus.ts";
import type { Block, ContractVersionInfo, Receipt, SignedInvocation, SourceFile } from "../codec/types.ts";
import type { NodeServices, NodeStatus, QueryRequest, QueryResult, SubmitResult, SyncState } from "../api/services.ts";
import type { ConsensusCore } from "../consensus/index.ts";
import { CairnError } from "../errors.ts";
import type { Executor } from "../exec/index.ts";
import type { Mempool } from "../mempool/index.ts";
import type { NodeMetrics } from "../metrics.ts";
import type { ReceiptWaiters } from "../receipt-waiters.ts";
import { StoreError, type Store } from "../store/index.ts";
import type { ConsensusLog } from "../store/consensus-log.ts";
import type { Admission } from "./admission.ts";
import type { Halt } from "./halt.ts";
import type { Displaced } from "../mempool/index.ts";
import type { FinalOutcome } from "../receipt-waiters.ts";
import type { PeerStatus } from "./peer-status.ts";
import type { ValidatorLinks } from "./ports.ts";
import type { UncommittedBlocks } from "./uncommitted-blocks.ts";

export interface ReadModelParts {
  readonly chainId: string;
  readonly self: number;
  readonly validators: ReadonlyArray<{ publicKey: Uint8Array; name: string }>;
  readonly store: Store;
  readonly clog: ConsensusLog;
  readonly executor: Executor;
  readonly mempool: Mempool;
  readonly core: ConsensusCore;
  readonly links: ValidatorLinks;
  readonly admission: Admission;
  readonly waiters: ReceiptWaiters;
  readonly peers: PeerStatus;
  readonly blocks: UncommittedBlocks;
  readonly metrics: NodeMetrics;
  readonly halt: Halt;
  /** True once the validator is stopping. */
  readonly stopping: () => boolean;
}

export class ReadModel implements NodeServices {
  readonly chainId: string;

  constructor(private readonly p: ReadModelParts) {
    this.chainId = p.chainId;
  }

  async submit(inv: SignedInvocation): Promise<Uint8Array> {
    this.checkUp();
    return this.p.admission.submit(inv);
  }

  async submitBatch(invs: SignedInvocation[]): Promise<SubmitResult[]> {
    this.checkUp();
    return this.p.admission.submitBatch(invs);
  }

  waitForReceipts(ids: Uint8Array[], timeoutMs: number): Promise<(FinalOutcome | null)[]> {
    return this.p.waiters.wait(ids, timeoutMs);
  }

  getReceipt(id: Uint8Array): Promise<Receipt | null> {
    return this.read("reading a receipt", this.p.store.receiptById(id));
  }

  isPending(id: Uint8Array): boolean {
    return this.p.mempool.isPending(id);
  }

  displaced(id: Uint8Array): Displaced | null {
    return this.p.mempool.displacedBy(id) ?? null;
  }

  query(q: QueryRequest): Promise<QueryResult> {
    return this.read("running a query", this.p.executor.query(q));
  }

  getBlock(height: bigint | "latest"): Promise<Block | null> {
    return this.read("reading a block", this.p.executor.getBlock(height));
  }

  getAccount(pk: Uint8Array): Promise<{ balance: bigint; nonce: bigint }> {
    return this.read("reading an account", this.p.executor.getAccount(pk));
  }

  getContract(name: string): Promise<{ name: string; owner: Uint8Array; versions: ContractVersionInfo[] } | null> {
    return this.read("reading a contract", this.p.executor.getContract(name));
  }

  getContractVersion(name: string, version: number): Promise<{ info: ContractVersionInfo; sources: SourceFile[] } | null> {
    return this.read("reading a contract version", this.p.executor.getContractVersion(name, version));
  }

  getState(contract: string, key: Uint8Array): Promise<Uint8Array | null> {
    return this.read("reading contract state", this.p.executor.getState(contract, key));
  }

  pendingNonce(pk: Uint8Array): bigint | null {
    return this.p.mempool.nextNonce(pk);
  }

  syncState(): SyncState {
    return this.p.peers.syncState();
  }

  status(): NodeStatus {
    const head = this.p.executor.head();
    return {
      chainId: this.chainId,
      height: head.height,
      headHash: head.hash,
      stateRoot: head.stateRoot,
      view: this.p.core.view,
      validators: this.p.validators.map((v) => ({ publicKey: v.publicKey, name: v.name })),
      self: this.p.self,
      mempool: this.p.mempool.size,
      minGasPrice: this.p.executor.genesis.minGasPrice ?? 0n,
    };
  }

  async evidence(): Promise<unknown[]> {
    const stored = await this.read("reading evidence", this.p.clog.listEvidence());
    return stored.map((e) => toJson(EvidenceCodec, e));
  }

  metrics(): string {
    const p = this.p;
    const net = p.links.metrics();
    const m = p.metrics;
    m.set("cairn_view", Number(p.core.view));
    m.set("cairn_height", Number(p.executor.head().height));
    m.set("cairn_mempool_size", p.mempool.size);
    m.set("cairn_pending_blocks", p.core.pendingBlocks);
    m.set("cairn_stored_uncommitted_blocks", p.blocks.size);
    m.set("cairn_peers_connected", net.connectedPeers);
    m.set("cairn_net_frames_in_total", net.framesIn);
    m.set("cairn_net_frames_out_total", net.framesOut);
    m.set("cairn_net_bytes_in_total", net.bytesIn);
    m.set("cairn_net_bytes_out_total", net.bytesOut);
    m.set("cairn_state_retries_total", p.executor.stats.stateRetries);
    p.peers.updateMetrics();
    return m.render();
  }

  /**
   * A read whose storage fails (I/O, or bytes that do not decode) stops the validator as a failed write does:
   * a disk that fails a read cannot be trusted for the next write. The caller still gets the error.
   */
  private async read<T>(what: string, p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (e) {
      if (isStorageFailure(e)) this.p.halt.fatal(what, e);
      throw e;
    }
  }

  /** Writes are refused by a halted or stopping node, and by one that knows it is behind (its checks would be stale). */
  private checkUp(): void {
    const halted = this.p.halt.error;
    if (halted) throw new CairnError("unavailable", `node halted: ${halted.message}`);
    if (this.p.stopping()) throw new CairnError("unavailable", "node is stopping");
    const sync = this.p.peers.syncState();
    if (sync.syncing) throw new CairnError("syncing", `the node is syncing: ${sync.reason ?? "behind its peers"}`);
  }
}

/** A storage failure, directly or as the cause of an execution-layer error (StateView wraps I/O errors). */
function isStorageFailure(e: unknown): boolean {
  for (let x: unknown = e, depth = 0; x instanceof Error && depth < 4; x = x.cause, depth++) {
    if (x instanceof StoreError && (x.code === "io" || x.code === "corrupt_chain")) return true;
  }
  return false;
}
