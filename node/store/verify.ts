// Checks that what is on disk is still the chain that was committed. Two walks share one per-block check:
//  - verifyChain, the whole chain from genesis (`cairn verify-chain`, for an operator with time to spare);
//  - verifyChainTail, the last committed blocks only, which is what a validator checks on every start
//    (Executor.open): its cost does not grow with the chain, so a node with a million blocks starts as fast
//    as one with a thousand.
// A node refuses to start on a tail that fails (a flipped bit in a block, a missing or truncated height, a
// rewritten index), because everything it would serve, execute or vote on from there is suspect.

import { decode } from "../codec/codec.ts";
import { bytesEqual, toHex } from "../codec/hex.ts";
import { Block, type Block as BlockT, type QuorumCertificate as QcT } from "../codec/types.ts";
import { ZERO_HASH } from "../crypto/hash.ts";
import { blockHash, invocationsRoot } from "../crypto/digests.ts";
import { StoreError } from "./errors.ts";
import { TABLE, keys, readU64be } from "./keys.ts";
import type { Store } from "./store.ts";

/**
 * How many of the last committed blocks a start checks. Damage a start must catch lands near the head: a
 * crash tears or loses the last writes (a truncated tail, an index entry without its block), and the head's
 * block and certificate are what the consensus core restarts from. Older blocks were checked when they were
 * committed and have been read by peers catching up since; bit rot in them is what `cairn verify-chain` is
 * for. 64 heights is many times the few a crash can leave half-written (one commit batch per height, at most
 * a few commits in flight) and costs about 64 reads, milliseconds, at any chain length.
 */
export const START_CHECK_BLOCKS = 64;

/**
 * Justify targets remembered by height while walking. A committed block's justify certifies its parent or a
 * close ancestor, so a short memory answers nearly every lookup; an older target is looked up in the store
 * (one read). Keeps the full walk's memory flat instead of one entry per committed block.
 */
const RECENT_TARGETS = 256;

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
  /** Blocks checked (the whole chain for verifyChain, the window for verifyChainTail). */
  readonly blocks: number;
  readonly headHash: Uint8Array | null;
}

export interface VerifyTailOptions extends VerifyChainOptions {
  /** How many of the last committed heights to check (default START_CHECK_BLOCKS). */
  blocks?: number;
  /**
   * Check every height from here too, however far below the window it is: the blocks a start re-executes
   * (committed but not applied) are read anyway, and must not run unchecked.
   */
  from?: bigint;
}

export interface VerifyTailResult extends VerifyChainResult {
  /** Lowest height checked, null for an empty database. */
  readonly from: bigint | null;
}

function corrupt(height: bigint, message: string): StoreError {
  return new StoreError("corrupt_chain", `committed chain is corrupt at height ${height}: ${message}`, height);
}

function isGenesisQc(qc: QcT): boolean {
  return qc.view === 0n && bytesEqual(qc.blockHash, ZERO_HASH) && qc.signatures.length === 0;
}

function decodeAt(raw: Uint8Array, height: bigint): BlockT {
  try {
    return decode(Block, raw, `block at height ${height}`);
  } catch (e) {
    throw corrupt(height, `stored block does not decode (${(e as Error).message})`);
  }
}

/** The block the index names at `height`, re-hashed: the one read both walks start from. */
async function indexedBlock(store: Store, height: bigint, hash: Uint8Array): Promise<BlockT> {
  if (hash.length !== 32) throw corrupt(height, `chain index entry has ${hash.length} bytes, expected 32`);
  const raw = await store.getBlockBytes(hash);
  if (raw === null) throw corrupt(height, `block ${toHex(hash)} is missing`);
  const block = decodeAt(raw, height);
  if (!bytesEqual(blockHash(block.header), hash)) throw corrupt(height, `stored block does not hash to ${toHex(hash)}`);
  if (block.header.height !== height) throw corrupt(height, `block header says height ${block.header.height}`);
  return block;
}

