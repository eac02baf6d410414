// Sends the invocations this validator admitted to every other validator, batched per turn of the event loop
// (a client's batch and the admissions around it go out as a few large frames, not one frame each).

import type { SignedInvocation } from "../codec/types.ts";
import type { PoolEntry } from "../mempool/index.ts";
import type { Clock, ValidatorLinks } from "./ports.ts";

/** Invocations per gossip frame. */
const GOSSIP_BATCH = 512;

export class Gossip {
  private queue: SignedInvocation[] = [];
  private scheduled = false;

  constructor(
    private readonly links: ValidatorLinks,
    private readonly clock: Clock,
  ) {}

  admitted(entries: readonly PoolEntry[]): void {
    for (const e of entries) this.queue.push(e.inv);
    if (this.scheduled) return;
    this.scheduled = true;
    this.clock.defer(() => {
      this.scheduled = false;
      const all = this.queue;
      this.queue = [];
      for (let i = 0; i < all.length; i += GOSSIP_BATCH) this.links.broadcast({ type: "invocations", value: all.slice(i, i + GOSSIP_BATCH) });
    });
  }
}
