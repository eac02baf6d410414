// Getting blocks this validator lacks from its peers, and serving theirs: missing ancestors by hash when the
// core asks for them, and certified committed ranges when a peer's status shows this validator behind.

import { toHex } from "../codec/hex.ts";
import type { Block } from "../codec/types.ts";
import type { ConsensusCore } from "../consensus/index.ts";
import type { Executor } from "../exec/index.ts";
import type { NodeMetrics } from "../metrics.ts";
import type { Store } from "../store/index.ts";
import type { CommitPipeline } from "./commit-pipeline.ts";
import type { EventPump } from "./event-pump.ts";
import type { Halt } from "./halt.ts";
import type { Logger, ValidatorLinks } from "./ports.ts";
import type { UncommittedBlocks } from "./uncommitted-blocks.ts";

/** Committed blocks requested per sync round trip. */
const SYNC_BATCH = 64;
const FETCH_TIMEOUT_MS = 3000;
const RANGE_TIMEOUT_MS = 10_000;
/** Bound on range requests of one catch-up run (64 blocks each). */
const MAX_ROUNDS = 10_000;

export interface CatchUpParts {
  readonly links: ValidatorLinks;
  readonly core: ConsensusCore;
  readonly executor: Executor;
  readonly store: Store;
  readonly pump: EventPump;
  readonly commits: CommitPipeline;
  readonly blocks: UncommittedBlocks;
  readonly metrics: NodeMetrics;
  readonly halt: Halt;
  readonly log: Logger;
  /** This validator's index, and how many validators there are. */
  readonly self: number;
  readonly validators: number;
}

export class CatchUp {
  private readonly fetching = new Set<string>();
  private running = false;
  /** The height the current catch-up run is heading for (the peer's committed height when it started). */
  private target: bigint | null = null;
  private stopped = false;

  constructor(private readonly p: CatchUpParts) {}

  /** True while committed ranges are being fetched; `target` is the height they head for. */
  get active(): { target: bigint } | null {
    return this.running && this.target !== null ? { target: this.target } : null;
  }

  /** Answers peers' block requests from this validator's store. */
  serve(): void {
    this.p.links.setSyncProvider({
      getBlocksByHash: async (hashes) => {
        await this.p.blocks.written();
        const out: Block[] = [];
        for (const h of hashes) {
          const b = await this.p.store.getBlock(h);
          if (b) out.push(b);
        }
        return out;
      },
      getCommitted: async (from, max) => {
        const head = this.p.executor.head().height;
        const blocks: Block[] = [];
        for (let h = from; h <= head && blocks.length < max; h++) {
          const b = await this.p.store.blockAt(h);
          if (!b) break;
          blocks.push(b);
        }
        const certificate = blocks.length === 0 ? null : await this.p.store.qcAt(blocks[blocks.length - 1]!.header.height);
        return { blocks, certificate };
      },
    });
  }

  /** The core's fetch action: a certified block it lacks, from `hint` first. */
  fetch(hash: Uint8Array, hint: number[]): void {
    // While committed ranges are coming in, every new proposal points at ancestors those ranges are about to
    // deliver: asking for them by hash as well fetched the same blocks about ten times over. The core asks
    // again in a later view for what is still missing.
    if (this.running) return;
    const hex = toHex(hash);
    if (this.fetching.has(hex)) return;
    this.fetching.add(hex);
    const order = [...hint, ...Array.from({ length: this.p.validators }, (_, i) => i)].filter((p, i, a) => p !== this.p.self && a.indexOf(p) === i);
    void (async () => {
      try {
        for (const peer of order) {
          if (this.stopped || this.p.halt.halted) return;
          if (!this.p.links.isConnected(peer)) continue;
          try {
            const got = await this.p.links.requestBlocks(peer, [hash], { timeoutMs: FETCH_TIMEOUT_MS });
            if (got.length > 0) {
              this.p.metrics.inc("cairn_sync_hash_blocks_total", got.length);
              for (const g of got) this.p.pump.enqueue({ type: "blockFromSync", block: g.block, from: peer });
              return;
            }
          } catch {
            // A peer that fails to answer (gone, timed out, garbage) is one of several to ask: try the next.
          }
        }
      } finally {
        this.fetching.delete(hex);
      }
    })();
  }

  /** Pulls committed blocks from a peer that is ahead (at `peerHeight`), feeding them to the core. */
  async run(peer: number, peerHeight: bigint): Promise<void> {
    if (this.running) {
      if (this.target !== null && peerHeight > this.target) this.target = peerHeight;
      return;
    }
    if (this.stopped) return;
    this.running = true;
    this.target = peerHeight;
    try {
      for (let round = 0; round < MAX_ROUNDS && !this.stopped && !this.p.halt.halted; round++) {
        await this.p.commits.settled();
        const from = this.p.core.committedHeight + 1n;
        const range = await this.p.links.requestCommitted(peer, from, SYNC_BATCH, { timeoutMs: RANGE_TIMEOUT_MS });
        if (range.blocks.length === 0) break;
        this.p.metrics.inc("cairn_sync_range_blocks_total", range.blocks.length);
        // Each block goes in with the certificate its child carries (a child's justify certifies its parent),
        // the last with the range's certificate: the core takes only certified (or wanted) synced blocks.
        const last = range.blocks.length - 1;
        range.blocks.forEach((block, i) =>
          this.p.pump.enqueue({ type: "blockFromSync", block, qc: i === last ? range.certificate : range.blocks[i + 1]!.header.justify, from: peer }),
        );
        // Let the core take the whole range before asking for the next: the next one starts above what the core
        // then holds committed. Waiting for the executor to reach the range's end instead stalled whenever the
        // last consecutive-view 3-chain ended more than three blocks below it, as it does wherever a leader was
        // down. The mark is this range's last event, not an idle pump: under load the pump is rarely idle.
        await this.p.pump.stepped();
        if (range.blocks.length < SYNC_BATCH) break;
      }
    } catch (e) {
      // The peer went away, timed out or answered badly: the next status from an ahead peer starts again.
      this.p.log.warn("catch-up failed", { peer, error: (e as Error).message });
    } finally {
      this.running = false;
      this.target = null;
    }
  }

  stop(): void {
    this.stopped = true;
  }
}
