// Instance reuse (vm/runtime-reuse.ts): a pooled instance reset to the post-start snapshot must be
// indistinguishable from a fresh one. Every sequence here runs twice, reuse on and off, and every result field
// must match; probes check that nothing an invocation leaves behind is visible to the next.
import { beforeAll, describe, expect, it } from "vitest";
import { MissingState, loadContract, type LoadedContract, type RunResult, type StateView } from "../vm/index.ts";
import { instancePoolStats, runContract } from "../vm/runtime.ts";
import { prepareContract } from "../vm/instrument/index.ts";
import { wat } from "./vm-instrument-fixtures/wasm-build.ts";
import { ALICE, BOB, MemoryState, PROPOSER, compileExample, compileSource, hex } from "./vm-runtime-helpers.ts";

const PROBE = `import { context, storage, util } from "cairn";

let secret: u64 = 0;
let fsecret: f64 = 0.0;
let nanBits: f64 = 0.0;
const box = new Uint8Array(64);
// computed by the start function (memory.size is not a constant): a NaN with a payload
nanBits = reinterpret<f64>(<u64>0x7ff8000000000100 + <u64>memory.size());
box[0] = 7;

function digest(): u64 {
  let h: u64 = 0xcbf29ce484222325;
  const end = (<usize>memory.size()) << 16;
  for (let p: usize = 0; p < end; p += 8) h = (h ^ load<u64>(p)) * 0x100000001b3;
  return h;
}

export function peek(): void {
  const d = digest();
  context.outputString(secret.toString() + " " + reinterpret<u64>(fsecret).toString() + " " +
    reinterpret<u64>(nanBits).toString() + " " + box[0].toString() + " " + memory.size().toString() + " " + d.toString());
}

function plantAll(): void {
  secret = 0xdeadbeefcafe;
  fsecret = reinterpret<f64>(<u64>0x7ff8dead00000001);
  nanBits = 1.5;
  box.fill(0xab);
  const junk = new Uint8Array(10000);
  junk.fill(0x66);
  box[1] = junk[9999];
}
export function plant(): void { plantAll(); context.outputString("planted"); }
export function plantThenTrap(): void { plantAll(); unreachable(); }
export function plantThenRevert(): void { plantAll(); context.revert("after plant"); }
export function plantThenSpin(): void { plantAll(); while (true) {} }
export function plantThenGrow(): void {
  plantAll();
  memory.grow(3);
  context.outputString(memory.size().toString());
}
export function bigAlloc(): void {
  plantAll();
  const a = new Uint8Array(<i32>util.parseU64(context.inputString()));
  a.fill(1);
  context.outputString(a.length.toString());
}
function down(n: i32): i32 { if (n == 0) return 0; return down(n - 1) + 1; }
export function recurse(): void { plantAll(); context.outputString(down(<i32>util.parseU64(context.inputString())).toString()); }
export function kv(): void {
  const k = context.inputString();
  const v = storage.getString(k);
  storage.setString(k, v === null ? "1" : v + "1");
  context.outputString(v === null ? "-" : v);
}
`;

interface Call {
  readonly method: string;
  readonly input?: string | Uint8Array;
  readonly gas?: bigint;
  readonly invoker?: Uint8Array;
  readonly proposer?: Uint8Array;
}

/** A state that reports every key it has not loaded yet as missing (the node's async-store protocol). */
class LazyState implements StateView {
  readonly loaded = new Set<string>();
  constructor(readonly backing: MemoryState) {}
  get(key: Uint8Array): Uint8Array | null {
    if (!this.loaded.has(hex(key))) throw new MissingState(key);
    return this.backing.get(key);
  }
}

const utf8 = (s: string) => new TextEncoder().encode(s);

/** Everything a RunResult says, in a form whose differences print readably. */
function shape(r: RunResult) {
  return {
    status: r.status,
    gasUsed: r.gasUsed.toString(),
    output: hex(r.output),
    error: r.error,
    reads: r.reads.map((x) => [hex(x.key), x.value === null ? null : hex(x.value)]),
    writes: r.writes.map((x) => [hex(x.key), hex(x.value)]),
    missingKey: r.missingKey === null ? null : hex(r.missingKey),
  };
}

