/**
 * One AssemblyScript compile over a virtual file system: the contract's sources, the SDK served as the
 * package "cairn" (node_modules/cairn/*.ts) and the SDK's ABI file added as a second entry so that its
 * `__cairn_*` exports end up in every module without the author re-exporting anything.
 *
 * Nothing is read from disk: the compiler sees exactly the files in the job, which is what makes the output
 * a function of (toolchain, sources) alone. Run this in a worker thread (vm/compile-worker.ts): the compiler
 * takes seconds, and on an internal crash it calls process.exit, which only ends a worker.
 */

import { posix } from "node:path";
import * as asc from "assemblyscript/asc";
import type { ContractSources } from "./compile-sources.ts";

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
}

export type AscOutcome =
  | { readonly ok: true; readonly wasm: Uint8Array; readonly diagnostics: Diagnostic[] }
  | { readonly ok: false; readonly message: string; readonly diagnostics: Diagnostic[] };

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
  const result = await asc.main(argv, {
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
  });
  if (result.error || wasm === null) {
    const stderr = result.stderr.toString().trim();
    const errors = diagnostics.filter((d) => d.severity === "error").length;
    const message = errors
      ? `${errors} compile error(s)`
      : `compiler failed: ${result.error?.message ?? "no output"}${stderr ? `\n${stderr}` : ""}`;
    if (!errors) diagnostics.push({ file: null, line: 0, column: 0, message, code: 0, severity: "error" });
    return { ok: false, message, diagnostics };
  }
  return { ok: true, wasm, diagnostics };
}
