/**
 * Opcode table: every instruction Cairn understands, with its immediates, its stack signature (for the simple
 * numeric/memory instructions; control, variable and call instructions are typed by the validator itself), its
 * gas class, and whether its result needs NaN canonicalization.
 *
 * Covered: the MVP, sign-extension (0xC0-0xC4), non-trapping float-to-int (0xFC 0-7), bulk memory (0xFC 8-17)
 * and multi-value block types. Opcodes of proposals Cairn refuses (reference types, SIMD, threads, exceptions,
 * tail calls) are listed with the reason so the error names the feature instead of saying "unknown opcode".
 *
 * Opcode numbers: single-byte opcodes are 0..255, 0xFC-prefixed ones are FC_BASE + sub-opcode.
 */

import type { GasClass } from "../gas.ts";
import { F32, F64, I32, I64, type ValType } from "./types.ts";

export const FC_BASE = 0x100;
export const FC_COUNT = 18;
export const OPCODE_SPACE = FC_BASE + FC_COUNT;

export enum Imm {
  None,
  BlockType,
  Label,
  BrTable,
  Func,
  CallIndirect,
  Local,
  Global,
  MemArg,
  MemZero, // a single 0x00 byte (memory index of memory.size / memory.grow / memory.fill)
  I32Const,
  I64Const,
  F32Const,
  F64Const,
  MemInit, // data index then 0x00
  Data, // data index
  MemCopy, // 0x00 0x00
  Banned, // any opcode Cairn refuses; the decoder stops at it
}

export interface OpInfo {
  readonly name: string;
  readonly imm: Imm;
  readonly gas: GasClass;
  /** Operand types popped and pushed, when fixed (numeric and memory instructions). */
  readonly pops?: readonly ValType[];
  readonly pushes?: readonly ValType[];
  /** log2 of the natural alignment of a load/store. */
  readonly align?: number;
  /** F32 or F64 when the result may be a non-deterministic NaN and must be canonicalized. */
  readonly canon?: ValType;
  /** Why Cairn refuses this opcode (feature name). */
  readonly banned?: string;
}

export const OPS: Array<OpInfo | undefined> = new Array(OPCODE_SPACE).fill(undefined);

function def(code: number, name: string, imm: Imm, gas: GasClass, extra: Partial<OpInfo> = {}): void {
  OPS[code] = { name, imm, gas, ...extra };
}
function numeric(code: number, name: string, pops: ValType[], pushes: ValType[], gas: GasClass, canon?: ValType): void {
  def(code, name, Imm.None, gas, canon === undefined ? { pops, pushes } : { pops, pushes, canon });
}
function banned(code: number, name: string, feature: string): void {
  def(code, name, Imm.Banned, "simple", { banned: feature });
}

// --- control -------------------------------------------------------------------------------------------------
def(0x00, "unreachable", Imm.None, "branch");
def(0x01, "nop", Imm.None, "free");
def(0x02, "block", Imm.BlockType, "free");
def(0x03, "loop", Imm.BlockType, "free");
def(0x04, "if", Imm.BlockType, "branch");
def(0x05, "else", Imm.None, "free");
banned(0x06, "try", "exception handling");
banned(0x07, "catch", "exception handling");
banned(0x08, "throw", "exception handling");
banned(0x09, "rethrow", "exception handling");
banned(0x0a, "throw_ref", "exception handling");
def(0x0b, "end", Imm.None, "free");
def(0x0c, "br", Imm.Label, "branch");
def(0x0d, "br_if", Imm.Label, "branch");
def(0x0e, "br_table", Imm.BrTable, "branch");
def(0x0f, "return", Imm.None, "branch");
def(0x10, "call", Imm.Func, "call");
def(0x11, "call_indirect", Imm.CallIndirect, "callIndirect");
banned(0x12, "return_call", "tail calls");
banned(0x13, "return_call_indirect", "tail calls");
banned(0x14, "call_ref", "typed function references");
banned(0x15, "return_call_ref", "typed function references");
banned(0x18, "delegate", "exception handling");
banned(0x19, "catch_all", "exception handling");
def(0x1a, "drop", Imm.None, "simple");
def(0x1b, "select", Imm.None, "simple");
banned(0x1c, "select (typed)", "reference types");
banned(0x1f, "try_table", "exception handling");

