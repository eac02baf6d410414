// What happens once the core decides: each committed block's results go to the store in one batch (through
// the executor), then the mempool lets its invocations go and the clients waiting for them get their receipts,
// in height order. Pruned blocks are dropped behind the commits in flight. Any failure here stops the node: a
// commit half done must not be followed by anything else.

import { bytesEqual, toHex } from "../codec/hex.ts";
import type { Block, Receipt } from "../codec/types.ts";
import type { CommittedBlock } from "../consensus/index.ts";
import { invocationId, invocationIdHex } from "../crypto/digests.ts";
import type { Executor } from "../exec/index.ts";
import type { Mempool } from "../mempool/index.ts";
import type { NodeMetrics } from "../metrics.ts";
import type { ReceiptWaiters } from "../receipt-waiters.ts";
import { ReleasingMap } from "../releasing-map.ts";
import type { Store } from "../store/index.ts";
import type { BlockExecution } from "./block-execution.ts";
import type { Halt } from "./halt.ts";
import type { UncommittedBlocks } from "./uncommitted-blocks.ts";

/** Told of every block once it is committed and its receipts delivered. */
export type CommitListener = (block: Block, receipts: readonly Receipt[]) => void;

export interface CommitParts {
  readonly executor: Executor;
  readonly store: Store;
  readonly mempool: Mempool;
  readonly waiters: ReceiptWaiters;
  readonly execution: BlockExecution;
  readonly blocks: UncommittedBlocks;
  readonly metrics: NodeMetrics;
  readonly halt: Halt;
}

export class CommitPipeline {
  /** Blocks the core committed whose invocations the mempool has not dropped yet (insertion = height order). */
  private readonly committing = new ReleasingMap<string, Block>();
  private chain: Promise<void> = Promise.resolve();
  private readonly listeners: CommitListener[] = [];
  private stopped = false;

  constructor(private readonly p: CommitParts) {}

  onCommitted(fn: CommitListener): void {
    this.listeners.push(fn);
  }

  /** Resolves once every commit and prune handed over so far is done. */
  settled(): Promise<void> {
    return this.chain;
  }

  /**
   * Blocks committed by the core but still on their way to the store: the core no longer lists them as pending
   * ancestors, but their invocations stay in the mempool until their commit has run, and payloads must leave
   * them out meanwhile.
   */
  inFlight(): IterableIterator<Block> {
    return this.committing.values();
  }

  commit(blocks: CommittedBlock[]): void {
    for (const cb of blocks) this.committing.set(toHex(cb.hash), cb.block);
    this.then("committing a block", async () => {
      for (const cb of blocks) {
        if (this.stopped || this.p.halt.halted) return;
        await this.commitOne(cb);
      }
    });
  }

  private async commitOne(cb: CommittedBlock): Promise<void> {
    // One batch records the block as committed together with its execution results.
    await this.p.executor.commitBlock(cb.hash, cb.qc);
    const hex = toHex(cb.hash);
    const executed = this.p.execution.take(hex);
    const block = cb.block;
    const receipts = executed?.receipts ?? (await this.p.store.receiptsOfBlock(block.header.height));
    this.p.metrics.inc("cairn_blocks_committed_total");
    this.p.metrics.inc("cairn_invocations_committed_total", block.invocations.length);
    this.p.metrics.set("cairn_height", Number(block.header.height));
    const invs = block.invocations;
    // The block's ids stop being pending synchronously inside onCommitted, and their receipts are delivered
    // in the same run: a waiter either registered before and is answered here, or registers after and finds
    // the receipt stored (the ordering ReceiptWaiters relies on to keep no receipts of its own).
    const cleanup = this.p.mempool.onCommitted(invs, { height: block.header.height });
    for (let i = 0; i < receipts.length; i++) {
      const r = receipts[i]!;
      const inv = invs[i];
      // Receipts come in block order; the invocation's memoized id hex saves encoding it again.
      this.p.waiters.deliver(r, inv !== undefined && bytesEqual(r.id, invocationId(inv)) ? invocationIdHex(inv) : undefined);
    }
    // Pending invocations whose nonce this block used are final too: their waiters learn it now.
    this.p.waiters.deliverDisplaced((await cleanup).displaced);
    this.committing.delete(hex);
    this.p.blocks.forgetCommitted(block.header.height, cb.hash);
    for (const l of this.listeners) l(block, receipts);
  }

  prune(hashes: Uint8Array[]): void {
    for (const h of hashes) this.p.execution.forget(toHex(h));
    const drop = this.p.blocks.takePruned(hashes);
    // After the commits in flight: a pruned block below the head may be committed, and must keep its bytes.
    if (drop.length > 0) this.then("dropping pruned blocks", () => this.p.blocks.dropPruned(drop));
  }

  private then(where: string, fn: () => Promise<void>): void {
    this.chain = this.chain.then(fn).catch((e: unknown) => {
      if (!this.stopped) this.p.halt.fatal(where, e);
    });
  }

  stop(): void {
    this.stopped = true;
  }
}
