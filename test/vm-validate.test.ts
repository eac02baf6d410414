import { describe, expect, it } from "vitest";
import { VmError } from "../vm/errors.ts";
import { prepareModule } from "../vm/instrument/index.ts";
import type { VmLimits } from "../vm/limits.ts";
import { validateModule } from "../vm/validate.ts";
import { engine } from "../vm/wasm/engine.ts";
import { FC_BASE, Imm, OPCODE_SPACE, OPS } from "../vm/wasm/opcodes.ts";
import { body, funcType, moduleBytes, section, simpleModule, str, u32, vec, wat } from "./vm-instrument-fixtures/wasm-build.ts";
import { Rng } from "./sim/prng.ts";

const I32 = 0x7f;
const I64 = 0x7e;

function rejection(wasm: Uint8Array, limits?: Partial<VmLimits>): VmError {
  try {
    validateModule(wasm, limits);
  } catch (e) {
    expect(e).toBeInstanceOf(VmError);
    expect((e as VmError).code).toBe("invalid_wasm");
    // prepareModule goes through the same validation
    expect(() => prepareModule(wasm, { limits })).toThrow(VmError);
    return e as VmError;
  }
  throw new Error("module was accepted");
}

function expectInvalid(wasm: Uint8Array, message: RegExp, limits?: Partial<VmLimits>): void {
  expect(rejection(wasm, limits).message).toMatch(message);
}

const okBody = body([], [0x41, 0x01, 0x1a]); // i32.const 1; drop

describe("validateModule accepts the Cairn profile", () => {
  it("summarizes imports, exports, methods, memory and start", () => {
    const summary = validateModule(
      wat(`(module
        (import "cairn" "get" (func $get (param i32 i32 i32 i32) (result i32)))
        (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
        (memory (export "memory") 2 10)
        (global $g (mut i32) (i32.const 0))
        (table 2 2 funcref)
        (elem (i32.const 0) $run $helper)
        (func $run (export "run") (drop (call $get (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0))))
        (func $helper (export "__cairn_prepare") (param i32) (result i32) (local.get 0))
        (func $init (global.set $g (i32.const 1)))
        (start $init))`),
    );
    expect(summary.imports).toEqual([{ module: "cairn", name: "get" }, { module: "env", name: "abort" }]);
    expect(summary.methods).toEqual(["run"]);
    expect(summary.exports.map((e) => e.kind)).toEqual(["memory", "function", "function"]);
    expect(summary.memory).toEqual({ initialPages: 2, maxPages: 10 });
    expect(summary.hasStart).toBe(true);
    expect(summary.functions).toBe(3);
  });

  it("accepts multi-value block types given by type index and keeps their behaviour", () => {
    // type 0: () -> i32 ; type 1: (i32 i32) -> (i32 i32)
    // f: i32.const 7; i32.const 5; block (type 1) [swap through locals-free trick: just pass through] end; i32.sub
    const m = simpleModule({
      types: [funcType([], [I32]), funcType([I32, I32], [I32, I32])],
      funcs: [{ type: 0, body: body([], [0x41, 7, 0x41, 5, 0x02, 0x01, 0x0b, 0x6b]) }],
      exports: [["f", 0]],
    });
    expect(validateModule(m).functions).toBe(1);
    const out = prepareModule(m);
    const inst = new engine.Instance(new engine.Module(out), {});
    (inst.exports.__cairn_gas as { value: bigint }).value = 100n;
    expect((inst.exports.f as () => number)()).toBe(2);
  });

  it("instruments if and loop blocks that take parameters (multi-value), keeping behaviour and exact gas", () => {
    // type 0: (i32) -> (i32) for the functions and the blocks
    const ifWithParam = body([], [0x41, 5, 0x20, 0, 0x04, 0x00, 0x41, 1, 0x6a, 0x0b]); // 5; if (type 0) (+1) end
    const loopWithParam = body([[1, I32]], [
      0x20, 0, 0x03, 0x00, 0x41, 1, 0x6a, 0x22, 1, 0x20, 1, 0x41, 20, 0x48, 0x0d, 0, 0x0b, // loop (type 0) ... br_if 0
    ]);
    const m = simpleModule({
      types: [funcType([I32], [I32])],
      funcs: [{ type: 0, body: ifWithParam }, { type: 0, body: loopWithParam }],
      exports: [["ifp", 0], ["loopp", 1]],
    });
    expect(engine.validate(m)).toBe(true);
    const inst = new engine.Instance(new engine.Module(prepareModule(m)), {});
    const gas = inst.exports.__cairn_gas as { value: bigint };
    const run = (fn: string, arg: number, limit: bigint): number | "oog" => {
      gas.value = limit;
      try {
        return (inst.exports[fn] as (x: number) => number)(arg);
      } catch {
        return "oog";
      }
    };
    for (const [fn, arg, want] of [["ifp", 0, 5], ["ifp", 1, 6], ["loopp", 3, 20], ["loopp", 30, 31]] as const) {
      expect(run(fn, arg, 1000n)).toBe(want);
      const need = 1000n - gas.value;
      expect(run(fn, arg, need)).toBe(want);
      expect(run(fn, arg, need - 1n)).toBe("oog");
    }
  });
});

