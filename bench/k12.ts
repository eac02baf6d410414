// npm run bench:k12 — microseconds per K12 hash (32-byte output, a Cairn domain as customization), the
// previous pure-JavaScript @noble/hashes kt128 against the Wasm engine behind node/crypto/hash.ts, measured
// side by side in one process. The last line is machine-readable: k12-bench: wasm/noble@200B=<ratio>.

import { kt128 } from "@noble/hashes/sha3-addons.js";
import { concatBytes, utf8 } from "../node/codec/hex.ts";
import { k12, k12Backend, k12Pair } from "../node/crypto/hash.ts";

const SIZES = [32, 64, 200, 1000, 10_000, 100_000];
/** Time budget per measurement; BENCH_MS=... to trade precision for time. */
const BUDGET_MS = Number(process.env.BENCH_MS ?? 300);
const DOMAIN = "cairn.block";
const personalization = utf8(DOMAIN);

let sink = 0;

/** Median over 5 timed runs of the microseconds per call, each run about BUDGET_MS / 5. */
function usPerCall(fn: () => Uint8Array): number {
  // Warm up first: the JIT tiers both implementations up over the first thousands of calls.
  const warm = performance.now();
  while (performance.now() - warm < 100) for (let i = 0; i < 16; i++) sink ^= fn()[0]!;
  let calls = 1;
  for (;;) {
    // Calibrate until a batch takes at least 10 ms.
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) sink ^= fn()[0]!;
    if (performance.now() - t0 >= 10) break;
    calls *= 2;
  }
  const perRun = Math.max(1, Math.round((calls * BUDGET_MS) / 5 / 10));
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < perRun; i++) sink ^= fn()[0]!;
    runs.push(((performance.now() - t0) * 1000) / perRun);
  }
  runs.sort((a, b) => a - b);
  return runs[2]!;
}

function fmt(us: number): string {
  return us < 10 ? us.toFixed(3) : us < 1000 ? us.toFixed(1) : us.toFixed(0);
}

function main(): void {
  if (k12Backend !== "wasm") throw new Error(`k12 runs on ${k12Backend}, not wasm: nothing to compare`);
  console.log(`K12 (KT128, 32-byte output, customization "${DOMAIN}"), microseconds per hash`);
  console.log(`${"bytes".padStart(8)} ${"noble".padStart(10)} ${"wasm".padStart(10)} ${"wasm/noble".padStart(11)}  ${"wasm MB/s".padStart(9)}`);
  let ratio200 = NaN;
  for (const size of SIZES) {
    const data = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 0xff);
    const n = usPerCall(() => kt128(data, { personalization }));
    const w = usPerCall(() => k12(DOMAIN, data));
    if (size === 200) ratio200 = w / n;
    console.log(`${String(size).padStart(8)} ${fmt(n).padStart(10)} ${fmt(w).padStart(10)} ${(w / n).toFixed(4).padStart(11)}  ${(size / w).toFixed(0).padStart(9)}`);
  }

  // Merkle interior node: two 32-byte children.
  const a = new Uint8Array(32).fill(1);
  const b = new Uint8Array(32).fill(2);
  const concat = usPerCall(() => k12("cairn.merkle.node", concatBytes(a, b)));
  const pair = usPerCall(() => k12Pair("cairn.merkle.node", a, b));
  console.log(`merkle node (32+32): k12(concat) ${fmt(concat)} us, k12Pair ${fmt(pair)} us`);
  if (sink === 0.5) console.log(sink); // keeps the results observable
  console.log(`k12-bench: wasm/noble@200B=${ratio200.toFixed(4)}`);
}

main();
