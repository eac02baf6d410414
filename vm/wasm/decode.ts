/**
 * Module-level decoding of a contract binary into the WasmModule model.
 *
 * Structural rules of the Cairn Wasm profile are enforced while decoding, because the model cannot represent what
 * they forbid: only function imports, at most one funcref table of fixed size, at most one non-shared 32-bit memory,
 * numeric value types only (no v128, no reference types), constant initializers/offsets as plain `*.const`, active
 * funcref element segments, no exception tags. Everything is bounded by VmLimits before it is looped over, so the
 * work is linear in the input size whatever the bytes say. Function bodies are only delimited here; their
 * instructions are checked by vm/validate.ts.
 */

import { VmError } from "../errors.ts";
import type { VmLimits } from "../limits.ts";
import { ByteReader } from "./bytes.ts";
import {
  EXTERNREF, EXTERN_FUNC, EXTERN_GLOBAL, EXTERN_MEMORY, EXTERN_TABLE, F32, F64, FUNCREF, I32, I64, V128,
  type Export, type FuncImport, type FuncType, type FunctionBody, type Global, type Limits, type ValType,
  type WasmModule, valTypeName,
} from "./types.ts";

export const WASM_PAGE = 65_536;
const MAX_WASM_PAGES = 65_536;

const SECTION_NAMES: Record<number, string> = {
  0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory", 6: "global", 7: "export",
  8: "start", 9: "element", 10: "code", 11: "data", 12: "data count", 13: "tag",
};
/** Position of each known section id in the required order (data count sits between element and code). */
const SECTION_ORDER: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13 };

function invalid(message: string): VmError {
  return new VmError("invalid_wasm", message);
}

/** Read a value type, refusing the types of proposals Cairn does not accept. */
export function readValType(r: ByteReader, what: string): ValType {
  const at = r.pos;
  const t = r.u8();
  if (t === I32 || t === I64 || t === F32 || t === F64) return t;
  if (t === V128) throw r.fail(`${what}: SIMD value type v128 is not allowed`, at);
  if (t === FUNCREF || t === EXTERNREF || (t >= 0x63 && t <= 0x74)) {
    throw r.fail(`${what}: reference type ${valTypeName(t)} is not allowed`, at);
  }
  throw r.fail(`${what}: unknown value type ${valTypeName(t)}`, at);
}

/** A constant expression `t.const v; end` (the only initializer form Cairn accepts). Returns its raw bytes. */
function readConstExpr(r: ByteReader, type: ValType, what: string): { raw: Uint8Array; i32: number } {
  const start = r.pos;
  const op = r.u8();
  let i32 = 0;
  if (op === 0x41 && type === I32) i32 = r.s32();
  else if (op === 0x42 && type === I64) r.skipS64();
  else if (op === 0x43 && type === F32) r.skip(4);
  else if (op === 0x44 && type === F64) r.skip(8);
  else throw r.fail(`${what}: initializer must be a single ${valTypeName(type)}.const`, start);
  if (r.u8() !== 0x0b) throw r.fail(`${what}: initializer must be a single ${valTypeName(type)}.const followed by end`, start);
  return { raw: r.buf.subarray(start, r.pos), i32 };
}

function readLimits(r: ByteReader, what: string, kind: "table" | "memory"): Limits {
  const at = r.pos;
  const flags = r.u8();
  if (kind === "memory" && (flags === 0x02 || flags === 0x03)) throw r.fail(`${what}: shared memory (threads) is not allowed`, at);
  if (flags & 0x04) throw r.fail(`${what}: 64-bit ${kind} is not allowed`, at);
  if (flags !== 0x00 && flags !== 0x01) throw r.fail(`${what}: unknown limits flags 0x${flags.toString(16)}`, at);
  const min = r.u32();
  const max = flags === 0x01 ? r.u32() : undefined;
  if (max !== undefined && max < min) throw r.fail(`${what}: maximum ${max} is below minimum ${min}`, at);
  return { min, max };
}

function checkCount(r: ByteReader, n: number, limit: number, what: string): void {
  if (n > limit) throw r.fail(`${n} ${what} exceed the limit of ${limit}`);
  // every entry takes at least one byte: a count larger than the bytes left is a truncated/garbage section
  if (n > r.remaining()) throw r.fail(`${what}: count ${n} is larger than the section`);
}

