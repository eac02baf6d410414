/**
 * One AssemblyScript compile over a virtual file system: the contract's sources, the SDK served as the
 * package "cairn" (node_modules/cairn/*.ts) and the SDK's ABI file added as a second entry so that its
 * `__cairn_*` exports end up in every module without the author re-exporting anything.
 *
 * Nothing is read from disk: the compiler sees exactly the files in the job, which is what makes the output
 * a function of (toolchain, sources) alone. Run this in a worker thread (vm/compile-worker.ts): the compiler
 * takes seconds. Every compile is metered (vm/compile-meter.ts) and its crashes are caught (underCrashGuard),
 * so the outcome says whether a failure is the sources' (the same everywhere) or this thread's.
 */

import { posix } from "node:path";
import * as asc from "assemblyscript/asc";
import type { ContractSources } from "./compile-sources.ts";
import { DEFAULT_COMPILE_LIMITS, type CompileLimits, type CompileWork } from "./compile-limits.ts";
import { CompileMeter, metered } from "./compile-meter.ts";

export type DiagnosticSeverity = "error" | "warning" | "info";

/** A compiler message with its position (1-based line and column; file null when it has no source). */
export interface Diagnostic {
  readonly file: string | null;
  readonly line: number;
  readonly column: number;
  readonly message: string;
  /** AssemblyScript diagnostic code (e.g. 2304 "Cannot find name"), 0 when the message is not a diagnostic. */
  readonly code: number;
  readonly severity: DiagnosticSeverity;
}

export interface AscJob {
  readonly args: readonly string[];
  readonly sdkFiles: ReadonlyArray<readonly [string, string]>;
  readonly sources: ContractSources;
  /** Bounds of this compile (tests may lower them; nodes use the toolchain's). */
  readonly limits?: CompileLimits;
}

/**
 * `deterministic` failures (errors in the sources, a compile limit, a compiler bug the sources trigger) are the
 * same on every machine; the others (the thread's stack or memory ran out) are not, and must never become a
 * receipt.
 */
export type AscOutcome =
  | { readonly ok: true; readonly wasm: Uint8Array; readonly diagnostics: Diagnostic[]; readonly work: CompileWork }
  | { readonly ok: false; readonly deterministic: true; readonly message: string; readonly diagnostics: Diagnostic[]; readonly work: CompileWork }
  | { readonly ok: false; readonly deterministic: false; readonly message: string; readonly diagnostics: Diagnostic[] };

/** The virtual directory the compiler believes it runs in; never touched on disk. */
const VIRTUAL_ROOT = "/cairn-build";
const SDK_PACKAGE_DIR = "node_modules/cairn/";
const ABI_ENTRY = "__cairn/abi.ts";
const OUT_FILE = "contract.wasm";

