import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_GAS_SCHEDULE, type GasSchedule } from "../vm/gas.ts";
import { prepareModule } from "../vm/instrument/index.ts";
import { analyzeModule } from "../vm/validate.ts";
import { engine } from "../vm/wasm/engine.ts";
import { compileAs } from "./vm-instrument-fixtures/asc.ts";
import { instantiate, instantiatePlain } from "./vm-instrument-fixtures/harness.ts";
import { wat } from "./vm-instrument-fixtures/wasm-build.ts";

const S = DEFAULT_GAS_SCHEDULE;
const C = S.instr;
const BIG = 1n << 50n;

describe("AssemblyScript output keeps its behaviour", () => {
  const source = readFileSync(new URL("./vm-instrument-fixtures/contract.as", import.meta.url), "utf8");
  const builds: Array<{ name: string; wasm: Uint8Array }> = [];

  beforeAll(async () => {
    builds.push({ name: "stub runtime", wasm: await compileAs(source, ["-O3", "--runtime", "stub"]) });
    builds.push({ name: "incremental GC", wasm: await compileAs(source, ["-O3"]) });
  }, 60_000);

  const calls: Array<[string, unknown[]]> = [
    ["getSeed", []], ["sumTo", [0]], ["sumTo", [1000]], ["sortChecksum", [300]], ["fib", [18]],
    ...[0, 1, 2, 3, 4, 5, 6, -3].map((n): [string, unknown[]] => ["classify", [n]]),
    ["viaPointer", [1, 21]], ["viaPointer", [0, 21]], ["floats", [2]], ["floats", [1234.5]], ["floats", [-1]],
    ["text", [40]], ["hostLoop", [25]], ["bulk", [1000]],
  ];

  it("round-trips both builds and every call returns what the uninstrumented module returns", () => {
    for (const { name, wasm } of builds) {
      const out = prepareModule(wasm);
      expect(engine.validate(out), name).toBe(true);
      const plain = instantiatePlain(wasm); // runs its start function at instantiation
      const metered = instantiate(out);
      expect(metered.start(BIG).status, name).toBe("ok");
      for (const [fn, args] of calls) {
        const want = (plain[fn] as (...a: unknown[]) => unknown)(...args);
        const got = metered.call(fn, BIG, ...args);
        expect(got.status, `${name} ${fn}(${args.join(",")})`).toBe("ok");
        expect(Object.is(got.value, want) || got.value === want, `${name} ${fn}(${args.join(",")}) = ${String(got.value)} want ${String(want)}`).toBe(true);
        expect(got.gasUsed).toBeGreaterThan(0n);
      }
    }
  });

  it("is deterministic: same bytes in, same bytes out; gas is the same on every run", () => {
    const { wasm } = builds[0]!;
    expect(Buffer.from(prepareModule(wasm)).equals(Buffer.from(prepareModule(Uint8Array.from(wasm))))).toBe(true);
    const a = instantiate(prepareModule(wasm));
    const b = instantiate(prepareModule(wasm));
    a.start(BIG);
    b.start(BIG);
    for (const [fn, args] of calls) expect(a.call(fn, BIG, ...args).gasUsed).toBe(b.call(fn, BIG, ...args).gasUsed);
  });

  it("runs out of gas on real code with gasUsed == limit and succeeds with exactly enough", () => {
    const inst = instantiate(prepareModule(builds[1]!.wasm));
    inst.start(BIG);
    const need = inst.call("sortChecksum", BIG, 200).gasUsed;
    const exact = inst.call("sortChecksum", need, 200);
    expect(exact.status).toBe("ok");
    expect(exact.gasUsed).toBe(need);
    for (const limit of [need - 1n, need / 2n, 10n]) {
      const r = inst.call("sortChecksum", limit, 200);
      expect(r.status).toBe("out_of_gas");
      expect(r.gasUsed).toBe(limit);
    }
  });

  it("every call succeeds with exactly the gas it uses and runs out with one less", () => {
    for (const { name, wasm } of builds) {
      const inst = instantiate(prepareModule(wasm));
      inst.start(BIG);
      for (const [fn, args] of calls) {
        const need = inst.call(fn, BIG, ...args).gasUsed;
        expect(inst.call(fn, need, ...args), `${name} ${fn}`).toMatchObject({ status: "ok", gasUsed: need });
        expect(inst.call(fn, need - 1n, ...args), `${name} ${fn}`).toMatchObject({ status: "out_of_gas", gasUsed: need - 1n });
      }
    }
  });

  it("host calls charge the shared gas counter", () => {
    const inst = instantiate(prepareModule(builds[0]!.wasm));
    inst.start(BIG);
    const g0 = inst.call("hostLoop", BIG, 0).gasUsed;
    const g10 = inst.call("hostLoop", BIG, 10).gasUsed;
    // each host call costs at least its base + 4 key bytes on top of the wasm instructions around it
    expect(g10 - g0).toBeGreaterThan(10n * BigInt(S.hostCallBase + 4 * S.hostPerByte));
    expect(inst.call("hostLoop", BigInt(S.hostCallBase), 10).status).toBe("out_of_gas");
  });
});

