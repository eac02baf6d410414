/**
 * Per-opcode static gas costs derived from a GasSchedule (one lookup per instruction while instrumenting).
 */

import type { GasSchedule } from "../gas.ts";
import { OPCODE_SPACE, OPS } from "../wasm/opcodes.ts";

const cache = new WeakMap<GasSchedule, Uint32Array>();

export function opcodeCosts(schedule: GasSchedule): Uint32Array {
  let table = cache.get(schedule);
  if (table) return table;
  table = new Uint32Array(OPCODE_SPACE);
  for (let op = 0; op < OPCODE_SPACE; op++) {
    const info = OPS[op];
    if (info) table[op] = schedule.instr[info.gas];
  }
  cache.set(schedule, table);
  return table;
}
