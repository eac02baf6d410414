/**
 * The one gas cost schedule of Cairn.
 *
 * Gas is charged inside the instrumented module (see vm/instrument/) per metered block: the sum of the costs of
 * the instructions of a straight-line run is subtracted from the exported i64 global `__cairn_gas` when the run is
 * entered. Dynamic costs (memory.grow per page, bulk memory per byte) are charged from the operand just before the
 * instruction runs. Host functions charge themselves in JS with `hostCallBase` + `hostPerByte` per byte moved.
 *
 * The unit is loosely "one simple instruction"; the classes below weight what is clearly more expensive on real
 * hardware (division, memory traffic, calls, page allocation). Changing any number changes consensus results, so
 * the schedule is versioned with the chain, never tuned per node.
 */

import { VmError } from "./errors.ts";

/** Cost classes an instruction can belong to (the opcode table in vm/wasm/opcodes.ts assigns one to each opcode). */
export type GasClass =
  | "free" // block, loop, else, end, nop: structure only, no work of their own
  | "simple" // constants, locals, globals, drop, select, integer add/sub/logic/shift/compare, int<->int conversion
  | "intMul"
  | "intDiv" // div_s, div_u, rem_s, rem_u
  | "floatSimple" // abs, neg, copysign, comparisons, reinterpret, int<->float conversions (bit-exact, no NaN fixup)
  | "floatArith" // add, sub, mul, min, max, ceil, floor, trunc, nearest, promote, demote (+ NaN canonicalization)
  | "floatDiv" // div, sqrt (+ NaN canonicalization)
  | "load"
  | "store"
  | "branch" // if, br, br_if, br_table, return, unreachable
  | "call"
  | "callIndirect"
  | "memorySize"
  | "memoryGrow" // base cost; plus memoryGrowPerPage * requested pages
  | "bulkMemory"; // memory.copy / memory.fill / memory.init / data.drop base; plus bulkMemoryPerByte * length

export const GAS_CLASSES: readonly GasClass[] = [
  "free", "simple", "intMul", "intDiv", "floatSimple", "floatArith", "floatDiv", "load", "store", "branch", "call",
  "callIndirect", "memorySize", "memoryGrow", "bulkMemory",
];

export interface GasSchedule {
  /** Static cost per instruction class (non-negative integers). */
  readonly instr: Readonly<Record<GasClass, number>>;
  /** Charged per 64 KiB page requested by memory.grow (charged even when the grow then fails with -1). */
  readonly memoryGrowPerPage: number;
  /** Charged per byte of the length operand of memory.copy / memory.fill / memory.init. */
  readonly bulkMemoryPerByte: number;
  /** Base cost of every host function call (cairn.get, cairn.set, cairn.proposer_addr, env.abort), charged in JS. */
  readonly hostCallBase: number;
  /** Per byte of key/value/buffer moved across the host boundary, charged in JS. */
  readonly hostPerByte: number;
}

export const DEFAULT_GAS_SCHEDULE: GasSchedule = Object.freeze({
  instr: Object.freeze({
    free: 0,
    simple: 1,
    intMul: 2,
    intDiv: 8,
    floatSimple: 1,
    floatArith: 3,
    floatDiv: 10,
    load: 2,
    store: 2,
    branch: 1,
    call: 5,
    callIndirect: 8,
    memorySize: 1,
    memoryGrow: 100,
    bulkMemory: 5,
  }),
  memoryGrowPerPage: 8_192,
  bulkMemoryPerByte: 1,
  hostCallBase: 200,
  hostPerByte: 2,
});

/** Largest static cost of one class: keeps per-block sums far from i64 overflow and from float imprecision. */
const MAX_CLASS_COST = 1_000_000;

/**
 * Check a schedule is usable: integers in range, and the classes that guarantee termination are non-zero
 * (every loop iteration executes a branch and every recursion a call, so those must cost at least 1).
 */
export function checkGasSchedule(s: GasSchedule): GasSchedule {
  const bad = (what: string) => new VmError("bad_config", `gas schedule: ${what}`);
  if (typeof s !== "object" || s === null || typeof s.instr !== "object" || s.instr === null) throw bad("not a GasSchedule");
  for (const cls of GAS_CLASSES) {
    const cost = s.instr[cls];
    if (!Number.isSafeInteger(cost) || cost < 0 || cost > MAX_CLASS_COST) throw bad(`instr.${cls} = ${String(cost)}`);
  }
  const perUnit: Array<[string, number]> = [
    ["memoryGrowPerPage", s.memoryGrowPerPage],
    ["bulkMemoryPerByte", s.bulkMemoryPerByte],
    ["hostCallBase", s.hostCallBase],
    ["hostPerByte", s.hostPerByte],
  ];
  for (const [name, cost] of perUnit) {
    if (!Number.isSafeInteger(cost) || cost < 0 || cost > MAX_CLASS_COST) throw bad(`${name} = ${String(cost)}`);
  }
  if (s.instr.branch < 1) throw bad("instr.branch must be >= 1 so every loop iteration costs gas");
  if (s.instr.call < 1 || s.instr.callIndirect < 1) throw bad("instr.call and instr.callIndirect must be >= 1");
  return s;
}
