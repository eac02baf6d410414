/**
 * Helpers to produce test modules: `wat()` through binaryen's text parser (all features enabled, so refused
 * features can be expressed), and a raw byte builder for modules binaryen would not write (malformed sections,
 * multi-value block types by index, odd encodings).
 */

import binaryen from "binaryen";

export function wat(text: string): Uint8Array {
  const mod = binaryen.parseText(text);
  try {
    mod.setFeatures(binaryen.Features.All);
    return mod.emitBinary();
  } finally {
    mod.dispose();
  }
}

export function u32(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

export function s32(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export function str(s: string): number[] {
  const b = Array.from(new TextEncoder().encode(s));
  return [...u32(b.length), ...b];
}

export function vec(items: number[][]): number[] {
  return [...u32(items.length), ...items.flat()];
}

export function section(id: number, content: number[]): number[] {
  return [id, ...u32(content.length), ...content];
}

export const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

export function moduleBytes(...sections: number[][]): Uint8Array {
  return new Uint8Array([...HEADER, ...sections.flat()]);
}

export function funcType(params: number[], results: number[]): number[] {
  return [0x60, ...vec(params.map((p) => [p])), ...vec(results.map((r) => [r]))];
}

/** A function body: local declarations [count, type][] and instruction bytes (the final `end` is added). */
export function body(locals: Array<[number, number]>, code: number[]): number[] {
  const inner = [...vec(locals.map(([n, t]) => [...u32(n), t])), ...code, 0x0b];
  return [...u32(inner.length), ...inner];
}

/** Module with the given types, one function per entry of `funcs` (type index + body), optional exports/memory. */
export function simpleModule(opts: {
  types: number[][];
  funcs: Array<{ type: number; body: number[] }>;
  exports?: Array<[string, number]>;
  memoryPages?: number;
}): Uint8Array {
  const sections: number[][] = [section(1, vec(opts.types))];
  sections.push(section(3, vec(opts.funcs.map((f) => u32(f.type)))));
  if (opts.memoryPages !== undefined) sections.push(section(5, vec([[0x00, ...u32(opts.memoryPages)]])));
  if (opts.exports) sections.push(section(7, vec(opts.exports.map(([n, i]) => [...str(n), 0x00, ...u32(i)]))));
  sections.push(section(10, vec(opts.funcs.map((f) => f.body))));
  return moduleBytes(...sections);
}
