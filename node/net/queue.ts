// A peer's outbound frames that the socket has not taken yet, bounded by count and bytes.
//
// Two classes: essential (consensus, sync, ping/pong) and bulk (invocation gossip, status). Essential
// frames go out first. When a push would break a bound, the oldest bulk frames are evicted first
// (gossip is re-sent by others and a lost status is refreshed); if only essential frames remain, a bulk
// push is refused and an essential push reports overflow, on which the network closes the link as a
// slow consumer: a peer that cannot keep up is better resynchronised than buffered without end.

class Fifo {
  private items: Uint8Array[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }
  push(b: Uint8Array): void {
    this.items.push(b);
  }
  shift(): Uint8Array | undefined {
    if (this.head >= this.items.length) return undefined;
    const b = this.items[this.head]!;
    this.items[this.head] = EMPTY;
    this.head++;
    // Compact once the dead prefix dominates, keeping shift O(1) amortised.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return b;
  }
  clear(): void {
    this.items = [];
    this.head = 0;
  }
}
const EMPTY = new Uint8Array(0);

export type PushResult =
  | { kind: "queued"; evicted: number }
  | { kind: "refused" } // a bulk frame with no room left
  | { kind: "overflow" }; // an essential frame with no room left

export class OutboundQueue {
  private readonly essential = new Fifo();
  private readonly bulk = new Fifo();
  private byteCount = 0;
  private essentialBytes = 0;

  constructor(
    private readonly maxFrames: number,
    private readonly maxBytes: number,
  ) {}

  get frames(): number {
    return this.essential.length + this.bulk.length;
  }
  get bytes(): number {
    return this.byteCount;
  }

  push(frame: Uint8Array, essential: boolean): PushResult {
    // Evict only when evicting can make room: essential frames alone must leave space for this one.
    const roomWithoutBulk = this.essential.length + 1 <= this.maxFrames && this.essentialBytes + frame.length <= this.maxBytes;
    if (!roomWithoutBulk) return essential ? { kind: "overflow" } : { kind: "refused" };
    let evicted = 0;
    while (!this.fits(frame.length)) {
      this.byteCount -= this.bulk.shift()!.length;
      evicted++;
    }
    if (essential) {
      this.essential.push(frame);
      this.essentialBytes += frame.length;
    } else {
      this.bulk.push(frame);
    }
    this.byteCount += frame.length;
    return { kind: "queued", evicted };
  }

  shift(): Uint8Array | undefined {
    let b = this.essential.shift();
    if (b !== undefined) this.essentialBytes -= b.length;
    else b = this.bulk.shift();
    if (b !== undefined) this.byteCount -= b.length;
    return b;
  }

  clear(): void {
    this.essential.clear();
    this.bulk.clear();
    this.byteCount = 0;
    this.essentialBytes = 0;
  }

  private fits(n: number): boolean {
    return this.frames + 1 <= this.maxFrames && this.byteCount + n <= this.maxBytes;
  }
}
