/**
 * prepareModule: validate a contract module and instrument it for deterministic, metered execution.
 *
 * Conventions of the output (the contract with the runtime, see notes/vm-contract.md):
 * - exported mutable i64 global `__cairn_gas`: gas remaining. The host sets it before each call and reads it
 *   after; out of gas sets it to 0 (so gasUsed == limit), sets `__cairn_trap` = 1 and executes `unreachable`.
 *   Host functions charge it themselves and must treat a balance below their charge, including a negative one
 *   (the module stores its cached balance before calls without checking it), as out of gas. It is never left
 *   negative by the module itself (see inject.ts for exactly when it is up to date).
 * - exported mutable i32 global `__cairn_trap`: 0 normally; 1 = out of gas, 2 = stack-depth limit exceeded.
 * - exported mutable i32 global `__cairn_stack`: stack units in use (0 between calls). After a trap it keeps the
 *   value it had; a host that reuses an instance after a trap must reset it (and `__cairn_trap`) to 0.
 * - the start function is removed from the start section and exported as `__cairn_start` (metered like any
 *   other function); the host sets the gas and calls it before anything else. Absent when there is no start.
 * - exactly the original memory, its maximum lowered to the cap (`VmLimits.maxMemoryPages`), so memory.grow past
 *   the cap returns -1 as Wasm specifies.
 *
 * FLOATING POINT DECISION: floats are allowed and every NaN an arithmetic instruction can produce is
 * canonicalized. Wasm leaves the bits of a NaN result non-deterministic (x86 and ARM differ in sign and payload
 * propagation); every other float result is exactly specified by IEEE 754 round-to-nearest. So after each
 * f32/f64 add, sub, mul, div, sqrt, min, max, ceil, floor, trunc, nearest, and f32.demote_f64 / f64.promote_f32,
 * the instrumenter inserts `local.tee t; fN.const CANON; local.get t; local.get t; fN.eq; select`, replacing any
 * NaN with the positive quiet canonical NaN (f32 0x7fc00000, f64 0x7ff8000000000000). The remaining float
 * instructions are deterministic bit operations (abs, neg, copysign, reinterpret, load/store, const, select),
 * produce no new NaN (int->float conversions, comparisons) or trap/saturate deterministically (float->int).
 * We chose this over rejecting floats because AssemblyScript's standard library (number formatting, Math) uses
 * floats and authors would otherwise hit rejections far from their own code. The cost of the fix-up is included in
 * the gas classes floatArith / floatDiv.
 */

import { VmError } from "../errors.ts";
import { DEFAULT_GAS_SCHEDULE, checkGasSchedule, type GasSchedule } from "../gas.ts";
import { resolveLimits, type VmLimits } from "../limits.ts";
import { analyzeModule, describeFunc, type ModuleSummary, type ValidatedModule } from "../validate.ts";
import { ByteWriter } from "../wasm/bytes.ts";
import {
  WASM_HEADER, encodeExports, encodeGlobals, encodeLimits, encodeTypes, encodeU32Vector, writeSection,
} from "../wasm/encode.ts";
import { OP_MEMORY_COPY, OP_MEMORY_FILL, OP_MEMORY_GROW, OP_MEMORY_INIT } from "../wasm/opcodes.ts";
import { EXTERN_FUNC, EXTERN_GLOBAL, I32, I64, type Export, type FuncType, type Global } from "../wasm/types.ts";
import { opcodeCosts } from "./costs.ts";
import { instrumentBody, type InjectContext } from "./inject.ts";
import { buildSnapshotSupport, noteInstruction, type SnapshotExports, type SnapshotScan } from "./snapshot.ts";
import { InstrReader } from "../wasm/code.ts";
import { engine } from "../wasm/engine.ts";

export const GAS_EXPORT = "__cairn_gas";
export const TRAP_EXPORT = "__cairn_trap";
export const STACK_EXPORT = "__cairn_stack";
export const START_EXPORT = "__cairn_start";

/** Values of `__cairn_trap` after a trap. */
export const TRAP_NONE = 0;
export const TRAP_OUT_OF_GAS = 1;
export const TRAP_STACK = 2;

export interface PrepareOptions {
  readonly schedule?: GasSchedule;
  readonly limits?: Partial<VmLimits>;
}

