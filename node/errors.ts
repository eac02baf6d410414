// Typed errors with stable codes. The REST layer maps codes to HTTP statuses; the CLI prints them.
// Anything thrown that is not a CairnError is a bug and surfaces as 500 "internal".

export const ERROR_STATUS = {
  malformed: 400, // bad JSON, bad bytes, schema violations
  bad_signature: 400,
  wrong_chain: 400,
  invalid_invocation: 400, // well-formed but unacceptable (gas limit zero, unknown built-in method, ...)
  insufficient_balance: 400,
  // Its own code, not invalid_invocation: a client can read the floor from /v1/status and re-sign at it.
  gas_price_too_low: 400,
  nonce_used: 409,
  already_committed: 409, // the submitted invocation's own id is committed: it will not run again
  syncing: 503, // the node knows it is behind its peers and refuses writes until it is level
  nonce_gap: 400,
  duplicate: 409,
  // A different invocation for a pending (invoker, nonce) that does not pay enough more to replace it.
  replacement_underpriced: 409,
  // The invoker already holds the most pending invocations one invoker may; retry once some commit.
  too_many_pending: 429,
  too_large: 413,
  not_found: 404,
  mempool_full: 503,
  unavailable: 503,
  timeout: 504,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class CairnError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "CairnError";
  }

  get httpStatus(): number {
    return ERROR_STATUS[this.code];
  }
}

export function isCairnError(e: unknown): e is CairnError {
  return e instanceof CairnError;
}
