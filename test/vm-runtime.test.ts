// The runtime through real AssemblyScript contracts: SDK surface, isolation, buffered writes, failures, limits,
// gas, hostile modules and the missing-state re-run protocol.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_GAS_SCHEDULE,
  MissingState,
  VmError,
  cachedContract,
  execute,
  loadContract,
  runContract,
  type LoadedContract,
  type RunResult,
} from "../vm/index.ts";
import { ALICE, BOB, MemoryState, PROPOSER, REPO, call, compileSource, hex, text } from "./vm-runtime-helpers.ts";

const PROBE = `import { context, storage, util } from "cairn";

let calls: i32 = 0;

export function echo(): void { context.output(context.input()); }
export function echoString(): void { context.outputString("<" + context.inputString() + ">"); }
export function who(): void {
  const out = new Uint8Array(64);
  out.set(context.invoker(), 0);
  out.set(context.proposer(), 32);
  context.output(out);
}
export function bump(): void { calls++; context.outputString(calls.toString()); }

// input: "<op> <key> [<value>]" with op one of get, set, remove, has, gets, sets, getu, setu
export function kv(): void {
  const parts = context.inputString().split(" ");
  const op = parts[0];
  const key = parts[1];
  const kb = Uint8Array.wrap(String.UTF8.encode(key));
  if (op == "get") { const v = storage.get(kb); context.outputString(v === null ? "null" : util.toHex(v)); }
  else if (op == "set") { const v = util.fromHex(parts[2]); storage.set(kb, v === null ? new Uint8Array(0) : v); }
  else if (op == "remove") storage.remove(kb);
  else if (op == "has") context.outputString(storage.has(kb) ? "yes" : "no");
  else if (op == "gets") { const s = storage.getString(key); context.outputString(s === null ? "null" : s); }
  else if (op == "sets") storage.setString(key, parts[2]);
  else if (op == "getu") context.outputString(storage.getU64(key).toString());
  else if (op == "setu") storage.setU64(key, util.parseU64(parts[2]));
  else context.revert("unknown op " + op);
}
export function readWrite(): void {
  const a = storage.getString("a");
  storage.setString("b", "2");
  const b = storage.getString("b");
  const c = storage.getString("c");
  const a2 = storage.getString("a");
  context.outputString((a === null ? "-" : a) + (b === null ? "-" : b) + (c === null ? "-" : c) + (a2 === null ? "-" : a2));
}
export function writeMany(): void {
  const n = <i32>util.parseU64(context.inputString());
  for (let i = 0; i < n; i++) storage.setString("w" + i.toString(), "v");
}
export function rewriteReread(): void {
  const n = <i32>util.parseU64(context.inputString());
  for (let i = 0; i < n; i++) storage.setString("k" + i.toString(), "a" + i.toString());
  for (let i = n - 1; i >= 0; i--) storage.setString("k" + i.toString(), "b" + i.toString());
  let out = "";
  for (let i = 0; i < n; i++) {
    const own = storage.getString("k" + i.toString());
    const s1 = storage.getString("s" + i.toString());
    const s2 = storage.getString("s" + i.toString());
    out += (own === null ? "-" : own) + (s1 === null ? "-" : s1) + (s2 === null ? "-" : s2) + ",";
  }
  context.outputString(out);
}
export function readManyDown(): void {
  const n = <i32>util.parseU64(context.inputString());
  for (let i = n - 1; i >= 0; i--) storage.getString("r" + i.toString());
}
export function bigValue(): void {
  const n = <i32>util.parseU64(context.inputString());
  storage.set(Uint8Array.wrap(String.UTF8.encode("big")), new Uint8Array(n));
}
export function bigKey(): void { storage.set(new Uint8Array(2000), new Uint8Array(1)); }
export function writeThenRevert(): void { storage.setString("x", "1"); context.revert("boom"); }
export function writeThenAssert(): void { storage.setString("x", "1"); assert(false, "assert message"); }
export function writeThenThrow(): void { storage.setString("x", "1"); throw new Error("thrown error"); }
export function writeThenDivide(): void {
  storage.setString("x", "1");
  const d = <i32>context.input().length;
  context.outputString((100 / d).toString());
}
export function writeThenUnreachable(): void { storage.setString("x", "1"); unreachable(); }
export function writeThenSpin(): void { storage.setString("x", "1"); let i: u64 = 1; while (i != 0) { i = i * 3 + 1; if (i == 7) break; } context.outputString(i.toString()); }
export function spin(): void { while (true) {} }
function down(n: i32, acc: u64): u64 {
  if (n == 0) return acc;
  const r = down(n - 1, acc * 6364136223846793005 + 1442695040888963407);
  return r ^ <u64>n;
}
export function recurse(): void { context.outputString(down(<i32>util.parseU64(context.inputString()), 1).toString()); }
function downHost(n: i32): i32 {
  if (n == 0) return storage.has(Uint8Array.wrap(String.UTF8.encode("deep"))) ? 1 : 0;
  return downHost(n - 1) + 1;
}
export function recurseHost(): void { context.outputString(downHost(<i32>util.parseU64(context.inputString())).toString()); }
export function bomb(): void {
  const keep = new Array<Uint8Array>();
  while (true) keep.push(new Uint8Array(65536));
}
export function churn(): void {
  let total = 0;
  for (let i = 0; i < 8000; i++) { const s = "x".repeat(1000) + i.toString(); total += s.length; }
  context.outputString(total.toString());
}
export function hugeOutput(): void { context.output(new Uint8Array(100000)); }
export function floats(): void {
  const x = <f64>context.input().length;
  const nan = (x - x) / (x - x);
  context.outputString((Math.sqrt(x + 2.0) * 1.5).toString() + " " + (nan != nan ? "nan" : "num"));
}
export function notAMethod(x: i32): i32 { return x + 1; }
`;