/**
 * Runs `calls` in order against one state (ok writes applied); `lazy` puts a LazyState in front, re-running
 * each missing_state result after loading its key. Returns every result, missing_state ones included.
 */
function runSequence(contract: LoadedContract, calls: readonly Call[], reuse: boolean, lazy = false) {
  const state = new MemoryState();
  const view = lazy ? new LazyState(state) : state;
  const out: ReturnType<typeof shape>[] = [];
  for (const c of calls) {
    for (;;) {
      const input = typeof c.input === "string" ? utf8(c.input) : (c.input ?? new Uint8Array(0));
      const r = runContract(
        contract,
        { method: c.method, input, invoker: c.invoker ?? ALICE, proposer: c.proposer ?? PROPOSER, gasLimit: c.gas ?? 100_000_000n, state: view },
        { reuseInstances: reuse },
      );
      out.push(shape(r));
      if (r.status === "missing_state" && view instanceof LazyState) {
        view.loaded.add(hex(r.missingKey!));
        continue;
      }
      state.apply(r);
      break;
    }
  }
  return out;
}

/** Runs the sequence both ways, asserts identical results, and that the reuse run really reused instances. */
function compareModes(contract: LoadedContract, calls: readonly Call[], lazy = false) {
  const off = runSequence(contract, calls, false, lazy);
  const before = instancePoolStats(contract)!.reused;
  const on = runSequence(contract, calls, true, lazy);
  expect(on).toEqual(off);
  expect(instancePoolStats(contract)!.reused - before).toBeGreaterThan(calls.length / 2);
  return on;
}

/** Gas limits around the start function's cost: below it the start itself runs out of gas. */
function startGasCalls(contract: LoadedContract, method: string, input: string): Call[] {
  const s = instancePoolStats(contract)!.startGas!;
  return [0n, 1n, s - 1n, s, s + 1n, s + 100n, s + 5_000n].map((gas) => ({ method, input, gas }));
}

const contracts: Record<string, LoadedContract> = {};
let probe: LoadedContract;

beforeAll(async () => {
  for (const name of ["counter", "token", "registry", "bench"]) contracts[name] = loadContract(await compileExample(name));
  probe = loadContract(await compileSource(PROBE, "probe.ts"));
  // one call each so the snapshot (and the start's gas) exists
  for (const c of [...Object.values(contracts), probe]) {
    runContract(c, { method: c.methods[0]!, invoker: ALICE, proposer: PROPOSER, gasLimit: 100_000_000n, state: new MemoryState() });
  }
});

const big = (n: number, ch = "1") => ch.repeat(n);

