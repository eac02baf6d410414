// `cairn contract build|run` as an author uses it: real processes through bin/cairn.mjs.
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { codeHashHex } from "../vm/index.ts";
import { EXAMPLES, REPO } from "./vm-runtime-helpers.ts";

let dir: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cairn-cli-"));
  env = { ...process.env, CAIRN_CACHE_DIR: join(dir, "cache") };
  copyFileSync(join(EXAMPLES, "counter.ts"), join(dir, "counter.ts"));
});

function cairn(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["bin/cairn.mjs", ...args], { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe("cairn contract build", () => {
  it("writes the .wasm beside the source and prints its K12 code hash and size", async () => {
    const r = await cairn("contract", "build", join(dir, "counter.ts"), "--json");
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    const wasm = new Uint8Array(readFileSync(join(dir, "counter.wasm")));
    expect(out).toMatchObject({ out: join(dir, "counter.wasm"), size: wasm.length, codeHash: codeHashHex(wasm), methods: ["add", "get", "increment"] });
    const text = await cairn("contract", "build", join(dir, "counter.ts"), "--out", join(dir, "sub", "c.wasm"));
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`code hash ${out.codeHash}`);
    expect(readFileSync(join(dir, "sub", "c.wasm"))).toEqual(readFileSync(join(dir, "counter.wasm")));
  });

  it("prints compile errors as file:line:column and exits 1", async () => {
    const bad = join(dir, "bad.ts");
    writeFileSync(bad, `import { context } from "cairn";\nexport function f(): void {\n  context.outputString(nope);\n}\n`);
    const r = await cairn("contract", "build", bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}:3:24: error AS2304: Cannot find name 'nope'.`);
    expect(existsSync(join(dir, "bad.wasm"))).toBe(false);
  });
});

describe("cairn contract run", () => {
  it("runs against a state file, updating it only when the run is ok", async () => {
    const state = join(dir, "state.json");
    const first = await cairn("contract", "run", join(dir, "counter.ts"), "--method", "increment", "--state", state);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({
      status: "ok",
      output: "31",
      outputString: "1",
      error: null,
      writes: [{ key: Buffer.from("count").toString("hex"), value: "0100000000000000" }],
    });
    expect(JSON.parse(first.stdout).gasUsed).toMatch(/^[1-9]\d*$/);
    const add = JSON.parse((await cairn("contract", "run", join(dir, "counter.wasm"), "--method", "add", "--input-string", "41", "--state", state)).stdout);
    expect(add.outputString).toBe("42");
    const before = readFileSync(state, "utf8");
    expect(JSON.parse(before)).toEqual({ [Buffer.from("count").toString("hex")]: "2a00000000000000" });
    const reverted = await cairn("contract", "run", join(dir, "counter.wasm"), "--method", "add", "--input", "ffff", "--state", state);
    expect(reverted.code).toBe(0);
    expect(JSON.parse(reverted.stdout)).toMatchObject({ status: "reverted", writes: [] });
    const starved = await cairn("contract", "run", join(dir, "counter.wasm"), "--method", "increment", "--gas", "100", "--state", state);
    expect(JSON.parse(starved.stdout)).toMatchObject({ status: "out_of_gas", gasUsed: "100" });
    expect(readFileSync(state, "utf8")).toBe(before);
  });

  it("passes --invoker and --proposer through", async () => {
    const probe = join(dir, "who.ts");
    writeFileSync(probe, `import { context } from "cairn";\nexport function who(): void { const o = new Uint8Array(64); o.set(context.invoker(), 0); o.set(context.proposer(), 32); context.output(o); }\n`);
    const r = await cairn("contract", "run", probe, "--method", "who", "--invoker", "11".repeat(32), "--proposer", "0x" + "22".repeat(32));
    expect(JSON.parse(r.stdout).output).toBe("11".repeat(32) + "22".repeat(32));
  });

  it("misuse exits 2 with a clear message", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["contract", "run", join(dir, "counter.wasm")], /--method NAME is required/],
      [["contract", "run", join(dir, "counter.wasm"), "--method", "get", "--input", "xyz"], /--input must be hex/],
      [["contract", "run", join(dir, "counter.wasm"), "--method", "get", "--invoker", "00"], /--invoker must be 32 bytes/],
      [["contract", "run", join(dir, "counter.wasm"), "--method", "get", "--gas", "1e6"], /--gas must be a decimal integer/],
      [["contract", "build", join(dir, "missing.ts")], /no such file/],
      [["contract", "frobnicate"], /unknown subcommand/],
    ];
    const results = await Promise.all(cases.map(([args]) => cairn(...args)));
    results.forEach((r, i) => {
      expect(r.code, cases[i]![0].join(" ")).toBe(2);
      expect(r.stderr).toMatch(cases[i]![1]);
    });
  });
});