describe("gas counts", () => {
  const m = instantiate(
    prepareModule(
      wat(`(module
        (import "cairn" "get" (func $get (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "hostThenIf") (param i32) (result i32)
          (drop (call $get (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
          (if (result i32) (local.get 0) (then (i32.div_s (i32.div_s (i32.const 100) (local.get 0)) (local.get 0))) (else (i32.const 7))))
        (func (export "straight") (result i32)
          (i32.add (i32.mul (i32.const 3) (i32.const 4)) (i32.load (i32.const 0))))
        (func (export "branchy") (param i32) (result i32)
          (i32.add (if (result i32) (local.get 0) (then (i32.div_s (i32.const 100) (local.get 0))) (else (i32.const 7))) (i32.const 1)))
        (func (export "guard") (param i32) (result i32)
          (if (local.get 0) (then (local.set 0 (i32.mul (local.get 0) (i32.const 3)))))
          (local.get 0))
        (func (export "countdown") (param i32) (result i32) (local i32)
          (block $b (loop $l
            (br_if $b (i32.eqz (local.get 0)))
            (local.set 1 (i32.add (local.get 1) (local.get 0)))
            (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
            (br $l)))
          (local.get 1))
        (func (export "countup") (param i32) (result i32) (local i32)
          (loop $l (if (i32.lt_s (local.get 1) (local.get 0)) (then (local.set 1 (i32.add (local.get 1) (i32.const 1))) (br $l))))
          (local.get 1))
        (func $callee (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
        (func (export "caller") (result i32) (call $callee (i32.const 1)))
        (func (export "spin") (loop $l (br $l)))
        (table 1 1 funcref)
        (func (export "badIndirect") (result i32)
          (i32.add (i32.mul (i32.const 3) (i32.const 3)) (call_indirect (result i32) (i32.const 5))))
        (func $rec (export "rec") (param i32) (result i32) (call $rec (i32.add (local.get 0) (i32.const 1)))))`),
    ),
  );

  it("straight-line code costs exactly the sum of its instructions", () => {
    const cost = 3 * C.simple + C.intMul + C.load + C.simple; // 3 consts, mul, load, add
    const r = m.call("straight", BIG);
    expect(r).toMatchObject({ status: "ok", gasUsed: BigInt(cost) });
    expect(m.call("straight", BigInt(cost)).status).toBe("ok");
    expect(m.call("straight", BigInt(cost - 1))).toMatchObject({ status: "out_of_gas", gasUsed: BigInt(cost - 1) });
    expect(m.call("straight", 0n)).toMatchObject({ status: "out_of_gas", gasUsed: 0n });
  });

  it("if/else charges exactly the path taken", () => {
    const head = C.simple + C.branch; // local.get, if
    const tail = C.simple + C.simple; // i32.const 1, i32.add
    const taken = head + (C.simple + C.simple + C.intDiv) + tail;
    const notTaken = head + C.simple + tail;
    expect(m.call("branchy", BIG, 5)).toMatchObject({ status: "ok", value: 21, gasUsed: BigInt(taken) });
    expect(m.call("branchy", BIG, 0)).toMatchObject({ status: "ok", value: 8, gasUsed: BigInt(notTaken) });
    // the taken arm's cost is charged with the condition; the other arm must get it back before any check
    expect(m.call("branchy", BigInt(notTaken), 0).status).toBe("ok");
    expect(m.call("branchy", BigInt(taken), 5).status).toBe("ok");
    expect(m.call("branchy", BigInt(taken - 1), 5).status).toBe("out_of_gas");
    const guardNo = C.simple + C.branch + C.simple;
    const guardYes = guardNo + 4 * C.simple - C.simple + C.intMul; // get, const, mul, set
    expect(m.call("guard", BIG, 0)).toMatchObject({ value: 0, gasUsed: BigInt(guardNo) });
    expect(m.call("guard", BIG, 2)).toMatchObject({ value: 6, gasUsed: BigInt(guardYes) });
  });

  it("a host call sees only gas for code that will run (no charge hoisted across it)", () => {
    for (const arg of [0, 3]) {
      const need = m.call("hostThenIf", BIG, arg).gasUsed;
      expect(m.call("hostThenIf", need, arg)).toMatchObject({ status: "ok", gasUsed: need });
      expect(m.call("hostThenIf", need - 1n, arg)).toMatchObject({ status: "out_of_gas", gasUsed: need - 1n });
    }
  });

  it("loops charge exactly per iteration", () => {
    // countdown: head run = local.get, eqz, br_if; body = 8 simple + br; after the block: local.get
    const iter = 3 * C.simple + C.branch - C.simple + 8 * C.simple + C.branch; // get, eqz, br_if | body, br
    const exit = 2 * C.simple + C.branch;
    for (const n of [0, 1, 10, 1000]) {
      expect(m.call("countdown", BIG, n)).toMatchObject({ value: (n * (n + 1)) / 2, gasUsed: BigInt(n * iter + exit + C.simple) });
    }
    // countup (the AssemblyScript loop shape): head = get, get, lt_s, if; body = get, const, add, set, br
    const head = 3 * C.simple + C.branch;
    const body = 4 * C.simple + C.branch;
    for (const n of [0, 1, 7, 500]) {
      const want = n * (head + body) + head + C.simple;
      expect(m.call("countup", BIG, n)).toMatchObject({ value: n, gasUsed: BigInt(want) });
      expect(m.call("countup", BigInt(want), n).status).toBe("ok");
      expect(m.call("countup", BigInt(want - 1), n)).toMatchObject({ status: "out_of_gas", gasUsed: BigInt(want - 1) });
    }
  });

  it("calls charge caller and callee", () => {
    expect(m.call("caller", BIG)).toMatchObject({ value: 2, gasUsed: BigInt(C.simple + C.call + 3 * C.simple) });
  });

  it("an infinite loop ends out of gas with gasUsed == limit and 0 left", () => {
    for (const limit of [1n, 1000n, 123_457n]) {
      const r = m.call("spin", limit);
      expect(r).toMatchObject({ status: "out_of_gas", gasUsed: limit });
      expect((m.exports.__cairn_gas as { value: bigint }).value).toBe(0n);
      expect((m.exports.__cairn_trap as { value: number }).value).toBe(1);
    }
  });

  it("infinite recursion with little gas runs out of gas before the stack limit", () => {
    expect(m.call("rec", 5000n, 0)).toMatchObject({ status: "out_of_gas", gasUsed: 5000n });
    expect(m.call("rec", BIG, 0).status).toBe("stack_overflow");
  });

  it("no trap ever reports more gas used than the limit", () => {
    const toStackLimit = m.call("rec", BIG, 0).gasUsed;
    for (let limit = toStackLimit - 12n; limit <= toStackLimit + 3n; limit++) {
      const r = m.call("rec", limit, 0);
      expect(["out_of_gas", "stack_overflow"]).toContain(r.status);
      expect(r.gasUsed <= limit).toBe(true);
      if (r.status === "out_of_gas") expect(r.gasUsed).toBe(limit);
    }
    // call_indirect traps (bad index) before any callee could check the balance: the caller checks first
    expect(m.call("badIndirect", BIG).status).toBe("trap");
    const need = BigInt(4 * C.simple + C.intMul + C.callIndirect); // 3 consts, mul, call_indirect, add
    expect(m.call("badIndirect", need).status).toBe("trap");
    expect(m.call("badIndirect", need - 1n)).toMatchObject({ status: "out_of_gas", gasUsed: need - 1n });
  });

  it("uses the schedule it is given", () => {
    const doubled: GasSchedule = { ...S, instr: { ...C, simple: 2 * C.simple } };
    const d = instantiate(prepareModule(wat(`(module (func (export "f") (result i32) (i32.add (i32.const 1) (i32.const 2))))`), { schedule: doubled }));
    expect(d.call("f", BIG).gasUsed).toBe(BigInt(3 * 2 * C.simple));
    expect(() => prepareModule(wat(`(module)`), { schedule: { ...S, instr: { ...C, branch: 0 } } })).toThrow(/branch must be >= 1/);
    const { load: _dropped, ...partial } = C;
    expect(() => prepareModule(wat(`(module)`), { schedule: { ...S, instr: partial as typeof C } })).toThrow(/instr\.load = undefined/);
    expect(() => prepareModule(wat(`(module)`), { schedule: { ...S, hostPerByte: 1.5 } })).toThrow(/hostPerByte = 1\.5/);
  });
});

