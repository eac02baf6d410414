// What the consensus side of a validator keeps beside the chain: blocks it was given but that are not
// committed yet (so a restart hands them back to the core instead of fetching them again), and equivocation
// evidence: tables 'P' and 'E' of the layout in keys.ts.

import { encode, encodingOf } from "../codec/codec.ts";
import { EVIDENCE_KINDS, Evidence, type Evidence as EvidenceT } from "../codec/consensus.ts";
import { bytesEqual } from "../codec/hex.ts";
import { Block, type Block as BlockT } from "../codec/types.ts";
import { blockHash } from "../crypto/digests.ts";
import type { BatchOp } from "./engine.ts";
import { decodeStored } from "./errors.ts";
import { TABLE, keys, readU64be } from "./keys.ts";
import type { Store } from "./store.ts";

function pendingOps(block: BlockT, hash: Uint8Array): BatchOp[] {
  return [
    { type: "put", key: keys.block(hash), value: encodingOf(Block, block) },
    { type: "put", key: keys.pending(block.header.height, hash), value: new Uint8Array(0) },
  ];
}

/** Pruned-block deletions held back for the next safety write before they are written on their own. */
const MAX_DEFERRED_OPS = 1024;

export class ConsensusLog {
  /**
   * Deletions of pruned blocks not written yet. They ride the next safety-state batch: writing them on their
   * own cost one more trip through the I/O threads every view. Nothing depends on them being durable: a
   * restart clears whatever is left over (pendingAbove).
   */
  private deferred: BatchOp[] = [];

  constructor(private readonly store: Store) {}

  /** Stores an uncommitted block (certified or proposed). Not synced: peers can always send it again. */
  async putPending(block: BlockT, hash: Uint8Array = blockHash(block.header)): Promise<Uint8Array> {
    await this.store.writeOps(pendingOps(block, hash), false);
    this.store.noteBlockStored(hash);
    return hash;
  }

  /**
   * Stores the safety state (durably, see Store.putSafety) and, in the same batch, uncommitted blocks and the
   * deletions of pruned ones: a proposal's block and the vote for it come out of one step of the core, and
   * writing them apart cost a second trip through the I/O threads every view. The deletions go first, so a
   * block pruned and then given again stays stored.
   */
  putSafety(state: Uint8Array, blocks: ReadonlyArray<{ block: BlockT; hash: Uint8Array }> = []): Promise<void> {
    const ops = this.deferred;
    this.deferred = [];
    for (const b of blocks) ops.push(...pendingOps(b.block, b.hash));
    const write = this.store.putSafety(state, ops);
    // Noted once landed. A block pruned while this write is in flight is noted anyway, after its forgetting:
    // only a forked-off block is pruned with its bytes, and a forked-off block never commits.
    return blocks.length === 0 ? write : write.then(() => blocks.forEach((b) => this.store.noteBlockStored(b.hash)));
  }

  /** Uncommitted blocks above `committedHeight`; entries at or below it are cleared on the way. */
  async pendingAbove(committedHeight: bigint): Promise<BlockT[]> {
    const out: BlockT[] = [];
    const stale: BatchOp[] = [];
    for await (const [k] of this.store.db.iterate({ gte: keys.table(TABLE.pending), lt: keys.table(TABLE.pending + 1) })) {
      const height = readU64be(k, 1);
      const hash = k.slice(9);
      if (height <= committedHeight) {
        // Left over by a crash before its deletion was written: a forked-off block loses its bytes too.
        stale.push({ type: "del", key: k });
        const committed = await this.store.blockHashAt(height);
        if (committed === null || !bytesEqual(committed, hash)) stale.push({ type: "del", key: keys.block(hash) });
        continue;
      }
      const raw = await this.store.db.get(keys.block(hash));
      if (raw === null) {
        stale.push({ type: "del", key: k });
        continue;
      }
      out.push(decodeStored(Block, raw, "pending block"));
    }
    if (stale.length > 0) await this.store.writeOps(stale, false);
    return out;
  }

  /**
   * Forgets pruned blocks: their bytes under 'B' stay only when they are committed (the chain index names
   * them); forked-off blocks are deleted. The deletions ride the next safety write (see `deferred`), or are
   * written now once many have piled up (a validator catching up commits without voting).
   */
  async dropPending(blocks: ReadonlyArray<{ height: bigint; hash: Uint8Array; committed: boolean }>): Promise<void> {
    for (const b of blocks) {
      this.store.forgetBlockStored(b.hash);
      this.deferred.push({ type: "del", key: keys.pending(b.height, b.hash) });
      if (!b.committed) this.deferred.push({ type: "del", key: keys.block(b.hash) });
    }
    if (this.deferred.length < MAX_DEFERRED_OPS) return;
    const ops = this.deferred;
    this.deferred = [];
    await this.store.writeOps(ops, false);
  }

  async putEvidence(e: EvidenceT): Promise<void> {
    await this.store.writeOps([{ type: "put", key: keys.evidence(e.view, e.validator, EVIDENCE_KINDS.indexOf(e.kind)), value: encode(Evidence, e) }], true);
  }

  async listEvidence(limit = 1000): Promise<EvidenceT[]> {
    const out: EvidenceT[] = [];
    for await (const [, v] of this.store.db.iterate({ gte: keys.table(TABLE.evidence), lt: keys.table(TABLE.evidence + 1), limit })) {
      out.push(decodeStored(Evidence, v, "stored evidence"));
    }
    return out;
  }
}
