// Typed errors of the execution layer. None of these is an invocation outcome (those are receipts): they mean
// a block could not be executed or committed at all, and the caller must not treat the block as executed.

export type ExecErrorCode =
  /** The genesis document cannot start a chain (duplicate allocations, supply over u64, ...). */
  | "bad_genesis"
  /** The block's parent is neither the committed head nor an executed, uncommitted block. */
  | "unknown_parent"
  /** The block is inconsistent with its parent (height, chain id). */
  | "bad_block"
  /** commitBlock of a block that was not executed here, or not on top of the committed head. */
  | "not_executed"
  /** A committed (quorum-certified) block carries a state root different from ours: this validator diverged. */
  | "state_diverged"
  /** Something outside the state machine failed (compiler crash, disk, retry bound); retrying may succeed. */
  | "unavailable"
  /** replay() found a block whose re-executed root differs from the recorded one. */
  | "replay_mismatch"
  | "closed";

export class ExecError extends Error {
  override readonly name = "ExecError";

  constructor(
    readonly code: ExecErrorCode,
    message: string,
    readonly height: bigint | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isExecError(e: unknown): e is ExecError {
  return e instanceof ExecError;
}
