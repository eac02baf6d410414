// Typed errors of the execution layer. None of these is an invocation outcome (those are receipts): they mean
// a block could not be executed or committed at all, and the caller must not treat the block as executed.
//
// Transient or fatal: only 'unavailable' is transient (see isTransientExecError). It names a failure outside the
// state machine that a retry of the same block may cure, so a validator may retry it a bounded number of times
// before stopping. Every other code is fatal at once: 'invariant' is a bug or corrupt state, 'state_diverged'
// means this validator's state is not the quorum's, and the rest are misuse or bad input that a retry repeats.

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
  /**
   * Transient: something outside the state machine failed (compiler crash or timeout, an I/O error reading
   * committed state, the missing-state re-run bound); retrying the block may succeed.
   */
  | "unavailable"
  /**
   * Fatal: a rule the execution layer itself maintains does not hold (gas used over the limit, a fee the invoker
   * cannot pay after the checks, state this invocation loaded gone from memory, code of a deployed version absent
   * from the state, a vm that stops for missing state without naming a key). A bug or corrupt state: the node must stop.
   */
  | "invariant"
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

/** True for an ExecError a bounded retry may cure ('unavailable'); anything else must stop the node. */
export function isTransientExecError(e: unknown): boolean {
  return e instanceof ExecError && e.code === "unavailable";
}