/**
 * Validate (throws VmError 'invalid_wasm' naming what and where) and instrument a contract module.
 * The output is checked with WebAssembly.validate as a last safety net.
 */
export function prepareModule(wasm: Uint8Array, opts: PrepareOptions = {}): Uint8Array {
  return prepareContract(wasm, opts).wasm;
}

/** prepareModule plus the validation summary, for callers that need both without validating twice. */
export function prepareContract(
  wasm: Uint8Array,
  opts: PrepareOptions = {},
): { wasm: Uint8Array; summary: ModuleSummary; snapshot: SnapshotExports } {
  const schedule = checkGasSchedule(opts.schedule ?? DEFAULT_GAS_SCHEDULE);
  const limits = resolveLimits(opts.limits);
  const validated = analyzeModule(wasm, limits);
  let out: Uint8Array;
  let snapshot: SnapshotExports;
  try {
    ({ out, snapshot } = instrumentModule(validated, schedule));
  } catch (e) {
    if (e instanceof VmError) throw e;
    throw new VmError("internal", `instrumentation failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (!engine.validate(out)) {
    throw new VmError("invalid_wasm", "module was refused by the engine after instrumentation");
  }
  return { wasm: out, summary: validated.summary, snapshot };
}

const I32_TO_I32: FuncType = { params: [I32], results: [I32] };
const VOID_TO_VOID: FuncType = { params: [], results: [] };

function instrumentModule(v: ValidatedModule, schedule: GasSchedule): { out: Uint8Array; snapshot: SnapshotExports } {
  const m = v.module;
  const limits = v.limits;
  const numFuncs = m.imports.length + m.funcTypeIndices.length;

  // which dynamic-cost helpers are needed
  let usesGrow = false;
  let usesBulk = false;
  const scan: SnapshotScan = { usesDataDrop: false };
  for (let i = 0; i < m.codes.length; i++) {
    const c = m.codes[i]!;
    const ir = new InstrReader(m.bytes, c.codeStart, c.end, "", limits.maxBrTableTargets);
    while (!ir.atEnd()) {
      ir.next();
      noteInstruction(scan, ir.op);
      if (ir.op === OP_MEMORY_GROW) usesGrow = true;
      else if (ir.op === OP_MEMORY_COPY || ir.op === OP_MEMORY_FILL || ir.op === OP_MEMORY_INIT) usesBulk = true;
    }
  }

  const types = m.types.slice();
  const i32Type = types.push(I32_TO_I32) - 1;
  const voidType = types.push(VOID_TO_VOID) - 1;

  const globals: Global[] = m.globals.slice();
  const gasGlobal = globals.push({ type: I64, mutable: true, init: new Uint8Array([0x42, 0x00, 0x0b]) }) - 1;
  const trapGlobal = globals.push({ type: I32, mutable: true, init: new Uint8Array([0x41, 0x00, 0x0b]) }) - 1;
  const stackGlobal = globals.push({ type: I32, mutable: true, init: new Uint8Array([0x41, 0x00, 0x0b]) }) - 1;

  const funcTypeIndices = m.funcTypeIndices.slice();
  const extraBodies: Uint8Array[] = [];
  const addFunc = (typeIndex: number, body: ByteWriter): number => {
    funcTypeIndices.push(typeIndex);
    extraBodies.push(body.finish());
    return numFuncs + extraBodies.length - 1;
  };

  // charge_n(x: i32) -> i32: gas -= x * perUnit; if (gas < 0) { gas = 0; trap = 1; unreachable } return x
  const chargeHelper = (perUnit: number): number => {
    const h = new ByteWriter(48);
    h.u32(0);
    h.u8(0x23).u32(gasGlobal).u8(0x20).u8(0).u8(0xad).u8(0x42).s64(BigInt(perUnit)).u8(0x7e).u8(0x7d).u8(0x24).u32(gasGlobal);
    h.u8(0x23).u32(gasGlobal).u8(0x42).u8(0x00).u8(0x53).u8(0x04).u8(0x40);
    h.u8(0x42).u8(0x00).u8(0x24).u32(gasGlobal).u8(0x41).u8(1).u8(0x24).u32(trapGlobal).u8(0x00).u8(0x0b);
    h.u8(0x20).u8(0).u8(0x0b);
    return addFunc(i32Type, h);
  };
  const ctx: InjectContext = {
    gasGlobal,
    trapGlobal,
    stackGlobal,
    chargeGrowFunc: usesGrow && schedule.memoryGrowPerPage > 0 ? chargeHelper(schedule.memoryGrowPerPage) : -1,
    chargeBytesFunc: usesBulk && schedule.bulkMemoryPerByte > 0 ? chargeHelper(schedule.bulkMemoryPerByte) : -1,
    maxStackUnits: limits.maxStackUnits,
    costs: opcodeCosts(schedule),
    maxBrTableTargets: limits.maxBrTableTargets,
  };

  const exportNames = new Map<number, string>();
  for (const e of m.exports) if (e.kind === EXTERN_FUNC && !exportNames.has(e.index)) exportNames.set(e.index, e.name);
  const bodies: Uint8Array[] = [];
  for (let i = 0; i < m.codes.length; i++) {
    const index = m.imports.length + i;
    const type = m.types[m.funcTypeIndices[i]!]!;
    bodies.push(instrumentBody(m.bytes, m.codes[i]!, type, v.funcs[i]!, ctx, describeFunc(m, index, exportNames)));
  }

  const exports: Export[] = m.exports.slice();
  exports.push({ name: GAS_EXPORT, kind: EXTERN_GLOBAL, index: gasGlobal });
  exports.push({ name: TRAP_EXPORT, kind: EXTERN_GLOBAL, index: trapGlobal });
  exports.push({ name: STACK_EXPORT, kind: EXTERN_GLOBAL, index: stackGlobal });
  if (m.start !== undefined) exports.push({ name: START_EXPORT, kind: EXTERN_FUNC, index: m.start });
  const saveFunc = numFuncs + extraBodies.length;
  const snap = buildSnapshotSupport({
    originalGlobals: m.globals,
    globals,
    exports,
    trapGlobal,
    stackGlobal,
    hasMemory: m.memory !== undefined,
    saveFunc,
    restoreFunc: saveFunc + 1,
    scan,
  });
  if (addFunc(voidType, snap.saveBody) !== saveFunc || addFunc(voidType, snap.restoreBody) !== saveFunc + 1) {
    throw new VmError("internal", "snapshot functions landed at unexpected indices");
  }

  // ---- assemble ------------------------------------------------------------------------------------------------
  const out = new ByteWriter(m.bytes.length * 2 + 256);
  out.bytes(WASM_HEADER);
  writeSection(out, 1, encodeTypes(types));
  if (m.imports.length > 0) {
    const w = new ByteWriter(64);
    w.u32(m.imports.length);
    for (const imp of m.imports) w.name(imp.module).name(imp.name).u8(EXTERN_FUNC).u32(imp.typeIndex);
    writeSection(out, 2, w);
  }
  writeSection(out, 3, encodeU32Vector(funcTypeIndices));
  if (m.tableSectionRaw) writeSection(out, 4, m.tableSectionRaw);
  if (m.memory) {
    const w = new ByteWriter(16);
    w.u32(1);
    const cap = limits.maxMemoryPages;
    encodeLimits(w, { min: m.memory.min, max: m.memory.max === undefined ? cap : Math.min(m.memory.max, cap) });
    writeSection(out, 5, w);
  }
  writeSection(out, 6, encodeGlobals(globals));
  writeSection(out, 7, encodeExports(exports));
  // start section intentionally omitted: exported as __cairn_start instead
  if (m.elementSectionRaw) writeSection(out, 9, m.elementSectionRaw);
  if (m.dataCount !== undefined) writeSection(out, 12, new ByteWriter(8).u32(m.dataCount));
  const code = new ByteWriter(m.bytes.length * 2 + 64);
  code.u32(bodies.length + extraBodies.length);
  for (const b of bodies) code.u32(b.length).bytes(b);
  for (const b of extraBodies) code.u32(b.length).bytes(b);
  writeSection(out, 10, code);
  if (m.dataSectionRaw) writeSection(out, 11, m.dataSectionRaw);
  return { out: out.finish(), snapshot: snap.exports };
}

export type { SnapshotExports } from "./snapshot.ts";
export { validateModule, analyzeModule, HOST_IMPORTS, RESERVED_EXPORTS, type ModuleSummary } from "../validate.ts";
