// Building and signing invocations on the client. The signature covers the K12 signing digest of the
// canonical unsigned encoding, exactly what validators check with libsodium.

import { toHex } from "../codec/hex.ts";
import type { Invocation, SignedInvocation } from "../codec/types.ts";
import { invocationId, invocationSigningDigest } from "../crypto/digests.ts";
import type { Keypair } from "./keypair.ts";

export type UnsignedFields = Omit<Invocation, "invoker">;

export function signInvocation(key: Keypair, fields: UnsignedFields): SignedInvocation {
  const inv: Invocation = { ...fields, invoker: key.publicKey };
  return { ...inv, signature: key.sign(invocationSigningDigest(inv)) };
}

/** The id the chain will know the invocation by (hex). */
export function invocationIdHex(inv: SignedInvocation): string {
  return toHex(invocationId(inv));
}
