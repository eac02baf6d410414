// Signing for the client SDK, in pure JavaScript so it runs in browsers too. Validators verify with
// libsodium (sodium.ts); tests check that the two agree on keys and signatures.

import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";

ed.hashes.sha512 = sha512;

export interface KeyPair {
  /** 32-byte ed25519 public key. */
  publicKey: Uint8Array;
  /** 32-byte RFC 8032 seed (libsodium calls the 64-byte seed||pk form the secret key; we never store that). */
  secretKey: Uint8Array;
}

export function generateKeyPair(): KeyPair {
  const secretKey = ed.utils.randomSecretKey();
  return { secretKey, publicKey: ed.getPublicKey(secretKey) };
}

export function keyPairFromSecret(secretKey: Uint8Array): KeyPair {
  if (secretKey.length !== 32) throw new RangeError(`secret key must be 32 bytes, got ${secretKey.length}`);
  return { secretKey, publicKey: ed.getPublicKey(secretKey) };
}

export function signNoble(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return ed.sign(message, secretKey);
}

/**
 * The validators' acceptance rule in pure JavaScript: RFC 8032's strict branch (canonical encodings,
 * S < L) plus libsodium's refusal of small-order public keys and R points, which RFC 8032 alone accepts.
 */
export function verifyNoble(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    if (signature.length !== 64 || publicKey.length !== 32) return false;
    if (ed.Point.fromBytes(publicKey, false).isSmallOrder()) return false;
    if (ed.Point.fromBytes(signature.subarray(0, 32), false).isSmallOrder()) return false;
    return ed.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}
