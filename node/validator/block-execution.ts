// Speculative execution of the blocks the core asks for, in the order it asks: each on its parent's result,
// as soon as its invocations' signatures are checked. A block that cannot be executed is never left behind
// silently (the core would wait for it forever): an environmental failure (a compile worker crash, an I/O
// error) is retried a bounded number of times, and any other failure, or the last retry's, stops the node.

import { toHex } from "../codec/hex.ts";
import type { Block } from "../codec/types.ts";
import { isTransientExecError, type ExecutedBlock, type Executor } from "../exec/index.ts";
import type { Mempool } from "../mempool/index.ts";
import { ReleasingMap } from "../releasing-map.ts";
import type { EventSink } from "./event-pump.ts";
import type { Halt } from "./halt.ts";
import type { Clock, Logger } from "./ports.ts";

/** Attempts of one block's execution when it fails for environmental reasons, and the wait before each retry. */
export const EXECUTION_ATTEMPTS = 4;
const RETRY_DELAY_MS = [100, 500, 2000];

export class BlockExecution {
  /** Results of executed, uncommitted blocks, by hash hex, for the commit to deliver their receipts. */
  private readonly results = new ReleasingMap<string, ExecutedBlock>();
  /** Execution requests reach the executor in the order the core made them, whatever their checks take. */
  private order: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly executor: Executor,
    private readonly mempool: Mempool,
    private readonly events: EventSink,
    private readonly clock: Clock,
    private readonly halt: Halt,
    private readonly log: Logger,
  ) {}

  execute(block: Block, hash: Uint8Array): void {
    // Invocations whose gossip has not reached us (or is still being checked) get their signatures checked
    // on the verifier's workers first; execution would otherwise check each one inline on the event loop.
    const verified = this.mempool.verifyForBlock(block.invocations);
    const run = this.order.then(() => verified).then(() => this.attempt(block, 1));
    this.order = run.then(
      () => undefined,
      () => undefined,
    );
    run.then(
      (r) => {
        if (r === null) return;
        this.results.set(toHex(hash), r);
        this.events.enqueue({ type: "executed", blockHash: hash, stateRoot: r.stateRoot });
      },
      (e: unknown) => {
        if (!this.stopped) this.halt.fatal(`executing block ${block.header.height}`, e);
      },
    );
  }

  /** Runs the block, retrying environmental failures; null when the validator stopped meanwhile. */
  private async attempt(block: Block, n: number): Promise<ExecutedBlock | null> {
    if (this.stopped || this.halt.halted) return null;
    try {
      return await this.executor.executeBlock(block, { has: (idHex) => this.mempool.isVerified(idHex) });
    } catch (e) {
      if (this.stopped || !isTransientExecError(e) || n >= EXECUTION_ATTEMPTS) throw e;
      const delay = RETRY_DELAY_MS[Math.min(n - 1, RETRY_DELAY_MS.length - 1)]!;
      this.log.warn("block execution failed; retrying", { height: block.header.height.toString(), attempt: n, error: (e as Error).message, retryInMs: delay });
      await new Promise<void>((resolve) => this.clock.after(delay, resolve));
      return this.attempt(block, n + 1);
    }
  }

  /** The result of an executed block, removed: a commit takes it once. */
  take(hashHex: string): ExecutedBlock | undefined {
    const r = this.results.get(hashHex);
    this.results.delete(hashHex);
    return r;
  }

  forget(hashHex: string): void {
    this.results.delete(hashHex);
  }

  stop(): void {
    this.stopped = true;
  }
}