describe("the opcode table agrees with V8", () => {
  it("every fixed-signature instruction validates, instruments and runs exactly as the engine says", () => {
    const zero: Record<number, number[]> = { [I32]: [0x41, 0], [I64]: [0x42, 0], [0x7d]: [0x43, 0, 0, 0, 0], [0x7c]: [0x44, 0, 0, 0, 0, 0, 0, 0, 0] };
    let checked = 0;
    for (let op = 0; op < OPCODE_SPACE; op++) {
      const info = OPS[op];
      if (!info || info.banned || !info.pops || !info.pushes) continue;
      const enc = op >= FC_BASE ? [0xfc, ...u32(op - FC_BASE)] : [op];
      const imm = info.imm === Imm.MemArg ? [info.align!, 0] : info.imm === Imm.MemZero ? [0] : info.imm === Imm.MemCopy ? [0, 0]
        : info.imm === Imm.MemInit || info.imm === Imm.Data ? [0, ...(info.imm === Imm.MemInit ? [0] : [])] : [];
      const consts = info.imm === Imm.I32Const || info.imm === Imm.I64Const || info.imm === Imm.F32Const || info.imm === Imm.F64Const;
      const code = [
        ...info.pops.flatMap((t) => zero[t]!),
        ...(consts ? zero[info.pushes[0]!]! : [...enc, ...imm]),
        ...info.pushes.map(() => 0x1a),
      ];
      const m = moduleBytes(
        section(1, vec([funcType([], [])])),
        section(3, vec([[0]])),
        section(5, vec([[0x00, 1]])),
        section(7, vec([[...str("f"), 0, 0]])),
        section(12, u32(1)),
        section(10, vec([body([], code)])),
        section(11, vec([[0x01, ...u32(1), 0x2a]])),
      );
      expect(engine.validate(m), info.name).toBe(true);
      const out = prepareModule(m);
      // the instrumented instruction behaves as the original (both trap or both return)
      const run = (bytes: Uint8Array) => {
        const ex = new engine.Instance(new engine.Module(bytes), {}).exports;
        if (ex.__cairn_gas) (ex.__cairn_gas as { value: bigint }).value = 1n << 40n;
        try {
          (ex.f as () => void)();
          return "ok";
        } catch (e) {
          return String(e);
        }
      };
      expect(run(out), info.name).toBe(run(m));
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(169);
    // structural ones without fixed signatures, in one body: nop, block, loop, if/else, br, br_if, br_table, drop, select
    const ctl = simpleModule({
      types: [funcType([], [I32])],
      funcs: [{ type: 0, body: body([[1, I32]], [
        0x01, 0x02, 0x40, 0x03, 0x40, 0x41, 0, 0x0d, 1, 0x0b, 0x0b, 0x41, 1, 0x04, 0x7f, 0x41, 2, 0x05, 0x41, 3, 0x0b,
        0x41, 4, 0x41, 0, 0x1b, 0x22, 0, 0x1a, 0x02, 0x40, 0x41, 0, 0x0e, 1, 0, 0, 0x0b, 0x20, 0,
      ]) }],
      exports: [["f", 0]],
    });
    expect(engine.validate(ctl)).toBe(true);
    const ex = new engine.Instance(new engine.Module(prepareModule(ctl)), {}).exports;
    (ex.__cairn_gas as { value: bigint }).value = 1000n;
    const plain = new engine.Instance(new engine.Module(ctl), {}).exports;
    expect((ex.f as () => number)()).toBe((plain.f as () => number)());
    expect((plain.f as () => number)()).toBe(4); // select(2, 4, 0) picks 4
  });
});

describe("validateModule rejects, naming what and where", () => {
  it("garbage, bad magic, bad version, too short", () => {
    expectInvalid(new Uint8Array([]), /too short/);
    expectInvalid(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), /bad magic/);
    expectInvalid(new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]), /unsupported Wasm version/);
    expectInvalid(new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]), /unsupported Wasm version/); // component
    expect(() => validateModule("not bytes" as unknown as Uint8Array)).toThrow(VmError);
  });

  it("truncated and inconsistent sections", () => {
    const good = simpleModule({ types: [funcType([], [])], funcs: [{ type: 0, body: okBody }] });
    expect(validateModule(good).functions).toBe(1);
    expectInvalid(good.subarray(0, good.length - 3), /truncated|unexpected end/);
    expectInvalid(moduleBytes([1, 0x05, 0x01, 0x60, 0x00, 0x00]), /truncated/);
    expectInvalid(moduleBytes(section(1, [...vec([funcType([], [])]), 0x00])), /trailing bytes/);
    expectInvalid(moduleBytes(section(99, [0])), /unknown section id 99/);
    expectInvalid(moduleBytes(section(1, vec([])), section(1, vec([]))), /type section is duplicated or out of order/);
    expectInvalid(moduleBytes(section(3, vec([])), section(1, vec([]))), /out of order/);
    expectInvalid(moduleBytes(section(1, vec([funcType([], [])])), section(3, vec([[0]]))), /no code section/);
    expectInvalid(
      moduleBytes(section(1, vec([funcType([], [])])), section(3, vec([[0], [0]])), section(10, vec([okBody]))),
      /code section has 1 bodies but the function section declares 2/,
    );
    // a u32 LEB128 longer than 5 bytes
    expectInvalid(moduleBytes([1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), /LEB128/);
  });

  it("modules over the size limit", () => {
    const m = simpleModule({ types: [funcType([], [])], funcs: [{ type: 0, body: okBody }] });
    expectInvalid(m, new RegExp(`module is ${m.length} bytes, over the limit of 20`), { maxModuleBytes: 20 });
  });

  it("imports other than the host functions, and host functions with the wrong type", () => {
    expectInvalid(wat(`(module (import "env" "seed" (func (result i32))))`), /import env\.seed is not a Cairn host function/);
    expectInvalid(wat(`(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))))`), /wasi_snapshot_preview1\.fd_write/);
    expectInvalid(wat(`(module (import "cairn" "get" (func (param i32 i32) (result i32))))`), /import cairn\.get has type \(i32,i32\)->\(i32\), expected \(i32,i32,i32,i32\)->\(i32\)/);
    expectInvalid(wat(`(module (import "env" "memory" (memory 1)))`), /"env"\."memory": importing a memory is not allowed/);
    expectInvalid(wat(`(module (import "env" "g" (global i32)))`), /"env"\."g": importing a global is not allowed/);
    expectInvalid(wat(`(module (import "env" "t" (table 1 1 funcref)))`), /importing a table is not allowed/);
  });

  it("threads and atomics", () => {
    expectInvalid(wat(`(module (memory 1 2 shared))`), /memory 0: shared memory \(threads\) is not allowed/);
    expectInvalid(
      wat(`(module (memory 1 2) (func $f (export "f") (result i32) (i32.atomic.load (i32.const 0))))`),
      /function 0 \(export "f"\): threads\/atomics instruction \(0xfe prefix\) is not allowed/,
    );
  });

  it("SIMD instructions and v128 values", () => {
    expectInvalid(
      wat(`(module (func (export "g") (result i32) (i32x4.extract_lane 0 (v128.const i32x4 1 2 3 4))))`),
      /function 0 \(export "g"\): SIMD instruction \(0xfd prefix\) is not allowed/,
    );
    expectInvalid(wat(`(module (func (param v128)))`), /type 0 parameter 0: SIMD value type v128 is not allowed/);
    expectInvalid(wat(`(module (global v128 (v128.const i64x2 0 0)))`), /global 0: SIMD value type v128/);
  });

  it("reference types: values, instructions, extra tables, table element types", () => {
    expectInvalid(wat(`(module (func (param externref)))`), /reference type externref is not allowed/);
    expectInvalid(wat(`(module (func (result i32) (ref.is_null (ref.null func))))`), /ref\.null is not allowed \(reference types\)/);
    expectInvalid(wat(`(module (table 1 1 funcref) (func (drop (table.get 0 (i32.const 0)))))`), /table\.get is not allowed/);
    expectInvalid(wat(`(module (table 1 1 funcref) (func (export "s") (result i32) (table.size 0)))`), /function 0 \(export "s"\): table\.size is not allowed/);
    expectInvalid(wat(`(module (table $a 1 1 funcref) (table $b 1 1 funcref))`), /2 tables declared: at most one table/);
    expectInvalid(wat(`(module (table 1 1 externref))`), /table 0: element type externref is not allowed/);
    expectInvalid(wat(`(module (table 2 2 funcref) (func $f) (elem declare func $f) (func (drop (ref.func $f))))`), /element segment 0: only active function-index segments/);
  });

  it("tables that can grow", () => {
    expectInvalid(wat(`(module (table 1 funcref))`), /table 0 can grow \(min 1, max none\)/);
    expectInvalid(wat(`(module (table 1 4 funcref))`), /table 0 can grow \(min 1, max 4\)/);
    expectInvalid(wat(`(module (table 20000 20000 funcref))`), /20000 entries, over the limit/);
  });

  it("more than one memory, memory above the cap, data beyond memory", () => {
    expectInvalid(wat(`(module (memory $a 1) (memory $b 1))`), /2 memories declared/);
    expectInvalid(wat(`(module (memory 300))`), /initial size 300 pages exceeds the cap of 256 pages/);
    expectInvalid(wat(`(module (memory 3))`), /exceeds the cap of 2 pages/, { maxMemoryPages: 2 });
    expectInvalid(wat(`(module (memory 1) (data (i32.const 65530) "0123456789"))`), /data segment 0: bytes \[65530, 65540\) lie beyond the initial memory of 1 pages/);
    expectInvalid(wat(`(module (table 1 1 funcref) (func $f) (elem (i32.const 1) $f))`), /element segment 0: entries \[1, 2\) lie outside the table of 1/);
  });

  it("unknown and refused opcodes, naming the function", () => {
    // 0xff is not an opcode
    const m = simpleModule({ types: [funcType([], [])], funcs: [{ type: 0, body: okBody }, { type: 0, body: body([], [0xff]) }], exports: [["bad", 1]] });
    expectInvalid(m, /function 1 \(export "bad"\): unknown opcode 0xff \(at byte \d+\)/);
    const fc = simpleModule({ types: [funcType([], [])], funcs: [{ type: 0, body: body([], [0xfc, ...u32(99)]) }] });
    expectInvalid(fc, /function 0: unknown opcode 0xfc 99/);
    expectInvalid(wat(`(module (func $f (return_call $f)))`), /return_call is not allowed \(tail calls\)/);
    expectInvalid(wat(`(module (tag $e) (func (throw $e)))`), /tag section \(exception handling\) is not allowed/);
  });

  it("bodies that do not parse or do not type-check", () => {
    const f = (code: number[], results: number[] = [], locals: Array<[number, number]> = []) =>
      simpleModule({ types: [funcType([], results)], funcs: [{ type: 0, body: body(locals, code) }] });
    expectInvalid(f([0x42, 0x01, 0x41, 0x01, 0x6a, 0x1a]), /function 0: type mismatch: expected i32, found i64/);
    expectInvalid(f([0x6a]), /operand stack underflow/);
    expectInvalid(f([0x41, 0x01]), /1 values left on the stack at end of block/);
    expectInvalid(f([], [I32]), /operand stack underflow: expected i32/);
    expectInvalid(f([0x20, 0x05, 0x1a], [], [[2, I32]]), /local 5 does not exist \(2 locals\)/);
    expectInvalid(f([0x0c, 0x03]), /branch depth 3 is out of range/);
    expectInvalid(f([0x10, 0x07]), /call to function 7 which does not exist/);
    expectInvalid(f([0x23, 0x00, 0x1a]), /global 0 does not exist/);
    expectInvalid(f([0x41, 0x00, 0x28, 0x02, 0x00, 0x1a]), /i32\.load without a memory/);
    expectInvalid(f([0x05]), /else without a matching if/);
    // missing final end: body bytes stop before it
    const noEnd = moduleBytes(section(1, vec([funcType([], [])])), section(3, vec([[0]])), section(10, vec([[3, 0x00, 0x41, 0x01]])));
    expectInvalid(noEnd, /function body ends without its final `end`|unexpected end/);
    // bytes after the final end
    const trailing = moduleBytes(section(1, vec([funcType([], [])])), section(3, vec([[0]])), section(10, vec([[4, 0x00, 0x0b, 0x01, 0x0b]])));
    expectInvalid(trailing, /bytes after the function's final end/);
    // a value-type block type written as a two-byte s33 (valid LEB128, but not a valtype byte)
    expectInvalid(f([0x02, 0xff, 0x7f, 0x41, 1, 0x0b, 0x1a]), /block type: a value type must be a single byte/);
    // misaligned access
    const mem = simpleModule({ types: [funcType([], [])], funcs: [{ type: 0, body: body([], [0x41, 0x00, 0x28, 0x03, 0x00, 0x1a]) }], memoryPages: 1 });
    expectInvalid(mem, /i32\.load alignment 2\^3 exceeds the natural alignment 2\^2/);
    // memory.init without data count section
    const init = simpleModule({ types: [funcType([], [])], funcs: [{ type: 0, body: body([], [0x41, 0, 0x41, 0, 0x41, 0, 0xfc, 8, 0, 0]) }], memoryPages: 1 });
    expectInvalid(init, /memory\.init requires a data count section/);
  });

  it("functions with more than one result", () => {
    expectInvalid(
      wat(`(module (func $two (export "two") (result i32 i32) (i32.const 1) (i32.const 2)))`),
      /function 0 \(export "two"\) returns 2 values: functions with more than one result are not allowed/,
    );
  });

  it("per-function limits: locals, functions, body size, frame size, nesting", () => {
    const many = simpleModule({ types: [funcType([], [])], funcs: [{ type: 0, body: body([[5000, I64]], []) }] });
    expectInvalid(many, /function 0: params \+ locals exceed the limit of 4000/);
    const funcs = simpleModule({ types: [funcType([], [])], funcs: Array.from({ length: 11 }, () => ({ type: 0, body: okBody })) });
    expectInvalid(funcs, /11 functions exceed the limit of 10/, { maxFunctions: 10 });
    const big = simpleModule({ types: [funcType([], [])], funcs: [{ type: 0, body: body([], Array(300).fill(0x01)) }] });
    expectInvalid(big, /function 0: body of 302 bytes exceeds the limit of 100/, { maxBodyBytes: 100 });
    const frame = simpleModule({ types: [funcType([], [])], funcs: [{ type: 0, body: body([[3000, I64]], []) }] });
    expectInvalid(frame, /function 0: frame of 3012 stack units .* exceeds the limit of 1000/, { maxFrameUnits: 1000 });
    const nested = simpleModule({ types: [funcType([], [])], funcs: [{ type: 0, body: body([], [...Array(40).fill([0x02, 0x40]).flat(), ...Array(40).fill(0x0b)]) }] });
    expectInvalid(nested, /nested deeper than the limit of 10/, { maxBlockDepth: 10 });
    const params = wat(`(module (func (param ${"i32 ".repeat(600)})))`);
    expectInvalid(params, /type 0: 600 parameters exceed the limit of 500/);
  });

  it("reserved export names and a start function with a signature", () => {
    expectInvalid(wat(`(module (global (export "__cairn_gas") i32 (i32.const 0)))`), /export "__cairn_gas": the name is reserved/);
    expectInvalid(wat(`(module (func $s (param i32)) (start $s))`), /start function 0 has type \(i32\)->\(\), expected \(\)->\(\)/);
    const dup = moduleBytes(
      section(1, vec([funcType([], [])])),
      section(3, vec([[0]])),
      section(7, vec([[...str("x"), 0, 0], [...str("x"), 0, 0]])),
      section(10, vec([okBody])),
    );
    expectInvalid(dup, /export "x" is duplicated/);
  });

  it("names must be valid UTF-8", () => {
    const bad = moduleBytes(section(1, vec([funcType([], [])])), section(2, [...u32(1), ...str("cairn"), 2, 0xc3, 0x28, 0x00, 0x00]));
    expectInvalid(bad, /name is not valid UTF-8/);
  });
});


