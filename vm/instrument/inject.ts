/**
 * Rewriting of one function body: gas metering, stack-depth accounting, NaN canonicalization.
 *
 * Original instructions are copied byte for byte; new code is only inserted between them and refers to globals,
 * locals and functions appended after the module's own, so no original index changes.
 *
 * GAS. The body is cut into metered runs (maximal straight-line sequences). A run ends after loop, if, else,
 * br_if, after the end of an if/else or of a block that some branch targets, and after br, br_table, return and
 * unreachable. The end of a loop or of an untargeted block is no join point, so a run continues through it. Each
 * run subtracts its total static cost from `g`, a local i64 caching the exported global `__cairn_gas`, when it is
 * entered. Runs following an unconditional branch are dead until the next join point and are not charged.
 *
 * Checks (`if (g < 0) { global = 0; trap = 1; unreachable }`, inlined) run at function entry (right after
 * loading `g`, before the stack-limit check), at every loop head (store, check, then charge the head run: every
 * iteration passes one) and in the epilogue (store, check) before every return or fall-off. Before a call `g` is
 * stored and reloaded after it: the callee checks on entry, host functions refuse a negative balance, and the
 * memory.grow / bulk-memory charge helpers charge the global and check it themselves. call_indirect also checks
 * before calling, since it can trap before any callee runs. Consequences:
 * - a call that returns normally never leaves a negative balance; a run out of gas always ends with the global
 *   at 0 (gasUsed == limit) and `__cairn_trap` = 1;
 * - every check sees only charges for code that has run or surely runs before the next check, so an execution
 *   succeeds if and only if its exact total cost fits the limit;
 * - between checks only forward (acyclic) code of one function runs on a negative balance before the trap;
 * - after any other trap the global holds a non-negative balance from the last store (loop head, call, entry),
 *   i.e. at most one function's acyclic code below the exact count.
 *
 * Why this shape: a per-run check through the global costs a load/store round trip and a compare on every run,
 * which made tight loops 2-3x slower; keeping `g` in a register and checking once per loop iteration keeps the
 * overhead low (measured with bench/instrument-micro.ts). Trap code is inlined (no call) so V8 does not treat every
 * check as a call that may clobber memory and globals.
 *
 * STACK. Functions that call anything add their frame cost to the `__cairn_stack` counter on entry and trap with
 * `__cairn_trap` = 2 over the limit. Every body is wrapped in a block with the function's result type, so branches
 * to the function label land on the epilogue (stack release, gas store and check); each `return` runs the
 * epilogue first. Functions without calls are not counted: at most one of them can sit on top of the counted
 * frames, which the limit's headroom covers (see frame.ts).
 */

import { ByteWriter } from "../wasm/bytes.ts";
import { InstrReader } from "../wasm/code.ts";
import {
  OP_BLOCK, OP_BR, OP_BR_IF, OP_BR_TABLE, OP_CALL, OP_CALL_INDIRECT, OP_ELSE, OP_END, OP_IF, OP_LOOP,
  OP_MEMORY_COPY, OP_MEMORY_FILL, OP_MEMORY_GROW, OP_MEMORY_INIT, OP_RETURN, OP_UNREACHABLE, OPS,
} from "../wasm/opcodes.ts";
import { F32, F64, I64, type FunctionBody, type FuncType } from "../wasm/types.ts";
import type { FuncInfo } from "../validate.ts";

