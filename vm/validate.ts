/**
 * Validation of contract modules against the Cairn Wasm profile.
 *
 * Two layers: vm/wasm/decode.ts checks the module structure (sections, limits, the features the model cannot
 * represent); this file checks the host-import allowlist, the memory cap, reserved names, and type-checks every
 * function body with the standard Wasm validation algorithm (operand stack + control stack). The type check also
 * yields, per function, the maximum operand-stack height used for the stack-depth limit.
 *
 * Hostile input contract: only VmError ever leaves this file, and the work is linear in the module size
 * (every loop is bounded by bytes actually present or by a VmLimits value checked beforehand).
 */

import { VmError } from "./errors.ts";
import { resolveLimits, type VmLimits } from "./limits.ts";
import { frameUnits } from "./instrument/frame.ts";
import { decodeModule } from "./wasm/decode.ts";
import { InstrReader } from "./wasm/code.ts";
import {
  FC_BASE, Imm, OPS, OP_BLOCK, OP_BR, OP_BR_IF, OP_BR_TABLE, OP_CALL, OP_CALL_INDIRECT, OP_DATA_DROP, OP_DROP,
  OP_ELSE, OP_END, OP_GLOBAL_GET, OP_GLOBAL_SET, OP_IF, OP_LOCAL_GET, OP_LOCAL_SET, OP_LOCAL_TEE, OP_LOOP,
  OP_MEMORY_INIT, OP_NOP, OP_RETURN, OP_SELECT, OP_UNREACHABLE,
} from "./wasm/opcodes.ts";
import {
  EXTERN_FUNC, F32, F64, I32, I64, type FuncType, type ValType, type WasmModule,
  funcTypeOf, sameTypes, valTypeName,
} from "./wasm/types.ts";

/** The host functions a contract may import, with their exact signatures (see notes/vm-contract.md). */
export const HOST_IMPORTS: ReadonlyArray<{ module: string; name: string; type: FuncType }> = [
  { module: "cairn", name: "get", type: { params: [I32, I32, I32, I32], results: [I32] } },
  { module: "cairn", name: "set", type: { params: [I32, I32, I32, I32], results: [] } },
  { module: "cairn", name: "proposer_addr", type: { params: [I32], results: [] } },
  { module: "env", name: "abort", type: { params: [I32, I32, I32, I32], results: [] } },
];

/** Export names the instrumenter adds; a contract may not define them itself. */
export const RESERVED_EXPORTS: ReadonlySet<string> = new Set(["__cairn_gas", "__cairn_trap", "__cairn_start", "__cairn_stack"]);

export interface ModuleSummary {
  readonly imports: ReadonlyArray<{ module: string; name: string }>;
  readonly exports: ReadonlyArray<{ name: string; kind: "function" | "table" | "memory" | "global" }>;
  /** Exported functions of type [] -> [] whose names do not start with "__" (contract methods). */
  readonly methods: readonly string[];
  readonly memory: { initialPages: number; maxPages: number | undefined } | undefined;
  readonly hasStart: boolean;
  readonly functions: number;
  /** Float instructions whose results get NaN-canonicalized by the instrumenter. */
  readonly floatArithmetic: number;
}

/** What the validator learned about one defined function (used by the instrumenter). */
export interface FuncInfo {
  readonly maxStack: number;
  readonly frameUnits: number;
  /** Contains call or call_indirect (functions without calls skip the stack-depth accounting). */
  readonly hasCalls: boolean;
  /** Number of f32 / f64 results that need NaN canonicalization. */
  readonly canonF32: number;
  readonly canonF64: number;
}

export interface ValidatedModule {
  readonly module: WasmModule;
  readonly funcs: readonly FuncInfo[];
  readonly summary: ModuleSummary;
  readonly limits: VmLimits;
}

const UNKNOWN = 0;
const KIND_FUNC = 0;
const KIND_BLOCK = 1;
const KIND_LOOP = 2;
const KIND_IF = 3;
const KIND_ELSE = 4;

interface Frame {
  kind: number;
  start: readonly ValType[];
  end: readonly ValType[];
  height: number;
  unreachable: boolean;
}

const NO_TYPES: readonly ValType[] = [];
const ONE_TYPE: Record<number, readonly ValType[]> = { [I32]: [I32], [I64]: [I64], [F32]: [F32], [F64]: [F64] };

/** Describe function `index` for messages: `function 7 (export "run")`. */
export function describeFunc(m: WasmModule, index: number, exportNames?: Map<number, string>): string {
  if (index < m.imports.length) {
    const imp = m.imports[index]!;
    return `function ${index} (import ${imp.module}.${imp.name})`;
  }
  const name = exportNames?.get(index);
  return name === undefined ? `function ${index}` : `function ${index} (export ${JSON.stringify(name)})`;
}