let wasm: Uint8Array;
let probe: LoadedContract;

beforeAll(async () => {
  wasm = await compileSource(PROBE, "probe.ts");
  probe = loadContract(wasm);
});

const utf8 = (s: string) => new TextEncoder().encode(s);

describe("SDK surface", () => {
  it("is cached by code hash", () => {
    expect(loadContract(wasm)).toBe(probe);
    expect(cachedContract(probe.codeHash)).toBe(probe);
    expect(cachedContract(probe.codeHashHex)).toBe(probe);
    expect(cachedContract(new Uint8Array(32))).toBeNull();
  });

  it("lists exactly the () => void exports as methods", () => {
    expect(probe.methods).toContain("echo");
    expect(probe.methods).not.toContain("notAMethod");
    expect(probe.methods.some((m) => m.startsWith("__"))).toBe(false);
    const r = call(probe, "notAMethod");
    expect(r.status).toBe("invalid");
    expect(r.error).toMatch(/no such method 'notAMethod'/);
  });

  it("input() and output() carry arbitrary bytes", () => {
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 37) & 0xff);
    const r = call(probe, "echo", { input: bytes });
    expect(r.status).toBe("ok");
    expect(hex(r.output)).toBe(hex(bytes));
    expect(call(probe, "echo").output.length).toBe(0);
  });

  it("inputString() and outputString() are UTF-8", () => {
    expect(text(call(probe, "echoString", { input: "héllo ✓ 🌍" }))).toBe("<héllo ✓ 🌍>");
  });

  it("invoker() and proposer() are the 32-byte keys of the request", () => {
    const r = call(probe, "who", { invoker: BOB });
    expect(hex(r.output)).toBe(hex(BOB) + hex(PROPOSER));
  });

  it("storage get/set/has/remove on byte keys, across invocations", () => {
    const state = new MemoryState();
    expect(text(call(probe, "kv", { input: "get k1", state }))).toBe("null");
    expect(text(call(probe, "kv", { input: "has k1", state }))).toBe("no");
    const set = call(probe, "kv", { input: "set k1 00ff10", state });
    expect(set.writes.map((w) => [new TextDecoder().decode(w.key), hex(w.value)])).toEqual([["k1", "00ff10"]]);
    expect(text(call(probe, "kv", { input: "get k1", state }))).toBe("00ff10");
    expect(text(call(probe, "kv", { input: "has k1", state }))).toBe("yes");
    // A value bigger than the SDK's first read buffer takes its second, exact-size read.
    const big = "ab".repeat(1000);
    call(probe, "kv", { input: `set k2 ${big}`, state });
    expect(text(call(probe, "kv", { input: "get k2", state }))).toBe(big);
    const removed = call(probe, "kv", { input: "remove k1", state });
    expect(removed.writes.map((w) => hex(w.value))).toEqual([""]);
    expect(text(call(probe, "kv", { input: "get k1", state }))).toBe("null");
    // Setting an empty value deletes as well.
    call(probe, "kv", { input: "set k2 ", state });
    expect(state.data.size).toBe(0);
  });

  it("getString/setString and getU64/setU64", () => {
    const state = new MemoryState();
    expect(text(call(probe, "kv", { input: "gets name", state }))).toBe("null");
    call(probe, "kv", { input: "sets name cairn", state });
    expect(text(call(probe, "kv", { input: "gets name", state }))).toBe("cairn");
    expect(text(call(probe, "kv", { input: "getu n", state }))).toBe("0");
    const r = call(probe, "kv", { input: "setu n 18446744073709551615", state });
    expect(hex(r.writes[0]!.value)).toBe("ffffffffffffffff");
    expect(text(call(probe, "kv", { input: "getu n", state }))).toBe("18446744073709551615");
    const bad = call(probe, "kv", { input: "getu name", state });
    expect(bad.status).toBe("reverted");
    expect(bad.error).toBe("storage.getU64: value of 'name' is not 8 bytes");
  });

  it("reads see the run's own writes; reads lists each state read once, sorted, as are writes", () => {
    const state = new MemoryState();
    state.data.set(hex(utf8("a")), utf8("1"));
    const r = call(probe, "readWrite", { state });
    expect(text(r)).toBe("12-1");
    expect(r.reads.map((x) => [new TextDecoder().decode(x.key), x.value && new TextDecoder().decode(x.value)])).toEqual([
      ["a", "1"],
      ["c", null],
    ]);
    expect(state.gets).toBe(2); // "a" is asked for once although read twice
    const many = call(probe, "writeMany", { input: "40" });
    const keys = many.writes.map((w) => Buffer.from(w.key));
    expect(keys.length).toBe(40);
    expect([...keys].sort(Buffer.compare)).toEqual(keys);
    // Few keys take the insertion sort, many the library sort: both orders are byte order, not call order.
    for (const n of [3, 12, 30]) {
      const w = call(probe, "writeMany", { input: String(n) }).writes.map((x) => Buffer.from(x.key).toString());
      expect(w).toEqual(Array.from({ length: n }, (_, i) => `w${i}`).sort());
      const reads = call(probe, "readManyDown", { input: String(n) }).reads.map((x) => Buffer.from(x.key).toString());
      expect(reads).toEqual(Array.from({ length: n }, (_, i) => `r${i}`).sort());
    }
  });

  it("overwrites, own writes and repeated reads resolve the same with a handful of keys and with thousands", () => {
    // Small logs are searched by comparing bytes, big ones through an index: both must give the same answers.
    for (const n of [4, 16, 17, 300]) {
      const state = new MemoryState();
      for (let i = 0; i < n; i += 2) state.data.set(hex(utf8(`s${i}`)), utf8(`v${i}`));
      const r = call(probe, "rewriteReread", { input: String(n), state, gas: 1_000_000_000n });
      expect(r.status).toBe("ok");
      const names = Array.from({ length: n }, (_, i) => i);
      expect(text(r)).toBe(names.map((i) => `b${i}${i % 2 === 0 ? `v${i}v${i}` : "--"},`).join(""));
      expect(r.writes.map((w) => [Buffer.from(w.key).toString(), Buffer.from(w.value).toString()])).toEqual(
        names.map((i) => [`k${i}`, `b${i}`]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
      );
      // The run's own keys are never asked of the state, and each state key is asked once.
      expect(r.reads.map((x) => Buffer.from(x.key).toString())).toEqual(names.map((i) => `s${i}`).sort());
      expect(state.gets).toBe(n);
    }
  });
});

