// Consensus wire messages (chained HotStuff) and the validator's persisted safety state.
//
// Consensus on hashes: a proposal carries its block once; votes and timeouts carry and sign only
// (chain id, view, block hash) through `consensusDigest`. Variant tags are positions in the union, so
// variants may only ever be appended.

import { enumeration, list, optionalField, struct, u16, u64, union, type Infer } from "./codec.ts";
import { Block, LIMITS, QuorumCertificate, bytes32, bytes64, chainIdText } from "./types.ts";

/** One validator's timeout for a view: it signed (chain id, view, hash of its highest QC's block). */
export const TimeoutSignature = struct({ signer: u16, highQcHash: bytes32, signature: bytes64 });
export type TimeoutSignature = Infer<typeof TimeoutSignature>;

/**
 * n - f distinct validators gave up on `view`; signers strictly increasing. It lets the leader of view + 1
 * propose and everyone else enter view + 1. Each entry names the block hash its signer signed over.
 */
export const TimeoutCertificate = struct({
  view: u64,
  signatures: list(TimeoutSignature, LIMITS.maxValidators),
});
export type TimeoutCertificate = Infer<typeof TimeoutCertificate>;

/**
 * A leader's block for `block.header.view`, signed over consensusDigest("cairn.proposal", chain, view,
 * blockHash(header)) by `block.header.proposer`. `highTc` is attached when the block's justify is not
 * from the previous view: the certificate for view - 1 that lets receivers enter the proposal's view.
 */
export const Proposal = struct({
  block: Block,
  signature: bytes64,
  highTc: optionalField(TimeoutCertificate),
});
export type Proposal = Infer<typeof Proposal>;

/**
 * Signed over consensusDigest("cairn.vote", chain, view, blockHash). Sent to every validator, so each forms
 * the QC itself and a crashed leader of view + 1 cannot withhold the certificate that completes a 3-chain.
 */
export const Vote = struct({ view: u64, blockHash: bytes32, signer: u16, signature: bytes64 });
export type Vote = Infer<typeof Vote>;

/**
 * Signed over consensusDigest("cairn.timeout", chain, view, highQc.blockHash), with the QC itself alongside
 * (it is self-certifying). `highTc` is the sender's highest timeout certificate when it is at least as recent
 * as `highQc`, so a receiver that is behind can jump to the sender's view.
 */
export const Timeout = struct({
  view: u64,
  highQc: QuorumCertificate,
  highTc: optionalField(TimeoutCertificate),
  signer: u16,
  signature: bytes64,
});
export type Timeout = Infer<typeof Timeout>;

export const ConsensusMessage = union({ proposal: Proposal, vote: Vote, timeout: Timeout });
export type ConsensusMessage = Infer<typeof ConsensusMessage>;

export const EVIDENCE_KINDS = ["proposal", "vote", "timeout"] as const;
export type EvidenceKind = (typeof EVIDENCE_KINDS)[number];

/**
 * Proof that validator `validator` signed two different block hashes for one view in one role
 * ("proposal": domain cairn.proposal, "vote": cairn.vote, "timeout": cairn.timeout, whose hash is the highest
 * QC's block: an honest validator signs one timeout per view, persisted, and only ever re-sends that one).
 * Canonical: blockHashA < blockHashB bytewise. Anyone holding the validator set can check it with
 * `verifyEvidence` (node/consensus).
 */
export const Evidence = struct({
  kind: enumeration(EVIDENCE_KINDS),
  chainId: chainIdText,
  view: u64,
  validator: u16,
  blockHashA: bytes32,
  signatureA: bytes64,
  blockHashB: bytes32,
  signatureB: bytes64,
});
export type Evidence = Infer<typeof Evidence>;

/**
 * What a validator must find again after a crash to never vote, propose or time out twice in one view
 * and never vote against its lock. The node stores it durably before sending anything it guards.
 */
export const SafetyState = struct({
  /** The view the validator was in (a restart resumes there; it only grows). */
  view: u64,
  /** Highest view this validator voted in (0 = never). */
  lastVotedView: u64,
  /** Highest view this validator proposed in as leader (0 = never). */
  lastProposedView: u64,
  /** The last timeout it signed, re-sent unchanged instead of signing another one for that view. */
  lastTimeout: optionalField(Timeout),
  lockedQc: QuorumCertificate,
  highQc: QuorumCertificate,
  highTc: optionalField(TimeoutCertificate),
});
export type SafetyState = Infer<typeof SafetyState>;
