// The order in which a full pool evicts. The pool keeps its invokers' tail entries in a min-heap under this
// order (node/min-heap.ts), so finding the next victim does not scan every invoker. Entries are offered whenever
// a queue changes and never removed in place: the pool checks a record on the way out and discards it when it
// no longer describes its queue.

import type { PoolEntry } from "./types.ts";

export interface TailRecord {
  readonly entry: PoolEntry;
  /** Whether a lower nonce of its invoker was missing when offered (gapped ones go first). */
  readonly gapped: boolean;
}

/** Eviction order: gapped before ready, then the lower gas price, then the newer arrival. */
export function evictsBefore(a: TailRecord, b: TailRecord): boolean {
  if (a.gapped !== b.gapped) return a.gapped;
  if (a.entry.inv.gasPrice !== b.entry.inv.gasPrice) return a.entry.inv.gasPrice < b.entry.inv.gasPrice;
  return a.entry.seq > b.entry.seq;
}
