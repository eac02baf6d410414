/** The code hash of a contract: K12 (KangarooTwelve, 32-byte output) of the compiled, uninstrumented Wasm. */

import { kt128 } from "@noble/hashes/sha3-addons.js";

export function codeHash(wasm: Uint8Array): Uint8Array {
  return kt128(wasm, { dkLen: 32 });
}

export function codeHashHex(wasm: Uint8Array): string {
  return Buffer.from(codeHash(wasm)).toString("hex");
}
