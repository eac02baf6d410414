// The whole-validator simulation over many seeds (test/vsim/simulation.ts says what each run does and checks).
//
//   SEED=123 npm run sim                        replay one seed (TRACE=1 prints every validator's log)
//   npm run sim -- --seeds 100000 --first 0     a sweep; last line `sim: seeds=N failed=F`
//   VSIM_SEEDS=600 npx vitest run test/validator-sim.test.ts

import { beforeAll, describe, expect, it } from "vitest";
import { SimFailure, prepare, runSeed, scenarioFromSeed, type SimStats } from "./vsim/simulation.ts";

const first = Number(process.env.VSIM_FIRST ?? 0);
const total = Number(process.env.VSIM_SEEDS ?? 300);
const CHUNK = 25;

interface Outcome {
  seed: number;
  stats?: SimStats;
  error?: string;
}

describe(`whole-validator simulation, seeds ${first}..${first + total - 1}`, () => {
  const all: Outcome[] = [];
  beforeAll(() => prepare(), 120_000);

  for (let c = first; c < first + total; c += CHUNK) {
    const to = Math.min(c + CHUNK, first + total);
    it(`seeds ${c}..${to - 1}`, async () => {
      const failures: string[] = [];
      for (let seed = c; seed < to; seed++) {
        try {
          all.push({ seed, stats: await runSeed(seed) });
        } catch (e) {
          const msg = e instanceof SimFailure ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
          all.push({ seed, error: msg });
          failures.push(`seed ${seed}: ${msg}\n  replay: SEED=${seed} npm run sim`);
        }
      }
      expect(failures, failures.join("\n")).toEqual([]);
    }, 300_000);
  }

  it("a seed replays exactly: the same run twice gives the same steps, heights and counts", async () => {
    const seed = first + 7;
    const a = await runSeed(seed);
    const b = await runSeed(seed);
    expect(b).toEqual(a);
  }, 120_000);

  it("exercised every kind of fault and kept committing", () => {
    const ok = all.filter((o) => o.stats).map((o) => ({ s: scenarioFromSeed(o.seed), st: o.stats! }));
    expect(ok.length).toBe(total);
    const sum = (f: (x: (typeof ok)[number]) => number) => ok.reduce((a, x) => a + f(x), 0);
    expect(ok.some((x) => x.s.n === 7)).toBe(true);
    expect(ok.some((x) => x.s.twin !== null)).toBe(true);
    expect(sum((x) => x.st.crashes)).toBeGreaterThan(total / 2);
    expect(sum((x) => x.st.halts)).toBeGreaterThan(total / 10);
    expect(sum((x) => x.st.partitions)).toBeGreaterThan(total / 2);
    expect(sum((x) => x.st.acknowledged)).toBeGreaterThan(10 * total);
    // The validators' mempools drop gapped invocations that outlive their expiry, and clients can read that.
    expect(sum((x) => x.st.expired)).toBeGreaterThan(0);
    expect(Math.min(...ok.map((x) => Number(x.st.height)))).toBeGreaterThan(10);
    console.log(
      `${total} seeds: ${sum((x) => x.st.steps)} steps, ${sum((x) => x.st.crashes)} crashes, ${sum((x) => x.st.halts)} halts on injected faults, ` +
        `${sum((x) => x.st.partitions)} partitions, ${sum((x) => x.st.acknowledged)} acknowledged invocations`,
    );
  });
});