const SEVERITY: Record<number, DiagnosticSeverity> = { 0: "info", 1: "info", 2: "warning", 3: "error" };

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(Math.max(offset, 0), text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

export async function runAsc(job: AscJob): Promise<AscOutcome> {
  const virtual = new Map<string, string>();
  for (const [path, text] of Object.entries(job.sources.files)) virtual.set(path, text);
  const sdk = new Map(job.sdkFiles);
  for (const [name, text] of sdk) virtual.set(SDK_PACKAGE_DIR + name, text);
  virtual.set(ABI_ENTRY, sdk.get("abi.ts") ?? "");

  // Text of a file as the compiler names it (normalizedPath), to turn offsets into lines and columns.
  const textOf = (normalizedPath: string): { file: string; text: string | null } => {
    if (normalizedPath.startsWith("~lib/cairn/")) {
      const name = normalizedPath.slice("~lib/cairn/".length);
      return { file: `cairn/${name}`, text: sdk.get(name) ?? null };
    }
    if (normalizedPath.startsWith("~lib/")) {
      const key = normalizedPath.slice("~lib/".length).replace(/\.ts$/, "");
      return { file: normalizedPath, text: asc.libraryFiles[key] ?? null };
    }
    return { file: normalizedPath, text: virtual.get(normalizedPath) ?? null };
  };

  const diagnostics: Diagnostic[] = [];
  let wasm: Uint8Array | null = null;
  const argv = [
    job.sources.entry,
    ABI_ENTRY,
    ...job.args,
    "--outFile",
    OUT_FILE,
    "--baseDir",
    VIRTUAL_ROOT,
    "--noColors",
  ];
  const meter = new CompileMeter(job.limits ?? DEFAULT_COMPILE_LIMITS);
  // Binaryen's optimizer runs after this hook; its time grows with the code measured here.
  const measure = {
    afterCompile(module: { emitBinary(): Uint8Array }) {
      meter.measureModule(module.emitBinary());
    },
  };
  const run = await underCrashGuard(() =>
    metered(meter, () =>
      asc.main(argv, {
        stdout: asc.createMemoryStream(),
        stderr: asc.createMemoryStream(),
        transforms: [measure as unknown as asc.Transform],
        readFile: (name: string, baseDir: string) => {
          const rel = posix.relative(VIRTUAL_ROOT, posix.resolve(baseDir, name));
          return virtual.get(rel) ?? null;
        },
        writeFile: (name: string, contents: Uint8Array | string) => {
          if (name === OUT_FILE && typeof contents !== "string") wasm = Uint8Array.from(contents);
        },
        listFiles: () => [],
        reportDiagnostic: (d) => {
          let file: string | null = null;
          let line = 0;
          let column = 0;
          if (d.range) {
            const src = textOf(d.range.source.normalizedPath);
            file = src.file;
            if (src.text !== null) ({ line, column } = lineAndColumn(src.text, d.range.start));
          }
          diagnostics.push({ file, line, column, message: d.message, code: d.code, severity: SEVERITY[d.category] ?? "error" });
        },
      }),
    ),
  );
  const work = meter.work();
  if (meter.exceeded !== null) {
    diagnostics.push({ file: null, line: 0, column: 0, message: meter.exceeded, code: 0, severity: "error" });
    return { ok: false, deterministic: true, message: meter.exceeded, diagnostics, work };
  }
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  if (run.ok && !run.value.error && wasm !== null) return { ok: true, wasm, diagnostics, work };
  if (errors) return { ok: false, deterministic: true, message: `${errors} compile error(s)`, diagnostics, work };
  const cause = run.ok ? (run.value.error?.message ?? "no output") : run.crash;
  const message = `compiler failed: ${cause}`;
  diagnostics.push({ file: null, line: 0, column: 0, message, code: 0, severity: "error" });
  if (exhaustedThread(cause)) return { ok: false, deterministic: false, message, diagnostics };
  // Any other crash (an assertion in the compiler or Binaryen) is a function of the sources like their output.
  return { ok: false, deterministic: true, message, diagnostics, work };
}

/**
 * A crash that depends on this thread rather than on the sources: its stack (whose depth in frames varies with
 * the JIT tier) or its memory ran out. The meter's depth bound is set to keep compiles far from both.
 */
export function exhaustedThread(message: string): boolean {
  return /RangeError|call stack|out of memory|allocation failed|memory access out of bounds/i.test(message);
}

class CompilerExited extends Error {}

/**
 * Runs the compiler with its crash handler defused: on an internal error it prints a report with console.error
 * and calls process.exit, which would end this thread and lose the reason. Both are caught here instead; the
 * report's first lines name the phase and the error.
 */
async function underCrashGuard<T>(compile: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; crash: string }> {
  const exit = process.exit;
  const con = console as unknown as { error: (...args: unknown[]) => void };
  const consoleError = con.error;
  let report = "";
  process.exit = ((code?: number) => {
    throw new CompilerExited(`exit ${code ?? 0}`);
  }) as typeof process.exit;
  con.error = (...args: unknown[]) => {
    if (report.length < 16 * 1024) report += args.map(String).join(" ");
  };
  try {
    return { ok: true, value: await compile() };
  } catch (e) {
    const text = report.replace(/\u258C ?/g, "").replace(/\s+/g, " ").trim();
    return { ok: false, crash: text || (e instanceof Error ? `${e.name}: ${e.message}` : String(e)) };
  } finally {
    process.exit = exit;
    con.error = consoleError;
  }
}
