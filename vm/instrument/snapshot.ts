/**
 * What the instrumenter adds so the runtime can reset an instance to its post-start state instead of
 * instantiating again (see vm/runtime-reuse.ts for how it is used and why that is equivalent).
 *
 * The mutable state of an instance of a Cairn module is exactly: the memory (bytes and size), the mutable
 * globals, the table, and the "dropped" flags of data and element segments. Of these:
 * - memory: exported under a generated name, so the host can snapshot and overwrite it even when the contract
 *   does not export it;
 * - mutable globals, exported or not: every one gets a shadow global (i32 for i32/f32, i64 for i64/f64, holding
 *   the value's bits, so a float NaN payload survives exactly — a float never passes through a JS number).
 *   `save()` copies each global into its shadow, `restore()` copies each shadow back and zeroes
 *   `__cairn_trap` and `__cairn_stack`. The shadows are exported so the host can read the snapshot once and
 *   prime other instances with it. No original code can reach the shadows or the two functions: they have
 *   indices past everything the module's own code, element and export sections refer to.
 * - table: immutable in the Cairn profile. table.get/set/grow/fill/copy/init and elem.drop are banned, tables
 *   cannot be imported, and the host never touches an exported one, so the table only ever holds what the
 *   active element segments put there at instantiation. `collectSnapshotFacts` re-asserts the ban.
 * - data segments: `data.drop` changes a segment's state in a way no export can restore, so a module using it
 *   is marked not reusable. (memory.init only reads a segment; active segments are dropped at instantiation
 *   in every instance alike.) Element segments: elem.drop is banned (above).
 * `__cairn_gas` is not part of the snapshot: the host sets it before every call.
 */

import { VmError } from "../errors.ts";
import { ByteWriter } from "../wasm/bytes.ts";
import { OPS, OP_DATA_DROP } from "../wasm/opcodes.ts";
import { EXTERN_FUNC, EXTERN_GLOBAL, EXTERN_MEMORY, F32, F64, I32, I64, type Export, type Global } from "../wasm/types.ts";

/** Names (in the instrumented module's exports) of what the runtime needs for instance reuse. */
export interface SnapshotExports {
  /** false: the module has state a snapshot cannot restore (it uses data.drop); never reuse its instances. */
  readonly reusable: boolean;
  /** () -> (): copy every mutable global of the original module into its shadow. */
  readonly save: string;
  /** () -> (): copy every shadow back into its global; __cairn_trap = 0; __cairn_stack = 0. */
  readonly restore: string;
  /** The module's memory under a generated name; null when the module has no memory. */
  readonly memory: string | null;
  /** Shadow globals in global-index order, each an i32 or i64 global holding a global's bits. */
  readonly shadows: readonly string[];
}

/** Facts the snapshot support needs from a scan of every instruction. */
export interface SnapshotScan {
  usesDataDrop: boolean;
}

/**
 * Per instruction during the instrumenter's scan: note data.drop and assert the table cannot change.
 * Table instructions are refused by validation (vm/wasm/opcodes.ts bans them); this guards the reuse
 * argument against a future profile change.
 */
export function noteInstruction(scan: SnapshotScan, op: number): void {
  if (op === OP_DATA_DROP) scan.usesDataDrop = true;
  else if (OPS[op]?.banned !== undefined) {
    throw new VmError("internal", `instruction ${OPS[op]!.name} reached the instrumenter: tables must stay immutable for instance reuse`);
  }
}

/** `base` if no export is called that, else base_1, base_2, ... */
function freshName(base: string, taken: Set<string>): string {
  let name = base;
  for (let k = 1; taken.has(name); k++) name = `${base}_${k}`;
  taken.add(name);
  return name;
}

const ZERO_I32 = new Uint8Array([0x41, 0x00, 0x0b]);
const ZERO_I64 = new Uint8Array([0x42, 0x00, 0x0b]);

export interface SnapshotBuild {
  readonly exports: SnapshotExports;
  /** Bodies (with their local declarations) of save and restore, both of type () -> (). */
  readonly saveBody: ByteWriter;
  readonly restoreBody: ByteWriter;
}

/**
 * Appends the shadow globals to `globals` (which already holds the instrumentation's own globals) and the
 * export entries to `exports` (function indices of save/restore are given by the caller, which appends them).
 */
export function buildSnapshotSupport(opts: {
  readonly originalGlobals: readonly Global[];
  readonly globals: Global[];
  readonly exports: Export[];
  readonly trapGlobal: number;
  readonly stackGlobal: number;
  readonly hasMemory: boolean;
  readonly saveFunc: number;
  readonly restoreFunc: number;
  readonly scan: SnapshotScan;
}): SnapshotBuild {
  const taken = new Set(opts.exports.map((e) => e.name));
  // one prefix for all shadows, chosen so that no shadow name can collide with an export of the contract
  let prefix = "__cairn_shadow_";
  for (let k = 1; [...taken].some((n) => n.startsWith(prefix)); k++) prefix = `__cairn_shadow${k}_`;

  const save = new ByteWriter(64).u32(0);
  const restore = new ByteWriter(64).u32(0);
  const shadows: string[] = [];
  opts.originalGlobals.forEach((g, index) => {
    if (!g.mutable) return;
    const wide = g.type === I64 || g.type === F64;
    const shadow = opts.globals.push({ type: wide ? I64 : I32, mutable: true, init: wide ? ZERO_I64 : ZERO_I32 }) - 1;
    const toBits = g.type === F32 ? 0xbc : g.type === F64 ? 0xbd : -1; // i32/i64.reinterpret_f32/f64
    const fromBits = g.type === F32 ? 0xbe : g.type === F64 ? 0xbf : -1; // f32/f64.reinterpret_i32/i64
    if (g.type !== I32 && g.type !== I64 && toBits < 0) {
      throw new VmError("internal", `global ${index} has a type instance reuse cannot snapshot`);
    }
    save.u8(0x23).u32(index);
    if (toBits >= 0) save.u8(toBits);
    save.u8(0x24).u32(shadow);
    restore.u8(0x23).u32(shadow);
    if (fromBits >= 0) restore.u8(fromBits);
    restore.u8(0x24).u32(index);
    const name = `${prefix}${index}`;
    taken.add(name);
    opts.exports.push({ name, kind: EXTERN_GLOBAL, index: shadow });
    shadows.push(name);
  });
  restore.u8(0x41).u8(0x00).u8(0x24).u32(opts.trapGlobal);
  restore.u8(0x41).u8(0x00).u8(0x24).u32(opts.stackGlobal);
  save.u8(0x0b);
  restore.u8(0x0b);

  const saveName = freshName("__cairn_save_globals", taken);
  const restoreName = freshName("__cairn_restore_globals", taken);
  opts.exports.push({ name: saveName, kind: EXTERN_FUNC, index: opts.saveFunc });
  opts.exports.push({ name: restoreName, kind: EXTERN_FUNC, index: opts.restoreFunc });
  let memory: string | null = null;
  if (opts.hasMemory) {
    memory = freshName("__cairn_memory", taken);
    opts.exports.push({ name: memory, kind: EXTERN_MEMORY, index: 0 });
  }
  return {
    exports: Object.freeze({
      reusable: !opts.scan.usesDataDrop,
      save: saveName,
      restore: restoreName,
      memory,
      shadows: Object.freeze(shadows),
    }),
    saveBody: save,
    restoreBody: restore,
  };
}
