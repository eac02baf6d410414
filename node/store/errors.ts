// Typed errors of the data layer. Codes are stable strings callers branch on; `height` names the block when
// the problem is in the committed chain, so an operator knows where to look.

import { CodecError, decode, type Codec } from "../codec/codec.ts";

export type StoreErrorCode =
  /** The database could not be opened, read or written (disk full, permissions, lock held by another process). */
  | "io"
  /** The store was used after close() or before open finished. */
  | "closed"
  /** A committed height already holds a different block: the chain is append-only. */
  | "chain_conflict"
  /** A committed block, index entry or certificate does not match what was written (bit rot, tampering, truncation). */
  | "corrupt_chain"
  /** The database belongs to another chain (different genesis). */
  | "genesis_mismatch";

export class StoreError extends Error {
  override readonly name = "StoreError";

  constructor(
    readonly code: StoreErrorCode,
    message: string,
    /** The committed height the error is about, when there is one. */
    readonly height: bigint | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isStoreError(e: unknown): e is StoreError {
  return e instanceof StoreError;
}

/** Decodes bytes read from the database; bytes that do not decode are StoreError 'corrupt_chain' (naming `what`). */
export function decodeStored<T>(codec: Codec<T>, raw: Uint8Array, what: string): T {
  try {
    return decode(codec, raw, what);
  } catch (e) {
    if (e instanceof CodecError) throw new StoreError("corrupt_chain", `${what} in the database does not decode: ${e.message}`, null, { cause: e });
    throw e;
  }
}