describe("reuse on and off give identical results", () => {
  it("counter", () => {
    const c = contracts.counter!;
    expect(instancePoolStats(c)).toMatchObject({ snapshot: true, disabled: false });
    expect(instancePoolStats(c)!.startGas! > 0n).toBe(true);
    compareModes(c, [
      { method: "increment" },
      { method: "add", input: "5" },
      { method: "add", input: "18446744073709551615" },
      { method: "add", input: "4x" },
      { method: "get" },
      { method: "add", input: big(200_000) },
      { method: "get" },
      ...startGasCalls(c, "increment", ""),
      { method: "increment", gas: 3_000n },
      { method: "get" },
    ]);
  });

  it("token", () => {
    const t = contracts.token!;
    const arg = (who: Uint8Array, amount: string | number) => `${hex(who)} ${amount}`;
    compareModes(t, [
      { method: "init" },
      { method: "init", invoker: BOB },
      { method: "mint", input: arg(ALICE, 1000) },
      { method: "mint", input: arg(BOB, 5), invoker: BOB },
      { method: "transfer", input: arg(BOB, 250) },
      { method: "transfer", input: arg(BOB, 100_000) },
      { method: "transfer", input: "garbage" },
      { method: "transfer", input: arg(BOB, 0) },
      { method: "balanceOf", input: hex(BOB) },
      { method: "balanceOf", invoker: BOB },
      { method: "transfer", input: big(250_000, "a") },
      { method: "totalSupply" },
      ...startGasCalls(t, "transfer", arg(BOB, 1)),
      { method: "transfer", input: arg(BOB, 1), gas: 20_000n },
      { method: "balanceOf", input: hex(BOB) },
    ]);
  });

  it("registry, including an output over the limit and a value that grows memory", () => {
    const r = contracts.registry!;
    compareModes(r, [
      { method: "register", input: "alice" },
      { method: "register", input: "alice", invoker: BOB },
      { method: "register", input: "Bad!" },
      { method: "lookup", input: "nobody" },
      { method: "setValue", input: `alice ${big(200_000, "v")}` },
      { method: "resolve", input: "alice" },
      { method: "setValue", input: "alice short" },
      { method: "resolve", input: "alice" },
      { method: "transfer", input: `alice ${hex(BOB)}` },
      { method: "release", input: "alice" },
      { method: "release", input: "alice", invoker: BOB },
      { method: "lookup", input: "alice" },
      ...startGasCalls(r, "register", "carol"),
    ]);
  });

  it("bench", () => {
    const b = contracts.bench!;
    compareModes(b, [
      { method: "run", input: "1" },
      { method: "run", input: "0" },
      { method: "run", input: "2", gas: 100_000n },
      { method: "run", input: "1" },
      { method: "run", input: "x" },
      { method: "run", input: big(100_000, "9") },
      ...startGasCalls(b, "run", "0"),
      { method: "run", input: "1" },
    ]);
  });

  it("a probe: traps, out of gas, stack overflow, memory growth, allocations past the cap", () => {
    compareModes(probe, [
      { method: "peek" },
      { method: "plant" },
      { method: "peek" },
      { method: "plantThenTrap" },
      { method: "plantThenRevert" },
      { method: "plantThenSpin", gas: 2_000_000n },
      { method: "plantThenTrap" }, // after an out-of-gas trap: __cairn_trap must be back to 0
      { method: "peek" },
      { method: "recurse", input: "1000000", gas: 1_000_000_000n },
      { method: "recurse", input: "100" },
      { method: "plantThenGrow" },
      { method: "bigAlloc", input: "3000000" },
      { method: "bigAlloc", input: "20000000", gas: 1_000_000_000n },
      { method: "peek" },
      { method: "nope" },
      { method: "peek", input: new Uint8Array(256 * 1024 + 1) },
      ...startGasCalls(probe, "peek", ""),
      { method: "peek" },
    ]);
  });

  it("the missing-state re-run protocol", () => {
    const calls: Call[] = [];
    for (let i = 0; i < 4; i++) calls.push({ method: "kv", input: "a" }, { method: "kv", input: `k${i}` }, { method: "plantThenTrap" });
    const results = compareModes(probe, calls, true);
    expect(results.filter((r) => r.status === "missing_state").length).toBe(5);
    const t = contracts.token!;
    compareModes(t, [
      { method: "init" },
      { method: "mint", input: `${hex(ALICE)} 77` },
      { method: "transfer", input: `${hex(BOB)} 7` },
      { method: "balanceOf", input: hex(BOB) },
    ], true);
  });
});