describe("hostile bytes never escape as anything but VmError", () => {
  const seedModule = wat(`(module
    (import "cairn" "get" (func $get (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1 4)
    (global $g (mut i32) (i32.const 0))
    (table 2 2 funcref)
    (elem (i32.const 0) $a $b)
    (data (i32.const 16) "hello")
    (func $a (export "a") (param i32) (result i32)
      (local i64 f64)
      (local.set 1 (i64.extend_i32_s (local.get 0)))
      (local.set 2 (f64.sqrt (f64.convert_i64_s (local.get 1))))
      (block $out (loop $l
        (br_if $out (i32.eqz (local.get 0)))
        (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
        (global.set $g (i32.add (global.get $g) (i32.load8_u (i32.const 16))))
        (br $l)))
      (if (result i32) (f64.lt (local.get 2) (f64.const 3)) (then (global.get $g)) (else (call_indirect (param i32) (result i32) (i32.const 7) (i32.const 1)))))
    (func $b (param i32) (result i32)
      (memory.fill (i32.const 0) (i32.const 1) (local.get 0))
      (drop (memory.grow (i32.const 1)))
      (block (block (br_table 0 1 (local.get 0))))
      (call $get (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 0))))`);

  it("the seed module is accepted", () => {
    expect(validateModule(seedModule).functions).toBe(2);
  });

  function check(bytes: Uint8Array): "accepted" | "rejected" {
    let out: Uint8Array;
    try {
      out = prepareModule(bytes);
    } catch (e) {
      if (!(e instanceof VmError)) throw new Error(`non-VmError escaped: ${String(e)}`);
      expect(e.code).toBe("invalid_wasm");
      return "rejected";
    }
    // our profile is a subset of what V8 accepts: anything we accept must be valid to V8, before and after
    expect(engine.validate(bytes)).toBe(true);
    expect(() => new engine.Module(out)).not.toThrow();
    return "accepted";
  }

  it("every truncation of a valid module", () => {
    for (let n = 0; n < seedModule.length; n++) check(seedModule.subarray(0, n));
  });

  it("random garbage", () => {
    const rng = new Rng(7);
    const next = (): number => rng.u32();
    let rejected = 0;
    for (let i = 0; i < 500; i++) {
      const len = next() % 200;
      const b = new Uint8Array(len);
      for (let k = 0; k < len; k++) b[k] = next() & 0xff;
      if (i % 2 === 0 && len >= 8) b.set([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
      if (check(b) === "rejected") rejected++;
    }
    // only the header-only (empty) modules can be valid
    expect(rejected).toBeGreaterThan(490);
  });

  it("3000 seeded mutations of a valid module: VmError or a module V8 compiles", () => {
    const rng = new Rng(20260721);
    const next = (): number => rng.u32();
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const b = Array.from(seedModule);
      const edits = 1 + (next() % 3);
      for (let e = 0; e < edits; e++) {
        const pos = 8 + (next() % (b.length - 8));
        const kind = next() % 5;
        if (kind === 0) b[pos] = next() & 0xff;
        else if (kind === 1) b[pos] ^= 1 << (next() % 8);
        else if (kind === 2) b[pos] = [0x00, 0x0b, 0x7f, 0x80, 0xff, 0x41, 0x10, 0x20][next() % 8]!;
        else if (kind === 3) b.splice(pos, 0, next() & 0xff);
        else b.splice(pos, 1);
      }
      if (check(Uint8Array.from(b)) === "accepted") accepted++;
    }
    // both outcomes must actually occur, or the fuzz is not exercising anything
    expect(accepted).toBeGreaterThan(50);
    expect(accepted).toBeLessThan(3000);
  });

  it("when V8 rejects a mutated module, so do we", () => {
    const rng = new Rng(99);
    const next = (): number => rng.u32();
    for (let i = 0; i < 1500; i++) {
      const b = Uint8Array.from(seedModule);
      const pos = 8 + (next() % (b.length - 8));
      b[pos] = next() & 0xff;
      if (!engine.validate(b)) expect(check(b)).toBe("rejected");
    }
  });
});
