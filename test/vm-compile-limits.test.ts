// Bounded compile work (vm/compile-limits.ts): hostile sources are refused or compiled, with the same outcome
// and the same measured work on a fast validator and on a slow one (another process whose V8 runs JavaScript in
// the interpreter only and Wasm in the baseline compiler only); admission compiles wait behind the ones blocks need.

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CompileError, MAX_BACKGROUND_QUEUE, compileContract } from "../vm/compile.ts";
import { DEFAULT_COMPILE_LIMITS } from "../vm/compile-limits.ts";
import { compileHostile, type HostileOutcome } from "./vm-compile-hostile-child.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));

/** Each hostile source, and how it must end: compiled, or refused for the reason given. */
const HOSTILE: ReadonlyArray<readonly [string, RegExp | "ok"]> = [
  ["doublingGenerics:6", "ok"],
  ["doublingGenerics:8", /module's code is \d+ bytes before optimization/],
  ["doublingGenericClasses:12", /needs more than 1000000 steps/],
  ["recursiveInstantiation", /nests more than 1000 levels/],
  ["recursiveGenericClass", /compile error/],
  ["deepParentheses:900", "ok"],
  ["deepParentheses:5000", /nests more than 1000 levels/],
  ["deepUnary:5000", /nests more than 1000 levels/],
  ["deepBlocks:3000", /nests more than 1000 levels/],
  ["hugeConstantTable:40000", "ok"],
  ["manyFunctions:8000", /module has \d+ functions/],
  ["longFunction:3000", /a function's code is \d+ bytes/],
];

function slowValidator(specs: readonly string[]): Promise<HostileOutcome[]> {
  const flags = ["--no-opt", "--no-sparkplug", "--liftoff", "--no-wasm-tier-up"];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...flags, "--import", "tsx", "test/vm-compile-hostile-child.ts", ...specs], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("close", (code) => (code === 0 ? resolve(out.trim().split("\n").map((l) => JSON.parse(l) as HostileOutcome)) : reject(new Error(`child exited ${code}: ${err}`))));
  });
}

describe("compile limits", () => {
  it("refuse or compile each hostile source identically on a fast and a slow validator, within the bounds", async () => {
    const specs = HOSTILE.map(([spec]) => spec);
    const slow = slowValidator(specs);
    const fast: HostileOutcome[] = [];
    for (const spec of specs) fast.push(await compileHostile(spec));
    expect(await slow).toEqual(fast);
    const limits = DEFAULT_COMPILE_LIMITS;
    HOSTILE.forEach(([spec, expected], i) => {
      const o = fast[i]!;
      if (expected === "ok") expect(o, spec).toMatchObject({ ok: true });
      else expect(o.ok ? "compiled" : o.error, spec).toMatch(expected);
      // A refused compile stops at the first bound it crosses: it never measures far past one.
      expect(o.work.units, spec).toBeLessThanOrEqual(limits.maxUnits + 1);
      expect(o.work.units, spec).toBeGreaterThan(0);
    });
  }, 240_000);

  it("leave the example contracts ten times room or more", async () => {
    const token = readFileSync(new URL("../contracts/examples/token.ts", import.meta.url), "utf8");
    const c = await compileContract({ entry: "token.ts", files: { "token.ts": token } });
    expect(c.work.units * 10).toBeLessThan(DEFAULT_COMPILE_LIMITS.maxUnits);
    expect(c.work.codeBytes * 8).toBeLessThan(DEFAULT_COMPILE_LIMITS.maxCodeBytes);
  });

  it("measure a compile error's work too, which its deployer pays", async () => {
    const e = await compileContract({ entry: "bad.ts", files: { "bad.ts": "export function f(): void { nothing(); }\n" } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CompileError);
    expect((e as CompileError).work.units).toBeGreaterThan(1000);
  });
});

describe("compile queue", () => {
  const source = (tag: string) => ({ entry: "q.ts", files: { "q.ts": `export function f(): i32 { return ${tag.length}; }\n// ${tag} ${Math.random()}\n` } });

  it("runs a compile a block needs before admission compiles (stopping a running one), refuses admission compiles past the bound, and moves one up when a block needs it", async () => {
    const order: string[] = [];
    const track = (tag: string, p: Promise<unknown>) => p.then(() => order.push(tag), (e: Error) => order.push(`${tag}:${e.message}`));
    // The first background compile starts at once; MAX_BACKGROUND_QUEUE more wait; the next is refused.
    const queued = Array.from({ length: MAX_BACKGROUND_QUEUE + 1 }, (_, i) => source(`bg${i}`));
    const waits = queued.map((s, i) => track(`bg${i}`, compileContract(s, { priority: "background" })));
    const refused = await compileContract(source("over"), { priority: "background" }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: "limit_exceeded", message: expect.stringMatching(/compiler is busy/) });
    // A block needs the last queued one and a new one: both run before every admission compile, including bg0,
    // which was running and is stopped and run again after them.
    const last = `bg${MAX_BACKGROUND_QUEUE}`;
    const urgent = [track(`${last}(urgent)`, compileContract(queued[MAX_BACKGROUND_QUEUE]!)), track("block", compileContract(source("block")))];
    await Promise.all([...waits, ...urgent]);
    expect(order.slice(0, 3)).toEqual([last, `${last}(urgent)`, "block"]);
    expect(order.slice(3)).toEqual(Array.from({ length: MAX_BACKGROUND_QUEUE }, (_, i) => `bg${i}`));
  }, 120_000);
});
