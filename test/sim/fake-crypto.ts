// A fast deterministic stand-in for ed25519 in the simulator: a signature is the digest masked with the
// signer's public key, followed by the key. Forgeable by design (the simulated Byzantine validators run the
// real core and never forge), but a signature by the wrong key or over another digest never verifies, and it
// is deterministic like ed25519, so twins sharing a key produce identical signatures for identical digests.

import type { ConsensusCrypto } from "../../node/consensus/types.ts";

export function simPublicKey(index: number): Uint8Array {
  const pk = new Uint8Array(32);
  for (let i = 0; i < 32; i++) pk[i] = (index * 31 + i * 17 + 101) & 0xff;
  pk[0] = index & 0xff;
  pk[1] = (index >> 8) & 0xff;
  return pk;
}

export function fakeSign(digest: Uint8Array, pk: Uint8Array): Uint8Array {
  const sig = new Uint8Array(64);
  for (let i = 0; i < 32; i++) sig[i] = digest[i]! ^ pk[i]!;
  sig.set(pk, 32);
  return sig;
}

export function fakeVerify(sig: Uint8Array, digest: Uint8Array, pk: Uint8Array): boolean {
  if (sig.length !== 64 || digest.length !== 32 || pk.length !== 32) return false;
  for (let i = 0; i < 32; i++) {
    if (sig[i] !== (digest[i]! ^ pk[i]!)) return false;
    if (sig[32 + i] !== pk[i]) return false;
  }
  return true;
}

export function fakeCrypto(index: number | null): ConsensusCrypto {
  const pk = index === null ? null : simPublicKey(index);
  return {
    sign(digest) {
      if (pk === null) throw new Error("observer cannot sign");
      return fakeSign(digest, pk);
    },
    verify: fakeVerify,
  };
}