describe("memory growth, bulk memory and the memory cap", () => {
  const src = (mem: string) =>
    wat(`(module
      (memory (export "memory") ${mem})
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
      (func (export "size") (result i32) (memory.size))
      (func (export "fill") (param i32) (memory.fill (i32.const 0) (i32.const 7) (local.get 0)))
      (func (export "copy") (param i32) (memory.copy (i32.const 100) (i32.const 0) (local.get 0))))`);

  it("memory.grow is charged per requested page, before growing, also when it fails", () => {
    const m = instantiate(prepareModule(src("1 100"), { limits: { maxMemoryPages: 4 } }));
    const cost = (pages: number) => BigInt(C.simple + C.memoryGrow + pages * S.memoryGrowPerPage);
    expect(m.call("grow", BIG, 2)).toMatchObject({ status: "ok", value: 1, gasUsed: cost(2) });
    expect(m.call("grow", BIG, 2)).toMatchObject({ status: "ok", value: -1, gasUsed: cost(2) }); // 5 > 4 pages
    expect(m.call("grow", BIG, 1)).toMatchObject({ status: "ok", value: 3, gasUsed: cost(1) });
    // the module said max 100; the cap of 4 pages wins, and growing past it returns -1 as Wasm specifies
    expect(m.call("grow", BIG, 1)).toMatchObject({ status: "ok", value: -1, gasUsed: cost(1) });
    expect(m.call("grow", BIG, 70000)).toMatchObject({ status: "ok", value: -1, gasUsed: cost(70000) });
    expect(m.call("size", BIG).value).toBe(4);
    const poor = instantiate(prepareModule(src("1"), { limits: { maxMemoryPages: 4 } }));
    expect(poor.call("grow", cost(2) - 1n, 2)).toMatchObject({ status: "out_of_gas", gasUsed: cost(2) - 1n });
    expect(poor.call("size", BIG).value).toBe(1); // it trapped before growing
    expect(poor.call("grow", BIG, 3).value).toBe(1); // no maximum declared: the cap applies
    expect(poor.call("grow", BIG, 1).value).toBe(-1);
  });

  it("memory.fill and memory.copy are charged per byte", () => {
    const m = instantiate(prepareModule(src("1")));
    const cost = (n: number) => BigInt(3 * C.simple + C.bulkMemory + n * S.bulkMemoryPerByte);
    expect(m.call("fill", BIG, 0).gasUsed).toBe(cost(0));
    expect(m.call("fill", BIG, 50)).toMatchObject({ status: "ok", gasUsed: cost(50) });
    expect(m.memory()[49]).toBe(7);
    expect(m.call("copy", BIG, 50)).toMatchObject({ status: "ok", gasUsed: cost(50) });
    expect(m.memory()[149]).toBe(7);
    expect(m.call("fill", cost(60000) - 1n, 60000)).toMatchObject({ status: "out_of_gas", gasUsed: cost(60000) - 1n });
    expect(m.memory()[59999]).toBe(0); // charged before the fill ran
    expect(m.call("fill", BIG, 70000).status).toBe("trap"); // out of bounds still traps as Wasm says
  });
});

