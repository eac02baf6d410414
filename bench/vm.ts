// `npm run bench:vm`: what gas metering costs on the CPU-heavy method of contracts/examples/bench.ts.
//
// Variants, run interleaved (rotating order every round, so a noisy neighbour hurts them all alike):
//   metered        Cairn: prepareModule's instrumentation (gas in-module, stack units, NaN canonicalization)
//   unmetered      the same module as compiled, host functions present, no gas charged
//   mvp-unmetered  the MVP build (bulk-memory, sign-extension, mutable-globals, nontrapping-f2i disabled),
//                  uninstrumented: the baseline for wasm-metering, which only parses MVP Wasm
//   wasm-metering  the MVP build instrumented by the wasm-metering package (one call into JS per block)
// Each sample is one full invocation (fresh instance, input, method, output). The table shows medians and
// percentiles; the ratios (and the last line) are medians of per-round paired ratios: the variants of one
// round run back to back, so pairing cancels most of the noise of a shared machine.
//
// Options: --rounds N (measured rounds, default 40), --work N (bench rounds per invocation, default 20).

import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import {
  DEFAULT_VM_LIMITS,
  codeHash,
  compileContract,
  loadContract,
  loadContractSources,
  runContract,
  shutdownCompiler,
  type LoadedContract,
  type RunOptions,
  type RunResult,
} from "../vm/index.ts";
import { wasm as engine } from "../vm/runtime-engine.ts";

const { values } = parseArgs({ options: { rounds: { type: "string" }, work: { type: "string" } } });
const ROUNDS = Number(values.rounds ?? 40);
const WORK = String(Number(values.work ?? 20));
const WARMUP = 8;
const TARGET = 1.3;

const require = createRequire(import.meta.url);
const metering = require("wasm-metering") as { meterWASM(wasm: Uint8Array, opts: { meterType: string }): Uint8Array };

const source = loadContractSources(new URL("../contracts/examples/bench.ts", import.meta.url).pathname).sources;
const MVP_ARGS = ["--disable", "bulk-memory,sign-extension,mutable-globals,nontrapping-f2i"];

const [standard, mvp] = await Promise.all([
  compileContract(source),
  compileContract(source, { extraCompilerArgs: MVP_ARGS }),
]);
await shutdownCompiler();

/** A module that is not a Cairn contract (it imports metering.usegas) wrapped for runContract, unvalidated. */
function foreign(bytes: Uint8Array, methods: string[]): LoadedContract {
  const hash = codeHash(bytes);
  return {
    codeHash: hash,
    codeHashHex: Buffer.from(hash).toString("hex"),
    methods,
    metered: false,
    module: new engine.Module(bytes),
    maxMemoryPages: DEFAULT_VM_LIMITS.maxMemoryPages,
  };
}

let externalGas = 0;
const meteredByPackage = new Uint8Array(metering.meterWASM(mvp.wasm, { meterType: "i32" }));
const usegas = (gas: number) => {
  externalGas += gas;
};

interface Variant {
  readonly name: string;
  readonly contract: LoadedContract;
  readonly options: RunOptions;
  readonly times: number[];
  last?: RunResult;
}

const variants: Variant[] = [
  // Fresh instances for the metered run too: the comparison is about metering, and the unmetered variants
  // cannot reuse instances (reuse needs the instrumenter's snapshot exports).
  { name: "metered", contract: loadContract(standard.wasm), options: { reuseInstances: false }, times: [] },
  { name: "unmetered", contract: loadContract(standard.wasm, { metered: false }), options: {}, times: [] },
  { name: "mvp-unmetered", contract: loadContract(mvp.wasm, { metered: false }), options: {}, times: [] },
  {
    name: "wasm-metering",
    contract: foreign(meteredByPackage, ["run"]),
    options: { extraImports: { metering: { usegas } } },
    times: [],
  },
];

const input = new TextEncoder().encode(WORK);
const emptyState = { get: () => null };

function once(v: Variant): number {
  const start = process.hrtime.bigint();
  const r = runContract(
    v.contract,
    { method: "run", input, invoker: new Uint8Array(32), proposer: new Uint8Array(32), gasLimit: 1n << 40n, state: emptyState },
    v.options,
  );
  const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== "ok") throw new Error(`${v.name}: ${r.status} ${r.error}`);
  v.last = r;
  return elapsed;
}

for (let round = 0; round < WARMUP + ROUNDS; round++) {
  for (let i = 0; i < variants.length; i++) {
    const v = variants[(round + i) % variants.length]!;
    const t = once(v);
    if (round >= WARMUP) v.times.push(t);
  }
}

const outputs = new Set(variants.map((v) => Buffer.from(v.last!.output).toString()));
if (outputs.size !== 1) throw new Error(`variants disagree on the result: ${[...outputs].join(" / ")}`);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

const med = Object.fromEntries(variants.map((v) => [v.name, median(v.times)])) as Record<string, number>;
console.log(`vm bench: contracts/examples/bench.ts run("${WORK}"), ${ROUNDS} interleaved rounds after ${WARMUP} warm-up`);
console.log(`module ${standard.wasm.length} bytes (mvp build ${mvp.wasm.length}), toolchain ${standard.toolchain}`);
console.log(`Cairn gas per invocation: ${variants[0]!.last!.gasUsed}; wasm-metering units per invocation: ${externalGas / (WARMUP + ROUNDS)}`);
console.log("");
console.log("variant          median ms    p10 ms    p90 ms   medians vs baseline");
for (const v of variants) {
  const base = v.name === "wasm-metering" || v.name === "mvp-unmetered" ? med["mvp-unmetered"]! : med.unmetered!;
  console.log(
    `${v.name.padEnd(15)} ${med[v.name]!.toFixed(2).padStart(10)} ${percentile(v.times, 0.1).toFixed(2).padStart(9)} ` +
      `${percentile(v.times, 0.9).toFixed(2).padStart(9)} ${(med[v.name]! / base).toFixed(2).padStart(12)}`,
  );
}
const paired = (a: string, b: string) => {
  const va = variants.find((v) => v.name === a)!.times;
  const vb = variants.find((v) => v.name === b)!.times;
  return median(va.map((t, i) => t / vb[i]!));
};
const meteredRatio = paired("metered", "unmetered");
const packageRatio = paired("wasm-metering", "mvp-unmetered");
console.log(`paired ratios: metered/unmetered ${meteredRatio.toFixed(3)}, mvp-unmetered/unmetered ${paired("mvp-unmetered", "unmetered").toFixed(3)}, wasm-metering/mvp-unmetered ${packageRatio.toFixed(3)}`);
console.log("");
console.log(`target metered/unmetered <= ${TARGET.toFixed(2)}: ${meteredRatio <= TARGET ? "met" : "MISSED"}`);
console.log(`vm-bench: metered/unmetered=${meteredRatio.toFixed(2)} wasm-metering/unmetered=${packageRatio.toFixed(2)}`);
