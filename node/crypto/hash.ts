// K12 (KangarooTwelve, `kt128`) is Cairn's one hash. Every use names a domain through K12's
// customization string, so a hash of one kind can never be passed off as a hash of another.
//
// The work is done by a small Wasm module (node/crypto/k12/): Keccak on native 64-bit lanes is an order of
// magnitude faster than @noble/hashes' 32-bit JavaScript, and hashing was a visible share of a validator's
// CPU. Where Wasm cannot be compiled synchronously (a locked-down browser, node --jitless) the same function
// falls back to noble; the bytes are identical either way.

import { utf8 } from "../codec/hex.ts";
import { customization, nobleKt128, wasmKt128, type Customization, type Kt128 } from "./k12/engine.ts";

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

function loadEngine(): Kt128 {
  try {
    return wasmKt128();
  } catch {
    return nobleKt128();
  }
}

const engine = loadEngine();

/** Which implementation this process hashes with ("wasm" everywhere Node runs normally). */
export const k12Backend: "wasm" | "noble" = engine.backend;

const customizations = new Map<string, Customization>();

function customizationOf(domain: HashDomain): Customization {
  let c = customizations.get(domain);
  if (c === undefined) {
    c = customization(utf8(domain));
    customizations.set(domain, c);
  }
  return c;
}

/** KT128(data, customization = UTF-8 of the domain, 32 bytes). */
export function k12(domain: HashDomain, data: Uint8Array): Uint8Array {
  return engine.hash(data, customizationOf(domain));
}

/** k12(domain, a || b) without concatenating (Merkle interior nodes hash two 32-byte children). */
export function k12Pair(domain: HashDomain, a: Uint8Array, b: Uint8Array): Uint8Array {
  return engine.hashPair(a, b, customizationOf(domain));
}

export const ZERO_HASH = new Uint8Array(32);