describe("isolation and discarded writes", () => {
  it("a fresh instance per invocation: module globals do not persist", () => {
    expect(text(call(probe, "bump"))).toBe("1");
    expect(text(call(probe, "bump"))).toBe("1");
  });

  const failures: Array<[string, RunResult["status"], string]> = [
    ["writeThenRevert", "reverted", "boom"],
    ["writeThenAssert", "reverted", "assert message"],
    ["writeThenThrow", "reverted", "thrown error"],
    ["writeThenDivide", "trap", "integer divide by zero"],
    ["writeThenUnreachable", "trap", "unreachable"],
    ["writeThenSpin", "out_of_gas", "out of gas"],
  ];
  for (const [method, status, error] of failures) {
    it(`${method}: ${status} and no writes`, () => {
      const state = new MemoryState();
      const r = call(probe, method, { state, gas: 2_000_000n });
      expect(r.status).toBe(status);
      expect(r.error).toBe(error);
      expect(r.writes).toEqual([]);
      expect(r.output.length).toBe(0);
      expect(state.data.size).toBe(0);
    });
  }
});

describe("runtime limits", () => {
  it("output, key, value and write-count caps are deterministic traps", () => {
    const cases: Array<[string, string, string]> = [
      ["hugeOutput", "", "limit: output of 100000 bytes exceeds 65536"],
      ["bigKey", "", "limit: key of 2000 bytes exceeds 1024"],
      ["bigValue", "300000", "limit: value of 300000 bytes exceeds 262144"],
      ["writeMany", "5000", "limit: more than 4096 keys written"],
    ];
    for (const [method, input, error] of cases) {
      const a = call(probe, method, { input, gas: 1_000_000_000n });
      const b = call(probe, method, { input, gas: 1_000_000_000n });
      expect([method, a.status, a.error]).toEqual([method, "trap", error]);
      expect(a.gasUsed).toBe(b.gasUsed);
      expect(a.writes).toEqual([]);
    }
  });

  it("oversized input is invalid before anything runs", () => {
    const r = call(probe, "echo", { input: new Uint8Array(256 * 1024 + 1) });
    expect([r.status, r.gasUsed]).toEqual(["invalid", 0n]);
  });
});