describe("start function", () => {
  it("does not run at instantiation; it is exported as __cairn_start and metered", () => {
    const m = instantiate(
      prepareModule(wat(`(module (global $g (mut i32) (i32.const 0)) (func $init (global.set $g (i32.const 42))) (start $init)
        (func (export "get") (result i32) (global.get $g)))`)),
    );
    expect(m.call("get", BIG).value).toBe(0);
    expect(m.start(BIG)).toMatchObject({ status: "ok", gasUsed: BigInt(2 * C.simple) });
    expect(m.call("get", BIG).value).toBe(42);
    const none = instantiate(prepareModule(wat(`(module (func (export "f")))`)));
    expect(none.exports.__cairn_start).toBeUndefined();
  });
});

describe("floating point: NaN results are canonical", () => {
  const bits = `(module
    (func (export "div00") (result i64) (i64.reinterpret_f64 (f64.div (f64.const 0) (f64.const 0))))
    (func (export "sqrtNeg") (result i32) (i32.reinterpret_f32 (f32.sqrt (f32.const -1))))
    (func (export "payload") (result i64) (i64.reinterpret_f64 (f64.add (f64.reinterpret_i64 (i64.const 0x7ff4000000000001)) (f64.const 1))))
    (func (export "negPayload") (result i64) (i64.reinterpret_f64 (f64.mul (f64.reinterpret_i64 (i64.const 0xfff8000000000abc)) (f64.const 2))))
    (func (export "demote") (result i32) (i32.reinterpret_f32 (f32.demote_f64 (f64.reinterpret_i64 (i64.const 0x7ff80000000abcde)))))
    (func (export "promote") (result i64) (i64.reinterpret_f64 (f64.promote_f32 (f32.reinterpret_i32 (i32.const 0xffc00123)))))
    (func (export "minNaN") (result i32) (i32.reinterpret_f32 (f32.min (f32.reinterpret_i32 (i32.const 0x7fa00000)) (f32.const 1))))
    (func (export "ceilNaN") (result i64) (i64.reinterpret_f64 (f64.ceil (f64.reinterpret_i64 (i64.const 0xfff0000000000001)))))
    (func (export "infMinusInf") (result i32) (i32.reinterpret_f32 (f32.sub (f32.const inf) (f32.const inf))))
    (func (export "ordinary") (param f64 f64) (result i64)
      (i64.reinterpret_f64 (f64.add (f64.div (local.get 0) (local.get 1)) (f64.sqrt (f64.nearest (local.get 0))))))
    (func (export "negZero") (result i64) (i64.reinterpret_f64 (f64.min (f64.const 0) (f64.const -0))))
    (func (export "negNaN") (result i64) (i64.reinterpret_f64 (f64.neg (f64.div (f64.const 0) (f64.const 0))))))`;
  const plain = instantiatePlain(wat(bits));
  const m = instantiate(prepareModule(wat(bits)));
  const F64_NAN = 0x7ff8000000000000n;
  const F32_NAN = 0x7fc00000 | 0;

  it("0/0, sqrt(-1), inf-inf and NaN payload propagation give the canonical NaN bits", () => {
    expect(m.call("div00", BIG).value).toBe(F64_NAN);
    expect(m.call("sqrtNeg", BIG).value).toBe(F32_NAN);
    expect(m.call("payload", BIG).value).toBe(F64_NAN);
    expect(m.call("negPayload", BIG).value).toBe(F64_NAN);
    expect(m.call("demote", BIG).value).toBe(F32_NAN);
    expect(m.call("promote", BIG).value).toBe(F64_NAN);
    expect(m.call("minNaN", BIG).value).toBe(F32_NAN);
    expect(m.call("ceilNaN", BIG).value).toBe(F64_NAN);
    expect(m.call("infMinusInf", BIG).value).toBe(F32_NAN);
    // neg is a sign-bit operation: deterministic on every CPU, left alone
    expect(m.call("negNaN", BIG).value).toBe(-0x8000000000000n);
    // the engine itself does not canonicalize (on x64 0/0 is the negative "default NaN", payloads propagate)
    const raw = [plain.div00, plain.payload, plain.negPayload].map((f) => (f as () => bigint)());
    expect(raw.some((v) => v !== F64_NAN)).toBe(true);
  });

  it("results that are not NaN are bit-identical to the uninstrumented module", () => {
    const values = [1, 3, -7.25, 2.5, 1e308, 5e-324, 0.1, 123456.789, -0];
    for (const a of values) {
      for (const b of values) {
        const want = (plain.ordinary as (x: number, y: number) => bigint)(a, b);
        const got = m.call("ordinary", BIG, a, b).value as bigint;
        const isNaN = Number.isNaN(new Float64Array(new BigInt64Array([want]).buffer)[0]);
        expect(got, `${a}, ${b}`).toBe(isNaN ? F64_NAN : want);
      }
    }
    expect(m.call("negZero", BIG).value).toBe(BigInt.asIntN(64, 0x8000000000000000n));
  });

  it("float-free modules are not touched by the NaN pass", () => {
    const info = analyzeModule(wat(`(module (func (export "f") (param i32) (result i32) (i32.mul (local.get 0) (local.get 0))))`));
    expect(info.funcs[0]).toMatchObject({ canonF32: 0, canonF64: 0 });
    expect(info.summary.floatArithmetic).toBe(0);
  });
});

