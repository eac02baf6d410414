// Signature checks for admission, from the canonical signed encoding alone (the same bytes can be shipped
// whole to a worker thread): the signature is its last 64 bytes and the digest covers the rest.

import { invocationSigningDigestOfEncoding } from "../crypto/digests.ts";
import { verifyStrict } from "../crypto/sodium.ts";
import type { SignatureVerifier } from "./types.ts";

const SIGNATURE_BYTES = 64;

export function verifyEncoded(encoded: Uint8Array, publicKey: Uint8Array): boolean {
  if (encoded.length < SIGNATURE_BYTES) return false;
  const signature = encoded.subarray(encoded.length - SIGNATURE_BYTES);
  return verifyStrict(signature, invocationSigningDigestOfEncoding(encoded), publicKey);
}

/** Verifies on the calling thread. */
export class InlineVerifier implements SignatureVerifier {
  async verify(items: ReadonlyArray<{ encoded: Uint8Array; publicKey: Uint8Array }>): Promise<boolean[]> {
    return items.map((it) => verifyEncoded(it.encoded, it.publicKey));
  }
  async close(): Promise<void> {}
}

/** Packs a batch into one transferable buffer: per item the 32-byte public key then the encoding. */
export function packBatch(items: ReadonlyArray<{ encoded: Uint8Array; publicKey: Uint8Array }>): {
  buf: Uint8Array;
  offsets: Uint32Array;
} {
  let total = 0;
  for (const it of items) total += 32 + it.encoded.length;
  const buf = new Uint8Array(total);
  const offsets = new Uint32Array(items.length + 1);
  let pos = 0;
  items.forEach((it, i) => {
    offsets[i] = pos;
    if (it.publicKey.length === 32) buf.set(it.publicKey, pos);
    buf.set(it.encoded, pos + 32);
    pos += 32 + it.encoded.length;
  });
  offsets[items.length] = pos;
  return { buf, offsets };
}

export function verifyPacked(buf: Uint8Array, offsets: Uint32Array): Uint8Array {
  const n = offsets.length - 1;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const start = offsets[i]!;
    const end = offsets[i + 1]!;
    out[i] = verifyEncoded(buf.subarray(start + 32, end), buf.subarray(start, start + 32)) ? 1 : 0;
  }
  return out;
}
