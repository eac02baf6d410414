// The in-memory cache of COMMITTED state (never speculative writes) that serves the vm's synchronous reads.
// Its content only decides how often an invocation is re-run after a miss, never a result, so eviction order
// need not be deterministic; it is bounded by bytes so a large state cannot exhaust memory.

export class CommittedStateCache {
  private readonly entries = new Map<string, Uint8Array | null>();
  private bytes = 0;

  constructor(readonly maxBytes: number) {}

  get size(): number {
    return this.entries.size;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  /** The committed value (null = known absent), or undefined when the cache does not know. */
  get(key: string): Uint8Array | null | undefined {
    return this.entries.get(key);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  set(key: string, value: Uint8Array | null): void {
    const old = this.entries.get(key);
    const known = old !== undefined || this.entries.has(key);
    if (known) this.bytes -= cost(key, old ?? null);
    const c = cost(key, value);
    if (c > this.maxBytes) {
      if (known) this.entries.delete(key);
      return;
    }
    // A known key is overwritten in place: it keeps its place in the eviction order and the Map's table gets no
    // new entry. Deleting and re-inserting on every write made the table of a few hundred hot keys rehash every
    // few hundred writes, and each abandoned table kept the values it held alive into the old generation
    // (see ReleasingMap).
    this.entries.set(key, value);
    this.bytes += c;
    // First insertions go first (a Map iterates in insertion order).
    while (this.bytes > this.maxBytes) {
      const first = this.entries.keys().next();
      if (first.done) break;
      this.bytes -= cost(first.value, this.entries.get(first.value) ?? null);
      this.entries.delete(first.value);
    }
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}

function cost(key: string, value: Uint8Array | null): number {
  // Keys are keyString()s: one character per key byte, stored one byte each (V8 one-byte strings); 64 covers
  // the entry overhead.
  return key.length + (value === null ? 0 : value.length) + 64;
}