describe("isolation", () => {
  const fresh = () => runSequence(probe, [{ method: "peek" }], false)[0]!;

  it("the fresh values: globals and memory as the start function left them", () => {
    const r = fresh();
    const [secret, fsecret, nan, box0, pages] = Buffer.from(r.output, "hex").toString().split(" ");
    expect([r.status, secret, fsecret, box0]).toEqual(["ok", "0", "0", "7"]);
    expect(BigInt(nan!)).toBe(0x7ff8000000000100n + BigInt(pages!));
  });

  for (const method of ["plant", "plantThenTrap", "plantThenRevert", "plantThenSpin", "recurse"]) {
    it(`${method} then peek: the next call sees exactly a fresh instance`, () => {
      const expected = fresh();
      const before = instancePoolStats(probe)!;
      const seq = runSequence(probe, [{ method, input: "50", gas: 5_000_000n }, { method: "peek" }], true);
      const after = instancePoolStats(probe)!;
      expect(seq[1]).toEqual(expected);
      expect(after.reused - before.reused).toBe(2); // both ran in reset instances
      expect(after.discarded).toBe(before.discarded);
    });
  }

  it("memory grown in one call: the instance is discarded, the next call sees the initial size", () => {
    const expected = fresh();
    const pages = Buffer.from(expected.output, "hex").toString().split(" ")[4]!;
    const before = instancePoolStats(probe)!;
    const [grow, peek] = runSequence(probe, [{ method: "plantThenGrow" }, { method: "peek" }], true);
    expect(Buffer.from(grow!.output, "hex").toString()).toBe(String(Number(pages) + 3));
    expect(peek).toEqual(expected);
    expect(instancePoolStats(probe)!.discarded).toBe(before.discarded + 1);
  });
});

describe("modules whose instances are not reused", () => {
  it("a module using data.drop is never pooled", () => {
    const bytes = wat(`(module
      (memory (export "memory") 1)
      (data $d "hello")
      (func (export "drop") (data.drop $d))
      (func (export "init") (memory.init $d (i32.const 0) (i32.const 0) (i32.const 5))))`);
    expect(prepareContract(bytes).snapshot.reusable).toBe(false);
    const c = loadContract(bytes);
    expect(instancePoolStats(c)).toBe(null);
    const calls = [{ method: "drop" }, { method: "init" }, { method: "drop" }, { method: "init" }];
    const on = runSequence(c, calls, true);
    expect(on).toEqual(runSequence(c, calls, false));
    expect(on.map((r) => r.status)).toEqual(["ok", "ok", "ok", "ok"]);
  });

  it("a start function that calls the host disables reuse (its result depends on the proposer)", () => {
    const bytes = wat(`(module
      (import "cairn" "proposer_addr" (func $p (param i32)))
      (memory (export "memory") 1)
      (func $start (call $p (i32.const 0)))
      (start $start)
      (func (export "__cairn_output_ptr") (result i32) (i32.const 0))
      (func (export "__cairn_output_len") (result i32) (i32.const 32))
      (func (export "show")))`);
    const c = loadContract(bytes);
    const calls = [PROPOSER, ALICE, BOB, PROPOSER].map((proposer) => ({ method: "show", proposer }));
    const on = runSequence(c, calls, true);
    expect(on).toEqual(runSequence(c, calls, false));
    expect(on.map((r) => r.output)).toEqual([PROPOSER, ALICE, BOB, PROPOSER].map(hex));
    expect(instancePoolStats(c)).toMatchObject({ snapshot: false, disabled: true, reused: 0 });
  });

  it("no memory, no start: mutable globals alone are reset", () => {
    const bytes = wat(`(module
      (global $g (mut i32) (i32.const 0))
      (global $f (mut f32) (f32.const nan:0x200001))
      (func (export "bump")
        (if (i32.ne (i32.reinterpret_f32 (global.get $f)) (i32.const 0x7fa00001)) (then unreachable))
        (global.set $f (f32.const 1))
        (global.set $g (i32.add (global.get $g) (i32.const 1)))
        (if (i32.ne (global.get $g) (i32.const 1)) (then unreachable))))`);
    const c = loadContract(bytes);
    const on = runSequence(c, Array.from({ length: 5 }, () => ({ method: "bump" })), true);
    expect(on.map((r) => r.status)).toEqual(["ok", "ok", "ok", "ok", "ok"]);
    expect(instancePoolStats(c)!.reused).toBeGreaterThanOrEqual(4);
  });
});
