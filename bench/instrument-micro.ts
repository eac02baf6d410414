/**
 * Micro benchmark of the gas/stack instrumentation overhead: runs the same CPU-heavy AssemblyScript function
 * (loops, integer arithmetic, memory traffic, 50 small host calls per round) unmetered and metered, and prints
 * metered/unmetered. Target: <= 1.30 on plain node.
 *
 *   node --import tsx bench/instrument-micro.ts [rounds]
 *   node --liftoff --no-wasm-tier-up --import tsx bench/instrument-micro.ts   (baseline tier only)
 */

import { readFileSync } from "node:fs";
import { DEFAULT_GAS_SCHEDULE } from "../vm/gas.ts";
import { prepareModule } from "../vm/instrument/index.ts";
import { engine, type EngineGlobal } from "../vm/wasm/engine.ts";
import { compileAs } from "../test/vm-instrument-fixtures/asc.ts";

const rounds = Number(process.argv[2] ?? 100);
const source = readFileSync(new URL("../test/vm-instrument-fixtures/bench-contract.as", import.meta.url), "utf8");
const plain = await compileAs(source, ["-O3", "--runtime", "stub"]);
const metered = prepareModule(plain);
console.log(`module ${plain.length} bytes -> instrumented ${metered.length} bytes`);

type Bench = (rounds: number) => number;

function instantiate(bytes: Uint8Array, meteredHost: boolean): { run: Bench; gas?: EngineGlobal } {
  let gas: EngineGlobal | undefined;
  const get = (_kp: number, kl: number): number => {
    if (gas) {
      const cost = BigInt(DEFAULT_GAS_SCHEDULE.hostCallBase + DEFAULT_GAS_SCHEDULE.hostPerByte * kl);
      const left = (gas.value as bigint) - cost;
      if (left < 0n) throw new Error("out of gas");
      gas.value = left;
    }
    return -1;
  };
  const inst = new engine.Instance(new engine.Module(bytes), {
    cairn: { get, set: () => {}, proposer_addr: () => {} },
    env: { abort: () => { throw new Error("abort"); } },
  });
  const ex = inst.exports;
  if (meteredHost) gas = ex.__cairn_gas as EngineGlobal;
  const bench = ex.bench as Bench;
  if (!meteredHost) return { run: bench };
  const start = ex.__cairn_start as (() => void) | undefined;
  gas!.value = 1n << 62n;
  start?.();
  return { run: bench, gas };
}

const a = instantiate(plain, false);
const b = instantiate(metered, true);
const gasBefore = (b.gas!.value = 1n << 62n);
const ra = a.run(1);
const rb = b.run(1);
if (ra !== rb) throw new Error(`results differ: ${ra} vs ${rb}`);
console.log(`gas for 1 round: ${gasBefore - (b.gas!.value as bigint)}`);

// CPU time of this process rather than wall time: the machine is shared, and being descheduled is not overhead
function time(f: () => void): number {
  const t0 = process.cpuUsage();
  f();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1000;
}
// warm up (lets V8 tier up to TurboFan where it does), then alternate to share any machine noise
for (let i = 0; i < 3; i++) { a.run(rounds); b.run(rounds); }
const ta: number[] = [];
const tb: number[] = [];
for (let i = 0; i < 15; i++) {
  ta.push(time(() => a.run(rounds)));
  tb.push(time(() => b.run(rounds)));
}
// the minimum is the least disturbed by other processes on a shared machine
const ma = Math.min(...ta);
const mb = Math.min(...tb);
console.log(`unmetered ${ma.toFixed(1)} ms, metered ${mb.toFixed(1)} ms, ratio ${(mb / ma).toFixed(3)} (${rounds} rounds, best of 15)`);
