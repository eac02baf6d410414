// Watches the validators' committed heights every 250 ms for the whole run: the longest stall (a quorum of
// validators up and connected and work waiting, yet no new commit anywhere) and validators that make no
// progress while the others commit.

export interface MonitorOptions {
  urls: readonly string[];
  /** Whether validators i and j can reach each other right now (no partition between them). */
  connected: (i: number, j: number) => boolean;
  quorum: number;
  log: (line: string) => void;
  /** How long a validator that answers may stay at one height while the network commits before it is reported. */
  noProgressMs?: number;
  /** Whether invocations are waiting to commit (default: always). An idle chain writes no blocks: not a stall. */
  busy?: () => boolean;
}

const POLL_MS = 250;

export class HeightMonitor {
  /** Last answered height per validator (null: did not answer the last poll). */
  readonly heights: (bigint | null)[];
  maxHeight = -1n;
  longestStallMs = 0;
  /** Validators reported as making no progress while the others committed, with when. */
  readonly stuckReports: string[] = [];
  private stallSince: number | null = null;
  private readonly lastChange: { height: bigint; at: number; networkAt: bigint; reported: boolean }[];
  private running = false;
  private loop: Promise<void> | null = null;

  constructor(private readonly opts: MonitorOptions) {
    this.heights = opts.urls.map(() => null);
    this.lastChange = opts.urls.map(() => ({ height: -1n, at: 0, networkAt: -1n, reported: false }));
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async poll(i: number): Promise<bigint | null> {
    try {
      const res = await fetch(this.opts.urls[i] + "/v1/status", { signal: AbortSignal.timeout(1_000) });
      if (!res.ok) return null;
      return BigInt(((await res.json()) as { height: string }).height);
    } catch {
      return null;
    }
  }

  /** Whether some `quorum` validators that answered are pairwise connected. */
  private quorumUp(): boolean {
    const up = this.heights.flatMap((h, i) => (h === null ? [] : [i]));
    const pick = (from: number, chosen: number[]): boolean => {
      if (chosen.length === this.opts.quorum) return true;
      for (let k = from; k < up.length; k++) {
        const i = up[k]!;
        if (chosen.every((j) => this.opts.connected(i, j)) && pick(k + 1, [...chosen, i])) return true;
      }
      return false;
    };
    return pick(0, []);
  }

  private async run(): Promise<void> {
    while (this.running) {
      const started = performance.now();
      const hs = await Promise.all(this.opts.urls.map((_, i) => this.poll(i)));
      const now = performance.now();
      hs.forEach((h, i) => (this.heights[i] = h));
      const max = hs.reduce<bigint>((m, h) => (h !== null && h > m ? h : m), -1n);
      const quorum = this.quorumUp();
      if (max > this.maxHeight) {
        this.maxHeight = max;
        this.stallSince = quorum ? now : null;
      } else if (quorum && (this.opts.busy?.() ?? true)) {
        this.stallSince ??= now;
        this.longestStallMs = Math.max(this.longestStallMs, now - this.stallSince);
      } else {
        this.stallSince = null;
      }
      this.watchProgress(hs, now);
      await new Promise((r) => setTimeout(r, Math.max(0, POLL_MS - (performance.now() - started))));
    }
  }

  /** Reports, once per episode, a validator that answers but stays at one height while the network moves on. */
  private watchProgress(hs: (bigint | null)[], now: number): void {
    const limit = this.opts.noProgressMs ?? 20_000;
    hs.forEach((h, i) => {
      const c = this.lastChange[i]!;
      if (h === null || h !== c.height) {
        Object.assign(c, { height: h ?? -1n, at: now, networkAt: this.maxHeight, reported: false });
        return;
      }
      if (!c.reported && now - c.at > limit && this.maxHeight >= c.networkAt + 5n) {
        c.reported = true;
        const line = `chaos: validator ${i} made no progress for ${((now - c.at) / 1000).toFixed(1)} s at height ${h} while the network reached ${this.maxHeight}`;
        this.stuckReports.push(line);
        this.opts.log(line);
      }
    });
  }
}
