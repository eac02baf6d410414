// npm run sim -- [--seeds N] [--first K] [--verbose]: a sweep of the whole-validator simulation outside vitest.
// Prints each failing seed with the command that replays it, seeds per second, and the last line
// `sim: seeds=N failed=F`. SEED=n TRACE=1 replays one seed with every validator's log.

import { parseArgs } from "node:util";
import { SimFailure, prepare, runSeed, scenarioFromSeed } from "./simulation.ts";

const { values } = parseArgs({ options: { seeds: { type: "string", default: "100" }, first: { type: "string", default: "0" }, verbose: { type: "boolean", default: false } } });
const single = process.env.SEED !== undefined ? Number(process.env.SEED) : null;
const first = single ?? Number(values.first);
const count = single !== null ? 1 : Number(values.seeds);
const trace = process.env.TRACE === "1" ? (l: string) => console.log(l) : undefined;

await prepare();
const t0 = performance.now();
let failed = 0;
for (let seed = first; seed < first + count; seed++) {
  try {
    const st = await runSeed(seed, trace ? { trace } : {});
    if (values.verbose || single !== null) console.log(`seed ${seed}: ${JSON.stringify(st, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}`);
  } catch (e) {
    failed++;
    const msg = e instanceof SimFailure ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
    console.log(`seed ${seed} FAILED: ${msg}\n  scenario: ${JSON.stringify(scenarioFromSeed(seed))}\n  replay: SEED=${seed} npm run sim`);
  }
  const done = seed - first + 1;
  if (done % 50 === 0) console.log(`${done} seeds, ${(done / ((performance.now() - t0) / 1000)).toFixed(2)} seeds/s`);
}
const secs = (performance.now() - t0) / 1000;
console.log(`${count} seeds in ${secs.toFixed(1)} s: ${(count / secs).toFixed(2)} seeds/s`);
console.log(`sim: seeds=${count} failed=${failed}`);
process.exit(failed > 0 ? 1 : 0);
