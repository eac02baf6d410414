// verifyChain: walk the committed chain from genesis and check that what is on disk is still the chain that
// was committed. A node refuses to start on a database that fails this (a flipped bit in a block, a missing or
// truncated height, a rewritten index), because everything it would serve or execute from there is suspect.

import { decode } from "../codec/codec.ts";
import { bytesEqual, toHex } from "../codec/hex.ts";
import { Block, type Block as BlockT, type QuorumCertificate as QcT } from "../codec/types.ts";
import { ZERO_HASH } from "../crypto/hash.ts";
import { blockHash, invocationsRoot } from "../crypto/digests.ts";
import { StoreError } from "./errors.ts";
import { TABLE, keys, readU64be } from "./keys.ts";
import type { Store } from "./store.ts";

export interface VerifyChainOptions {
  /**
   * Optional check of a certificate's signatures (the store does not know the validator set). Return false or
   * throw to fail verification at that height.
   */
  verifyQc?: (qc: QcT, height: bigint) => boolean;
  /** Called after each verified height (progress for long chains). */
  onBlock?: (height: bigint, block: BlockT) => void;
}

export interface VerifyChainResult {
  /** Highest committed height, null for an empty database. */
  readonly head: bigint | null;
  readonly blocks: number;
  readonly headHash: Uint8Array | null;
}

function corrupt(height: bigint, message: string): StoreError {
  return new StoreError("corrupt_chain", `committed chain is corrupt at height ${height}: ${message}`, height);
}

function isGenesisQc(qc: QcT): boolean {
  return qc.view === 0n && bytesEqual(qc.blockHash, ZERO_HASH) && qc.signatures.length === 0;
}

/**
 * Checks every committed height from 0 to the head: the index has no gaps, each stored block re-hashes to the
 * hash the index names, heights and parent links agree, invocationsRoot matches the invocations, each stored
 * QC certifies its block, each justify points to an earlier committed block with a lower view, and each
 * header's stateRoot equals the recorded root of its parent (where execution results exist).
 * Throws StoreError 'corrupt_chain' naming the first bad height.
 */
export async function verifyChain(store: Store, options: VerifyChainOptions = {}): Promise<VerifyChainResult> {
  const genesis = await store.genesisHash();
  const heightOf = new Map<string, bigint>();
  let expected = 0n;
  let prevHash: Uint8Array | null = null;
  let prevView = -1n;

  for await (const [k, hash] of store.db.iterate({ gte: keys.table(TABLE.height), lt: keys.table(TABLE.height + 1) })) {
    const height = k.length === 9 ? readU64be(k, 1) : -1n;
    if (height !== expected) {
      throw corrupt(expected, height < 0n ? "malformed chain index key" : `height ${expected} is missing from the chain index (next is ${height})`);
    }
    if (hash.length !== 32) throw corrupt(height, `chain index entry has ${hash.length} bytes, expected 32`);
    const raw = await store.getBlockBytes(hash);
    if (raw === null) throw corrupt(height, `block ${toHex(hash)} is missing`);
    let block: BlockT;
    try {
      block = decode(Block, raw, `block at height ${height}`);
    } catch (e) {
      throw corrupt(height, `stored block does not decode (${(e as Error).message})`);
    }
    const h = block.header;
    if (!bytesEqual(blockHash(h), hash)) throw corrupt(height, `stored block does not hash to ${toHex(hash)}`);
    if (h.height !== height) throw corrupt(height, `block header says height ${h.height}`);
    if (!bytesEqual(invocationsRoot(block.invocations), h.invocationsRoot)) throw corrupt(height, "invocationsRoot does not match the invocations");

    if (height === 0n) {
      if (genesis !== null && !bytesEqual(h.parentHash, genesis)) throw corrupt(height, "genesis block's parent is not the genesis hash");
      if (!isGenesisQc(h.justify)) throw corrupt(height, "genesis block's justify is not the genesis QC");
    } else {
      if (!bytesEqual(h.parentHash, prevHash!)) throw corrupt(height, `parentHash ${toHex(h.parentHash)} is not block ${height - 1n}`);
      if (h.view <= prevView) throw corrupt(height, `view ${h.view} does not exceed the parent's view ${prevView}`);
      if (!isGenesisQc(h.justify)) {
        const target = heightOf.get(toHex(h.justify.blockHash));
        if (target === undefined) throw corrupt(height, `justify certifies ${toHex(h.justify.blockHash)}, which is not an earlier committed block`);
        if (h.justify.view >= h.view) throw corrupt(height, `justify view ${h.justify.view} is not below the block's view ${h.view}`);
      }
      if (options.verifyQc && !isGenesisQc(h.justify) && !options.verifyQc(h.justify, height)) {
        throw corrupt(height, "justify signatures do not verify");
      }
      const parentRoot = await store.stateRootAt(height - 1n);
      if (parentRoot !== null && !bytesEqual(parentRoot, h.stateRoot)) {
        throw corrupt(height, `header stateRoot ${toHex(h.stateRoot)} differs from the recorded root of height ${height - 1n} (${toHex(parentRoot)})`);
      }
    }
    let qc: QcT | null;
    try {
      qc = await store.qcAt(height);
    } catch (e) {
      throw corrupt(height, `stored QC does not decode (${(e as Error).message})`);
    }
    if (qc !== null) {
      if (!bytesEqual(qc.blockHash, hash) && !(height === 0n && isGenesisQc(qc))) throw corrupt(height, "stored QC certifies another block");
      if (options.verifyQc && !isGenesisQc(qc) && !options.verifyQc(qc, height)) throw corrupt(height, "stored QC signatures do not verify");
    }
    options.onBlock?.(height, block);
    heightOf.set(toHex(hash), height);
    prevHash = hash;
    prevView = h.view;
    expected = height + 1n;
  }

  const head = expected === 0n ? null : expected - 1n;
  const applied = await store.lastApplied();
  if (applied !== null && (head === null || applied.height > head)) {
    throw corrupt(head === null ? 0n : head + 1n, `execution results reach height ${applied.height}, beyond the committed head ${head ?? "(none)"}: the chain was truncated`);
  }
  return { head, blocks: Number(expected), headHash: prevHash };
}
