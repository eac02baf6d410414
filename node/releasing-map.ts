// A Map for long-lived tables with steady churn (pending invocations, blocks between proposal and commit, open
// waits): a value it removes is released at once, not when V8 next runs a full collection.
//
// Why a plain Map does not: a Map's entries live in a backing table that V8 replaces whenever it rehashes, and
// a churning Map rehashes every few hundred insertions. A long-lived Map's table sits in the old generation,
// and V8's young-generation collector (the scavenger) treats every pointer held by an old object as live,
// whether or not that old object is itself still reachable. So each abandoned table keeps whatever it held at
// its rehash (and all those values reference) alive through every scavenge until the next full collection:
// the values are copied twice and then promoted to the old generation, to be marked and swept there later.
// In a loaded validator that was most of what got promoted: about 2 MB per scavenge of invocations, blocks
// and receipts, although nothing kept them for more than a few views. A standalone test (objects of 150 ms in
// a Map used as a FIFO, scavenges every 250 ms) promoted 3 to 6 MB per scavenge; emptying each removed
// value's references first, none.
//
// Here each value sits in a small box that is emptied on removal, so an abandoned table pins only empty boxes.

interface Box<V> {
  v: V | undefined;
}

export class ReleasingMap<K, V> {
  private readonly boxes = new Map<K, Box<V>>();

  get size(): number {
    return this.boxes.size;
  }

  get(key: K): V | undefined {
    return this.boxes.get(key)?.v;
  }

  has(key: K): boolean {
    return this.boxes.has(key);
  }

  set(key: K, value: V): this {
    const box = this.boxes.get(key);
    // Overwriting in place keeps the key's position (insertion order) and adds no entry to the table.
    if (box !== undefined) box.v = value;
    else this.boxes.set(key, { v: value });
    return this;
  }

  delete(key: K): boolean {
    const box = this.boxes.get(key);
    if (box === undefined) return false;
    box.v = undefined;
    return this.boxes.delete(key);
  }

  clear(): void {
    for (const box of this.boxes.values()) box.v = undefined;
    this.boxes.clear();
  }

  *keys(): IterableIterator<K> {
    yield* this.boxes.keys();
  }

  *values(): IterableIterator<V> {
    for (const box of this.boxes.values()) yield box.v as V;
  }

  *entries(): IterableIterator<[K, V]> {
    for (const [k, box] of this.boxes) yield [k, box.v as V];
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
}
