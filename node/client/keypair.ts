// An ed25519 key for signing invocations, in pure JavaScript (runs in browsers).

import { toHex, tryFromHex } from "../codec/hex.ts";
import { generateKeyPair, keyPairFromSecret, signNoble } from "../crypto/ed25519-noble.ts";
import { ClientError } from "./errors.ts";

export class Keypair {
  private constructor(
    readonly publicKey: Uint8Array,
    readonly secretKey: Uint8Array,
  ) {}

  static generate(): Keypair {
    const kp = generateKeyPair();
    return new Keypair(kp.publicKey, kp.secretKey);
  }

  /** From the 32-byte seed (what `cairn keygen` prints as secretKey). */
  static fromSecret(secretKey: Uint8Array): Keypair {
    if (secretKey.length !== 32) throw new ClientError(0, "malformed", `secret key must be 32 bytes, got ${secretKey.length}`);
    const kp = keyPairFromSecret(secretKey.slice());
    return new Keypair(kp.publicKey, kp.secretKey);
  }

  static fromSecretHex(hex: string): Keypair {
    const bytes = tryFromHex(hex.trim());
    if (bytes === null || bytes.length !== 32) throw new ClientError(0, "malformed", "secret key must be 64 hex characters");
    return Keypair.fromSecret(bytes);
  }

  get publicKeyHex(): string {
    return toHex(this.publicKey);
  }

  get secretKeyHex(): string {
    return toHex(this.secretKey);
  }

  sign(message: Uint8Array): Uint8Array {
    return signNoble(message, this.secretKey);
  }

  toJSON(): { publicKey: string; secretKey: string } {
    return { publicKey: this.publicKeyHex, secretKey: this.secretKeyHex };
  }
}

/** Accepts a Keypair, a 32-byte seed, or its hex. */
export type KeyLike = Keypair | Uint8Array | string;

export function toKeypair(key: KeyLike): Keypair {
  if (key instanceof Keypair) return key;
  if (typeof key === "string") return Keypair.fromSecretHex(key);
  return Keypair.fromSecret(key);
}

/** A public key given as bytes or hex. */
export function toPublicKey(pk: Uint8Array | string): Uint8Array {
  if (typeof pk !== "string") {
    if (pk.length !== 32) throw new ClientError(0, "malformed", `public key must be 32 bytes, got ${pk.length}`);
    return pk;
  }
  const bytes = tryFromHex(pk.trim());
  if (bytes === null || bytes.length !== 32) throw new ClientError(0, "malformed", "public key must be 64 hex characters");
  return bytes;
}

