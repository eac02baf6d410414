// Every failure the SDK reports: the API's {"error":{"code","message"}} with the HTTP status, or a local
// problem (status 0: bad arguments, network unreachable, timeout while polling).

export class ClientError extends Error {
  constructor(
    /** HTTP status of the API's answer; 0 when the request never got one. */
    readonly status: number,
    /** The API's error code (e.g. "nonce_used", "mempool_full"), or a local one ("unavailable", "timeout", "malformed"). */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ClientError";
  }
}
