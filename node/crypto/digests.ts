// The exact bytes each signature covers and each id names. Signatures are over a domain-separated K12
// digest of the canonical encoding: short to sign, and never valid in another role.

import { encode, encodingOf, struct, u64 } from "../codec/codec.ts";
import { toHex } from "../codec/hex.ts";
import { memoOf } from "../codec/memo.ts";
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

// Ids and block hashes are asked for many times per object on a validator's hot path (mempool, proposal
// checks, payload exclusion, execution, receipts). Decoded values are never mutated once built, so each
// object's hash is memoized on the object (node/codec/memo.ts); a changed copy is a new object with its own.

export function invocationId(signed: SignedInvocationT): Uint8Array {
  const memo = memoOf(signed);
  return (memo.hash ??= invocationIdOfEncoding(encodingOf(SignedInvocation, signed)));
}

/**
 * The id as lowercase hex, memoized like the id: the mempool, payload building, receipts and execution all
 * key maps by it, and each toHex of 32 bytes is a fresh string (garbage) every time.
 */
export function invocationIdHex(signed: SignedInvocationT): string {
  const memo = memoOf(signed);
  return (memo.hashHex ??= toHex(memo.hash ?? invocationId(signed)));
}

/** The invoker's public key as hex, memoized per invocation object (mempool queues are keyed by it). */
export function invokerHex(signed: SignedInvocationT): string {
  const memo = memoOf(signed);
  return (memo.invokerHex ??= toHex(signed.invoker));
}

/** Records an id computed from this object's encoding elsewhere (the mempool hashes the bytes it received). */
export function rememberInvocationId(signed: SignedInvocationT, id: Uint8Array, idHex?: string): void {
  const memo = memoOf(signed);
  memo.hash = id;
  memo.hashHex = idHex;
}

/**
 * The id from the canonical signed encoding, for callers that already hold it (the mempool). Not cached by
 * bytes: K12 of an invocation (~0.5 us in WebAssembly) costs less than building a string key to look it up.
 */
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
  const memo = memoOf(header);
  return (memo.hash ??= k12("cairn.block", encode(BlockHeader, header)));
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
