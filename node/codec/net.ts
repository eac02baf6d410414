// The validator-to-validator wire messages. One frame on the TCP link is a u32 little-endian length
// followed by the canonical encoding of one NetMessage (after the handshake, sealed with the session key).
// Consensus messages travel as opaque bytes so the transport never depends on the consensus codec.
// Variant tags are positions in the union, so variants may only ever be appended.

import { bytes, list, option, struct, text, u16, u32, u64, union, type Infer } from "./codec.ts";
import { Block, LIMITS, QuorumCertificate, SignedInvocation, bytes32, bytes64, chainIdText } from "./types.ts";

/** Bumped whenever the frame layout or handshake changes; peers on another version are refused. */
export const NET_PROTOCOL_VERSION = 1;

/** Hard upper bounds baked into the decoder; the runtime limits (node/net/limits.ts) are at most these. */
export const NET_CODEC_LIMITS = {
  /** No single opaque payload may exceed the largest frame the transport could ever accept. */
  maxPayloadBytes: 64 * 1024 * 1024,
  maxInvocationsPerGossip: LIMITS.maxInvocationsPerBlock,
  maxHashesPerRequest: 1024,
  maxBlocksPerResponse: 1024,
  maxReasonBytes: 256,
} as const;

/**
 * First frame each side sends. `ephemeralKey` is a fresh X25519 key for this connection only; the
 * signatures in `auth` cover both hellos, so a relay cannot substitute it.
 */
export const NetHello = struct({
  protocolVersion: u16,
  chainId: chainIdText,
  validatorIndex: u16,
  publicKey: bytes32,
  nonce: bytes32,
  ephemeralKey: bytes32,
});
export type NetHello = Infer<typeof NetHello>;

/** Second frame: the sender's validator-key signature over the handshake transcript in its role. */
export const NetAuth = struct({ signature: bytes64 });
export type NetAuth = Infer<typeof NetAuth>;

export const GetBlocks = struct({ requestId: u32, hashes: list(bytes32, NET_CODEC_LIMITS.maxHashesPerRequest) });
export type GetBlocks = Infer<typeof GetBlocks>;

export const GetCommitted = struct({ requestId: u32, fromHeight: u64, maxCount: u32 });
export type GetCommitted = Infer<typeof GetCommitted>;

/**
 * Answer to getBlocks (certificate null) or getCommitted. For a committed range the blocks are
 * consecutive heights; each block's successor's justify certifies it, and `certificate` certifies the last.
 */
export const BlocksResponse = struct({
  requestId: u32,
  blocks: list(Block, NET_CODEC_LIMITS.maxBlocksPerResponse),
  certificate: option(QuorumCertificate),
});
export type BlocksResponse = Infer<typeof BlocksResponse>;

/** A request the server will not answer (no provider, busy, provider failure). */
export const SyncRefused = struct({ requestId: u32, reason: text(NET_CODEC_LIMITS.maxReasonBytes) });
export type SyncRefused = Infer<typeof SyncRefused>;

export const PeerStatus = struct({ committedHeight: u64, highQcView: u64 });
export type PeerStatus = Infer<typeof PeerStatus>;

export const Ping = struct({ nonce: u64 });

export const NetMessage = union({
  hello: NetHello,
  auth: NetAuth,
  ping: Ping,
  pong: Ping,
  consensus: bytes(NET_CODEC_LIMITS.maxPayloadBytes),
  invocations: list(SignedInvocation, NET_CODEC_LIMITS.maxInvocationsPerGossip),
  status: PeerStatus,
  getBlocks: GetBlocks,
  getCommitted: GetCommitted,
  blocks: BlocksResponse,
  syncRefused: SyncRefused,
});
export type NetMessage = Infer<typeof NetMessage>;
export type NetMessageType = NetMessage["type"];

/** What the node sends and receives through PeerNetwork.send/broadcast/onMessage; the rest is the transport's own. */
export type AppMessage = Extract<NetMessage, { type: "consensus" | "invocations" | "status" }>;
export const APP_MESSAGE_TYPES: ReadonlySet<NetMessageType> = new Set(["consensus", "invocations", "status"]);
