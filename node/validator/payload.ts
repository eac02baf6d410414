// What a leader puts in its next block: ready invocations from the mempool, leaving out those that blocks on
// their way to commit already carry. Idle (nothing selectable, nothing uncommitted carrying invocations), it
// proposes nothing, so an idle chain does not grow; work that arrives while it waits is proposed at once.

import { LIMITS, type Block, type SignedInvocation } from "../codec/types.ts";
import type { Mempool, PoolEntry } from "../mempool/index.ts";
import type { CommitPipeline } from "./commit-pipeline.ts";
import type { EventSink } from "./event-pump.ts";
import type { Clock } from "./ports.ts";

export interface PayloadLimits {
  readonly maxBlockInvocations: number;
  readonly maxBlockBytes: number;
}

/** Room left in a block for everything but its invocations (header, certificate, framing). */
const BLOCK_OVERHEAD_BYTES = 64 * 1024;

export class PayloadBuilder {
  private proposeIfReady: (() => void) | null = null;

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
    // No `exclude` set of the ahead ids: a pooled invocation that an ancestor carries has that ancestor's
    // (invoker, nonce), which `ahead` already puts below the invoker's next ready nonce, so select skips it.
    const select = (): PoolEntry[] => this.mempool.select({
        maxCount: this.limits.maxBlockInvocations,
        maxBytes: this.limits.maxBlockBytes - BLOCK_OVERHEAD_BYTES,
        // A validity rule: every validator refuses a block with more.
        maxDeploys: LIMITS.maxDeploysPerBlock,
        ahead,
      });
    const propose = (entries: readonly PoolEntry[]): void => {
      this.cancelWait();
      this.events.enqueue({ type: "payload", view, parentHash, invocations: entries.map((e) => e.inv) });
    };
    // Propose at once when there is work a block can carry, or when uncommitted ancestors hold invocations
    // whose 3-chain needs the next blocks. Pooled invocations that cannot be selected (a nonce gap, say) are
    // not work: they must not make the chain write blocks faster than an idle one does.
    const ready = select();
    if (ready.length > 0 || ahead.length > 0) return propose(ready);
    // Idle: no block at all, so an idle chain does not grow. The view times out and the next leader waits the
    // same way; the timeouts carry the highest certificate, so a validator that missed the last votes still
    // completes the last commit. Work that can be selected arriving while this leader waits is proposed at once.
    this.proposeIfReady = () => {
      const entries = select();
      if (entries.length > 0) propose(entries);
    };
  }

  /** Invocations arrived: an idle leader proposes now if any of them can be selected. */
  onWork(): void {
    if (this.proposeIfReady) this.clock.defer(() => this.proposeIfReady?.());
  }

  private cancelWait(): void {
    this.proposeIfReady = null;
  }

  stop(): void {
    this.cancelWait();
  }
}
