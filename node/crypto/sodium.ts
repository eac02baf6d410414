// Validator-side ed25519 through libsodium: strict RFC 8032 checks (canonical S, canonical keys, small-order
// keys and R rejected) and the fastest verifier available here. Node-only; the client uses ed25519-noble.ts.

import { createRequire } from "node:module";
import { OffHeapScratch } from "../offheap.ts";

const require = createRequire(import.meta.url);
const sodium = require("sodium-native") as {
  crypto_sign_verify_detached(sig: Uint8Array, msg: Uint8Array, pk: Uint8Array): boolean;
  crypto_sign_detached(sig: Uint8Array, msg: Uint8Array, sk: Uint8Array): void;
  crypto_sign_seed_keypair(pk: Uint8Array, sk: Uint8Array, seed: Uint8Array): void;
};

/** Digests and keys are short typed arrays: passed through off-heap copies (see offheap.ts). */
const sigScratch = new OffHeapScratch();
const msgScratch = new OffHeapScratch();
const keyScratch = new OffHeapScratch();

export function verifyStrict(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  try {
    return sodium.crypto_sign_verify_detached(sigScratch.view(signature), msgScratch.view(message), keyScratch.view(publicKey));
  } catch {
    return false;
  }
}

/** A validator's signing key, expanded once (libsodium wants seed||pk). */
export class SodiumSigner {
  readonly publicKey: Uint8Array;
  private readonly expanded: Uint8Array;

  constructor(seed: Uint8Array) {
    if (seed.length !== 32) throw new RangeError(`secret key must be 32 bytes, got ${seed.length}`);
    this.publicKey = new Uint8Array(32);
    this.expanded = new Uint8Array(64);
    sodium.crypto_sign_seed_keypair(this.publicKey, this.expanded, seed);
  }

  sign(message: Uint8Array): Uint8Array {
    const sig = new Uint8Array(64);
    sodium.crypto_sign_detached(sig, message, this.expanded);
    return sig;
  }
}
