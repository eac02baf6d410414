// Exponential reconnection delay with jitter, so validators that lost a peer together do not redial
// in lockstep. Randomness is fine here: nothing in the transport feeds the replicated state.

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** Delay before the next attempt: uniformly in [d/2, d] with d = min(max, base * 2^attempt). */
  next(): number {
    const d = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(d / 2 + (this.random() * d) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