export function decodeModule(bytes: Uint8Array, limits: VmLimits): WasmModule {
  if (!(bytes instanceof Uint8Array)) throw invalid("module must be a Uint8Array");
  if (bytes.length > limits.maxModuleBytes) {
    throw invalid(`module is ${bytes.length} bytes, over the limit of ${limits.maxModuleBytes}`);
  }
  if (bytes.length < 8) throw invalid(`module is only ${bytes.length} bytes: too short for the Wasm header`);
  if (bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw invalid("bad magic: not a WebAssembly binary (expected \\0asm)");
  }
  if (bytes[4] !== 0x01 || bytes[5] !== 0x00 || bytes[6] !== 0x00 || bytes[7] !== 0x00) {
    throw invalid(`unsupported Wasm version/layer ${Array.from(bytes.subarray(4, 8)).join(",")} (expected 1,0,0,0)`);
  }

  const m: WasmModule = {
    bytes, types: [], imports: [], funcTypeIndices: [], table: undefined, tableSectionRaw: undefined,
    memory: undefined, globals: [], exports: [], start: undefined, elementSectionRaw: undefined,
    elementSegmentCount: 0, dataCount: undefined, dataSectionRaw: undefined, dataSegmentCount: 0, codes: [],
  };
  let hasCode = false;
  let hasFunctionSection = false;

  const top = new ByteReader(bytes, 8, bytes.length);
  let lastOrder = 0;
  while (!top.atEnd()) {
    const headerAt = top.pos;
    const id = top.u8();
    const size = top.u32();
    if (size > top.remaining()) {
      throw top.fail(`${SECTION_NAMES[id] ?? `id ${id}`} section of ${size} bytes is truncated (${top.remaining()} left)`, headerAt);
    }
    const start = top.pos;
    const end = start + size;
    top.pos = end;
    const name = SECTION_NAMES[id];
    if (name === undefined) throw top.fail(`unknown section id ${id}`, headerAt);
    const r = new ByteReader(bytes, start, end, `${name} section`);
    if (id === 0) {
      r.name(); // the name must be valid UTF-8; the payload is ignored and dropped on re-encode
      continue;
    }
    if (id === 13) throw top.fail("tag section (exception handling) is not allowed", headerAt);
    const order = SECTION_ORDER[id]!;
    if (order <= lastOrder) throw top.fail(`${name} section is duplicated or out of order`, headerAt);
    lastOrder = order;

    switch (id) {
      case 1: decodeTypes(r, m, limits); break;
      case 2: decodeImports(r, m, limits); break;
      case 3: hasFunctionSection = true; decodeFunctions(r, m, limits); break;
      case 4: decodeTable(r, m, limits); break;
      case 5: decodeMemory(r, m); break;
      case 6: decodeGlobals(r, m, limits); break;
      case 7: decodeExports(r, m, limits); break;
      case 8: {
        const f = r.u32();
        if (f >= m.imports.length + m.funcTypeIndices.length) throw r.fail(`start function ${f} does not exist`, start);
        m.start = f;
        break;
      }
      case 9: decodeElements(r, m, limits); break;
      case 12: m.dataCount = r.u32(); break;
      case 10: hasCode = true; decodeCode(r, m, limits); break;
      case 11: decodeData(r, m, limits); break;
    }
    if (!r.atEnd()) throw r.fail(`${r.remaining()} unexpected trailing bytes in section`);
  }

  if (m.funcTypeIndices.length > 0 && !hasCode) throw invalid(`function section declares ${m.funcTypeIndices.length} functions but there is no code section`);
  if (hasCode && !hasFunctionSection && m.codes.length > 0) throw invalid("code section without function section");
  if (m.dataCount !== undefined && m.dataCount !== m.dataSegmentCount) {
    throw invalid(`data count section says ${m.dataCount} segments but the data section has ${m.dataSegmentCount}`);
  }
  return m;
}

function decodeTypes(r: ByteReader, m: WasmModule, limits: VmLimits): void {
  const n = r.u32();
  checkCount(r, n, limits.maxTypes, "types");
  for (let i = 0; i < n; i++) {
    const at = r.pos;
    const form = r.u8();
    if (form !== 0x60) {
      const why = form === 0x4e || form === 0x4f || form === 0x50 || form === 0x5e || form === 0x5f ? " (GC types are not allowed)" : "";
      throw r.fail(`type ${i}: form 0x${form.toString(16)} is not a function type${why}`, at);
    }
    const np = r.u32();
    if (np > limits.maxParams) throw r.fail(`type ${i}: ${np} parameters exceed the limit of ${limits.maxParams}`, at);
    if (np > r.remaining()) throw r.fail(`type ${i}: truncated parameter list`, at);
    const params: ValType[] = [];
    for (let k = 0; k < np; k++) params.push(readValType(r, `type ${i} parameter ${k}`));
    const nr = r.u32();
    if (nr > limits.maxResults) throw r.fail(`type ${i}: ${nr} results exceed the limit of ${limits.maxResults}`, at);
    const results: ValType[] = [];
    for (let k = 0; k < nr; k++) results.push(readValType(r, `type ${i} result ${k}`));
    m.types.push({ params, results } satisfies FuncType);
  }
}

