// What a leader puts in its next block: ready invocations from the mempool, leaving out those that blocks on
// their way to commit already carry. Idle, it waits up to maxBlockWaitMs before proposing an empty block, so an
// idle chain does not write blocks as fast as the network allows; arriving work cuts the wait short.

import type { Block, SignedInvocation } from "../codec/types.ts";
import type { Mempool } from "../mempool/index.ts";
import type { CommitPipeline } from "./commit-pipeline.ts";
import type { EventSink } from "./event-pump.ts";
import type { Clock, Timer } from "./ports.ts";

export interface PayloadLimits {
  readonly maxBlockInvocations: number;
  readonly maxBlockBytes: number;
  readonly maxBlockWaitMs: number;
}

/** Room left in a block for everything but its invocations (header, certificate, framing). */
const BLOCK_OVERHEAD_BYTES = 64 * 1024;

export class PayloadBuilder {
  private waitTimer: Timer | null = null;
  private proposeNow: (() => void) | null = null;

  constructor(
    private readonly mempool: Mempool,
    private readonly commits: CommitPipeline,
    private readonly events: EventSink,
    private readonly clock: Clock,
    private readonly limits: PayloadLimits,
  ) {}

  /** Answers the core's needPayload for `view` on `parentHash`, whose uncommitted ancestors are `ancestors`. */
  build(view: bigint, parentHash: Uint8Array, ancestors: readonly Block[]): void {
    this.cancelWait();
    const ahead: SignedInvocation[] = [];
    for (const b of this.commits.inFlight()) for (const inv of b.invocations) ahead.push(inv);
    for (const b of ancestors) for (const inv of b.invocations) ahead.push(inv);
    const propose = (): void => {
      this.cancelWait();
      const entries = this.mempool.select({ maxCount: this.limits.maxBlockInvocations, maxBytes: this.limits.maxBlockBytes - BLOCK_OVERHEAD_BYTES, ahead });
      this.events.enqueue({ type: "payload", view, parentHash, invocations: entries.map((e) => e.inv) });
    };
    // No `exclude` set of the ahead ids: a pooled invocation that an ancestor carries has that ancestor's
    // (invoker, nonce), which `ahead` already puts below the invoker's next ready nonce, so select skips it.
    // With work in the pool, or invocations in uncommitted ancestors that need the next links of their
    // 3-chain, propose at once.
    if (this.mempool.size > 0 || ahead.length > 0) return propose();
    this.proposeNow = propose;
    this.waitTimer = this.clock.after(this.limits.maxBlockWaitMs, propose);
  }

  /** Invocations arrived: a leader idling before an empty block proposes them now. */
  onWork(): void {
    if (this.proposeNow) this.clock.defer(() => this.proposeNow?.());
  }

  private cancelWait(): void {
    this.waitTimer?.cancel();
    this.waitTimer = null;
    this.proposeNow = null;
  }

  stop(): void {
    this.cancelWait();
  }
}
