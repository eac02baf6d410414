// Signature checks for admission. The signed encoding is the unsigned encoding followed by the 64-byte
// signature, so the signing digest is K12 over that prefix: no second encode, and the same bytes can be
// shipped whole to a worker thread.

import { k12 } from "../crypto/hash.ts";
import { verifyStrict } from "../crypto/sodium.ts";
import type { SignatureVerifier } from "./types.ts";

const SIGNATURE_BYTES = 64;

/** Equals `invocationSigningDigest(inv)` for `encoded = encode(SignedInvocation, inv)` (a test holds this). */
export function signingDigestOfEncoded(encoded: Uint8Array): Uint8Array {
  return k12("cairn.invocation.sig", encoded.subarray(0, encoded.length - SIGNATURE_BYTES));
}

export function verifyEncoded(encoded: Uint8Array, publicKey: Uint8Array): boolean {
  if (encoded.length < SIGNATURE_BYTES) return false;
  const signature = encoded.subarray(encoded.length - SIGNATURE_BYTES);
  return verifyStrict(signature, signingDigestOfEncoded(encoded), publicKey);
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
