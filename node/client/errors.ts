// Every failure the SDK reports: the API's {"error":{"code","message"}} with the HTTP status, or a local
// problem (status 0: bad arguments, network unreachable, timeout while polling). Two outcomes that mean "your
// invocation did not run" have their own classes, so no caller can take them for success.

export interface ClientErrorExtra {
  /** Extra string fields of the API's error object (e.g. `id` and `height` of already_committed). */
  fields?: Record<string, string>;
  /** The node's Retry-After, in ms, when it sent one (503 syncing). */
  retryAfterMs?: number;
}

export class ClientError extends Error {
  readonly fields: Record<string, string>;
  readonly retryAfterMs: number | undefined;

  constructor(
    /** HTTP status of the API's answer; 0 when the request never got one. */
    readonly status: number,
    /** The API's error code (e.g. "nonce_used", "syncing"), or a local one ("unavailable", "timeout", "malformed"). */
    readonly code: string,
    message: string,
    extra: ClientErrorExtra = {},
  ) {
    super(message);
    this.name = "ClientError";
    this.fields = extra.fields ?? {};
    this.retryAfterMs = extra.retryAfterMs;
  }
}

/**
 * The submitted invocation is, byte for byte, one already committed (at `height`): nothing new ran. Signing
 * with a nonce read from stale state produces exactly this; the receipt at `height` is the earlier call's.
 */
export class AlreadyCommittedError extends ClientError {
  constructor(
    /** The invocation id (hex), the same as the committed receipt's. */
    readonly id: string,
    readonly height: bigint,
    message = `invocation ${id} is already committed at height ${height}; it did not run again`,
  ) {
    super(409, "already_committed", message, { fields: { id, height: height.toString(10) } });
    this.name = "AlreadyCommittedError";
  }
}

/** A different invocation (`by`) used this one's nonce first and committed at `height`: this one never runs. */
export class DisplacedError extends ClientError {
  constructor(
    readonly id: string,
    readonly by: string,
    readonly height: bigint,
  ) {
    super(409, "displaced", `invocation ${id} was displaced: invocation ${by} used its nonce first (committed at height ${height})`, {
      fields: { id, by, height: height.toString(10) },
    });
    this.name = "DisplacedError";
  }
}

/**
 * The node's mempool dropped this invocation without running it (`reason`: gap_timeout, a lower nonce never
 * came; evicted, a full pool took its room for a better-paying one; replaced, re-signed at a higher gas price as
 * `replacedBy`). Its nonce is still free: sign again (or send the missing nonce first).
 */
export class ExpiredError extends ClientError {
  constructor(
    readonly id: string,
    readonly reason: string,
    readonly replacedBy?: string,
  ) {
    super(409, "expired", `invocation ${id} expired from the mempool without running (${reason}${replacedBy === undefined ? "" : ` by ${replacedBy}`})`, {
      fields: replacedBy === undefined ? { id, reason } : { id, reason, replacedBy },
    });
    this.name = "ExpiredError";
  }
}