/** Indices of everything the instrumentation adds to the module. */
export interface InjectContext {
  readonly gasGlobal: number;
  readonly trapGlobal: number;
  readonly stackGlobal: number;
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

/** What pass 2 inserts before instruction i (plan.kind[i]). */
const RUN_NONE = 0;
const RUN_CHARGE = 1; // g -= cost
const RUN_CHECKPOINT = 2; // store; check; g -= cost (loop heads)

interface IfShape {
  readonly ifIdx: number;
  elseIdx: number;
  endIdx: number;
}

export function instrumentBody(
  bytes: Uint8Array,
  code: FunctionBody,
  type: FuncType,
  info: FuncInfo,
  ctx: InjectContext,
  where: string,
): Uint8Array {
  // ---- pass 1: instruction boundaries and runs ------------------------------------------------------------------
  const ir = new InstrReader(bytes, code.codeStart, code.end, where, ctx.maxBrTableTargets);
  const starts: number[] = [];
  const ops: number[] = [];
  // per instruction index s where a run starts: its cost, its last instruction, flags
  const runCost: number[] = [];
  const runLast: number[] = [];
  const runLive: boolean[] = [];
  const runLoopHead: boolean[] = [];
  const runEndsInLoopBr: boolean[] = [];
  const runHasCall: boolean[] = [];
  const ctrlKind: number[] = [];
  const ctrlTargeted: boolean[] = [];
  const ctrlIf: Array<IfShape | undefined> = [];
  const ifs: IfShape[] = [];
  const costs = ctx.costs;
  let runStart = 0;
  let cost = 0;
  let live = true;
  let loopHead = false;
  let hasCall = false;
  for (let i = 0; ; i++) {
    ir.next();
    const op = ir.op;
    starts.push(ir.start);
    ops.push(op);
    runCost.push(0);
    runLast.push(-1);
    runLive.push(false);
    runLoopHead.push(false);
    runEndsInLoopBr.push(false);
    runHasCall.push(false);
    cost += costs[op]!;
    let split = false;
    let nextLive = true;
    let loopBr = false;
    switch (op) {
      case OP_BLOCK:
      case OP_LOOP:
      case OP_IF: {
        ctrlKind.push(op === OP_BLOCK ? KIND_BLOCK : op === OP_LOOP ? KIND_LOOP : KIND_IF);
        ctrlTargeted.push(false);
        const shape = op === OP_IF ? { ifIdx: i, elseIdx: -1, endIdx: -1 } : undefined;
        ctrlIf.push(shape);
        if (shape) ifs.push(shape);
        split = op !== OP_BLOCK;
        break;
      }
      case OP_ELSE:
        ctrlIf[ctrlIf.length - 1]!.elseIdx = i;
        split = true;
        break;
      case OP_END: {
        if (ctrlKind.length === 0) break; // the function's final end
        const kind = ctrlKind.pop()!;
        const targeted = ctrlTargeted.pop()!;
        const shape = ctrlIf.pop();
        if (shape) shape.endIdx = i;
        split = kind === KIND_IF || (kind === KIND_BLOCK && targeted);
        break;
      }
      case OP_BR_IF:
        markTarget(ctrlTargeted, ir.a);
        split = true;
        break;
      case OP_BR:
        markTarget(ctrlTargeted, ir.a);
        loopBr = ir.a < ctrlKind.length && ctrlKind[ctrlKind.length - 1 - ir.a] === KIND_LOOP;
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
      case OP_CALL:
      case OP_CALL_INDIRECT:
      case OP_MEMORY_GROW:
      case OP_MEMORY_COPY:
      case OP_MEMORY_FILL:
      case OP_MEMORY_INIT:
        hasCall = true; // something that reads the gas global (a callee, the host or a charge helper)
        break;
    }
    const last = ir.atEnd();
    if (split || last) {
      runCost[runStart] = cost;
      runLast[runStart] = i;
      runLive[runStart] = live;
      runLoopHead[runStart] = loopHead;
      runEndsInLoopBr[runStart] = loopBr;
      runHasCall[runStart] = hasCall;
      hasCall = false;
      runStart = i + 1;
      cost = 0;
      live = nextLive;
      loopHead = op === OP_LOOP;
    }
    if (last) break;
  }
  starts.push(code.end);
  const n = ops.length;

  // ---- charge hoisting across ifs --------------------------------------------------------------------------------
  // For `if`, charge the first run of the then-arm together with the run holding the `if` and compensate in the
  // else-arm (synthesizing `else` for a one-armed if): the taken path loses one subtraction, the other path keeps
  // one. When both arms are single runs falling through to `end`, the run after `end` is folded into both arms as
  // well and disappears. Nothing reads the balance between a charge and its compensation (runs holding a call or
  // a dynamic charge are not used as hosts), so every check still sees at most the cost of what will run before
  // the next check. Innermost (later) ifs first, so their hoisted costs are already in place.
  const ifRun = new Int32Array(n).fill(-1); // run start containing instruction i
  for (let s = 0; s < n; s++) {
    if (runLast[s]! >= 0) for (let k = s; k <= runLast[s]!; k++) ifRun[k] = s;
  }
  const synthElse = new Map<number, number>(); // end index -> compensation to charge in a synthesized else
  for (let k = ifs.length - 1; k >= 0; k--) {
    const { ifIdx, elseIdx, endIdx } = ifs[k]!;
    const host = ifRun[ifIdx]!;
    const thenRun = ifIdx + 1;
    const armEnd = elseIdx >= 0 ? elseIdx : endIdx;
    const thenFlows = runLast[thenRun] === armEnd;
    const elseRun = elseIdx >= 0 ? elseIdx + 1 : -1;
    const elseFlows = elseIdx < 0 || runLast[elseRun] === endIdx;
    const joinRun = endIdx + 1;
    if (runHasCall[host]) continue;
    if (elseIdx < 0 && !thenFlows && !runEndsInLoopBr[thenRun]) continue; // cold guard: leave as is
    let pre = runCost[thenRun]!;
    let comp = -pre;
    runCost[thenRun] = 0;
    if (thenFlows && elseFlows && joinRun < n && runLast[joinRun]! >= 0 && runLive[joinRun]) {
      pre += runCost[joinRun]!;
      runCost[joinRun] = 0; // both arms now pay for the join run, comp unchanged (J - J)
    }
    runCost[host] = runCost[host]! + pre;
    if (elseIdx >= 0) runCost[elseRun] = runCost[elseRun]! + comp;
    else if (comp !== 0) synthElse.set(endIdx, comp);
    comp = 0;
  }

  const kind = new Uint8Array(n);
  for (let s = 0; s < n; s++) {
    if (runLast[s]! < 0) continue;
    if (runLoopHead[s]) kind[s] = RUN_CHECKPOINT; // every iteration must pass a check, even when free
    else if (runLive[s] && runCost[s] !== 0) kind[s] = RUN_CHARGE;
  }

  // ---- pass 2: emit --------------------------------------------------------------------------------------------
  const nLocals = type.params.length + code.localTypes.length;
  const g = nLocals; // the gas cache
  const tempF32 = info.canonF32 > 0 ? nLocals + 1 : -1;
  const tempF64 = info.canonF64 > 0 ? nLocals + 1 + (tempF32 >= 0 ? 1 : 0) : -1;
  const countStack = info.hasCalls;
  const G = ctx.gasGlobal;

  const w = new ByteWriter(code.end - code.offset + 64 + ops.length * 4);
  w.u32(code.localDeclCount + 1 + (tempF32 >= 0 ? 1 : 0) + (tempF64 >= 0 ? 1 : 0));
  w.bytes(code.localDecls);
  w.u32(1).u8(I64);
  if (tempF32 >= 0) w.u32(1).u8(F32);
  if (tempF64 >= 0) w.u32(1).u8(F64);

  const load = (): void => void w.u8(0x23).u32(G).u8(0x21).u32(g); // g = global
  const store = (): void => void w.u8(0x20).u32(g).u8(0x24).u32(G); // global = g
  const sub = (c: number): void => void w.u8(0x20).u32(g).u8(0x42).s64(BigInt(c)).u8(0x7d).u8(0x21).u32(g);
  // if (g < 0) { global = 0; trap = 1; unreachable }
  const check = (): void => {
    w.u8(0x20).u32(g).u8(0x42).u8(0x00).u8(0x53).u8(0x04).u8(0x40);
    w.u8(0x42).u8(0x00).u8(0x24).u32(G).u8(0x41).u8(1).u8(0x24).u32(ctx.trapGlobal).u8(0x00).u8(0x0b);
  };
  const S = ctx.stackGlobal;
  const epilogue = (): void => {
    if (countStack) w.u8(0x23).u32(S).u8(0x41).s32(info.frameUnits).u8(0x6b).u8(0x24).u32(S);
    store();
    check();
  };

  // entry checkpoint first: a caller may arrive with a negative balance (it stores before calling without a
  // check); checking before the stack limit also means a stack trap never leaves a negative balance behind
  load();
  check();
  if (countStack) {
    // stack += frame; if (stack > limit) { trap = 2; unreachable }
    w.u8(0x23).u32(S).u8(0x41).s32(info.frameUnits).u8(0x6a).u8(0x24).u32(S);
    w.u8(0x23).u32(S).u8(0x41).s32(ctx.maxStackUnits).u8(0x4b);
    w.u8(0x04).u8(0x40).u8(0x41).u8(2).u8(0x24).u32(ctx.trapGlobal).u8(0x00).u8(0x0b);
  }
  w.u8(0x02).u8(type.results.length === 0 ? 0x40 : type.results[0]!); // wrapper block

  for (let i = 0; i < n; i++) {
    const op = ops[i]!;
    const k = kind[i]!;
    if (k === RUN_CHECKPOINT) {
      store();
      check();
    }
    if (k !== RUN_NONE && runCost[i] !== 0) sub(runCost[i]!);
    const comp = op === OP_END ? synthElse.get(i) : undefined;
    if (comp !== undefined) {
      w.u8(0x05);
      sub(comp);
    }
    switch (op) {
      case OP_MEMORY_GROW:
        if (ctx.chargeGrowFunc >= 0) {
          store();
          w.u8(0x10).u32(ctx.chargeGrowFunc);
          load();
        }
        break;
      case OP_MEMORY_COPY:
      case OP_MEMORY_FILL:
      case OP_MEMORY_INIT:
        if (ctx.chargeBytesFunc >= 0) {
          store();
          w.u8(0x10).u32(ctx.chargeBytesFunc);
          load();
        }
        break;
      case OP_CALL:
        store();
        break;
      case OP_CALL_INDIRECT:
        // call_indirect can trap before any callee runs (bad index or signature): check here so that no trap
        // ever leaves a negative balance in the global
        store();
        check();
        break;
      case OP_RETURN:
        epilogue();
        break;
    }
    if (i === n - 1) {
      w.u8(0x0b); // closes the wrapper block
      epilogue();
    }
    w.bytes(bytes.subarray(starts[i]!, starts[i + 1]!));
    if (op === OP_CALL || op === OP_CALL_INDIRECT) load(); // the callee or the host charged the global
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
