// A bounded memory of invocations that left the mempool without running (a different committed invocation
// used their (invoker, nonce) first, or the pool expired, evicted or replaced them), so that a client asking
// about one learns its fate at once instead of waiting for a receipt that will not come from this pool. Oldest
// records are forgotten first.

import type { Displaced } from "./types.ts";

export const DEFAULT_DISPLACED_MEMORY = 100_000;

export class DisplacedLog {
  /** By id hex, in insertion order (a Map iterates oldest first, which is what eviction needs). */
  private readonly byId = new Map<string, Displaced>();

  constructor(private readonly capacity = DEFAULT_DISPLACED_MEMORY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`displaced memory must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.byId.size;
  }

  record(d: Displaced): void {
    this.byId.delete(d.idHex);
    this.byId.set(d.idHex, d);
    if (this.byId.size > this.capacity) this.byId.delete(this.byId.keys().next().value as string);
  }

  get(idHex: string): Displaced | undefined {
    return this.byId.get(idHex);
  }
}