describe("gas", () => {
  it("an infinite loop ends out_of_gas with gasUsed == limit", () => {
    for (const gas of [0n, 1n, 12_345n, 3_000_000n]) {
      const r = call(probe, "spin", { gas });
      expect([r.status, r.gasUsed]).toEqual(["out_of_gas", gas]);
    }
  });

  it("the exact gas a run needs succeeds, one less runs out (including inside a host call)", () => {
    const needed = call(probe, "kv", { input: "setu n 5" }).gasUsed;
    const ok = call(probe, "kv", { input: "setu n 5", gas: needed });
    expect([ok.status, ok.gasUsed]).toEqual(["ok", needed]);
    const short = call(probe, "kv", { input: "setu n 5", gas: needed - 1n });
    expect([short.status, short.gasUsed, short.writes]).toEqual(["out_of_gas", needed - 1n, []]);
    // The last thing the method does is cairn.set: with exactly its host charge missing, the host runs out.
    const hostCharge = BigInt(DEFAULT_GAS_SCHEDULE.hostCallBase + DEFAULT_GAS_SCHEDULE.hostPerByte * (1 + 8));
    expect(call(probe, "kv", { input: "setu n 5", gas: needed - hostCharge }).status).toBe("out_of_gas");
  });

  it("host calls charge per byte moved", () => {
    const small = call(probe, "bigValue", { input: "1" }).gasUsed;
    const large = call(probe, "bigValue", { input: "10001" }).gasUsed;
    expect(large - small >= 10_000n * BigInt(DEFAULT_GAS_SCHEDULE.hostPerByte)).toBe(true);
  });
});

