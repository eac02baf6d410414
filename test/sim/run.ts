// Sweeps seeds outside vitest: `node --import tsx test/sim/run.ts [first] [count]`, or SEED=n (TRACE=1 to print
// every event of that seed). Prints failures with their replay command and a summary with timings.

import { SimFailure, runSeed, scenarioFromSeed } from "./simulator.ts";

const single = process.env.SEED;
const first = single !== undefined ? Number(single) : Number(process.argv[2] ?? 0);
const count = single !== undefined ? 1 : Number(process.argv[3] ?? 100);
const trace = process.env.TRACE === "1" ? (l: string) => console.log(l) : undefined;

let failures = 0;
let maxRecover = 0;
let events = 0;
const t0 = performance.now();
for (let seed = first; seed < first + count; seed++) {
  const s0 = performance.now();
  try {
    const st = runSeed(seed, { trace });
    events += st.events;
    maxRecover = Math.max(maxRecover, st.viewsToRecover);
    if (single !== undefined || process.env.VERBOSE === "1") {
      const sc = scenarioFromSeed(seed);
      console.log(
        `seed ${seed} n=${sc.n} byz=[${sc.byzantine}] ok: events=${st.events} t=${st.simTimeMs}ms view=${st.maxView} height=${st.committedHeight} ` +
          `evidence=${st.evidence} crashes=${st.crashes} partitions=${st.partitions} gstView=${st.gstView} recoverViews=${st.viewsToRecover} (${(performance.now() - s0).toFixed(0)} ms)`,
      );
    }
  } catch (e) {
    failures++;
    const msg = e instanceof SimFailure ? e.message : e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e);
    console.log(`FAIL seed ${seed}: ${msg}\n  replay: SEED=${seed} node --import tsx test/sim/run.ts`);
  }
}
console.log(`${count} seeds, ${failures} failed, ${events} events, max views to recover ${maxRecover}, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
process.exitCode = failures > 0 ? 1 : 0;
