// The pinned compile: toolchain identity and self-check, diagnostics, the "cairn" import from anywhere,
// byte-identical output across processes, caching, and compiling off the event loop.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  CompileError,
  DEFAULT_TOOLCHAIN_ID,
  SDK_VERSION,
  VmError,
  checkSources,
  codeHashHex,
  compileContract,
  installedToolchain,
  loadContract,
  loadContractSources,
  sourcesHash,
  type ContractSources,
} from "../vm/index.ts";
import { SDK_FINGERPRINT, compilerArgsFromAsconfig, computeFingerprint } from "../vm/toolchain.ts";
import { EXAMPLES, MemoryState, REPO, call, text } from "./vm-runtime-helpers.ts";

describe("toolchain", () => {
  it("the id names the installed compiler version and the SDK version", () => {
    const ascVersion = (createRequire(import.meta.url)("assemblyscript/package.json") as { version: string }).version;
    expect(DEFAULT_TOOLCHAIN_ID).toBe(`asc-${ascVersion}+sdk-${SDK_VERSION}`);
    const t = installedToolchain();
    expect([t.id, t.ascVersion]).toEqual([DEFAULT_TOOLCHAIN_ID, ascVersion]);
  });

  it("self-check: the SDK sources and asconfig release options are exactly what SDK_VERSION recorded", () => {
    // Failing here means contracts/sdk/ or asconfig.json changed: bump SDK_VERSION in vm/toolchain.ts and record
    // the new fingerprint, so that a toolchain id never names two different compilers.
    expect(computeFingerprint()).toBe(SDK_FINGERPRINT);
  });

  it("compiler options come from the release target, and only from a safe set", () => {
    const args = compilerArgsFromAsconfig(readFileSync(join(REPO, "asconfig.json"), "utf8"));
    expect(args).toContain("--optimizeLevel");
    expect(args.join(" ")).toContain("--runtime incremental");
    expect(args).not.toContain("--noAssert");
    const withTransform = JSON.stringify({ targets: { release: { transform: "./evil.js" } } });
    expect(() => compilerArgsFromAsconfig(withTransform)).toThrow(/'transform' is not allowed/);
    expect(() => compilerArgsFromAsconfig(JSON.stringify({ targets: {} }))).toThrow(/no targets.release/);
  });

  it("a toolchain that is not installed is refused with toolchain_unknown", async () => {
    const sources = { entry: "a.ts", files: { "a.ts": "export function f(): void {}\n" } };
    await expect(compileContract(sources, { toolchain: "asc-0.27.0+sdk-1" })).rejects.toMatchObject({
      code: "toolchain_unknown",
      message: expect.stringContaining(DEFAULT_TOOLCHAIN_ID),
    });
  });
});

describe("sources", () => {
  it("rejects paths that could escape the build or shadow the SDK", () => {
    const ok = "export function f(): void {}\n";
    const bad: ContractSources[] = [
      { entry: "../a.ts", files: { "../a.ts": ok } },
      { entry: "/abs.ts", files: { "/abs.ts": ok } },
      { entry: "a.ts", files: { "a.ts": ok, "node_modules/cairn/index.ts": ok } },
      { entry: "missing.ts", files: { "a.ts": ok } },
      { entry: "a.js", files: { "a.js": ok } },
    ];
    for (const s of bad) expect(() => checkSources(s), s.entry).toThrow(VmError);
    expect(() => checkSources({ entry: "a.ts", files: { "a.ts": ok, "lib/b.ts": ok } })).not.toThrow();
  });

  it("the sources hash does not depend on file order", () => {
    const a = { entry: "a.ts", files: { "a.ts": "1", "b.ts": "2" } };
    const b = { entry: "a.ts", files: { "b.ts": "2", "a.ts": "1" } };
    expect(sourcesHash(a)).toBe(sourcesHash(b));
    expect(sourcesHash(a)).not.toBe(sourcesHash({ entry: "a.ts", files: { "a.ts": "1", "b.ts": "3" } }));
  });
});