// --- variables -----------------------------------------------------------------------------------------------
def(0x20, "local.get", Imm.Local, "simple");
def(0x21, "local.set", Imm.Local, "simple");
def(0x22, "local.tee", Imm.Local, "simple");
def(0x23, "global.get", Imm.Global, "simple");
def(0x24, "global.set", Imm.Global, "simple");
banned(0x25, "table.get", "reference types");
banned(0x26, "table.set", "reference types");

// --- memory --------------------------------------------------------------------------------------------------
const loads: Array<[number, string, ValType, number]> = [
  [0x28, "i32.load", I32, 2], [0x29, "i64.load", I64, 3], [0x2a, "f32.load", F32, 2], [0x2b, "f64.load", F64, 3],
  [0x2c, "i32.load8_s", I32, 0], [0x2d, "i32.load8_u", I32, 0], [0x2e, "i32.load16_s", I32, 1],
  [0x2f, "i32.load16_u", I32, 1], [0x30, "i64.load8_s", I64, 0], [0x31, "i64.load8_u", I64, 0],
  [0x32, "i64.load16_s", I64, 1], [0x33, "i64.load16_u", I64, 1], [0x34, "i64.load32_s", I64, 2],
  [0x35, "i64.load32_u", I64, 2],
];
for (const [code, name, t, align] of loads) def(code, name, Imm.MemArg, "load", { pops: [I32], pushes: [t], align });
const stores: Array<[number, string, ValType, number]> = [
  [0x36, "i32.store", I32, 2], [0x37, "i64.store", I64, 3], [0x38, "f32.store", F32, 2], [0x39, "f64.store", F64, 3],
  [0x3a, "i32.store8", I32, 0], [0x3b, "i32.store16", I32, 1], [0x3c, "i64.store8", I64, 0],
  [0x3d, "i64.store16", I64, 1], [0x3e, "i64.store32", I64, 2],
];
for (const [code, name, t, align] of stores) def(code, name, Imm.MemArg, "store", { pops: [I32, t], pushes: [], align });
def(0x3f, "memory.size", Imm.MemZero, "memorySize", { pops: [], pushes: [I32] });
def(0x40, "memory.grow", Imm.MemZero, "memoryGrow", { pops: [I32], pushes: [I32] });

// --- constants -----------------------------------------------------------------------------------------------
def(0x41, "i32.const", Imm.I32Const, "simple", { pops: [], pushes: [I32] });
def(0x42, "i64.const", Imm.I64Const, "simple", { pops: [], pushes: [I64] });
def(0x43, "f32.const", Imm.F32Const, "simple", { pops: [], pushes: [F32] });
def(0x44, "f64.const", Imm.F64Const, "simple", { pops: [], pushes: [F64] });

// --- comparisons ---------------------------------------------------------------------------------------------
numeric(0x45, "i32.eqz", [I32], [I32], "simple");
["eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u"].forEach((n, i) =>
  numeric(0x46 + i, `i32.${n}`, [I32, I32], [I32], "simple"));
numeric(0x50, "i64.eqz", [I64], [I32], "simple");
["eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u"].forEach((n, i) =>
  numeric(0x51 + i, `i64.${n}`, [I64, I64], [I32], "simple"));
["eq", "ne", "lt", "gt", "le", "ge"].forEach((n, i) => numeric(0x5b + i, `f32.${n}`, [F32, F32], [I32], "floatSimple"));
["eq", "ne", "lt", "gt", "le", "ge"].forEach((n, i) => numeric(0x61 + i, `f64.${n}`, [F64, F64], [I32], "floatSimple"));

// --- integer arithmetic --------------------------------------------------------------------------------------
function intOps(base: number, t: ValType, p: string): void {
  numeric(base + 0, `${p}.clz`, [t], [t], "simple");
  numeric(base + 1, `${p}.ctz`, [t], [t], "simple");
  numeric(base + 2, `${p}.popcnt`, [t], [t], "simple");
  const bin: Array<[string, GasClass]> = [
    ["add", "simple"], ["sub", "simple"], ["mul", "intMul"], ["div_s", "intDiv"], ["div_u", "intDiv"],
    ["rem_s", "intDiv"], ["rem_u", "intDiv"], ["and", "simple"], ["or", "simple"], ["xor", "simple"],
    ["shl", "simple"], ["shr_s", "simple"], ["shr_u", "simple"], ["rotl", "simple"], ["rotr", "simple"],
  ];
  bin.forEach(([n, g], i) => numeric(base + 3 + i, `${p}.${n}`, [t, t], [t], g));
}
intOps(0x67, I32, "i32");
intOps(0x79, I64, "i64");

