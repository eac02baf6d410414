// The simulation's one source of time and order: a queue of callbacks by (time, sequence). Everything a
// simulated validator waits for (timers, message deliveries, storage completions) is a callback here, so one
// seed fixes the interleaving. Between callbacks the promise jobs they started run to completion.

import type { Clock, Timer } from "../../node/validator/ports.ts";
import { TimeQueue } from "../sim/time-queue.ts";

export class Scheduler {
  private readonly queue = new TimeQueue<() => void>();
  now = 0;
  /** Callbacks run so far. */
  steps = 0;

  get pending(): number {
    return this.queue.size;
  }

  /** Runs `fn` at `time` (not before now); equal times run in scheduling order. */
  at(time: number, fn: () => void): void {
    this.queue.push(Math.max(time, this.now), fn);
  }

  after(ms: number, fn: () => void): void {
    this.at(this.now + ms, fn);
  }

  /**
   * Runs one callback and lets the promise jobs it started settle; false when nothing is left. Promise jobs
   * run in a deterministic order, and nothing in a simulated validator waits on real time or real I/O.
   */
  async step(): Promise<boolean> {
    const e = this.queue.pop();
    if (e === undefined) return false;
    this.now = e.time;
    this.steps++;
    e.item();
    await settle();
    return true;
  }
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
