// After the handshake every frame body is sealed with ChaCha20-Poly1305 (IETF) under a per-direction
// session key, the nonce being the frame's sequence number in that direction. A flipped, dropped,
// replayed or reordered frame therefore fails to open and the link is closed: the handshake's proof
// of identity extends to every byte that follows it.

import { createRequire } from "node:module";
import { FRAME_HEADER_BYTES } from "./framing.ts";

const require = createRequire(import.meta.url);
const sodium = require("sodium-native") as {
  crypto_aead_chacha20poly1305_ietf_ABYTES: number;
  crypto_aead_chacha20poly1305_ietf_encrypt(c: Uint8Array, m: Uint8Array, ad: null, nsec: null, npub: Uint8Array, k: Uint8Array): number;
  crypto_aead_chacha20poly1305_ietf_decrypt(m: Uint8Array, nsec: null, c: Uint8Array, ad: null, npub: Uint8Array, k: Uint8Array): number;
  crypto_kx_keypair(pk: Uint8Array, sk: Uint8Array): void;
  crypto_kx_client_session_keys(rx: Uint8Array, tx: Uint8Array, cpk: Uint8Array, csk: Uint8Array, spk: Uint8Array): void;
  crypto_kx_server_session_keys(rx: Uint8Array, tx: Uint8Array, spk: Uint8Array, ssk: Uint8Array, cpk: Uint8Array): void;
  randombytes_buf(b: Uint8Array): void;
};

export const SEAL_OVERHEAD = sodium.crypto_aead_chacha20poly1305_ietf_ABYTES;

export function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  sodium.randombytes_buf(b);
  return b;
}

export interface EphemeralKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export function ephemeralKeyPair(): EphemeralKeyPair {
  const publicKey = new Uint8Array(32);
  const secretKey = new Uint8Array(32);
  sodium.crypto_kx_keypair(publicKey, secretKey);
  return { publicKey, secretKey };
}

export interface SessionKeys {
  rx: Uint8Array;
  tx: Uint8Array;
}

/** The dialer takes libsodium's client role; returns null when the peer's key is unusable (e.g. low order). */
export function sessionKeys(dialer: boolean, own: EphemeralKeyPair, peerPublic: Uint8Array): SessionKeys | null {
  const rx = new Uint8Array(32);
  const tx = new Uint8Array(32);
  try {
    if (dialer) sodium.crypto_kx_client_session_keys(rx, tx, own.publicKey, own.secretKey, peerPublic);
    else sodium.crypto_kx_server_session_keys(rx, tx, own.publicKey, own.secretKey, peerPublic);
  } catch {
    return null;
  }
  return { rx, tx };
}

class NonceCounter {
  private readonly nonce = new Uint8Array(12);
  private readonly view = new DataView(this.nonce.buffer);
  private seq = 0n;

  next(): Uint8Array {
    this.view.setBigUint64(0, this.seq, true);
    this.seq++;
    return this.nonce;
  }
}

export class FrameSealer {
  private readonly counter = new NonceCounter();
  constructor(private readonly key: Uint8Array) {}

  /** A complete frame (length header + sealed body) ready for socket.write. */
  sealFrame(plain: Uint8Array): Buffer {
    const bodyLen = plain.length + SEAL_OVERHEAD;
    const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bodyLen);
    out.writeUInt32LE(bodyLen, 0);
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt(out.subarray(FRAME_HEADER_BYTES), plain, null, null, this.counter.next(), this.key);
    return out;
  }
}

export class FrameOpener {
  private readonly counter = new NonceCounter();
  constructor(private readonly key: Uint8Array) {}

  /** The plaintext, or null when the body is not the next authentic frame. */
  open(body: Uint8Array): Uint8Array | null {
    if (body.length < SEAL_OVERHEAD) return null;
    const out = new Uint8Array(body.length - SEAL_OVERHEAD);
    try {
      sodium.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, body, null, this.counter.next(), this.key);
    } catch {
      return null;
    }
    return out;
  }
}
