// `cairn contract build|run`: the contract author's local loop, with no node involved.
//
//   cairn contract build FILE.ts [--out FILE.wasm] [--json]
//   cairn contract run FILE.ts|FILE.wasm --method NAME [--input HEX | --input-string TEXT] [--gas N]
//                      [--state FILE.json] [--invoker HEX] [--proposer HEX]
//
// `build` compiles with the pinned toolchain and prints the K12 code hash and size; compile errors are printed
// as file:line:column diagnostics (exit 1). `run` compiles (cached on disk by toolchain and source hash), runs
// one method against a JSON state file ({"<hex key>": "<hex value>"}, created if missing, updated only when the
// run is ok) and prints one JSON object:
//   {"status","gasUsed" (decimal string),"output" (hex),"outputString" (UTF-8 or null),"error","writes"}
// with writes as [{"key": hex, "value": hex ("" = delete)}] sorted by key. Whatever the run's status the exit
// code is 0; 2 means the command line is wrong, 1 that the sources do not compile or a file cannot be used.

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  CompileError,
  DEFAULT_TOOLCHAIN_ID,
  VmError,
  compileContract,
  formatDiagnostic,
  loadContract,
  loadContractSources,
  runContract,
  shutdownCompiler,
  type CompiledContract,
  type Diagnostic,
  type LoadedSources,
  type RunResult,
} from "../../vm/index.ts";

export interface ContractIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processIo: ContractIo = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
};

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

/** Gas for `contract run` when --gas is not given: generous, this is a local tool. */
export const DEFAULT_RUN_GAS = 1_000_000_000n;

const USAGE = `usage:
  cairn contract build FILE.ts [--out FILE.wasm] [--json]
  cairn contract run FILE.ts|FILE.wasm --method NAME [--input HEX | --input-string TEXT] [--gas N]
                     [--state FILE.json] [--invoker HEX] [--proposer HEX]

build  compiles FILE.ts with ${DEFAULT_TOOLCHAIN_ID}, writes the .wasm (default: beside the source) and
       prints its K12 code hash and size.
run    runs one method against a JSON state file ({"<hex key>": "<hex value>"}, created if missing, updated
       only when the run is ok) and prints one JSON object:
       {"status","gasUsed","output","outputString","error","writes"}; gasUsed is a decimal string.
       Defaults: --gas ${DEFAULT_RUN_GAS}, invoker and proposer 32 zero bytes. Exit code 0 whatever the status.
`;

class UsageError extends Error {}
class FailedError extends Error {}