// --- float arithmetic ----------------------------------------------------------------------------------------
function floatOps(base: number, t: ValType, p: string): void {
  numeric(base + 0, `${p}.abs`, [t], [t], "floatSimple");
  numeric(base + 1, `${p}.neg`, [t], [t], "floatSimple");
  numeric(base + 2, `${p}.ceil`, [t], [t], "floatArith", t);
  numeric(base + 3, `${p}.floor`, [t], [t], "floatArith", t);
  numeric(base + 4, `${p}.trunc`, [t], [t], "floatArith", t);
  numeric(base + 5, `${p}.nearest`, [t], [t], "floatArith", t);
  numeric(base + 6, `${p}.sqrt`, [t], [t], "floatDiv", t);
  numeric(base + 7, `${p}.add`, [t, t], [t], "floatArith", t);
  numeric(base + 8, `${p}.sub`, [t, t], [t], "floatArith", t);
  numeric(base + 9, `${p}.mul`, [t, t], [t], "floatArith", t);
  numeric(base + 10, `${p}.div`, [t, t], [t], "floatDiv", t);
  numeric(base + 11, `${p}.min`, [t, t], [t], "floatArith", t);
  numeric(base + 12, `${p}.max`, [t, t], [t], "floatArith", t);
  numeric(base + 13, `${p}.copysign`, [t, t], [t], "floatSimple");
}
floatOps(0x8b, F32, "f32");
floatOps(0x99, F64, "f64");

// --- conversions ---------------------------------------------------------------------------------------------
numeric(0xa7, "i32.wrap_i64", [I64], [I32], "simple");
numeric(0xa8, "i32.trunc_f32_s", [F32], [I32], "floatSimple");
numeric(0xa9, "i32.trunc_f32_u", [F32], [I32], "floatSimple");
numeric(0xaa, "i32.trunc_f64_s", [F64], [I32], "floatSimple");
numeric(0xab, "i32.trunc_f64_u", [F64], [I32], "floatSimple");
numeric(0xac, "i64.extend_i32_s", [I32], [I64], "simple");
numeric(0xad, "i64.extend_i32_u", [I32], [I64], "simple");
numeric(0xae, "i64.trunc_f32_s", [F32], [I64], "floatSimple");
numeric(0xaf, "i64.trunc_f32_u", [F32], [I64], "floatSimple");
numeric(0xb0, "i64.trunc_f64_s", [F64], [I64], "floatSimple");
numeric(0xb1, "i64.trunc_f64_u", [F64], [I64], "floatSimple");
numeric(0xb2, "f32.convert_i32_s", [I32], [F32], "floatSimple");
numeric(0xb3, "f32.convert_i32_u", [I32], [F32], "floatSimple");
numeric(0xb4, "f32.convert_i64_s", [I64], [F32], "floatSimple");
numeric(0xb5, "f32.convert_i64_u", [I64], [F32], "floatSimple");
numeric(0xb6, "f32.demote_f64", [F64], [F32], "floatArith", F32);
numeric(0xb7, "f64.convert_i32_s", [I32], [F64], "floatSimple");
numeric(0xb8, "f64.convert_i32_u", [I32], [F64], "floatSimple");
numeric(0xb9, "f64.convert_i64_s", [I64], [F64], "floatSimple");
numeric(0xba, "f64.convert_i64_u", [I64], [F64], "floatSimple");
numeric(0xbb, "f64.promote_f32", [F32], [F64], "floatArith", F64);
numeric(0xbc, "i32.reinterpret_f32", [F32], [I32], "floatSimple");
numeric(0xbd, "i64.reinterpret_f64", [F64], [I64], "floatSimple");
numeric(0xbe, "f32.reinterpret_i32", [I32], [F32], "floatSimple");
numeric(0xbf, "f64.reinterpret_i64", [I64], [F64], "floatSimple");

// --- sign extension ------------------------------------------------------------------------------------------
numeric(0xc0, "i32.extend8_s", [I32], [I32], "simple");
numeric(0xc1, "i32.extend16_s", [I32], [I32], "simple");
numeric(0xc2, "i64.extend8_s", [I64], [I64], "simple");
numeric(0xc3, "i64.extend16_s", [I64], [I64], "simple");
numeric(0xc4, "i64.extend32_s", [I64], [I64], "simple");