describe("compiling", () => {
  it("a contract outside the repository, in several files, imports \"cairn\" with no setup", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-author-"));
    mkdirSync(join(dir, "lib"));
    writeFileSync(
      join(dir, "main.ts"),
      `import { context } from "cairn";\nimport { double } from "./lib/math";\nimport { greet } from "./greet.ts";\n` +
        `export function hello(): void { context.outputString(greet(context.inputString()) + double(21).toString()); }\n`,
    );
    writeFileSync(join(dir, "lib", "math.ts"), `export function double(x: i32): i32 { return x * 2; }\n`);
    writeFileSync(
      join(dir, "greet.ts"),
      `import { storage } from "cairn";\nexport function greet(name: string): string {\n` +
        `  storage.setString("last", name);\n  return "hi " + name + " ";\n}\n`,
    );
    writeFileSync(join(dir, "unrelated.ts"), `this is not even AssemblyScript`);
    const { sources, root } = loadContractSources(join(dir, "main.ts"));
    expect(root).toBe(dir);
    expect(Object.keys(sources.files).sort()).toEqual(["greet.ts", "lib/math.ts", "main.ts"]);
    const compiled = await compileContract(sources);
    const r = call(loadContract(compiled.wasm), "hello", { input: "ada", state: new MemoryState() });
    expect([r.status, text(r)]).toEqual(["ok", "hi ada 42"]);
  });

  it("errors come back as diagnostics with file, line and column", async () => {
    const source = `import { context } from "cairn";\nexport function f(): void {\n  const x: i32 = "no";\n  context.outputString(y);\n}\n`;
    let caught: unknown;
    try {
      await compileContract({ entry: "bad.ts", files: { "bad.ts": source } });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(CompileError);
    const e = caught as CompileError;
    expect(e.code).toBe("compile_failed");
    const errors = e.diagnostics.filter((d) => d.severity === "error").map(({ file, line, column, code }) => ({ file, line, column, code }));
    expect(errors).toEqual([
      { file: "bad.ts", line: 3, column: 18, code: 2322 },
      { file: "bad.ts", line: 4, column: 24, code: 2304 },
    ]);
    expect(e.message).toContain("bad.ts:4:24: error AS2304: Cannot find name 'y'.");
  });

  it("an import of a file that does not exist is a diagnostic, not a crash", async () => {
    const source = `import { x } from "./nowhere";\nexport function f(): void { x(); }\n`;
    await expect(compileContract({ entry: "a.ts", files: { "a.ts": source } })).rejects.toBeInstanceOf(CompileError);
  });

  it("identical sources give the same bytes in two other processes, and are cached here", async () => {
    const file = join(EXAMPLES, "token.ts");
    const runChild = () =>
      new Promise<{ codeHash: string; wasm: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ["--import", "tsx", "test/vm-compile-child.ts", file], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (err += d));
        child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited ${code}: ${err}`))));
      });
    const sources = loadContractSources(file).sources;
    const [a, b, here] = await Promise.all([runChild(), runChild(), compileContract(sources)]);
    expect(a.wasm).toBe(b.wasm);
    expect(a.codeHash).toBe(b.codeHash);
    expect(Buffer.from(here.wasm).toString("base64")).toBe(a.wasm);
    expect(here.codeHashHex).toBe(a.codeHash);
    expect(codeHashHex(here.wasm)).toBe(here.codeHashHex);
    expect(await compileContract({ entry: sources.entry, files: { ...sources.files } })).toBe(here);
  });

  it("compiles off the event loop (timers keep firing while the compiler works)", async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const unique = `export function f(): void {}\n// ${Math.random()}\n${"export function g" + "(): void {}\n"}`;
    await compileContract({ entry: "tick.ts", files: { "tick.ts": unique } });
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(5);
  });

  it("a compile that exceeds its time limit fails cleanly with compile_failed", async () => {
    const sources = { entry: "slow.ts", files: { "slow.ts": `export function f(): void {}\n// ${Math.random()}\n` } };
    await expect(compileContract(sources, { timeoutMs: 1 })).rejects.toMatchObject({ code: "compile_failed", message: expect.stringContaining("timed out") });
  });
});
