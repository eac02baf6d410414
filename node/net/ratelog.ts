// Log lines about events a stranger can cause at will (refused or dropped unauthenticated connections),
// at most one line per key per interval: the first event of a quiet key is logged at once, later ones in
// the same interval are counted and reported in one summary line when the interval ends. A flood therefore
// costs a bounded number of lines, and the count still says how big it was.

import type { LogFields, Logger } from "./logger.ts";

type Level = "info" | "warn" | "error";

interface Window {
  until: number;
  suppressed: number;
  timer: NodeJS.Timeout | null;
  level: Level;
  msg: string;
  fields: LogFields;
}

export class RateLimitedLog {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs: number,
  ) {}

  note(key: string, level: Level, msg: string, fields: LogFields = {}): void {
    const now = Date.now();
    const w = this.windows.get(key);
    if (w === undefined || (now >= w.until && w.timer === null)) {
      this.log[level](msg, fields);
      this.windows.set(key, { until: now + this.intervalMs, suppressed: 0, timer: null, level, msg, fields });
      return;
    }
    w.suppressed++;
    w.level = level;
    w.msg = msg;
    w.fields = fields;
    if (w.timer === null) {
      w.timer = setTimeout(() => this.flush(key), Math.max(0, w.until - now));
      w.timer.unref();
    }
  }

  /** Reports every pending count now and stops the timers (the owner is shutting down). */
  close(): void {
    for (const key of [...this.windows.keys()]) this.flush(key);
    this.windows.clear();
  }

  private flush(key: string): void {
    const w = this.windows.get(key);
    if (w === undefined) return;
    if (w.timer !== null) clearTimeout(w.timer);
    w.timer = null;
    if (w.suppressed === 0) return;
    // The summary is this interval's line: the next one may come only an interval later.
    this.log[w.level](w.msg, { ...w.fields, suppressed: w.suppressed, intervalMs: this.intervalMs });
    w.suppressed = 0;
    w.until = Date.now() + this.intervalMs;
  }
}
