// npm run bench:offheap — what a short typed array costs at a native call, with and without OffHeapScratch.
//
// V8 keeps typed arrays of up to 64 bytes inside its heap and moves one out (a new ArrayBuffer and a malloc'd
// backing store) the first time native code or `.buffer` needs its bytes. Validators make such arrays for
// every invocation (ids, digests, keys, small values) and hand them to libsodium and RocksDB. This measures,
// side by side in one run, a fresh 32-byte array passed as it is and passed through the scratch, for a cheap
// libsodium call and for hex encoding (node/codec/hex.ts), and prints ns per call (best of 5 rounds).

import { createRequire } from "node:module";
import { toHex } from "../node/codec/hex.ts";
import { OffHeapScratch } from "../node/offheap.ts";

const require = createRequire(import.meta.url);
const sodium = require("sodium-native") as { crypto_generichash(out: Uint8Array, input: Uint8Array): void };

const N = Number(process.env.BENCH_CALLS ?? 200_000);
const ROUNDS = 5;

function best(f: (fresh: Uint8Array) => unknown): number {
  let min = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      const fresh = new Uint8Array(32);
      fresh[0] = i;
      f(fresh);
    }
    min = Math.min(min, Number(process.hrtime.bigint() - t0) / N);
  }
  return min;
}

const out = Buffer.alloc(32);
const scratch = new OffHeapScratch();
const rows: [string, number][] = [
  ["generichash, fresh array as it is", best((a) => sodium.crypto_generichash(out, a))],
  ["generichash, through OffHeapScratch", best((a) => sodium.crypto_generichash(out, scratch.view(a)))],
  ["hex through .buffer (before)", best((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex"))],
  ["hex, toHex (scratch copy)", best((a) => toHex(a))],
];
for (const [k, v] of rows) console.log(`${k.padEnd(38)} ${v.toFixed(0)} ns/call`);
console.log(`offheap-bench: native_call_scratch/as_is=${(rows[1]![1] / rows[0]![1]).toFixed(2)} hex_scratch/buffer_view=${(rows[3]![1] / rows[2]![1]).toFixed(2)}`);