// --- reference types (refused) -------------------------------------------------------------------------------
banned(0xd0, "ref.null", "reference types");
banned(0xd1, "ref.is_null", "reference types");
banned(0xd2, "ref.func", "reference types");
banned(0xd3, "ref.as_non_null", "typed function references");
banned(0xd4, "br_on_null", "typed function references");
banned(0xd5, "ref.eq", "GC");
banned(0xd6, "br_on_non_null", "typed function references");

// --- 0xFC prefix: non-trapping float-to-int and bulk memory ----------------------------------------------------
numeric(FC_BASE + 0, "i32.trunc_sat_f32_s", [F32], [I32], "floatSimple");
numeric(FC_BASE + 1, "i32.trunc_sat_f32_u", [F32], [I32], "floatSimple");
numeric(FC_BASE + 2, "i32.trunc_sat_f64_s", [F64], [I32], "floatSimple");
numeric(FC_BASE + 3, "i32.trunc_sat_f64_u", [F64], [I32], "floatSimple");
numeric(FC_BASE + 4, "i64.trunc_sat_f32_s", [F32], [I64], "floatSimple");
numeric(FC_BASE + 5, "i64.trunc_sat_f32_u", [F32], [I64], "floatSimple");
numeric(FC_BASE + 6, "i64.trunc_sat_f64_s", [F64], [I64], "floatSimple");
numeric(FC_BASE + 7, "i64.trunc_sat_f64_u", [F64], [I64], "floatSimple");
def(FC_BASE + 8, "memory.init", Imm.MemInit, "bulkMemory", { pops: [I32, I32, I32], pushes: [] });
def(FC_BASE + 9, "data.drop", Imm.Data, "bulkMemory", { pops: [], pushes: [] });
def(FC_BASE + 10, "memory.copy", Imm.MemCopy, "bulkMemory", { pops: [I32, I32, I32], pushes: [] });
def(FC_BASE + 11, "memory.fill", Imm.MemZero, "bulkMemory", { pops: [I32, I32, I32], pushes: [] });
banned(FC_BASE + 12, "table.init", "table instructions (reference types)");
banned(FC_BASE + 13, "elem.drop", "table instructions (reference types)");
banned(FC_BASE + 14, "table.copy", "table instructions (reference types)");
banned(FC_BASE + 15, "table.grow", "table instructions (reference types)");
banned(FC_BASE + 16, "table.size", "table instructions (reference types)");
banned(FC_BASE + 17, "table.fill", "table instructions (reference types)");

export const OP_UNREACHABLE = 0x00;
export const OP_NOP = 0x01;
export const OP_BLOCK = 0x02;
export const OP_LOOP = 0x03;
export const OP_IF = 0x04;
export const OP_ELSE = 0x05;
export const OP_END = 0x0b;
export const OP_BR = 0x0c;
export const OP_BR_IF = 0x0d;
export const OP_BR_TABLE = 0x0e;
export const OP_RETURN = 0x0f;
export const OP_CALL = 0x10;
export const OP_CALL_INDIRECT = 0x11;
export const OP_DROP = 0x1a;
export const OP_SELECT = 0x1b;
export const OP_LOCAL_GET = 0x20;
export const OP_LOCAL_SET = 0x21;
export const OP_LOCAL_TEE = 0x22;
export const OP_GLOBAL_GET = 0x23;
export const OP_GLOBAL_SET = 0x24;
export const OP_MEMORY_GROW = 0x40;
export const OP_I32_CONST = 0x41;
export const OP_I64_CONST = 0x42;
export const OP_F32_CONST = 0x43;
export const OP_F64_CONST = 0x44;
export const OP_MEMORY_INIT = FC_BASE + 8;
export const OP_DATA_DROP = FC_BASE + 9;
export const OP_MEMORY_COPY = FC_BASE + 10;
export const OP_MEMORY_FILL = FC_BASE + 11;

/** Name of an opcode for error messages, including unknown ones. */
export function opName(op: number): string {
  const info = OPS[op];
  if (info) return info.name;
  return op >= FC_BASE ? `0xfc ${op - FC_BASE}` : `0x${op.toString(16).padStart(2, "0")}`;
}
