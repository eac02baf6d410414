// The blocks this validator was given but has not committed, as they stand on disk (ConsensusLog's table):
// written with the vote that follows them when there is one, alone otherwise, and forgotten once committed
// or pruned. Safety never rests on these writes (a lost block is fetched again), so only the safety state is
// awaited before a vote; but a failed write is a storage failure like any other and stops the validator.

import { bytesEqual, toHex } from "../codec/hex.ts";
import type { Block } from "../codec/types.ts";
import type { ConsensusLog } from "../store/consensus-log.ts";
import type { Store } from "../store/index.ts";
import type { Halt } from "./halt.ts";

export class UncommittedBlocks {
  /** Heights of the blocks stored here and not yet forgotten, by hash hex. */
  private readonly heights = new Map<string, bigint>();
  /** Block writes in flight, in order; readers of stored blocks and deletions wait for it. */
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly clog: ConsensusLog,
    private readonly store: Store,
    private readonly halt: Halt,
  ) {}

  get size(): number {
    return this.heights.size;
  }

  /** Resolves once every block write issued so far has landed (or failed, which halts the validator). */
  written(): Promise<void> {
    return this.writes;
  }

  /** Notes a block the core asked to persist, whichever write carries it. */
  note(block: Block, hash: Uint8Array): void {
    this.heights.set(toHex(hash), block.header.height);
  }

  /** The safety state and, in the same synced batch, the step's blocks: one fsync per view. */
  async writeWithSafety(state: Uint8Array, blocks: ReadonlyArray<{ block: Block; hash: Uint8Array }>): Promise<void> {
    const write = this.clog.putSafety(state, blocks);
    if (blocks.length > 0) this.chain(write);
    await write;
  }

  /** A block on its own, not awaited: waiting for it only delayed every vote. */
  writeAlone(block: Block, hash: Uint8Array): void {
    const write = this.clog.putPending(block, hash).then(() => undefined);
    write.catch(this.halt.guard("storing an uncommitted block"));
    this.chain(write);
  }

  private chain(write: Promise<unknown>): void {
    // Failures are the writer's to report (they halt); the chain only orders what comes after.
    this.writes = this.writes.then(() => write.then(() => undefined, () => undefined));
  }

  /**
   * A committed block leaves the uncommitted index (its bytes stay: the chain names them). Committed blocks
   * never come back in a prune, so without this the index grew by one entry per block until the next restart.
   */
  forgetCommitted(height: bigint, hash: Uint8Array): void {
    if (!this.heights.delete(toHex(hash))) return;
    // After the block's own write (a sync-fetched block is stored without waiting), then with the next safety write.
    void this.writes.then(() => this.clog.dropPending([{ height, hash, committed: true }])).catch(this.halt.guard("dropping a committed block's index entry"));
  }

  /** Forgets pruned blocks now (a block given again later is noted afresh); dropPruned then deletes them. */
  takePruned(hashes: readonly Uint8Array[]): PrunedBlock[] {
    const drop: PrunedBlock[] = [];
    for (const h of hashes) {
      const hex = toHex(h);
      const height = this.heights.get(hex);
      this.heights.delete(hex);
      if (height !== undefined) drop.push({ height, hash: h });
    }
    return drop;
  }

  /**
   * Deletes pruned blocks: a forked-off block loses its bytes, one below the head that was committed keeps
   * them. Call in commit order (after the commits in flight), so the chain index read here is up to date.
   */
  async dropPruned(drop: readonly PrunedBlock[]): Promise<void> {
    if (drop.length === 0) return;
    await this.writes;
    const entries: Array<{ height: bigint; hash: Uint8Array; committed: boolean }> = [];
    for (const d of drop) {
      const at = await this.store.blockHashAt(d.height);
      entries.push({ height: d.height, hash: d.hash, committed: at !== null && bytesEqual(at, d.hash) });
    }
    await this.clog.dropPending(entries);
  }
}

export interface PrunedBlock {
  readonly height: bigint;
  readonly hash: Uint8Array;
}
