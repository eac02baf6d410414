// Block sync over the peer links: the request/response bookkeeping of the client side, the answer
// building of the server side, and the structural checks of an answer (hashes, body roots, height and
// hash links). Certificate signatures are checked by the caller, who knows the consensus rules.

import { encode, encodingOf } from "../codec/codec.ts";
import { bytesEqual, toHex } from "../codec/hex.ts";
import { Block, QuorumCertificate, type Block as BlockT, type QuorumCertificate as QcT } from "../codec/types.ts";
import { blockHash, invocationsRoot } from "../crypto/digests.ts";
import { NetError } from "./errors.ts";

/** What the node serves to peers that sync from it. Either method may be synchronous or async. */
export interface SyncProvider {
  /** The blocks it has among `hashes` (committed or not), in any order; unknown hashes are skipped. */
  getBlocksByHash(hashes: Uint8Array[]): Promise<BlockT[]> | BlockT[];
  /**
   * Committed blocks at heights fromHeight, fromHeight+1, ... (at most maxCount, consecutive), and the
   * certificate of the last one (null when none are returned).
   */
  getCommitted(fromHeight: bigint, maxCount: number): Promise<CommittedRange> | CommittedRange;
}

export interface CommittedRange {
  blocks: BlockT[];
  certificate: QcT | null;
}

export interface FetchedBlock {
  hash: Uint8Array;
  block: BlockT;
}

/** A checked committed range: blocks[i] hashes to hashes[i]. */
export interface VerifiedRange extends CommittedRange {
  hashes: Uint8Array[];
}

function bad(msg: string): NetError {
  return new NetError("bad_response", msg);
}

function checkBody(b: BlockT, what: string): void {
  if (!bytesEqual(invocationsRoot(b.invocations), b.header.invocationsRoot)) {
    throw bad(`${what}: invocations do not match the header's invocationsRoot`);
  }
}

/**
 * Answer to getBlocks: every block must be one that was asked for (header hash) with a body matching
 * its header, no duplicates. Returned in the order the hashes were requested; missing ones are absent.
 */
export function checkBlocksAnswer(requested: readonly Uint8Array[], blocks: readonly BlockT[]): FetchedBlock[] {
  const wanted = new Map<string, number>();
  requested.forEach((h, i) => wanted.set(toHex(h), i));
  const found = new Map<number, FetchedBlock>();
  for (const block of blocks) {
    const hash = blockHash(block.header);
    const i = wanted.get(toHex(hash));
    if (i === undefined) throw bad(`unrequested block ${toHex(hash).slice(0, 16)}…`);
    if (found.has(i)) throw bad(`block ${toHex(hash).slice(0, 16)}… sent twice`);
    checkBody(block, `block ${toHex(hash).slice(0, 16)}…`);
    found.set(i, { hash, block });
  }
  return [...found.entries()].sort((a, b) => a[0] - b[0]).map(([, f]) => f);
}

/**
 * Answer to getCommitted: consecutive heights from `fromHeight`, each block's parentHash and the next
 * block's justify naming the previous block, bodies matching headers, and `certificate` naming the last.
 */
export function checkCommittedRange(chainId: string, fromHeight: bigint, maxCount: number, range: CommittedRange): VerifiedRange {
  const { blocks, certificate } = range;
  if (blocks.length > maxCount) throw bad(`${blocks.length} blocks for a request of at most ${maxCount}`);
  if (blocks.length === 0) return { blocks: [], hashes: [], certificate: null };
  const hashes: Uint8Array[] = [];
  for (let i = 0; i < blocks.length; i++) {
    const h = blocks[i]!.header;
    const what = `block at height ${h.height}`;
    if (h.chainId !== chainId) throw bad(`${what} is for chain ${JSON.stringify(h.chainId)}`);
    if (h.height !== fromHeight + BigInt(i)) throw bad(`${what} where height ${fromHeight + BigInt(i)} was due`);
    if (i > 0) {
      const prev = hashes[i - 1]!;
      if (!bytesEqual(h.parentHash, prev)) throw bad(`${what} does not link to its predecessor`);
      if (!bytesEqual(h.justify.blockHash, prev)) throw bad(`${what}'s justify does not certify its predecessor`);
    }
    checkBody(blocks[i]!, what);
    hashes.push(blockHash(h));
  }
  if (certificate === null) throw bad("committed range without a certificate for its last block");
  if (!bytesEqual(certificate.blockHash, hashes[hashes.length - 1]!)) throw bad("certificate does not name the last block");
  return { blocks: [...blocks], hashes, certificate };
}

