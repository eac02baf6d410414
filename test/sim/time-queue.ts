// The simulators' queue of scheduled items, on (time, sequence): items due at the same time come out in the
// order they were pushed, so a seed's run is exactly reproducible.

import { MinHeap } from "../../node/min-heap.ts";

export interface Timed<T> {
  readonly time: number;
  readonly seq: number;
  readonly item: T;
}

export class TimeQueue<T> {
  private readonly heap = new MinHeap<Timed<T>>((a, b) => a.time < b.time || (a.time === b.time && a.seq < b.seq));
  private seq = 0;

  get size(): number {
    return this.heap.size;
  }

  push(time: number, item: T): void {
    this.heap.push({ time, seq: this.seq++, item });
  }

  pop(): Timed<T> | undefined {
    return this.heap.pop();
  }
}
