// The order in which a full pool evicts, kept as a binary min-heap of invokers' tail entries so that finding
// the next victim does not scan every invoker. Entries are offered whenever a queue changes and never removed
// in place: the pool checks a record on the way out and discards it when it no longer describes its queue.

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

export class EvictionHeap {
  private readonly items: TailRecord[] = [];

  get size(): number {
    return this.items.length;
  }

  push(r: TailRecord): void {
    const a = this.items;
    a.push(r);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!evictsBefore(a[i]!, a[parent]!)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }

  pop(): TailRecord | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && evictsBefore(a[l]!, a[m]!)) m = l;
        if (r < a.length && evictsBefore(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }

  clear(): void {
    this.items.length = 0;
  }
}
