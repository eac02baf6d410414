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
  get(hex: string): Uint8Array | null | undefined {
    return this.entries.get(hex);
  }

  has(hex: string): boolean {
    return this.entries.has(hex);
  }

  set(hex: string, value: Uint8Array | null): void {
    const old = this.entries.get(hex);
    if (old !== undefined || this.entries.has(hex)) {
      this.bytes -= cost(hex, old ?? null);
      this.entries.delete(hex);
    }
    const c = cost(hex, value);
    if (c > this.maxBytes) return;
    this.entries.set(hex, value);
    this.bytes += c;
    // Oldest insertions go first (a Map iterates in insertion order).
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

function cost(hex: string, value: Uint8Array | null): number {
  // A hex key costs two bytes per character in V8's two-byte strings at worst; 64 covers the entry overhead.
  return hex.length + (value === null ? 0 : value.length) + 64;
}