/** Fixed bytes of a `blocks` frame besides its blocks and certificate: tag, request id, list length, option tag. */
const RESPONSE_BASE_BYTES = 1 + 4 + 4 + 1;

/**
 * The longest prefix of `blocks` whose answer fits in `budget` bytes. For a committed range cut short,
 * the certificate of the new last block is its successor's justify, which the server already holds.
 */
export function fitAnswer(blocks: readonly BlockT[], certificate: QcT | null, budget: number): CommittedRange {
  const certSize = (c: QcT | null): number => (c === null ? 0 : encode(QuorumCertificate, c).length);
  let total = RESPONSE_BASE_BYTES;
  let n = 0;
  while (n < blocks.length) {
    const size = encodingOf(Block, blocks[n]!).length;
    const cert = n + 1 < blocks.length ? blocks[n + 1]!.header.justify : certificate;
    if (total + size + certSize(certificate === null ? null : cert) > budget) break;
    total += size;
    n++;
  }
  if (n === blocks.length) return { blocks: [...blocks], certificate };
  return { blocks: blocks.slice(0, n), certificate: certificate === null || n === 0 ? null : blocks[n]!.header.justify };
}

type Pending = {
  peer: number;
  /** The connection the request left on: only its closing can lose the answer. */
  link: object;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  check: (r: CommittedRange) => unknown;
};

/** Outstanding requests by id; answers are matched by id and by the peer they were sent to. */
export class SyncRequests {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  get size(): number {
    return this.pending.size;
  }

  /** Registers a request and returns its id; `check` turns the raw answer into the result or throws. */
  open<T>(peer: number, link: object, timeoutMs: number, check: (r: CommittedRange) => T, onTimeout: () => void): { id: number; promise: Promise<T> } {
    let id = this.nextId;
    while (this.pending.has(id)) id = (id + 1) >>> 0 || 1;
    this.nextId = (id + 1) >>> 0 || 1;
    const promise = new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.delete(id)) {
          onTimeout();
          reject(new NetError("timeout", `validator ${peer} did not answer sync request ${id} within ${timeoutMs} ms`));
        }
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { peer, link, resolve: resolve as (v: unknown) => void, reject, timer, check });
    });
    return { id, promise };
  }

  /** Routes an answer; returns false when it matches no outstanding request from that peer. */
  answer(peer: number, id: number, result: { ok: true; range: CommittedRange } | { ok: false; reason: string }): boolean {
    const p = this.pending.get(id);
    if (p === undefined || p.peer !== peer) return false;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (!result.ok) {
      p.reject(new NetError("refused", `validator ${peer} refused: ${result.reason}`));
      return true;
    }
    try {
      p.resolve(p.check(result.range));
    } catch (e) {
      p.reject(e instanceof Error ? e : new Error(String(e)));
    }
    return true;
  }

  /** Fails a single request (e.g. it could not be sent). */
  fail(id: number, err: NetError): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.reject(err);
  }

  /** Fails every request sent over `link` (or every request at all when link is null). */
  failLink(link: object | null, err: () => NetError): void {
    for (const [id, p] of this.pending) {
      if (link !== null && p.link !== link) continue;
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(err());
    }
  }
}
