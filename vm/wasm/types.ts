/**
 * The module model: what the decoder keeps of a contract module and the encoder writes back.
 *
 * Sections the instrumenter never changes (table, element, data count, data) are kept as raw bytes and copied
 * verbatim; the others are decoded into the structures below. Function bodies keep their raw instruction bytes:
 * the instrumenter copies original instructions byte for byte and only inserts new code between them, which keeps
 * every index of the original module (functions, globals, locals, types) valid.
 */

export type ValType = number;

export const I32 = 0x7f;
export const I64 = 0x7e;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;
export const FUNCREF = 0x70;
export const EXTERNREF = 0x6f;
/** Block type byte meaning "no values". */
export const EMPTY_BLOCK = 0x40;

export function valTypeName(t: number): string {
  switch (t) {
    case I32: return "i32";
    case I64: return "i64";
    case F32: return "f32";
    case F64: return "f64";
    case V128: return "v128";
    case FUNCREF: return "funcref";
    case EXTERNREF: return "externref";
    default: return `0x${t.toString(16).padStart(2, "0")}`;
  }
}

export interface FuncType {
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
}

export interface FuncImport {
  readonly module: string;
  readonly name: string;
  readonly typeIndex: number;
}

export interface Limits {
  readonly min: number;
  readonly max: number | undefined;
}

export interface Global {
  readonly type: ValType;
  readonly mutable: boolean;
  /** Constant-expression bytes including the final `end`. */
  readonly init: Uint8Array;
}

export const EXTERN_FUNC = 0;
export const EXTERN_TABLE = 1;
export const EXTERN_MEMORY = 2;
export const EXTERN_GLOBAL = 3;

export interface Export {
  readonly name: string;
  readonly kind: number;
  readonly index: number;
}

export interface FunctionBody {
  /** Absolute offset in the module of the first local declaration byte. */
  readonly offset: number;
  /** Absolute offset of the first instruction. */
  readonly codeStart: number;
  /** Absolute offset one past the final `end`. */
  readonly end: number;
  /** Raw local declarations (vector count excluded), copied verbatim on re-encode. */
  readonly localDecls: Uint8Array;
  /** Number of local declaration entries (the vector count). */
  readonly localDeclCount: number;
  /** Declared local types expanded (params excluded). */
  readonly localTypes: Uint8Array;
}

export interface WasmModule {
  readonly bytes: Uint8Array;
  types: FuncType[];
  imports: FuncImport[];
  /** Type index of each defined (non-imported) function. */
  funcTypeIndices: number[];
  /** The single table, if any (always funcref, fixed size). */
  table: Limits | undefined;
  tableSectionRaw: Uint8Array | undefined;
  memory: Limits | undefined;
  globals: Global[];
  exports: Export[];
  start: number | undefined;
  elementSectionRaw: Uint8Array | undefined;
  elementSegmentCount: number;
  dataCount: number | undefined;
  dataSectionRaw: Uint8Array | undefined;
  dataSegmentCount: number;
  codes: FunctionBody[];
}

/** Type of function `index` in the function index space (imports first). */
export function funcTypeOf(m: WasmModule, index: number): FuncType {
  const ti = index < m.imports.length ? m.imports[index]!.typeIndex : m.funcTypeIndices[index - m.imports.length]!;
  return m.types[ti]!;
}

export function sameTypes(a: readonly ValType[], b: readonly ValType[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
