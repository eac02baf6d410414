// Runtime limits and timings of the transport. Defaults suit a LAN/WAN validator set; tests shrink them.

import { NET_CODEC_LIMITS } from "../codec/net.ts";
import { NetError } from "./errors.ts";

export interface NetLimits {
  /** Largest frame body accepted or sent after the handshake (sealed size, tag included). */
  maxFrameBytes: number;
  /** Largest frame accepted before the peer has proved its key: a hello is ~170 bytes. */
  maxHandshakeFrameBytes: number;
  /** Per-peer outbound queue bound, frames not yet handed to the socket. */
  maxQueueFrames: number;
  maxQueueBytes: number;
  /** Dial + hello + auth must complete within this. */
  handshakeTimeoutMs: number;
  /** Unauthenticated inbound connections held at once; more are closed on accept. */
  maxPendingHandshakes: number;
  /**
   * Of those, how many one remote address may hold: a single host opening connections it never authenticates
   * cannot take every slot and keep a restarted validator out until its handshakes time out.
   */
  maxPendingHandshakesPerHost: number;
  /**
   * Unauthenticated inbound connections held apart from the strangers' pool for each validator allowed to
   * dial us (see admission.ts): strangers filling that pool cannot keep a validator out.
   */
  reservedHandshakesPerPeer: number;
  /** Refused and dropped unauthenticated connections are logged at most once per this interval per reason. */
  strangerLogIntervalMs: number;
  pingIntervalMs: number;
  /** No complete frame from the peer for this long closes the link. */
  idleTimeoutMs: number;
  /** The socket refusing our writes (no 'drain') for this long closes the link. */
  writeStallTimeoutMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  /** Default timeout of requestBlocks / requestCommitted. */
  syncTimeoutMs: number;
  /** Sync requests served concurrently for one peer; more are refused as busy. */
  maxConcurrentServePerPeer: number;
  /** Blocks per getCommitted answer, whatever the peer asks for. */
  maxBlocksPerResponse: number;
}

export const DEFAULT_NET_LIMITS: NetLimits = {
  maxFrameBytes: 16 * 1024 * 1024,
  maxHandshakeFrameBytes: 1024,
  maxQueueFrames: 4096,
  maxQueueBytes: 64 * 1024 * 1024,
  handshakeTimeoutMs: 5_000,
  maxPendingHandshakes: 64,
  maxPendingHandshakesPerHost: 8,
  reservedHandshakesPerPeer: 2,
  strangerLogIntervalMs: 1_000,
  pingIntervalMs: 5_000,
  idleTimeoutMs: 20_000,
  writeStallTimeoutMs: 30_000,
  reconnectBaseMs: 100,
  reconnectMaxMs: 5_000,
  syncTimeoutMs: 10_000,
  maxConcurrentServePerPeer: 4,
  maxBlocksPerResponse: 256,
};

export function resolveLimits(partial: Partial<NetLimits> | undefined): NetLimits {
  const l: NetLimits = { ...DEFAULT_NET_LIMITS, ...partial };
  for (const [k, v] of Object.entries(l)) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new NetError("invalid_config", `net limit ${k} must be a positive integer, got ${String(v)}`);
  }
  if (l.maxFrameBytes > NET_CODEC_LIMITS.maxPayloadBytes) {
    throw new NetError("invalid_config", `maxFrameBytes ${l.maxFrameBytes} exceeds the codec bound ${NET_CODEC_LIMITS.maxPayloadBytes}`);
  }
  if (l.maxQueueBytes < l.maxFrameBytes) {
    throw new NetError("invalid_config", `maxQueueBytes ${l.maxQueueBytes} must be at least maxFrameBytes ${l.maxFrameBytes}`);
  }
  if (l.maxBlocksPerResponse > NET_CODEC_LIMITS.maxBlocksPerResponse) {
    throw new NetError("invalid_config", `maxBlocksPerResponse exceeds ${NET_CODEC_LIMITS.maxBlocksPerResponse}`);
  }
  if (l.reconnectMaxMs < l.reconnectBaseMs) throw new NetError("invalid_config", "reconnectMaxMs is below reconnectBaseMs");
  return l;
}
