export { ConsensusCore } from "./core.ts";
export { BlockTree, type TreeNode } from "./block-tree.ts";
export { EquivocationDetector, makeEvidence, verifyEvidence } from "./evidence.ts";
export { CertVerifier, genesisBlockQc, leaderIndex, maxFaulty, quorumSize, verifyQc, verifyTc, type CertCheck, type ValidatorSet } from "./quorum.ts";
export * from "./types.ts";
export * from "../codec/consensus.ts";