function runChild(flags: string[], wasmPath: string, method: string, input: string, gas: bigint): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...flags, "--import", "tsx", "test/vm-runtime-child.ts", wasmPath, method, input, String(gas)], {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child ${flags.join(" ")} exited ${code}: ${err}`))));
  });
}

describe("hostile contracts", () => {
  it("deep recursion traps at the same gas under liftoff-only, turbofan-only and default V8", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-vm-"));
    const path = join(dir, "probe.wasm");
    writeFileSync(path, wasm);
    const here = call(probe, "recurse", { input: "1000000", gas: 1_000_000_000n });
    const hereHost = call(probe, "recurseHost", { input: "1000000", gas: 1_000_000_000n });
    expect([here.status, here.error]).toEqual(["trap", "stack depth exceeded"]);
    expect([hereHost.status, hereHost.error]).toEqual(["trap", "stack depth exceeded"]);
    const expected = { status: here.status, gasUsed: here.gasUsed.toString(), error: here.error, output: "" };
    const expectedHost = { status: hereHost.status, gasUsed: hereHost.gasUsed.toString(), error: hereHost.error, output: "" };
    const configs = [["--liftoff", "--no-wasm-tier-up"], ["--no-liftoff"], []];
    const results = await Promise.all(
      configs.flatMap((flags) => [
        runChild(flags, path, "recurse", "1000000", 1_000_000_000n),
        runChild(flags, path, "recurseHost", "1000000", 1_000_000_000n),
      ]),
    );
    for (let i = 0; i < configs.length; i++) {
      expect(results[2 * i]).toEqual([expected, expected]);
      expect(results[2 * i + 1]).toEqual([expectedHost, expectedHost]);
    }
  });

  it("shallow recursion completes", () => {
    expect(call(probe, "recurse", { input: "10" }).status).toBe("ok");
  });

  it("a memory bomb hits the memory cap and traps deterministically", () => {
    const a = call(probe, "bomb", { gas: 1_000_000_000n });
    const b = call(probe, "bomb", { gas: 1_000_000_000n });
    expect([a.status, a.error]).toEqual(["trap", "unreachable (memory is at its cap of 256 pages)"]);
    expect(a.gasUsed).toBe(b.gasUsed);
  });

  it("garbage is collected: churning far more than the memory cap through short-lived strings succeeds", () => {
    const r = call(probe, "churn", { gas: 10_000_000_000n });
    expect([r.status, text(r)]).toEqual(["ok", String(8000 * 1000 + [...Array(8000).keys()].reduce((n, i) => n + String(i).length, 0))]);
  });

  it("floating point results are the same every time (NaN canonicalized)", () => {
    expect(text(call(probe, "floats", { input: "abc" }))).toBe("3.3541019662496849 nan");
  });

  it("forbidden imports are refused at load: Math.random and an undeclared host function", async () => {
    const random = await compileSource(`import { context } from "cairn";\nexport function roll(): void { context.outputString(Math.random().toString()); }\n`);
    const external = await compileSource(`@external("env", "foo")\ndeclare function foo(): void;\nexport function go(): void { foo(); }\n`);
    for (const [bytes, name] of [[random, "env.seed"], [external, "env.foo"]] as const) {
      let caught: unknown;
      try {
        loadContract(bytes);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(VmError);
      expect((caught as VmError).code).toBe("invalid_wasm");
      expect((caught as VmError).message).toContain(`import ${name} is not a Cairn host function`);
      const r = execute(bytes, { method: "go", invoker: ALICE, proposer: PROPOSER, gasLimit: 1000n, state: new MemoryState() });
      expect(r.status).toBe("invalid");
    }
  });

  it("garbage bytes are invalid, not a crash", () => {
    const req = { method: "run", invoker: ALICE, proposer: PROPOSER, gasLimit: 1000n, state: new MemoryState() };
    for (const bytes of [new Uint8Array(0), Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), wasm.subarray(0, wasm.length >> 1)]) {
      const r = execute(bytes, req);
      expect(r.status).toBe("invalid");
      expect(r.error).toBeTruthy();
    }
  });
});

describe("missing state", () => {
  it("stops with missing_state, and re-runs from scratch converge on the full-state result", () => {
    const backing = new MemoryState();
    backing.data.set(hex(utf8("a")), utf8("x"));
    const full = call(probe, "readWrite", { state: backing });
    const loaded = new Map<string, Uint8Array | null>();
    const asked: string[] = [];
    const partial = {
      get(key: Uint8Array) {
        const k = hex(key);
        if (!loaded.has(k)) throw new MissingState(key);
        return loaded.get(k)!;
      },
    };
    let r: RunResult;
    for (;;) {
      r = runContract(probe, { method: "readWrite", invoker: ALICE, proposer: PROPOSER, gasLimit: 100_000_000n, state: partial });
      if (r.status !== "missing_state") break;
      expect(r.writes).toEqual([]);
      const k = hex(r.missingKey!);
      asked.push(new TextDecoder().decode(r.missingKey!));
      loaded.set(k, backing.data.get(k) ?? null);
    }
    expect(asked).toEqual(["a", "c"]);
    expect(r.status).toBe("ok");
    expect(r.gasUsed).toBe(full.gasUsed);
    expect(hex(r.output)).toBe(hex(full.output));
    expect(r.writes).toEqual(full.writes);
  });

  it("any other exception of the state view propagates to the caller", () => {
    class StoreDown extends Error {}
    const state = {
      get(): Uint8Array | null {
        throw new StoreDown("disk on fire");
      },
    };
    expect(() => runContract(probe, { method: "readWrite", invoker: ALICE, proposer: PROPOSER, gasLimit: 1_000_000n, state })).toThrow(StoreDown);
  });
});

describe("requests", () => {
  it("malformed requests throw VmError bad_request", () => {
    const good = { method: "echo", invoker: ALICE, proposer: PROPOSER, gasLimit: 1000n, state: new MemoryState() };
    for (const bad of [
      { ...good, invoker: new Uint8Array(31) },
      { ...good, proposer: new Uint8Array(33) },
      { ...good, gasLimit: -1n },
      { ...good, gasLimit: 1n << 63n },
    ]) {
      expect(() => runContract(probe, bad)).toThrow(expect.objectContaining({ code: "bad_request" }));
    }
  });
});
