// The committed state as execution sees it: RocksDB behind an in-memory cache, and an epoch that every commit
// bumps. A value read from RocksDB is cached only when no commit landed during the read (else it may be stale),
// and readers that span several reads (queries) compare epochs to know whether to start again.

import type { Store } from "../store/store.ts";
import type { OverlayWrite } from "./overlay.ts";
import { CommittedStateCache } from "./state-cache.ts";
import { keyString } from "./state-keys.ts";

export class CommittedState {
  readonly cache: CommittedStateCache;
  /** Bumped by every commit: a read of committed state that spans a change is retried. */
  epoch = 0;
  private closed = false;

  constructor(
    private readonly store: Store,
    cacheBytes: number,
  ) {
    this.cache = new CommittedStateCache(cacheBytes);
  }

  /** Fills the cache from RocksDB in key order until it is full. */
  async preload(): Promise<void> {
    for await (const [k, v] of this.store.iterateState()) {
      if (this.cache.sizeBytes + k.length + v.length + 64 > this.cache.maxBytes) break;
      this.cache.set(keyString(k), v);
    }
  }

  /** Loads one committed value; caches it only if no commit happened meanwhile (else it may be stale). */
  async load(key: Uint8Array, str: string): Promise<Uint8Array | null> {
    const epoch = this.epoch;
    const value = await this.store.getState(key);
    if (epoch === this.epoch) this.cache.set(str, value);
    return value;
  }

  /** A committed value, from the cache when it is there. */
  async read(key: Uint8Array): Promise<Uint8Array | null> {
    const str = keyString(key);
    const cached = this.cache.get(str);
    if (cached !== undefined) return cached;
    return this.load(key, str);
  }

  /** Brings the keys not yet cached into the cache in one multi-get, unless a commit lands meanwhile. */
  async warm(keys: readonly Uint8Array[]): Promise<void> {
    const wanted: Uint8Array[] = [];
    const strs: string[] = [];
    for (const k of keys) {
      const str = keyString(k);
      if (this.cache.has(str)) continue;
      wanted.push(k);
      strs.push(str);
    }
    if (wanted.length === 0 || this.closed) return;
    const epoch = this.epoch;
    const values = await this.store.getStateMany(wanted);
    if (epoch !== this.epoch) return;
    strs.forEach((str, i) => {
      if (!this.cache.has(str)) this.cache.set(str, values[i]!);
    });
  }

  /** A block's writes became committed: readers in flight start again, and the cache takes the new values. */
  applyCommitted(writes: readonly OverlayWrite[]): void {
    this.epoch++;
    for (const w of writes) this.cache.set(w.str, w.value);
  }

  close(): void {
    this.closed = true;
    this.cache.clear();
  }
}
