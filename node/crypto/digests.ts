// The exact bytes each signature covers and each id names. Signatures are over a domain-separated K12
// digest of the canonical encoding: short to sign, and never valid in another role.

import { encode, struct, u64 } from "../codec/codec.ts";
import {
  BlockHeader,
  Genesis,
  Invocation,
  SignedInvocation,
  bytes32,
  chainIdText,
  type Genesis as GenesisT,
  type Invocation as InvocationT,
  type SignedInvocation as SignedInvocationT,
  type BlockHeader as BlockHeaderT,
} from "../codec/types.ts";
import { k12, type HashDomain } from "./hash.ts";
import { merkleRoot } from "./merkle.ts";

export function invocationSigningDigest(inv: InvocationT): Uint8Array {
  return k12("cairn.invocation.sig", encode(Invocation, inv));
}

export function invocationId(signed: SignedInvocationT): Uint8Array {
  return invocationIdOfEncoding(encode(SignedInvocation, signed));
}

/** The id from the canonical signed encoding, for callers that already hold it (the mempool). */
export function invocationIdOfEncoding(signedEncoding: Uint8Array): Uint8Array {
  return k12("cairn.invocation.id", signedEncoding);
}

/**
 * The signing digest from the canonical signed encoding: that encoding is the unsigned one followed by the
 * 64-byte signature, so the digest is K12 over its prefix (no second encode; workers need only the bytes).
 */
export function invocationSigningDigestOfEncoding(signedEncoding: Uint8Array): Uint8Array {
  return k12("cairn.invocation.sig", signedEncoding.subarray(0, signedEncoding.length - 64));
}

export function blockHash(header: BlockHeaderT): Uint8Array {
  return k12("cairn.block", encode(BlockHeader, header));
}

export function invocationsRoot(invocations: readonly SignedInvocationT[]): Uint8Array {
  return merkleRoot(invocations.map(invocationId));
}

export function genesisHash(genesis: GenesisT): Uint8Array {
  return k12("cairn.genesis", encode(Genesis, genesis));
}

/** What votes, timeouts and proposals sign: (chain id, view, block hash) only — consensus on hashes. */
export const ViewBlock = struct({ chainId: chainIdText, view: u64, blockHash: bytes32 });

export type ConsensusSigningDomain = Extract<HashDomain, "cairn.vote" | "cairn.timeout" | "cairn.proposal">;

export function consensusDigest(domain: ConsensusSigningDomain, chainId: string, view: bigint, hash: Uint8Array): Uint8Array {
  return k12(domain, encode(ViewBlock, { chainId, view, blockHash: hash }));
}
