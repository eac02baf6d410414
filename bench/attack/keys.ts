// Keys that sign fast: benches and the attack sign tens of thousands of invocations, and libsodium signs in
// a few microseconds where the SDK's browser-safe signer takes far longer.

import { encode } from "../../node/codec/codec.ts";
import { toHex } from "../../node/codec/hex.ts";
import { TransferPayload, type Invocation, type SignedInvocation } from "../../node/codec/types.ts";
import { BANK, DEFAULT_GAS } from "../../node/client/builtins.ts";
import { invocationIdHex } from "../../node/client/invocation.ts";
import { invocationSigningDigest } from "../../node/crypto/digests.ts";
import { SodiumSigner } from "../../node/crypto/sodium.ts";

export class FastKey {
  readonly publicKey: Uint8Array;
  readonly publicKeyHex: string;
  private readonly signer: SodiumSigner;

  constructor(readonly seed: Uint8Array) {
    this.signer = new SodiumSigner(seed);
    this.publicKey = this.signer.publicKey;
    this.publicKeyHex = toHex(this.publicKey);
  }

  static generate(): FastKey {
    return new FastKey(crypto.getRandomValues(new Uint8Array(32)));
  }

  static fromSecretHex(hex: string): FastKey {
    return new FastKey(Uint8Array.from(Buffer.from(hex, "hex")));
  }

  sign(fields: Omit<Invocation, "invoker">): SignedInvocation {
    const inv: Invocation = { ...fields, invoker: this.publicKey };
    return { ...inv, signature: this.signer.sign(invocationSigningDigest(inv)) };
  }

  /** A native bank transfer of `amount` to `to`. */
  transfer(chainId: string, to: Uint8Array, amount: bigint, nonce: bigint, gasPrice: bigint): SignedInvocation {
    return this.sign({
      chainId,
      contract: BANK.contract,
      version: BANK.version,
      method: BANK.transfer,
      input: encode(TransferPayload, { to, amount }),
      nonce,
      gasLimit: DEFAULT_GAS.transfer,
      gasPrice,
    });
  }
}

export { invocationIdHex };
