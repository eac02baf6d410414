// npm run bench:compile: how long the slowest sources we know take to compile within the compile limits
// (vm/compile-limits.ts), side by side with the example token in the same run. Each source is compiled fresh (a
// comment makes its cache key unique). Prints one line per source, then
// `compile: token_s=A worst_s=B worst=<source> worst_ratio=B/A refused=N`.

import { readFileSync } from "node:fs";
import { CompileError, compileContract, shutdownCompiler } from "../vm/index.ts";
import { hostileSource } from "../test/vm-compile-hostile-child.ts";

/** At or just inside a bound each: the per-function and total code bounds, the step bound, depth, table size. */
const SOURCES = [
  "manyLongFunctions:30,300",
  "longFunction:300",
  "doublingGenerics:7",
  "doublingGenericClasses:6",
  "doublingCollections:5",
  "doublingGenericClasses:12",
  "hugeConstantTable:45000",
  "manyFunctions:3800",
  "deepParentheses:950",
  "recursiveInstantiation",
];

const TOKEN = readFileSync(new URL("../contracts/examples/token.ts", import.meta.url), "utf8");

async function timed(name: string, source: string): Promise<{ seconds: number; refused: boolean }> {
  const fresh = `${source}\n// bench ${process.pid} ${name} ${performance.now()}\n`;
  const t0 = performance.now();
  let line: string;
  let refused = false;
  try {
    const c = await compileContract({ entry: "c.ts", files: { "c.ts": fresh } });
    line = `ok units=${c.work.units} code_bytes=${c.work.codeBytes} wasm_bytes=${c.wasm.length}`;
  } catch (e) {
    if (!(e instanceof CompileError)) throw e;
    refused = true;
    line = `refused units=${e.work.units} (${e.message.split("\n")[0]})`;
  }
  const seconds = (performance.now() - t0) / 1000;
  console.log(`${name.padEnd(28)} ${seconds.toFixed(2).padStart(6)} s  ${line}`);
  return { seconds, refused };
}

await timed("(warm-up)", "export function f(): void {}\n");
const token = await timed("token.ts", TOKEN);
let worst = { name: "", seconds: 0 };
let refused = 0;
for (const spec of SOURCES) {
  const r = await timed(spec, hostileSource(spec));
  if (r.refused) refused++;
  if (r.seconds > worst.seconds) worst = { name: spec, seconds: r.seconds };
}
await shutdownCompiler();
console.log(
  `compile: token_s=${token.seconds.toFixed(2)} worst_s=${worst.seconds.toFixed(2)} worst=${worst.name} ` +
    `worst_ratio=${(worst.seconds / token.seconds).toFixed(1)} refused=${refused}`,
);
