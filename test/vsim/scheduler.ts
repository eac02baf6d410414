// The simulation's one source of time and order: a queue of callbacks by (time, sequence). Everything a
// simulated validator waits for (timers, message deliveries, storage completions) is a callback here, so one
// seed fixes the interleaving. Between callbacks the promise jobs they started run to completion.

import type { Clock, Timer } from "../../node/validator/ports.ts";

interface Entry {
  time: number;
  seq: number;
  fn: () => void;
}

export class Scheduler {
  private heap: Entry[] = [];
  private seq = 0;
  now = 0;
  /** Callbacks run so far. */
  steps = 0;

  get pending(): number {
    return this.heap.length;
  }

  /** Runs `fn` at `time` (not before now); equal times run in scheduling order. */
  at(time: number, fn: () => void): void {
    const e: Entry = { time: Math.max(time, this.now), seq: this.seq++, fn };
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  after(ms: number, fn: () => void): void {
    this.at(this.now + ms, fn);
  }

  private pop(): Entry | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }

  /**
   * Runs one callback and lets the promise jobs it started settle; false when nothing is left. Promise jobs
   * run in a deterministic order, and nothing in a simulated validator waits on real time or real I/O.
   */
  async step(): Promise<boolean> {
    const e = this.pop();
    if (e === undefined) return false;
    this.now = e.time;
    this.steps++;
    e.fn();
    await settle();
    return true;
  }
}

function less(a: Entry, b: Entry): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

/**
 * Resolves after every promise job queued so far (and those they queue) has run: Node runs a tick callback
 * only once V8's promise job queue is empty, and that costs far less than a turn of the event loop.
 */
function settle(): Promise<void> {
  return new Promise((resolve) => process.nextTick(resolve));
}

/**
 * A validator incarnation's clock: its timers die with it (a crash or a halt ends the incarnation), so a
 * restarted validator never hears a timer its previous life set.
 */
export class SimClock implements Clock {
  constructor(
    private readonly s: Scheduler,
    private readonly alive: () => boolean,
  ) {}

  now(): number {
    return this.s.now;
  }

  after(ms: number, fn: () => void): Timer {
    let cancelled = false;
    this.s.after(ms, () => {
      if (!cancelled && this.alive()) fn();
    });
    return { cancel: () => void (cancelled = true) };
  }

  every(ms: number, fn: () => void): Timer {
    let cancelled = false;
    const tick = (): void => {
      if (cancelled || !this.alive()) return;
      fn();
      this.s.after(ms, tick);
    };
    this.s.after(ms, tick);
    return { cancel: () => void (cancelled = true) };
  }

  defer(fn: () => void): void {
    this.s.after(0, () => {
      if (this.alive()) fn();
    });
  }
}
