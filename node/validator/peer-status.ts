// What validators tell each other about how far they are (committed height), and what this validator makes of
// it: whether it is behind (then it catches up, and says `syncing` so nobody takes its stale state for the
// chain's), and how long it has gone without a commit while its peers did not.

import type { SyncState } from "../api/services.ts";
import type { ConsensusCore } from "../consensus/index.ts";
import type { Executor } from "../exec/index.ts";
import type { NodeMetrics } from "../metrics.ts";
import type { CatchUp } from "./catch-up.ts";
import type { Clock, Timer, ValidatorLinks } from "./ports.ts";

/** Heights a validator may trail its peers by before it counts as behind (the commit pipeline's own lag). */
export const BEHIND_SLACK = 2n;
/**
 * Heights its own highest certificate may run ahead of what it has executed and applied: the 3-chain puts
 * the certified block two above the last commit, and the commit is applied a moment later.
 */
export const CERTIFIED_SLACK = 4n;

export interface PeerStatusParts {
  readonly links: ValidatorLinks;
  readonly clock: Clock;
  readonly executor: Executor;
  readonly core: ConsensusCore;
  readonly catchUp: CatchUp;
  readonly metrics: NodeMetrics;
  /** This validator's index, and how many validators there are. */
  readonly self: number;
  readonly validators: number;
}

export class PeerStatus {
  /** The last committed height each peer reported, by validator index. */
  private readonly heights = new Map<number, bigint>();
  private timer: Timer | null = null;
  private readonly faulty: number;
  /** Peers to hear from after a start before this validator can tell whether it is behind. */
  private readonly needed: number;
  private lastCommitAt: number;
  /**
   * After a start: the height this validator must reach before it counts as level, fixed when it first hears
   * enough peers (the slack that keeps a running validator level does not apply to one that starts behind);
   * null until then, and once reached it is done with.
   */
  private startTarget: bigint | null = null;
  private started = false;

  constructor(private readonly p: PeerStatusParts) {
    this.faulty = Math.floor((p.validators - 1) / 3);
    // With itself, a quorum: among any n - f validators at least one honest one has seen every commit.
    this.needed = p.validators - this.faulty - 1;
    this.lastCommitAt = p.clock.now();
  }

  start(intervalMs: number): void {
    this.p.links.onPeerConnected((peer) => this.announce(peer));
    this.timer = this.p.clock.every(intervalMs, () => this.announce(null));
  }

  stop(): void {
    this.timer?.cancel();
  }

  noteCommit(): void {
    this.lastCommitAt = this.p.clock.now();
  }

  /** A peer's status: remember its height, and catch up when it is ahead. */
  onStatus(from: number, committedHeight: bigint): void {
    if (from === this.p.self) return;
    const before = this.heights.get(from);
    if (before === undefined || committedHeight > before) this.heights.set(from, committedHeight);
    if (committedHeight > this.p.executor.head().height + BEHIND_SLACK) void this.p.catchUp.run(from, committedHeight);
  }

  private announce(peer: number | null): void {
    const msg = { type: "status" as const, value: { committedHeight: this.p.executor.head().height, highQcView: this.p.core.highestQc.view } };
    if (peer === null) this.p.links.broadcast(msg);
    else this.p.links.send(peer, msg);
  }

  /**
   * The height at least one honest peer has reached: the (f+1)-th highest report, so up to f peers that lie
   * about their height cannot make this validator think itself behind. Null with fewer reports.
   */
  knownHeight(): bigint | null {
    if (this.heights.size < this.faulty + 1 || this.heights.size === 0) return null;
    const sorted = [...this.heights.values()].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
    return sorted[this.faulty]!;
  }

  syncState(): SyncState {
    const height = this.p.executor.head().height;
    const knownHeight = this.knownHeight();
    const state = (reason: string | null): SyncState => ({ syncing: reason !== null, reason, height, knownHeight });
    if (this.heights.size < this.needed) return state(`starting: heard from ${this.heights.size} of the ${this.needed} peers needed to tell whether this node is behind`);
    if (!this.started) {
      this.startTarget ??= knownHeight ?? height;
      if (height < this.startTarget) return state(`starting: at height ${height}, level with peers at ${this.startTarget}`);
      this.started = true;
    }
    const catching = this.p.catchUp.active;
    if (catching !== null) return state(`catching up: at height ${height}, fetching up to ${catching.target}`);
    if (knownHeight !== null && knownHeight > height + BEHIND_SLACK) return state(`behind: at height ${height}, peers have committed ${knownHeight}`);
    const certified = this.p.core.certifiedHeight;
    if (certified > height + CERTIFIED_SLACK) return state(`behind: at height ${height}, holding certified blocks up to ${certified} not yet applied`);
    // Peers' reports come once a status round; a certificate for a block this validator lacks says at once that
    // a quorum has gone past it (on a fast chain, several blocks within one round).
    if (!this.p.core.holdsCertifiedBlock) return state(`behind: at height ${height}, holding a certificate for view ${this.p.core.highestQc.view} whose block has not arrived`);
    return state(null);
  }

  /** Gauges that make a validator that stopped progressing visible while its peers go on. */
  updateMetrics(): void {
    const s = this.syncState();
    this.p.metrics.set("cairn_syncing", s.syncing ? 1 : 0);
    this.p.metrics.set("cairn_known_height", s.knownHeight === null ? 0 : Number(s.knownHeight));
    this.p.metrics.set("cairn_behind_blocks", s.knownHeight === null || s.knownHeight <= s.height ? 0 : Number(s.knownHeight - s.height));
    this.p.metrics.set("cairn_seconds_since_commit", Math.round(this.p.clock.now() - this.lastCommitAt) / 1000);
  }
}
