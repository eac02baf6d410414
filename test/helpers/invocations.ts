// Signed test invocations: one builder for every test that needs a well-formed invocation of a toy contract.

import { utf8 } from "../../node/codec/hex.ts";
import type { Invocation, SignedInvocation } from "../../node/codec/types.ts";
import { invocationSigningDigest } from "../../node/crypto/digests.ts";
import type { SodiumSigner } from "../../node/crypto/sodium.ts";

/**
 * Signs test invocations of a `counter` contract on "testnet": `defaults` override the standard
 * fields for a whole test file, `over` for one invocation.
 */
export function invocationSigner(defaults: Partial<Invocation> = {}): (s: SodiumSigner, nonce: bigint, over?: Partial<Invocation>) => SignedInvocation {
  return (s, nonce, over = {}) => {
    const inv: Invocation = {
      chainId: "testnet",
      contract: "counter",
      version: 1,
      method: "inc",
      input: utf8("x"),
      invoker: s.publicKey,
      nonce,
      gasLimit: 10_000n,
      gasPrice: 1n,
      ...defaults,
      ...over,
    };
    return { ...inv, signature: s.sign(invocationSigningDigest(inv)) };
  };
}
