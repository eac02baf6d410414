import { describe, expect, it } from "vitest";
import { fromHex } from "../node/codec/hex.ts";
import { generateKeyPair, keyPairFromSecret, signNoble, verifyNoble } from "../node/crypto/ed25519-noble.ts";
import { SodiumSigner, verifyStrict } from "../node/crypto/sodium.ts";

const L = (1n << 252n) + 27742317777372353535851937790883648493n;

function le32(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return out;
}

describe("ed25519: client (noble) and validators (libsodium) agree", () => {
  it("agree on keys and signatures both ways", () => {
    for (let i = 0; i < 20; i++) {
      const kp = generateKeyPair();
      const signer = new SodiumSigner(kp.secretKey);
      expect(signer.publicKey).toEqual(kp.publicKey);
      const msg = new Uint8Array(i * 7).fill(i);
      const s1 = signNoble(msg, kp.secretKey);
      const s2 = signer.sign(msg);
      expect(s1).toEqual(s2); // RFC 8032 signatures are deterministic
      expect(verifyStrict(s1, msg, kp.publicKey)).toBe(true);
      expect(verifyNoble(s2, msg, kp.publicKey)).toBe(true);
      const tampered = msg.length > 0 ? msg.slice() : new Uint8Array([1]);
      tampered[0] ^= 1;
      expect(verifyStrict(s1, tampered, kp.publicKey)).toBe(false);
      expect(verifyNoble(s1, tampered, kp.publicKey)).toBe(false);
    }
  });

  it("both reject a non-canonical S (S + L), which lax verifiers accept", () => {
    const kp = keyPairFromSecret(new Uint8Array(32).fill(3));
    const msg = new Uint8Array([1, 2, 3]);
    const sig = signNoble(msg, kp.secretKey);
    let s = 0n;
    for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i]!);
    const forged = new Uint8Array(64);
    forged.set(sig.subarray(0, 32));
    forged.set(le32(s + L), 32);
    expect(verifyStrict(forged, msg, kp.publicKey)).toBe(false);
    expect(verifyNoble(forged, msg, kp.publicKey)).toBe(false);
  });

  it("both reject small-order public keys even with an equation-satisfying signature", () => {
    // Identity point as key, identity as R and S = 0 satisfies [S]B = R + [k]A for every message.
    const identity = fromHex("01" + "00".repeat(31));
    const sig = new Uint8Array(64);
    sig.set(identity, 0);
    const msg = new Uint8Array([42]);
    expect(verifyStrict(sig, msg, identity)).toBe(false);
    expect(verifyNoble(sig, msg, identity)).toBe(false);
  });

  it("both reject wrong lengths and non-points without throwing", () => {
    const kp = generateKeyPair();
    const sig = signNoble(new Uint8Array([1]), kp.secretKey);
    expect(verifyStrict(sig.subarray(0, 63), new Uint8Array([1]), kp.publicKey)).toBe(false);
    expect(verifyNoble(sig, new Uint8Array([1]), new Uint8Array(31))).toBe(false);
    const notAPoint = new Uint8Array(32).fill(0xff);
    expect(verifyStrict(sig, new Uint8Array([1]), notAPoint)).toBe(false);
    expect(verifyNoble(sig, new Uint8Array([1]), notAPoint)).toBe(false);
  });
});