function decodeImports(r: ByteReader, m: WasmModule, limits: VmLimits): void {
  const n = r.u32();
  checkCount(r, n, limits.maxImports, "imports");
  for (let i = 0; i < n; i++) {
    const at = r.pos;
    const module = r.name();
    const name = r.name();
    const kind = r.u8();
    if (kind !== EXTERN_FUNC) {
      const what = ["function", "table", "memory", "global", "tag"][kind] ?? `kind ${kind}`;
      throw r.fail(`import ${JSON.stringify(module)}.${JSON.stringify(name)}: importing a ${what} is not allowed (only the Cairn host functions may be imported)`, at);
    }
    const typeIndex = r.u32();
    if (typeIndex >= m.types.length) throw r.fail(`import ${module}.${name}: type index ${typeIndex} does not exist`, at);
    m.imports.push({ module, name, typeIndex } satisfies FuncImport);
  }
}

function decodeFunctions(r: ByteReader, m: WasmModule, limits: VmLimits): void {
  const n = r.u32();
  checkCount(r, n, limits.maxFunctions, "functions");
  for (let i = 0; i < n; i++) {
    const at = r.pos;
    const t = r.u32();
    if (t >= m.types.length) throw r.fail(`function ${m.imports.length + i}: type index ${t} does not exist`, at);
    m.funcTypeIndices.push(t);
  }
}

function decodeTable(r: ByteReader, m: WasmModule, limits: VmLimits): void {
  const start = r.pos;
  const n = r.u32();
  if (n > 1) throw r.fail(`${n} tables declared: at most one table is allowed (multiple tables need reference types)`);
  if (n === 1) {
    const at = r.pos;
    const elem = r.u8();
    if (elem !== FUNCREF) throw r.fail(`table 0: element type ${valTypeName(elem)} is not allowed (only funcref)`, at);
    const lim = readLimits(r, "table 0", "table");
    if (lim.max === undefined || lim.max !== lim.min) {
      throw r.fail(`table 0 can grow (min ${lim.min}, max ${lim.max ?? "none"}): the table must have max == min`, at);
    }
    if (lim.min > limits.maxTableSize) throw r.fail(`table 0 has ${lim.min} entries, over the limit of ${limits.maxTableSize}`, at);
    m.table = lim;
  }
  m.tableSectionRaw = r.buf.subarray(start, r.end);
}

function decodeMemory(r: ByteReader, m: WasmModule): void {
  const n = r.u32();
  if (n > 1) throw r.fail(`${n} memories declared: at most one memory is allowed`);
  if (n === 1) {
    const lim = readLimits(r, "memory 0", "memory");
    if (lim.min > MAX_WASM_PAGES || (lim.max !== undefined && lim.max > MAX_WASM_PAGES)) {
      throw r.fail(`memory 0: page count above the Wasm maximum of ${MAX_WASM_PAGES}`);
    }
    m.memory = lim;
  }
}

function decodeGlobals(r: ByteReader, m: WasmModule, limits: VmLimits): void {
  const n = r.u32();
  checkCount(r, n, limits.maxGlobals, "globals");
  for (let i = 0; i < n; i++) {
    const what = `global ${i}`;
    const type = readValType(r, what);
    const at = r.pos;
    const mut = r.u8();
    if (mut > 1) throw r.fail(`${what}: bad mutability flag 0x${mut.toString(16)}`, at);
    const { raw } = readConstExpr(r, type, what);
    m.globals.push({ type, mutable: mut === 1, init: raw } satisfies Global);
  }
}

function decodeExports(r: ByteReader, m: WasmModule, limits: VmLimits): void {
  const n = r.u32();
  checkCount(r, n, limits.maxExports, "exports");
  const seen = new Set<string>();
  const funcs = m.imports.length + m.funcTypeIndices.length;
  for (let i = 0; i < n; i++) {
    const at = r.pos;
    const name = r.name();
    const kind = r.u8();
    const index = r.u32();
    const what = `export ${JSON.stringify(name)}`;
    if (seen.has(name)) throw r.fail(`${what} is duplicated`, at);
    seen.add(name);
    const ok =
      kind === EXTERN_FUNC ? index < funcs
      : kind === EXTERN_TABLE ? index === 0 && m.table !== undefined
      : kind === EXTERN_MEMORY ? index === 0 && m.memory !== undefined
      : kind === EXTERN_GLOBAL ? index < m.globals.length
      : false;
    if (kind > EXTERN_GLOBAL) throw r.fail(`${what}: export kind ${kind} is not allowed`, at);
    if (!ok) throw r.fail(`${what}: ${["function", "table", "memory", "global"][kind]} ${index} does not exist`, at);
    m.exports.push({ name, kind, index } satisfies Export);
  }
}