function hexArg(name: string, text: string, length?: number): Uint8Array {
  const s = text.startsWith("0x") || text.startsWith("0X") ? text.slice(2) : text;
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new UsageError(`${name} must be hex, got ${JSON.stringify(text)}`);
  const bytes = new Uint8Array(Buffer.from(s, "hex"));
  if (length !== undefined && bytes.length !== length) {
    throw new UsageError(`${name} must be ${length} bytes (${length * 2} hex digits), got ${bytes.length}`);
  }
  return bytes;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** Cache of compiled modules: $CAIRN_CACHE_DIR, else $XDG_CACHE_HOME/cairn/contracts, else ~/.cache/... */
export function contractCacheDir(): string {
  if (process.env.CAIRN_CACHE_DIR) return resolve(process.env.CAIRN_CACHE_DIR);
  const base = process.env.XDG_CACHE_HOME ? resolve(process.env.XDG_CACHE_HOME) : join(homedir(), ".cache");
  return join(base, "cairn", "contracts");
}

function loadSources(file: string): LoadedSources {
  if (!file.endsWith(".ts")) throw new UsageError(`${file}: expected an AssemblyScript .ts file`);
  if (!existsSync(file)) throw new UsageError(`${file}: no such file`);
  try {
    return loadContractSources(file);
  } catch (e) {
    throw new FailedError(`${file}: ${(e as Error).message}`);
  }
}

/** A diagnostic with its file mapped back to disk (SDK and standard library files keep their names). */
function diagnosticLine(d: Diagnostic, root: string): string {
  const onDisk = d.file && !d.file.startsWith("~lib/") && !d.file.startsWith("cairn/") ? join(root, d.file) : d.file;
  return formatDiagnostic({ ...d, file: onDisk });
}

async function compileFile(file: string, io: ContractIo): Promise<CompiledContract> {
  const { sources, root } = loadSources(file);
  try {
    const compiled = await compileContract(sources, { cacheDir: contractCacheDir() });
    for (const d of compiled.diagnostics) io.stderr(`${diagnosticLine(d, root)}\n`);
    return compiled;
  } catch (e) {
    if (e instanceof CompileError) {
      const lines = e.diagnostics.map((d) => diagnosticLine(d, root));
      throw new FailedError(lines.length ? lines.join("\n") : e.message);
    }
    if (e instanceof VmError) throw new FailedError(`${e.code}: ${e.message}`);
    throw e;
  }
}

function methodsOf(wasm: Uint8Array): string[] {
  try {
    return [...loadContract(wasm).methods];
  } catch (e) {
    if (e instanceof VmError) throw new FailedError(`the compiled module is not runnable: ${e.message}`);
    throw e;
  }
}

// ---- build ---------------------------------------------------------------------------------------------------

async function build(args: string[], io: ContractIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { out: { type: "string" }, json: { type: "boolean" } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError("contract build takes exactly one FILE.ts");
  const file = positionals[0]!;
  const compiled = await compileFile(file, io);
  const methods = methodsOf(compiled.wasm);
  const out = resolve(values.out ?? file.replace(/\.ts$/, ".wasm"));
  try {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, compiled.wasm);
  } catch (e) {
    throw new FailedError(`cannot write ${out}: ${(e as Error).message}`);
  }
  const summary = {
    file: resolve(file),
    out,
    codeHash: compiled.codeHashHex,
    size: compiled.wasm.length,
    toolchain: compiled.toolchain,
    methods,
  };
  if (values.json) io.stdout(`${JSON.stringify(summary)}\n`);
  else {
    io.stdout(
      `wrote ${out} (${summary.size} bytes)\ncode hash ${summary.codeHash}\ntoolchain ${summary.toolchain}\n` +
        `methods   ${methods.join(", ") || "(none)"}\n`,
    );
  }
  return EXIT_OK;
}

// ---- run -----------------------------------------------------------------------------------------------------

type StateFile = Map<string, Uint8Array>;

function readState(path: string): StateFile {
  const state: StateFile = new Map();
  if (!existsSync(path)) return state;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new UsageError(`--state ${path}: not valid JSON (${(e as Error).message})`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new UsageError(`--state ${path}: expected an object {"<hex key>": "<hex value>"}`);
  }
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v !== "string") throw new UsageError(`--state ${path}: value of key ${k} must be a hex string`);
    const key = hexArg(`--state key ${JSON.stringify(k)}`, k);
    const value = hexArg(`--state value of ${k}`, v);
    if (value.length > 0) state.set(hex(key), value);
  }
  return state;
}

