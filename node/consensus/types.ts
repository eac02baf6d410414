// The consensus core's interface: configuration, events in, actions out, injected crypto, errors.
// The core is a pure state machine; the node (or the simulator) owns sockets, timers, disk and execution.

import type { Interner } from "../codec/codec.ts";
import type { Block, QuorumCertificate, SignedInvocation } from "../codec/types.ts";
import type { ConsensusMessage, Evidence, SafetyState, TimeoutCertificate } from "../codec/consensus.ts";

/** Signing and verification of 32-byte digests. The node injects libsodium; the simulator a fast fake. */
export interface ConsensusCrypto {
  /** Signs with this validator's key (never called when the core has no validator index). */
  sign(digest: Uint8Array): Uint8Array;
  verify(signature: Uint8Array, digest: Uint8Array, publicKey: Uint8Array): boolean;
}

export interface ConsensusConfig {
  chainId: string;
  /** Validator public keys in genesis order: the index is the QC signer id; leader(v) = validators[v mod n]. */
  validators: readonly Uint8Array[];
  /** This node's validator index, or null for a non-voting observer that only follows and commits. */
  self: number | null;
  /** Hash of the genesis block (height 0): the one block certified without signatures (see genesisBlockQc). */
  genesisBlockHash: Uint8Array;
  /**
   * View timeout in steady state; doubles for each view without a new decided block (beyond the three a
   * commit takes) and for each re-send of the timeout within a view, up to maxTimeoutMs.
   */
  baseTimeoutMs: number;
  maxTimeoutMs: number;
  /** Largest encoded block accepted or proposed. */
  maxBlockBytes: number;
  /** Optional bounds; defaults in DEFAULT_LIMITS. */
  limits?: Partial<ConsensusLimits>;
  /**
   * Optional: lets decoding a proposal take values the node already holds for byte-identical encodings (the
   * node's pooled invocations) instead of copies. Equal bytes decode to equal values, so the core's
   * behaviour does not depend on it.
   */
  interner?: Interner;
}

export interface ConsensusLimits {
  /** Proposals and synced blocks held while their ancestors are fetched. */
  maxBufferedBlocks: number;
  /** Block hashes being fetched at once. */
  maxWanted: number;
  /** Fetches re-requested on each timer expiry (lost requests are retried). */
  maxRefetchPerTimer: number;
  /** Views around the current one for which equivocation records, votes and timeouts are kept. */
  viewWindow: number;
  /** Verified-certificate cache entries. */
  certCacheSize: number;
}

export const DEFAULT_LIMITS: ConsensusLimits = {
  maxBufferedBlocks: 256,
  maxWanted: 1024,
  maxRefetchPerTimer: 16,
  viewWindow: 32,
  certCacheSize: 512,
};

/** What the node gives the core when it starts (first start: the genesis block, null safety, no blocks). */
export interface InitialState {
  /** The last committed block (genesis on first start) and root(block): the state after executing it. */
  committed: { block: Block; stateRoot: Uint8Array; qc?: QuorumCertificate | null };
  /** The last persistSafety state, or null if the node never persisted one. */
  safety: SafetyState | null;
  /** Every block from persistBlock not yet committed or pruned, in any order. */
  blocks: readonly Block[];
}

export type ConsensusEvent =
  /** A consensus message from validator `from` (already decoded, or raw bytes the core decodes). */
  | { type: "message"; from: number; message: ConsensusMessage | Uint8Array }
  /** The timer last set with setTimer fired. */
  | { type: "timer"; view: bigint }
  /** The node finished executing `blockHash`; stateRoot = root(block). */
  | { type: "executed"; blockHash: Uint8Array; stateRoot: Uint8Array }
  /** Answer to needPayload: the invocations for the leader's block on `parentHash` in `view`. */
  | { type: "payload"; view: bigint; parentHash: Uint8Array; invocations: SignedInvocation[] }
  /** A block the node's sync obtained (answer to fetch, or a committed range with the QC certifying it). */
  | { type: "blockFromSync"; block: Block; qc?: QuorumCertificate | null; from?: number };

export interface CommittedBlock {
  block: Block;
  hash: Uint8Array;
  /** root(block), from this node's own execution. */
  stateRoot: Uint8Array;
  /** The QC certifying this block (its child's justify). */
  qc: QuorumCertificate;
}

export type LogLevel = "debug" | "info" | "warn" | "error";

export type ConsensusAction =
  /** Durably store (synced write) before carrying out any later action in the list. */
  | { type: "persistSafety"; state: SafetyState }
  /** Store an uncommitted block by hash; give it back in InitialState.blocks after a restart. */
  | { type: "persistBlock"; block: Block; hash: Uint8Array }
  /** "all" means every other validator; the core never sends to itself. */
  | { type: "send"; to: number | "all"; message: ConsensusMessage }
  /** Replaces any earlier timer: after `ms` milliseconds deliver { type: "timer", view }. */
  | { type: "setTimer"; view: bigint; ms: number }
  /** Execute `block` on its parent's overlay (the parent is executed), then deliver `executed`. */
  | { type: "execute"; block: Block; hash: Uint8Array }
  /**
   * As leader of `view`: answer with a `payload` event. `pendingAncestors` are the uncommitted blocks from the
   * committed head (exclusive) up to the parent (inclusive), oldest first: leave their invocations out.
   */
  | { type: "needPayload"; view: bigint; parentHash: Uint8Array; height: bigint; pendingAncestors: Block[] }
  /** Final: apply in order (each block is already executed). `proof` is the QC closing the 3-chain. */
  | { type: "commit"; blocks: CommittedBlock[]; proof: QuorumCertificate }
  /** Blocks dropped from the tree (forked off or below the committed head): drop overlays and stored copies. */
  | { type: "prune"; hashes: Uint8Array[] }
  /** Obtain this certified block (from `hint` first); deliver it with blockFromSync. May repeat: retries. */
  | { type: "fetch"; hash: Uint8Array; hint: number[] }
  | { type: "evidence"; evidence: Evidence }
  | { type: "misbehaviour"; peer: number; code: string; message: string }
  | { type: "log"; level: LogLevel; code: string; message: string };

export type { ConsensusMessage, Evidence, SafetyState, TimeoutCertificate };

/** A broken internal invariant: a bug, never caused by peers. The node should stop rather than continue. */
export class ConsensusInvariantError extends Error {
  readonly code = "consensus_invariant";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ConsensusInvariantError";
  }
}

/** The configuration or the restored state cannot be used. */
export class ConsensusConfigError extends Error {
  readonly code = "consensus_config";
  constructor(message: string) {
    super(message);
    this.name = "ConsensusConfigError";
  }
}