describe("stack accounting (in process)", () => {
  const src = wat(`(module
    (global $depth (mut i32) (i32.const 0))
    (func $down (export "down") (param i32) (result i32)
      (global.set $depth (local.get 0))
      (call $down (i32.add (local.get 0) (i32.const 1))))
    (func $early (param i32) (result i32)
      (block $a (block $b
        (br_if $a (i32.eqz (local.get 0)))
        (if (i32.eq (local.get 0) (i32.const 1)) (then (return (call $leaf (i32.const 5)))))
        (if (i32.eq (local.get 0) (i32.const 2)) (then (br 3 (call $leaf (i32.const 9)))))
        (br_table $a $b (local.get 0))))
      (call $leaf (local.get 0)))
    (func $leaf (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
    (func (export "many") (result i32) (local i32 i32)
      (loop $l
        (local.set 1 (i32.add (local.get 1) (call $early (i32.rem_u (local.get 0) (i32.const 5)))))
        (br_if $l (i32.lt_u (local.tee 0 (i32.add (local.get 0) (i32.const 1))) (i32.const 1000))))
      (local.get 1))
    (func (export "depth") (result i32) (global.get $depth)))`);

  it("traps with __cairn_trap = 2 at exactly limit / frame depth", () => {
    const limit = 1000;
    const info = analyzeModule(src);
    const frame = info.funcs[0]!.frameUnits;
    const m = instantiate(prepareModule(src, { limits: { maxStackUnits: limit } }));
    expect(m.call("down", BIG, 1).status).toBe("stack_overflow");
    expect(m.call("depth", BIG).value).toBe(Math.floor(limit / frame));
  });

  it("every exit path (fall-through, return, br to the function label, br_table) releases the frame", () => {
    const m = instantiate(prepareModule(src, { limits: { maxStackUnits: 200 } }));
    const r = m.call("many", BIG);
    expect(r.status).toBe("ok");
    expect((m.exports.__cairn_stack as { value: number }).value).toBe(0);
    // 1000 calls of $early from a frame that keeps running: any leak would exceed 200 units
    expect(r.value).toBe((instantiatePlain(src).many as () => number)());
  });
});
