/**
 * Typed errors of the Cairn VM.
 *
 * Every failure that leaves `vm/` is a `VmError` with a stable string `code`, so callers (the node, the CLI, the
 * API) can branch on the code and show the message. Codes are never renamed once shipped: callers and clients
 * match on them. The runtime helper appends its own codes at the end of `VM_ERROR_CODES`.
 */

export const VM_ERROR_CODES = [
  /** The module bytes are malformed or violate the Cairn Wasm policy (message names what and where). */
  "invalid_wasm",
  /** The contract asks for a compiler toolchain/version the node does not have pinned. */
  "toolchain_unknown",
  /** Compiling contract source (AssemblyScript) or the instrumented Wasm failed. */
  "compile_failed",
  /** Execution ran out of gas (gasUsed == gas limit). */
  "out_of_gas",
  /** Execution exceeded the deterministic stack-depth limit. */
  "stack_overflow",
  /** Execution trapped (unreachable, out-of-bounds access, division by zero, abort, ...). */
  "trap",
  /** A configured limit (module size, memory, output size, ...) was exceeded. */
  "limit_exceeded",
  /** A gas schedule or limits object handed to the VM is itself inconsistent. */
  "bad_config",
  /** A bug in the VM: an invariant that should hold did not. */
  "internal",
  // Appended by the runtime:
  /** The installed compiler/SDK do not match what the pinned toolchain id promises (see vm/toolchain.ts). */
  "toolchain_mismatch",
  /** A caller handed the runtime a malformed request (wrong key sizes, gas limit out of range, ...). */
  "bad_request",
] as const;

export type VmErrorCode = (typeof VM_ERROR_CODES)[number];

export class VmError extends Error {
  override readonly name = "VmError";
  readonly code: VmErrorCode;

  constructor(code: VmErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Shorthand for the most common error: the module is not acceptable. */
export function invalidWasm(message: string): VmError {
  return new VmError("invalid_wasm", message);
}

export function isVmError(e: unknown): e is VmError {
  return e instanceof VmError;
}