/**
 * The per-height check both walks run, in height order. Holds what one height needs of the one below it
 * (hash and view) and a bounded memory of recent heights for justify lookups.
 */
class ChainChecker {
  private readonly recent = new Map<string, bigint>();
  private prevHash: Uint8Array | null = null;
  private prevView = -1n;
  private expected: bigint;

  constructor(
    private readonly store: Store,
    private readonly options: VerifyChainOptions,
    private readonly genesis: Uint8Array | null,
    start: bigint,
  ) {
    this.expected = start;
  }

  get next(): bigint {
    return this.expected;
  }

  get lastHash(): Uint8Array | null {
    return this.prevHash;
  }

  /** Takes the block just below the first checked height as the anchor of its parent link (it is re-hashed, not checked in full). */
  async anchor(height: bigint): Promise<void> {
    const hash = await this.store.blockHashAt(height);
    if (hash === null) throw corrupt(height, `height ${height} is missing from the chain index`);
    const block = await indexedBlock(this.store, height, hash);
    this.remember(height, hash, block.header.view);
  }

  /** Checks the index entry (key, value) as the next height. */
  async check(k: Uint8Array, hash: Uint8Array): Promise<void> {
    const expected = this.expected;
    const height = k.length === 9 ? readU64be(k, 1) : -1n;
    if (height !== expected) {
      throw corrupt(expected, height < 0n ? "malformed chain index key" : `height ${expected} is missing from the chain index (next is ${height})`);
    }
    const block = await indexedBlock(this.store, height, hash);
    const h = block.header;
    const { options } = this;
    if (!bytesEqual(invocationsRoot(block.invocations), h.invocationsRoot)) throw corrupt(height, "invocationsRoot does not match the invocations");

    if (height === 0n) {
      if (this.genesis !== null && !bytesEqual(h.parentHash, this.genesis)) throw corrupt(height, "genesis block's parent is not the genesis hash");
      if (!isGenesisQc(h.justify)) throw corrupt(height, "genesis block's justify is not the genesis QC");
    } else {
      if (!bytesEqual(h.parentHash, this.prevHash!)) throw corrupt(height, `parentHash ${toHex(h.parentHash)} is not block ${height - 1n}`);
      if (h.view <= this.prevView) throw corrupt(height, `view ${h.view} does not exceed the parent's view ${this.prevView}`);
      if (!isGenesisQc(h.justify)) {
        const target = await this.committedHeightOf(h.justify.blockHash, height);
        if (target === null) throw corrupt(height, `justify certifies ${toHex(h.justify.blockHash)}, which is not an earlier committed block`);
        if (h.justify.view >= h.view) throw corrupt(height, `justify view ${h.justify.view} is not below the block's view ${h.view}`);
      }
      if (options.verifyQc && !isGenesisQc(h.justify) && !options.verifyQc(h.justify, height)) {
        throw corrupt(height, "justify signatures do not verify");
      }
      const parentRoot = await this.store.stateRootAt(height - 1n);
      if (parentRoot !== null && !bytesEqual(parentRoot, h.stateRoot)) {
        throw corrupt(height, `header stateRoot ${toHex(h.stateRoot)} differs from the recorded root of height ${height - 1n} (${toHex(parentRoot)})`);
      }
    }
    let qc: QcT | null;
    try {
      qc = await this.store.qcAt(height);
    } catch (e) {
      throw corrupt(height, `stored QC does not decode (${(e as Error).message})`);
    }
    if (qc !== null) {
      if (!bytesEqual(qc.blockHash, hash) && !(height === 0n && isGenesisQc(qc))) throw corrupt(height, "stored QC certifies another block");
      if (options.verifyQc && !isGenesisQc(qc) && !options.verifyQc(qc, height)) throw corrupt(height, "stored QC signatures do not verify");
    }
    options.onBlock?.(height, block);
    this.remember(height, hash, h.view);
  }