function decodeElements(r: ByteReader, m: WasmModule, limits: VmLimits): void {
  const start = r.pos;
  const n = r.u32();
  checkCount(r, n, limits.maxElemSegments, "element segments");
  const funcs = m.imports.length + m.funcTypeIndices.length;
  for (let i = 0; i < n; i++) {
    const what = `element segment ${i}`;
    const at = r.pos;
    const flags = r.u32();
    if (flags !== 0 && flags !== 2) {
      throw r.fail(`${what}: only active function-index segments are allowed (flags ${flags} needs reference types or table instructions)`, at);
    }
    if (flags === 2 && r.u32() !== 0) throw r.fail(`${what}: only table 0 exists`, at);
    if (m.table === undefined) throw r.fail(`${what}: there is no table`, at);
    const { i32: offset } = readConstExpr(r, I32, what);
    if (flags === 2 && r.u8() !== 0x00) throw r.fail(`${what}: element kind must be funcref (0x00)`, at);
    const count = r.u32();
    const off = offset >>> 0;
    if (off + count > m.table.min) throw r.fail(`${what}: entries [${off}, ${off + count}) lie outside the table of ${m.table.min}`, at);
    for (let k = 0; k < count; k++) {
      const f = r.u32();
      if (f >= funcs) throw r.fail(`${what}: function ${f} does not exist`);
    }
  }
  m.elementSegmentCount = n;
  m.elementSectionRaw = r.buf.subarray(start, r.end);
}

function decodeCode(r: ByteReader, m: WasmModule, limits: VmLimits): void {
  const n = r.u32();
  if (n !== m.funcTypeIndices.length) {
    throw r.fail(`code section has ${n} bodies but the function section declares ${m.funcTypeIndices.length}`);
  }
  for (let i = 0; i < n; i++) {
    const funcIndex = m.imports.length + i;
    const what = `function ${funcIndex}`;
    const at = r.pos;
    const size = r.u32();
    if (size > limits.maxBodyBytes) throw r.fail(`${what}: body of ${size} bytes exceeds the limit of ${limits.maxBodyBytes}`, at);
    if (size > r.remaining()) throw r.fail(`${what}: body of ${size} bytes is truncated`, at);
    const bodyStart = r.pos;
    const bodyEnd = bodyStart + size;
    const br = new ByteReader(r.buf, bodyStart, bodyEnd, what);
    const nDecls = br.u32();
    if (nDecls > br.remaining()) throw br.fail(`local declaration count ${nDecls} is larger than the body`);
    const params = m.types[m.funcTypeIndices[i]!]!.params.length;
    let total = params;
    const declStart = br.pos;
    const chunks: Array<[number, ValType]> = [];
    for (let k = 0; k < nDecls; k++) {
      const count = br.u32();
      const type = readValType(br, `local declaration ${k}`);
      total += count;
      if (total > limits.maxLocalsPerFunction) {
        throw br.fail(`params + locals exceed the limit of ${limits.maxLocalsPerFunction}`);
      }
      chunks.push([count, type]);
    }
    const localTypes = new Uint8Array(total - params);
    let p = 0;
    for (const [count, type] of chunks) {
      localTypes.fill(type, p, p + count);
      p += count;
    }
    m.codes.push({
      offset: bodyStart,
      codeStart: br.pos,
      end: bodyEnd,
      localDecls: r.buf.subarray(declStart, br.pos),
      localDeclCount: nDecls,
      localTypes,
    } satisfies FunctionBody);
    r.pos = bodyEnd;
  }
}

function decodeData(r: ByteReader, m: WasmModule, limits: VmLimits): void {
  const start = r.pos;
  const n = r.u32();
  checkCount(r, n, limits.maxDataSegments, "data segments");
  for (let i = 0; i < n; i++) {
    const what = `data segment ${i}`;
    const at = r.pos;
    const flags = r.u32();
    if (flags > 2) throw r.fail(`${what}: unknown segment flags ${flags}`, at);
    if (flags === 1) {
      r.skip(r.u32());
      continue;
    }
    if (flags === 2 && r.u32() !== 0) throw r.fail(`${what}: only memory 0 exists`, at);
    if (m.memory === undefined) throw r.fail(`${what}: active segment but there is no memory`, at);
    const { i32: offset } = readConstExpr(r, I32, what);
    const len = r.u32();
    r.skip(len);
    const off = offset >>> 0;
    if (off + len > m.memory.min * WASM_PAGE) {
      throw r.fail(`${what}: bytes [${off}, ${off + len}) lie beyond the initial memory of ${m.memory.min} pages`, at);
    }
  }
  m.dataSegmentCount = n;
  m.dataSectionRaw = r.buf.subarray(start, r.end);
}
