/**
 * Encoding helpers for writing a module back to the binary format.
 */

import { ByteWriter } from "./bytes.ts";
import type { Export, FuncType, Global, Limits } from "./types.ts";

export const WASM_HEADER = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

export function writeSection(out: ByteWriter, id: number, content: ByteWriter | Uint8Array): void {
  const bytes = content instanceof ByteWriter ? content.finish() : content;
  out.u8(id).u32(bytes.length).bytes(bytes);
}

export function encodeTypes(types: readonly FuncType[]): ByteWriter {
  const w = new ByteWriter(16 + types.length * 8);
  w.u32(types.length);
  for (const t of types) {
    w.u8(0x60).u32(t.params.length);
    for (const p of t.params) w.u8(p);
    w.u32(t.results.length);
    for (const r of t.results) w.u8(r);
  }
  return w;
}

export function encodeLimits(w: ByteWriter, l: Limits): void {
  if (l.max === undefined) w.u8(0x00).u32(l.min);
  else w.u8(0x01).u32(l.min).u32(l.max);
}

export function encodeGlobals(globals: readonly Global[]): ByteWriter {
  const w = new ByteWriter(16 + globals.length * 8);
  w.u32(globals.length);
  for (const g of globals) w.u8(g.type).u8(g.mutable ? 1 : 0).bytes(g.init);
  return w;
}

export function encodeExports(exports: readonly Export[]): ByteWriter {
  const w = new ByteWriter(16 + exports.length * 16);
  w.u32(exports.length);
  for (const e of exports) w.name(e.name).u8(e.kind).u32(e.index);
  return w;
}

export function encodeU32Vector(values: readonly number[]): ByteWriter {
  const w = new ByteWriter(8 + values.length * 2);
  w.u32(values.length);
  for (const v of values) w.u32(v);
  return w;
}
