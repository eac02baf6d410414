// K12 (KangarooTwelve, `kt128`) is Cairn's one hash. Every use names a domain through K12's
// customization string, so a hash of one kind can never be passed off as a hash of another.

import { kt128 } from "@noble/hashes/sha3-addons.js";
import { utf8 } from "../codec/hex.ts";

export type HashDomain =
  | "cairn.invocation.id"
  | "cairn.invocation.sig"
  | "cairn.block"
  | "cairn.merkle.leaf"
  | "cairn.merkle.node"
  | "cairn.merkle.empty"
  | "cairn.state"
  | "cairn.state.delta"
  | "cairn.genesis"
  | "cairn.vote"
  | "cairn.timeout"
  | "cairn.proposal"
  | "cairn.handshake"
  | "cairn.code"
  | "cairn.sources";

const personalization = new Map<string, Uint8Array>();

export function k12(domain: HashDomain, data: Uint8Array): Uint8Array {
  let p = personalization.get(domain);
  if (p === undefined) {
    p = utf8(domain);
    personalization.set(domain, p);
  }
  return kt128(data, { personalization: p });
}

export const ZERO_HASH = new Uint8Array(32);