function funcExportNames(m: WasmModule): Map<number, string> {
  const names = new Map<number, string>();
  for (const e of m.exports) if (e.kind === EXTERN_FUNC && !names.has(e.index)) names.set(e.index, e.name);
  return names;
}

function typeString(t: FuncType): string {
  return `(${t.params.map(valTypeName).join(",")})->(${t.results.map(valTypeName).join(",")})`;
}

/** Full validation; returns the decoded module and per-function facts for the instrumenter. */
export function analyzeModule(wasm: Uint8Array, limitsIn?: Partial<VmLimits> | VmLimits): ValidatedModule {
  const limits = resolveLimits(limitsIn);
  try {
    return analyzeUnchecked(wasm, limits);
  } catch (e) {
    if (e instanceof VmError) throw e;
    // Defensive: a bug in the validator must still surface as a typed error, never as a crash on hostile input.
    throw new VmError("invalid_wasm", `module could not be validated: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** Validate a module and summarize it (for tools and tests). Throws VmError('invalid_wasm') when it is refused. */
export function validateModule(wasm: Uint8Array, limits?: Partial<VmLimits>): ModuleSummary {
  return analyzeModule(wasm, limits).summary;
}

function analyzeUnchecked(wasm: Uint8Array, limits: VmLimits): ValidatedModule {
  const m = decodeModule(wasm, limits);
  const fail = (msg: string) => new VmError("invalid_wasm", msg);

  for (const imp of m.imports) {
    const allowed = HOST_IMPORTS.find((h) => h.module === imp.module && h.name === imp.name);
    const what = `import ${imp.module}.${imp.name}`;
    if (!allowed) {
      const list = HOST_IMPORTS.map((h) => `${h.module}.${h.name}`).join(", ");
      throw fail(`${what} is not a Cairn host function (allowed: ${list})`);
    }
    const t = m.types[imp.typeIndex]!;
    if (!sameTypes(t.params, allowed.type.params) || !sameTypes(t.results, allowed.type.results)) {
      throw fail(`${what} has type ${typeString(t)}, expected ${typeString(allowed.type)}`);
    }
  }
  if (m.memory && m.memory.min > limits.maxMemoryPages) {
    throw fail(`memory 0: initial size ${m.memory.min} pages exceeds the cap of ${limits.maxMemoryPages} pages`);
  }
  for (const e of m.exports) {
    if (RESERVED_EXPORTS.has(e.name)) throw fail(`export ${JSON.stringify(e.name)}: the name is reserved for the Cairn instrumentation`);
  }
  const exportNames = funcExportNames(m);
  if (m.start !== undefined) {
    const t = funcTypeOf(m, m.start);
    if (t.params.length || t.results.length) {
      throw fail(`start ${describeFunc(m, m.start, exportNames)} has type ${typeString(t)}, expected ()->()`);
    }
  }
  const funcs: FuncInfo[] = [];
  let floatArithmetic = 0;
  for (let i = 0; i < m.codes.length; i++) {
    const index = m.imports.length + i;
    const type = m.types[m.funcTypeIndices[i]!]!;
    const where = describeFunc(m, index, exportNames);
    if (type.results.length > 1) {
      throw fail(`${where} returns ${type.results.length} values: functions with more than one result are not allowed`);
    }
    const info = checkBody(m, i, where, limits);
    if (info.frameUnits > limits.maxFrameUnits) {
      throw fail(`${where}: frame of ${info.frameUnits} stack units (params, locals, operand stack) exceeds the limit of ${limits.maxFrameUnits}`);
    }
    floatArithmetic += info.canonF32 + info.canonF64;
    funcs.push(info);
  }

  const kinds = ["function", "table", "memory", "global"] as const;
  const summary: ModuleSummary = {
    imports: m.imports.map((i) => ({ module: i.module, name: i.name })),
    exports: m.exports.map((e) => ({ name: e.name, kind: kinds[e.kind]! })),
    methods: m.exports
      .filter((e) => {
        if (e.kind !== EXTERN_FUNC || e.name.startsWith("__")) return false;
        const t = funcTypeOf(m, e.index);
        return t.params.length === 0 && t.results.length === 0;
      })
      .map((e) => e.name),
    memory: m.memory ? { initialPages: m.memory.min, maxPages: m.memory.max } : undefined,
    hasStart: m.start !== undefined,
    functions: m.codes.length,
    floatArithmetic,
  };
  return { module: m, funcs, summary, limits };
}

/** Type-check one function body (the spec's validation algorithm) and measure its operand stack. */
function checkBody(m: WasmModule, defIndex: number, where: string, limits: VmLimits): FuncInfo {
  const code = m.codes[defIndex]!;
  const type = m.types[m.funcTypeIndices[defIndex]!]!;
  const nParams = type.params.length;
  const nLocals = nParams + code.localTypes.length;
  const localType = (i: number): ValType => (i < nParams ? type.params[i]! : code.localTypes[i - nParams]!);
  const numFuncs = m.imports.length + m.funcTypeIndices.length;
  const hasMemory = m.memory !== undefined;

  const ir = new InstrReader(m.bytes, code.codeStart, code.end, where, limits.maxBrTableTargets);
  const fail = (msg: string) => ir.fail(msg);

  // operand stack of value types; at most one push per instruction byte, plus block params re-pushed
  let vals = new Uint8Array(64);
  let sp = 0;
  let maxSp = 0;
  const frames: Frame[] = [{ kind: KIND_FUNC, start: NO_TYPES, end: type.results, height: 0, unreachable: false }];
  let hasCalls = false;
  let canonF32 = 0;
  let canonF64 = 0;
  let valueOps = 0; // value-producing instructions other than constants and local accesses (see frame.ts)

  const push = (t: ValType): void => {
    if (sp === vals.length) {
      const next = new Uint8Array(vals.length * 2);
      next.set(vals);
      vals = next;
    }
    vals[sp++] = t;
    if (sp > maxSp) maxSp = sp;
  };
  const pop = (expect: ValType): ValType => {
    const f = frames[frames.length - 1]!;
    if (sp === f.height) {
      if (f.unreachable) return expect;
      throw fail(expect === UNKNOWN ? "operand stack underflow" : `operand stack underflow: expected ${valTypeName(expect)}`);
    }
    const t = vals[--sp]!;
    if (expect !== UNKNOWN && t !== UNKNOWN && t !== expect) {
      throw fail(`type mismatch: expected ${valTypeName(expect)}, found ${valTypeName(t)}`);
    }
    return t;
  };
  const popAll = (ts: readonly ValType[]): void => {
    for (let i = ts.length - 1; i >= 0; i--) pop(ts[i]!);
  };
  const pushAll = (ts: readonly ValType[]): void => {
    for (let i = 0; i < ts.length; i++) push(ts[i]!);
  };
  const setUnreachable = (): void => {
    const f = frames[frames.length - 1]!;
    sp = f.height;
    f.unreachable = true;
  };
  const label = (depth: number): readonly ValType[] => {
    if (depth >= frames.length) throw fail(`branch depth ${depth} is out of range (${frames.length} labels)`);
    const f = frames[frames.length - 1 - depth]!;
    return f.kind === KIND_LOOP ? f.start : f.end;
  };
  const blockType = (bt: number): FuncType => {
    if (bt >= 0) {
      if (bt >= m.types.length) throw fail(`block type index ${bt} does not exist`);
      return m.types[bt]!;
    }
    if (bt === -64) return { params: NO_TYPES, results: NO_TYPES };
    const byte = bt + 128;
    const one = bt >= -64 ? ONE_TYPE[byte] : undefined;
    if (!one) {
      const why = byte === 0x7b ? "SIMD type v128 is not allowed" : byte === 0x70 || byte === 0x6f ? "reference types are not allowed" : "unknown block type";
      throw fail(`block type ${bt >= -64 ? valTypeName(byte) : bt}: ${why}`);
    }
    return { params: NO_TYPES, results: one };
  };

  for (;;) {
    ir.next();
    const op = ir.op;
    switch (op) {
      case OP_UNREACHABLE:
        setUnreachable();
        break;
      case OP_NOP:
        break;
      case OP_BLOCK:
      case OP_LOOP:
      case OP_IF: {
        const bt = blockType(ir.a);
        if (op === OP_IF) pop(I32);
        popAll(bt.params);
        if (frames.length > limits.maxBlockDepth) throw fail(`blocks nested deeper than the limit of ${limits.maxBlockDepth}`);
        frames.push({ kind: op === OP_BLOCK ? KIND_BLOCK : op === OP_LOOP ? KIND_LOOP : KIND_IF, start: bt.params, end: bt.results, height: sp, unreachable: false });
        pushAll(bt.params);
        break;
      }
      case OP_ELSE: {
        const f = frames[frames.length - 1]!;
        if (f.kind !== KIND_IF) throw fail("else without a matching if");
        popAll(f.end);
        if (sp !== f.height) throw fail(`${sp - f.height} values left on the stack at else`);
        f.kind = KIND_ELSE;
        f.unreachable = false;
        pushAll(f.start);
        break;
      }
      case OP_END: {
        const f = frames[frames.length - 1]!;
        popAll(f.end);
        if (sp !== f.height) throw fail(`${sp - f.height} values left on the stack at end of block`);
        if (f.kind === KIND_IF && !sameTypes(f.start, f.end)) throw fail("if without else must have matching parameter and result types");
        frames.pop();
        if (frames.length === 0) {
          if (!ir.atEnd()) throw fail("bytes after the function's final end");
          const fu = frameUnits(nParams, nLocals - nParams, maxSp, valueOps);
          return { maxStack: maxSp, frameUnits: fu, hasCalls, canonF32, canonF64 };
        }
        pushAll(f.end);
        break;
      }
      case OP_BR:
        popAll(label(ir.a));
        setUnreachable();
        break;
      case OP_BR_IF: {
        pop(I32);
        const lt = label(ir.a);
        popAll(lt);
        pushAll(lt);
        break;
      }
      case OP_BR_TABLE: {
        pop(I32);
        const def = label(ir.a);
        for (const t of ir.targets) {
          const lt = label(t);
          if (lt.length !== def.length) throw fail(`br_table target ${t} has arity ${lt.length}, default has ${def.length}`);
          // check each target's types against the stack without consuming it
          const saved = sp;
          const popped: ValType[] = [];
          for (let i = lt.length - 1; i >= 0; i--) popped.push(pop(lt[i]!));
          for (let i = popped.length - 1; i >= 0; i--) push(popped[i]!);
          if (sp !== saved && !frames[frames.length - 1]!.unreachable) throw fail("br_table stack check failed");
        }
        popAll(def);
        setUnreachable();
        break;
      }
      case OP_RETURN:
        popAll(type.results);
        setUnreachable();
        break;
      case OP_CALL: {
        if (ir.a >= numFuncs) throw fail(`call to function ${ir.a} which does not exist`);
        const t = funcTypeOf(m, ir.a);
        popAll(t.params);
        pushAll(t.results);
        hasCalls = true;
        break;
      }
      case OP_CALL_INDIRECT: {
        if (m.table === undefined) throw fail("call_indirect without a table");
        if (ir.a >= m.types.length) throw fail(`call_indirect type index ${ir.a} does not exist`);
        const t = m.types[ir.a]!;
        pop(I32);
        popAll(t.params);
        pushAll(t.results);
        hasCalls = true;
        break;
      }
      case OP_DROP:
        pop(UNKNOWN);
        break;
      case OP_SELECT: {
        pop(I32);
        const t1 = pop(UNKNOWN);
        const t2 = pop(t1);
        push(t1 === UNKNOWN ? t2 : t1);
        valueOps++;
        break;
      }
      case OP_LOCAL_GET:
      case OP_LOCAL_SET:
      case OP_LOCAL_TEE: {
        if (ir.a >= nLocals) throw fail(`local ${ir.a} does not exist (${nLocals} locals)`);
        const t = localType(ir.a);
        if (op === OP_LOCAL_GET) push(t);
        else {
          pop(t);
          if (op === OP_LOCAL_TEE) push(t);
        }
        break;
      }
      case OP_GLOBAL_GET:
      case OP_GLOBAL_SET: {
        const g = m.globals[ir.a];
        if (g === undefined) throw fail(`global ${ir.a} does not exist`);
        if (op === OP_GLOBAL_GET) {
          push(g.type);
          valueOps++;
        }
        else {
          if (!g.mutable) throw fail(`global.set of immutable global ${ir.a}`);
          pop(g.type);
        }
        break;
      }
      default: {
        const info = OPS[op]!;
        if (info.align !== undefined || op === 0x3f || op === 0x40 || op >= FC_BASE + 8) {
          if (!hasMemory && op !== OP_DATA_DROP) throw fail(`${info.name} without a memory`);
          if (info.align !== undefined && ir.a > info.align) {
            throw fail(`${info.name} alignment 2^${ir.a} exceeds the natural alignment 2^${info.align}`);
          }
          if (op === OP_MEMORY_INIT || op === OP_DATA_DROP) {
            if (m.dataCount === undefined) throw fail(`${info.name} requires a data count section`);
            if (ir.a >= m.dataCount) throw fail(`${info.name} of data segment ${ir.a} which does not exist`);
          }
        }
        popAll(info.pops!);
        pushAll(info.pushes!);
        if (info.pushes!.length > 0 && info.imm !== Imm.I32Const && info.imm !== Imm.I64Const && info.imm !== Imm.F32Const && info.imm !== Imm.F64Const) valueOps++;
        if (info.canon === F32) canonF32++;
        else if (info.canon === F64) canonF64++;
      }
    }
  }
}