/** Writes the state sorted by key; built by hand because JSON.stringify reorders integer-like keys. */
function writeState(path: string, state: StateFile): void {
  const keys = [...state.keys()].sort();
  const body = keys.map((k) => `  ${JSON.stringify(k)}: ${JSON.stringify(hex(state.get(k)!))}`).join(",\n");
  const tmp = `${path}.${process.pid}.tmp`;
  mkdirSync(dirname(resolve(path)), { recursive: true });
  writeFileSync(tmp, keys.length ? `{\n${body}\n}\n` : "{}\n");
  renameSync(tmp, path);
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function resultJson(r: RunResult): Record<string, unknown> {
  let outputString: string | null = null;
  try {
    outputString = strictUtf8.decode(r.output);
  } catch {
    outputString = null;
  }
  return {
    status: r.status,
    gasUsed: r.gasUsed.toString(),
    output: hex(r.output),
    outputString,
    error: r.error,
    writes: r.writes.map((w) => ({ key: hex(w.key), value: hex(w.value) })),
  };
}

async function run(args: string[], io: ContractIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      method: { type: "string" },
      input: { type: "string" },
      "input-string": { type: "string" },
      gas: { type: "string" },
      state: { type: "string" },
      invoker: { type: "string" },
      proposer: { type: "string" },
      json: { type: "boolean" }, // accepted for symmetry: run always prints JSON
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError("contract run takes exactly one FILE.ts or FILE.wasm");
  const file = positionals[0]!;
  if (!values.method) throw new UsageError("--method NAME is required");
  if (values.input !== undefined && values["input-string"] !== undefined) {
    throw new UsageError("give --input or --input-string, not both");
  }
  const input =
    values.input !== undefined
      ? hexArg("--input", values.input)
      : new TextEncoder().encode(values["input-string"] ?? "");
  let gasLimit = DEFAULT_RUN_GAS;
  if (values.gas !== undefined) {
    if (!/^\d+$/.test(values.gas) || BigInt(values.gas) >= 1n << 63n) {
      throw new UsageError(`--gas must be a decimal integer below 2^63, got ${JSON.stringify(values.gas)}`);
    }
    gasLimit = BigInt(values.gas);
  }
  const invoker = values.invoker !== undefined ? hexArg("--invoker", values.invoker, 32) : new Uint8Array(32);
  const proposer = values.proposer !== undefined ? hexArg("--proposer", values.proposer, 32) : new Uint8Array(32);
  const state = values.state !== undefined ? readState(values.state) : new Map<string, Uint8Array>();

  let wasm: Uint8Array;
  if (file.endsWith(".wasm")) {
    try {
      wasm = new Uint8Array(readFileSync(file));
    } catch (e) {
      throw new UsageError(`${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  } else {
    wasm = (await compileFile(file, io)).wasm;
  }

  let contract;
  try {
    contract = loadContract(wasm);
  } catch (e) {
    if (!(e instanceof VmError) || e.code !== "invalid_wasm") throw e;
    io.stdout(`${JSON.stringify({ status: "invalid", gasUsed: "0", output: "", outputString: "", error: e.message, writes: [] })}\n`);
    return EXIT_OK;
  }
  const result = runContract(contract, {
    method: values.method,
    input,
    invoker,
    proposer,
    gasLimit,
    state: { get: (key) => state.get(hex(key)) ?? null },
  });
  if (result.status === "ok" && values.state !== undefined) {
    for (const w of result.writes) {
      if (w.value.length === 0) state.delete(hex(w.key));
      else state.set(hex(w.key), w.value);
    }
    try {
      writeState(values.state, state);
    } catch (e) {
      throw new FailedError(`cannot write --state ${values.state}: ${(e as Error).message}`);
    }
  }
  io.stdout(`${JSON.stringify(resultJson(result))}\n`);
  return EXIT_OK;
}

// ---- dispatch ------------------------------------------------------------------------------------------------

/** Entry point used by node/cli/main.ts: `cairn contract <build|run> ...`; resolves to the exit code. */
export async function runContractCommand(args: string[], io: ContractIo = processIo): Promise<number> {
  const [sub, ...rest] = args;
  try {
    if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
      io.stdout(USAGE);
      return sub === undefined ? EXIT_USAGE : EXIT_OK;
    }
    if (rest.includes("--help") || rest.includes("-h")) {
      io.stdout(USAGE);
      return EXIT_OK;
    }
    if (sub === "build") return await build(rest, io);
    if (sub === "run") return await run(rest, io);
    throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}`);
  } catch (e) {
    if (e instanceof UsageError || (e instanceof TypeError && (e as NodeJS.ErrnoException).code?.startsWith("ERR_PARSE_ARGS"))) {
      io.stderr(`cairn contract: ${e.message}\n\n${USAGE}`);
      return EXIT_USAGE;
    }
    if (e instanceof FailedError) {
      io.stderr(`${e.message}\n`);
      return EXIT_FAILED;
    }
    throw e;
  } finally {
    await shutdownCompiler();
  }
}

export { runContractCommand as runContract };
