export { PeerNetwork, type PeerNetworkOptions, type ValidatorAddress, type MessageHandler, type NetMetrics, type PeerMetrics } from "./network.ts";
export { NetError, type NetErrorCode, type CloseReason } from "./errors.ts";
export { DEFAULT_NET_LIMITS, resolveLimits, type NetLimits } from "./limits.ts";
export { stderrLogger, silentLogger, type Logger, type LogFields } from "./logger.ts";
export {
  checkBlocksAnswer,
  checkCommittedRange,
  type SyncProvider,
  type CommittedRange,
  type FetchedBlock,
  type VerifiedRange,
} from "./sync.ts";
export type { HandshakeSigner } from "./handshake.ts";
export type { AppMessage, NetMessage, PeerStatus } from "../codec/net.ts";
