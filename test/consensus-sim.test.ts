// The deterministic simulation over many seeds (see test/sim/simulator.ts for what each run does and checks).
//
//   SEED=123 npx vitest run test/consensus-sim.test.ts          replay one seed (TRACE=1 prints every event)
//   SIM_SEEDS=5000 SIM_FIRST=10000 npx vitest run test/consensus-sim.test.ts   a longer sweep
//   node --import tsx test/sim/run.ts 0 1000                    the same outside vitest

import { describe, expect, it } from "vitest";
import { SimFailure, Simulation, churnScenario, runSeed, scenarioFromSeed, slowExecutionScenario, type SimStats } from "./sim/simulator.ts";

const single = process.env.SEED !== undefined ? Number(process.env.SEED) : null;
const first = Number(process.env.SIM_FIRST ?? 0);
const total = Number(process.env.SIM_SEEDS ?? 1200);
const CHUNK = 100;

interface Outcome {
  seed: number;
  stats?: SimStats;
  error?: string;
}

function runOne(seed: number, trace = false): Outcome {
  try {
    return { seed, stats: runSeed(seed, trace ? { trace: (l) => console.log(l) } : {}) };
  } catch (e) {
    const msg = e instanceof SimFailure ? e.message : e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ""}` : String(e);
    return { seed, error: msg };
  }
}

function replay(seed: number): string {
  return `SEED=${seed} npx vitest run test/consensus-sim.test.ts`;
}

if (single !== null) {
  describe(`consensus simulation, seed ${single}`, () => {
    it("holds safety and recovers after GST", () => {
      const s = scenarioFromSeed(single);
      console.log(`scenario: n=${s.n} byzantine=[${s.byzantine}] gst=${s.gstMs}ms pre=${JSON.stringify(s.pre)} forkRate=${s.forkRate}`);
      const r = runOne(single, process.env.TRACE === "1");
      if (r.stats) console.log(r.stats);
      expect(r.error, r.error).toBeUndefined();
    });
  });
} else {
  describe(`consensus simulation, seeds ${first}..${first + total - 1}`, () => {
    const all: Outcome[] = [];

    for (let c = first; c < first + total; c += CHUNK) {
      const to = Math.min(c + CHUNK, first + total);
      it(`seeds ${c}..${to - 1}`, () => {
        const failures: string[] = [];
        for (let seed = c; seed < to; seed++) {
          const r = runOne(seed);
          all.push(r);
          if (r.error) failures.push(`seed ${seed}: ${r.error}\n  replay: ${replay(seed)}`);
        }
        expect(failures, failures.join("\n")).toEqual([]);
      });
    }

    it("exercised every kind of fault and recovered within the view bound", () => {
      const ok = all.filter((o) => o.stats).map((o) => ({ s: scenarioFromSeed(o.seed), st: o.stats! }));
      expect(ok.length).toBe(total);
      const sum = (f: (x: (typeof ok)[number]) => number) => ok.reduce((a, x) => a + f(x), 0);
      // Both cluster sizes, with and without Byzantine twins (n = 7 with two pairs too).
      expect(ok.some((x) => x.s.n === 4 && x.s.byzantine.length === 1)).toBe(true);
      expect(ok.some((x) => x.s.n === 7 && x.s.byzantine.length === 2)).toBe(true);
      expect(ok.some((x) => x.s.byzantine.length === 0)).toBe(true);
      // Faults actually happened, equivocation was caught, blocks were committed.
      expect(sum((x) => x.st.crashes)).toBeGreaterThan(total);
      expect(sum((x) => x.st.partitions)).toBeGreaterThan(total);
      expect(sum((x) => x.st.evidence)).toBeGreaterThan(total);
      expect(sum((x) => Number(x.st.committedHeight))).toBeGreaterThan(5 * total);
      const worst = Math.max(...ok.map((x) => x.st.viewsToRecover));
      const events = sum((x) => x.st.events);
      console.log(
        `${total} seeds: ${events} events, ${sum((x) => x.st.crashes)} crashes, ${sum((x) => x.st.partitions)} partitions, ` +
          `${sum((x) => x.st.evidence)} evidence records, worst recovery ${worst} views after GST`,
      );
    });

    it("replays a seed exactly (same event trace)", () => {
      const traces: string[][] = [[], []];
      for (const t of traces) runSeed(first + 7, { trace: (l) => t.push(l) });
      expect(traces[0]!.length).toBeGreaterThan(100);
      expect(traces[1]).toEqual(traces[0]);
    });
  });
}

describe("recovery from churn", () => {
  // Before GST one validator in turn crashes every 3 base timeouts and restarts 4 later (so a quorum is often
  // missing); after GST the last one crashed stays down. What is measured is GST to the first new commit: the
  // chain must not pay for backoff grown while no quorum was up.
  for (const slowExec of [false, true]) {
    it(`commits within a few base timeouts once a quorum is back${slowExec ? " (slow execution)" : ""}`, () => {
      const runs: SimStats[] = [];
      for (let seed = 0; seed < 24; seed++) {
        const s = churnScenario(seed, { periodBases: 3, downBases: 4, slowExec });
        runs.push(new Simulation(s).run());
      }
      const base = churnScenario(0).baseTimeoutMs;
      const ms = runs.map((r) => r.firstCommitMs).sort((a, b) => a - b);
      const views = runs.map((r) => r.firstCommitViews).sort((a, b) => a - b);
      const median = ms[ms.length >> 1]!;
      console.log(
        `churn${slowExec ? " (slow execution)" : ""}: GST to first commit median ${median} ms, max ${ms[ms.length - 1]} ms ` +
          `(base ${base} ms); views median ${views[views.length >> 1]}, max ${views[views.length - 1]}`,
      );
      expect(ms[0]).toBeGreaterThanOrEqual(0);
      expect(median).toBeLessThanOrEqual((slowExec ? 8 : 5) * base);
      expect(ms[ms.length - 1]).toBeLessThanOrEqual((slowExec ? 16 : 8) * base);
      expect(views[views.length - 1]).toBeLessThanOrEqual(8);
    });
  }
});

describe("slow execution", () => {
  it("backs off until views are long enough to execute a block, then commits (execution 5 to 8 base timeouts)", () => {
    const failures: string[] = [];
    let worst = 0;
    for (let seed = 0; seed < 100; seed++) {
      try {
        worst = Math.max(worst, new Simulation(slowExecutionScenario(seed)).run().viewsToRecover);
      } catch (e) {
        failures.push(`seed ${seed}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    console.log(`slow execution: 100 seeds, worst recovery ${worst} views after GST`);
    expect(failures, failures.join("\n")).toEqual([]);
  });
});
