/**
 * Rewriting of one function body: gas metering, stack-depth accounting, NaN canonicalization.
 *
 * Original instructions are copied byte for byte; new code is only inserted between them and refers to globals,
 * functions, types and locals appended after the module's own, so no original index changes.
 *
 * Gas: the body is cut into metered blocks (maximal straight-line runs). A run ends after loop, if, else, br_if,
 * after the end of an if/else or of a block some branch targets, and after br, br_table, return and unreachable.
 * The end of a loop or of an untargeted block is not a join point, so the run continues through it. The total static
 * cost of a run is charged once at its start; runs that follow an unconditional branch are unreachable until the
 * next join point and are not charged. Calls do not end a run: if the callee traps, the whole execution aborts.
 *
 * Stack: functions that call anything add their frame cost to the stack-unit counter on entry and trap over the
 * limit. The body is wrapped in a block with the function's result type so that branches to the function label
 * land on the release code; each `return` releases first. Functions without calls are not counted: at most one of
 * them can sit on top of the counted frames, which the limit's headroom covers (see frame.ts).
 */

import { ByteWriter } from "../wasm/bytes.ts";
import { InstrReader } from "../wasm/code.ts";
import {
  OP_BR, OP_BR_IF, OP_BR_TABLE, OP_ELSE, OP_END, OP_IF, OP_LOOP, OP_BLOCK, OP_MEMORY_COPY, OP_MEMORY_FILL,
  OP_MEMORY_GROW, OP_MEMORY_INIT, OP_RETURN, OP_UNREACHABLE, OPS,
} from "../wasm/opcodes.ts";
import { F32, F64, type FunctionBody, type FuncType } from "../wasm/types.ts";
import type { FuncInfo } from "../validate.ts";

/** Indices of everything the instrumentation adds to the module. */
export interface InjectContext {
  readonly gasGlobal: number;
  readonly stackGlobal: number;
  readonly outOfGasFunc: number;
  readonly stackTrapFunc: number;
  /** Helper (i32)->i32 charging memoryGrowPerPage per page, or -1 when growing is free per page. */
  readonly chargeGrowFunc: number;
  /** Helper (i32)->i32 charging bulkMemoryPerByte per byte, or -1 when bulk memory is free per byte. */
  readonly chargeBytesFunc: number;
  readonly maxStackUnits: number;
  readonly costs: Uint32Array;
  readonly maxBrTableTargets: number;
}

const KIND_BLOCK = 0;
const KIND_LOOP = 1;
const KIND_IF = 2;

const CANON_F32 = new Uint8Array([0x43, 0x00, 0x00, 0xc0, 0x7f]); // f32.const 0x7fc00000
const CANON_F64 = new Uint8Array([0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x7f]); // f64.const 0x7ff8000000000000

