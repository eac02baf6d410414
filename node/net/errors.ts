// Typed failures of the peer transport. Requests made through the network reject with NetError;
// nothing the remote side sends can make the transport throw out of a socket event handler.

export type NetErrorCode =
  | "not_connected" // no authenticated link to that peer right now
  | "peer_disconnected" // the link dropped while a request was outstanding
  | "timeout" // the peer did not answer in time
  | "refused" // the peer answered with syncRefused
  | "bad_response" // the answer does not match the request (wrong blocks, broken links)
  | "too_large" // a message that can never fit in one frame
  | "invalid_request" // request arguments out of range (e.g. too many hashes)
  | "queue_full" // the peer's outbound queue could not take the message
  | "stopped" // the network was stopped
  | "invalid_config"; // constructor options that cannot work

export class NetError extends Error {
  constructor(
    readonly code: NetErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "NetError";
  }
}

/** Why a connection was closed; each is counted in metrics().disconnects. */
export type CloseReason =
  | "handshake_timeout"
  | "stranger" // hello names a key that is not the configured validator key
  | "bad_proof" // auth signature does not verify
  | "wrong_chain"
  | "protocol_version"
  | "wrong_direction" // a higher-index validator dialed us, or the dialed peer is not who we dialed
  | "bad_frame" // zero or oversize length prefix
  | "truncated" // the stream ended inside a frame
  | "malformed" // a frame that does not decode as a NetMessage
  | "decrypt_failed" // a sealed frame that fails authentication
  | "unexpected_message" // e.g. a consensus message before auth, or a hello after it
  | "idle_timeout"
  | "write_stall"
  | "slow_consumer" // its queue of essential messages overflowed
  | "replaced" // a newer authenticated link to the same peer took over
  | "too_many_pending"
  | "too_many_pending_from_host" // one remote address holds maxPendingHandshakesPerHost unauthenticated links
  | "evicted" // a newer unauthenticated connection on the reserved path took this one's slot
  | "socket_error"
  | "remote_closed"
  | "stopped"
  | "internal";