  private remember(height: bigint, hash: Uint8Array, view: bigint): void {
    this.recent.set(toHex(hash), height);
    if (this.recent.size > RECENT_TARGETS) this.recent.delete(this.recent.keys().next().value!);
    this.prevHash = hash;
    this.prevView = view;
    this.expected = height + 1n;
  }

  /** The committed height of block `hash` if it is below `below`, else null. */
  private async committedHeightOf(hash: Uint8Array, below: bigint): Promise<bigint | null> {
    const known = this.recent.get(toHex(hash));
    if (known !== undefined) return known < below ? known : null;
    const raw = await this.store.getBlockBytes(hash);
    if (raw === null) return null;
    let height: bigint;
    try {
      height = decode(Block, raw, "justify target").header.height;
    } catch {
      return null;
    }
    if (height >= below) return null;
    const indexed = await this.store.blockHashAt(height);
    return indexed !== null && bytesEqual(indexed, hash) ? height : null;
  }
}

/** Execution results must not run beyond the committed head: that means the chain index lost its tail. */
async function checkApplied(store: Store, head: bigint | null): Promise<void> {
  const applied = await store.lastApplied();
  if (applied !== null && (head === null || applied.height > head)) {
    throw corrupt(head === null ? 0n : head + 1n, `execution results reach height ${applied.height}, beyond the committed head ${head ?? "(none)"}: the chain was truncated`);
  }
}

/** Walks the chain index from `from` to its end through `checker`; returns the head (null when nothing is there). */
async function walk(store: Store, checker: ChainChecker, from: bigint): Promise<bigint | null> {
  for await (const [k, hash] of store.db.iterate({ gte: keys.height(from), lt: keys.table(TABLE.height + 1) })) await checker.check(k, hash);
  return checker.next === from ? null : checker.next - 1n;
}

/**
 * Checks every committed height from 0 to the head: the index has no gaps, each stored block re-hashes to the
 * hash the index names, heights and parent links agree, invocationsRoot matches the invocations, each stored
 * QC certifies its block, each justify points to an earlier committed block with a lower view, and each
 * header's stateRoot equals the recorded root of its parent (where execution results exist).
 * Throws StoreError 'corrupt_chain' naming the first bad height.
 */
export async function verifyChain(store: Store, options: VerifyChainOptions = {}): Promise<VerifyChainResult> {
  const checker = new ChainChecker(store, options, await store.genesisHash(), 0n);
  const head = await walk(store, checker, 0n);
  await checkApplied(store, head);
  return { head, blocks: Number(checker.next), headHash: checker.lastHash };
}

/**
 * The same checks as verifyChain over the last `blocks` committed heights (and every height from
 * `options.from` up), with the lowest one's parent link checked against the index entry below it. Reads a
 * bounded number of blocks whatever the chain's length: what a validator checks on start.
 * Throws StoreError 'corrupt_chain' naming the first bad height.
 */
export async function verifyChainTail(store: Store, options: VerifyTailOptions = {}): Promise<VerifyTailResult> {
  const count = BigInt(Math.max(1, options.blocks ?? START_CHECK_BLOCKS));
  const top = await store.committedHead();
  if (top === null) {
    await checkApplied(store, null);
    return { head: null, blocks: 0, headHash: null, from: null };
  }
  let from = top.height - count + 1n;
  if (options.from !== undefined && options.from < from) from = options.from;
  if (from < 0n) from = 0n;
  const checker = new ChainChecker(store, options, await store.genesisHash(), from);
  if (from > 0n) await checker.anchor(from - 1n);
  const head = await walk(store, checker, from);
  if (head === null) throw corrupt(from, `height ${from} is missing from the chain index`);
  await checkApplied(store, head);
  return { head, blocks: Number(head - from + 1n), headHash: checker.lastHash, from };
}