export function instrumentBody(
  bytes: Uint8Array,
  code: FunctionBody,
  type: FuncType,
  info: FuncInfo,
  ctx: InjectContext,
  where: string,
): Uint8Array {
  // ---- pass 1: instruction boundaries and the static cost of each metered run --------------------------------
  const ir = new InstrReader(bytes, code.codeStart, code.end, where, ctx.maxBrTableTargets);
  const starts: number[] = [];
  const ops: number[] = [];
  /** charge[i] > 0: charge that much gas just before instruction i. */
  const charge: number[] = [];
  const ctrlKind: number[] = [];
  const ctrlTargeted: boolean[] = [];
  const costs = ctx.costs;
  let runStart = 0;
  let runCost = 0;
  let runLive = true;
  for (let i = 0; ; i++) {
    ir.next();
    const op = ir.op;
    starts.push(ir.start);
    ops.push(op);
    charge.push(0);
    runCost += costs[op]!;
    let split = false;
    let nextLive = true;
    switch (op) {
      case OP_BLOCK:
        ctrlKind.push(KIND_BLOCK);
        ctrlTargeted.push(false);
        break;
      case OP_LOOP:
        ctrlKind.push(KIND_LOOP);
        ctrlTargeted.push(false);
        split = true;
        break;
      case OP_IF:
        ctrlKind.push(KIND_IF);
        ctrlTargeted.push(false);
        split = true;
        break;
      case OP_ELSE:
        split = true;
        break;
      case OP_END: {
        if (ctrlKind.length === 0) break; // the function's final end
        const kind = ctrlKind.pop()!;
        const targeted = ctrlTargeted.pop()!;
        split = kind === KIND_IF || (kind === KIND_BLOCK && targeted);
        break;
      }
      case OP_BR_IF:
        markTarget(ctrlTargeted, ir.a);
        split = true;
        break;
      case OP_BR:
        markTarget(ctrlTargeted, ir.a);
        split = true;
        nextLive = false;
        break;
      case OP_BR_TABLE:
        markTarget(ctrlTargeted, ir.a);
        for (const t of ir.targets) markTarget(ctrlTargeted, t);
        split = true;
        nextLive = false;
        break;
      case OP_RETURN:
      case OP_UNREACHABLE:
        split = true;
        nextLive = false;
        break;
    }
    const last = ir.atEnd();
    if (split || last) {
      if (runLive && runCost > 0) charge[runStart] = runCost;
      runStart = i + 1;
      runCost = 0;
      runLive = nextLive;
    }
    if (last) break;
  }
  starts.push(code.end);

  // ---- pass 2: emit --------------------------------------------------------------------------------------------
  const nLocals = type.params.length + code.localTypes.length;
  const tempF32 = info.canonF32 > 0 ? nLocals : -1;
  const tempF64 = info.canonF64 > 0 ? nLocals + (tempF32 >= 0 ? 1 : 0) : -1;
  const countStack = info.hasCalls;

  const w = new ByteWriter(code.end - code.offset + 64 + ops.length * 4);
  w.u32(code.localDeclCount + (tempF32 >= 0 ? 1 : 0) + (tempF64 >= 0 ? 1 : 0));
  w.bytes(code.localDecls);
  if (tempF32 >= 0) w.u32(1).u8(F32);
  if (tempF64 >= 0) w.u32(1).u8(F64);

  if (countStack) {
    // stack += frame; if (stack > limit) trap 2; block (result of the function)
    w.u8(0x23).u32(ctx.stackGlobal).u8(0x41).s32(info.frameUnits).u8(0x6a).u8(0x24).u32(ctx.stackGlobal);
    w.u8(0x23).u32(ctx.stackGlobal).u8(0x41).s32(ctx.maxStackUnits).u8(0x4b);
    w.u8(0x04).u8(0x40).u8(0x10).u32(ctx.stackTrapFunc).u8(0x0b);
    w.u8(0x02).u8(type.results.length === 0 ? 0x40 : type.results[0]!);
  }
  const release = (): void => {
    w.u8(0x23).u32(ctx.stackGlobal).u8(0x41).s32(info.frameUnits).u8(0x6b).u8(0x24).u32(ctx.stackGlobal);
  };

  const n = ops.length;
  for (let i = 0; i < n; i++) {
    const op = ops[i]!;
    const cost = charge[i]!;
    if (cost > 0) emitCharge(w, ctx, cost);
    if (op === OP_MEMORY_GROW) {
      if (ctx.chargeGrowFunc >= 0) w.u8(0x10).u32(ctx.chargeGrowFunc);
    } else if (op === OP_MEMORY_COPY || op === OP_MEMORY_FILL || op === OP_MEMORY_INIT) {
      if (ctx.chargeBytesFunc >= 0) w.u8(0x10).u32(ctx.chargeBytesFunc);
    } else if (op === OP_RETURN && countStack) {
      release();
    }
    if (i === n - 1 && countStack) {
      w.u8(0x0b); // closes the wrapper block
      release();
    }
    w.bytes(bytes.subarray(starts[i]!, starts[i + 1]!));
    const canon = OPS[op]!.canon;
    if (canon === F32) {
      // local.tee t; f32.const nan; local.get t; local.get t; f32.eq; select  ==> t == t ? t : canonical NaN
      w.u8(0x22).u32(tempF32).bytes(CANON_F32).u8(0x20).u32(tempF32).u8(0x20).u32(tempF32).u8(0x5b).u8(0x1b);
    } else if (canon === F64) {
      w.u8(0x22).u32(tempF64).bytes(CANON_F64).u8(0x20).u32(tempF64).u8(0x20).u32(tempF64).u8(0x61).u8(0x1b);
    }
  }
  return w.finish();
}

function markTarget(targeted: boolean[], depth: number): void {
  // depth == targeted.length is the function label itself, which is not tracked
  const i = targeted.length - 1 - depth;
  if (i >= 0) targeted[i] = true;
}

/** gas -= cost; if (gas < 0) out_of_gas()  */
export function emitCharge(w: ByteWriter, ctx: InjectContext, cost: number): void {
  w.u8(0x23).u32(ctx.gasGlobal).u8(0x42).s64(BigInt(cost)).u8(0x7d).u8(0x24).u32(ctx.gasGlobal);
  w.u8(0x23).u32(ctx.gasGlobal).u8(0x42).u8(0x00).u8(0x53);
  w.u8(0x04).u8(0x40).u8(0x10).u32(ctx.outOfGasFunc).u8(0x0b);
}
