/**
 * Recursive test modules of different frame shapes for the stack-depth test (built in the parent process).
 */

import { wat } from "./wasm-build.ts";

export interface Shape {
  name: string;
  params: number; // extra i64 params passed down
  locals: number; // i64 locals loaded from memory before the call, used after it
  operands: number; // values on the operand stack across the call
  products: number; // pure products recomputed after the call (TurboFan value numbering keeps them live)
}

export const SHAPES: Shape[] = [
  { name: "small", params: 0, locals: 0, operands: 0, products: 0 },
  { name: "locals300", params: 0, locals: 300, operands: 0, products: 0 },
  { name: "params200", params: 200, locals: 0, operands: 0, products: 0 },
  { name: "operands100", params: 0, locals: 0, operands: 100, products: 0 },
  { name: "gvn200", params: 0, locals: 0, operands: 0, products: 200 },
];

export function moduleFor(s: Shape): Uint8Array {
  const ps = Array.from({ length: s.params }, (_, i) => `(param $p${i} i64)`).join(" ");
  const ls = Array.from({ length: s.locals }, (_, i) => `(local $l${i} i64)`).join(" ");
  let pre = "";
  for (let i = 0; i < s.locals; i++) pre += `(local.set $l${i} (i64.load offset=${8 * i} (i32.const 0)))\n`;
  let mix = "(local.get $a)";
  for (let i = 0; i < s.products; i++) mix = `(i64.xor ${mix} (i64.mul (local.get $a) (i64.const ${i + 3})))`;
  const args = [
    "(i32.add (local.get $d) (i32.const 1))",
    "(local.get $max)",
    ...Array.from({ length: s.params }, (_, i) => `(i64.add (local.get $p${i}) (i64.const 1))`),
  ].join(" ");
  let expr = `(call $f ${args})`;
  for (let i = 0; i < s.operands; i++) expr = `(i64.add (i64.load offset=${8 * i} (i32.const 8)) ${expr})`;
  for (let i = 0; i < s.locals; i++) expr = `(i64.add ${expr} (local.get $l${i}))`;
  for (let i = 0; i < s.params; i++) expr = `(i64.add ${expr} (local.get $p${i}))`;
  for (let i = 0; i < s.products; i++) expr = `(i64.add ${expr} (i64.mul (local.get $a) (i64.const ${i + 3})))`;
  return wat(`(module
    (import "cairn" "get" (func $get (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (global $depth (mut i32) (i32.const 0))
    (func (export "depth") (result i32) (global.get $depth))
    (func $f (export "f") (param $d i32) (param $max i32) ${ps} (result i64) (local $a i64) ${ls}
      (global.set $depth (local.get $d))
      (if (i32.ge_u (local.get $d) (local.get $max)) (then (return (i64.const 1))))
      (drop (call $get (i32.const 0) (i32.const 32) (i32.const 0) (i32.const 0)))
      (local.set $a (i64.load (i32.const 16)))
      (i64.store (i32.const 24) ${mix})
      ${pre}
      ${expr}))`);
}


export interface ShapeModule {
  readonly name: string;
  readonly params: number;
  /** base64 of the uninstrumented module */
  readonly wasm: string;
}

export function shapeModules(): ShapeModule[] {
  return SHAPES.map((s) => ({ name: s.name, params: s.params, wasm: Buffer.from(moduleFor(s)).toString("base64") }));
}
