/**
 * Contract sources as the compiler sees them: an entry file plus the files it imports, keyed by
 * paths relative to a root that is not part of the build. Only relative paths enter the compiler (and
 * with them the file names AssemblyScript embeds in abort messages), so the same sources give the same
 * bytes wherever they live on disk.
 */

import { readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { kt128 } from "@noble/hashes/sha3-addons.js";
import { VmError } from "./errors.ts";

export interface ContractSources {
  /** Path of the entry file, relative to the sources root, with "/" separators (e.g. "token.ts"). */
  readonly entry: string;
  /** Every source file by relative path ("/" separators, ending in ".ts"). Must include `entry`. */
  readonly files: Readonly<Record<string, string>>;
}

export const SOURCE_LIMITS = Object.freeze({
  maxFiles: 256,
  maxTotalBytes: 4 * 1024 * 1024,
  maxPathLength: 256,
});

/** Path prefixes the compiler reserves for the SDK ("cairn" package) and its ABI entry file. */
const RESERVED_PREFIXES = ["node_modules/", "__cairn/"];

function bad(message: string): VmError {
  return new VmError("compile_failed", message);
}

/** Throws VmError 'compile_failed' when the sources cannot be handed to the compiler as they are. */
export function checkSources(sources: ContractSources): void {
  if (!sources || typeof sources !== "object" || typeof sources.files !== "object" || sources.files === null) {
    throw bad("contract sources must be { entry, files }");
  }
  const paths = Object.keys(sources.files);
  if (paths.length === 0) throw bad("contract sources are empty");
  if (paths.length > SOURCE_LIMITS.maxFiles) throw bad(`too many source files (${paths.length} > ${SOURCE_LIMITS.maxFiles})`);
  let total = 0;
  for (const path of paths) {
    const text = sources.files[path];
    if (typeof text !== "string") throw bad(`source '${path}' is not text`);
    total += Buffer.byteLength(text, "utf8");
    if (
      path.length === 0 ||
      path.length > SOURCE_LIMITS.maxPathLength ||
      !path.endsWith(".ts") ||
      path.endsWith(".d.ts") ||
      path.startsWith("/") ||
      path.includes("\\") ||
      path.includes("\0") ||
      path.split("/").some((part) => part === "" || part === "." || part === "..")
    ) {
      throw bad(`source path '${path}' must be a relative path of a .ts file without '.', '..' or empty parts`);
    }
    if (RESERVED_PREFIXES.some((p) => path.startsWith(p))) throw bad(`source path '${path}' is reserved for the SDK`);
  }
  if (total > SOURCE_LIMITS.maxTotalBytes) throw bad(`sources are too large (${total} bytes > ${SOURCE_LIMITS.maxTotalBytes})`);
  if (typeof sources.entry !== "string" || !Object.hasOwn(sources.files, sources.entry)) {
    throw bad(`entry '${String(sources.entry)}' is not one of the source files`);
  }
}

const utf8 = new TextEncoder();

/** K12 of a canonical encoding of the sources (entry, then files sorted by path), for caching. */
export function sourcesHash(sources: ContractSources, salt = ""): string {
  const parts: Uint8Array[] = [];
  const field = (text: string) => {
    const bytes = utf8.encode(text);
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, bytes.length, true);
    parts.push(len, bytes);
  };
  field("cairn-sources-v1");
  field(salt);
  field(sources.entry);
  for (const path of Object.keys(sources.files).sort()) {
    field(path);
    field(sources.files[path]!);
  }
  const all = Buffer.concat(parts);
  return Buffer.from(kt128(all, { dkLen: 32 })).toString("hex");
}

/** Specifiers of `import ... from "x"`, `export ... from "x"` and `import "x"` (over-matching is harmless). */
const IMPORT_RE = /\bfrom\s*["']([^"'\n]+)["']|\bimport\s*["']([^"'\n]+)["']/g;

function relativeImports(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2];
    if (spec && (spec.startsWith("./") || spec.startsWith("../"))) out.push(spec);
  }
  return out;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export interface LoadedSources {
  readonly sources: ContractSources;
  /** Absolute directory the relative paths of `sources` start from (to map diagnostics back to disk). */
  readonly root: string;
}

/**
 * Reads a contract's entry file and, transitively, the sibling files it imports with relative specifiers
 * ("./util" -> util.ts or util/index.ts, as the compiler resolves them). The import "cairn" needs no file:
 * the compiler is given the SDK itself.
 */
export function loadContractSources(entryFile: string): LoadedSources {
  const entryAbs = resolve(entryFile);
  if (!isFile(entryAbs)) throw bad(`contract source '${entryFile}' does not exist`);
  if (!entryAbs.endsWith(".ts")) throw bad(`contract source '${entryFile}' must be a .ts file`);
  const texts = new Map<string, string>();
  const queue = [entryAbs];
  while (queue.length) {
    const file = queue.shift()!;
    if (texts.has(file)) continue;
    if (texts.size >= SOURCE_LIMITS.maxFiles) throw bad(`contract imports more than ${SOURCE_LIMITS.maxFiles} files`);
    const text = readFileSync(file, "utf8");
    texts.set(file, text);
    for (const spec of relativeImports(text)) {
      const base = resolve(dirname(file), spec);
      // A specifier that resolves to nothing is left for the compiler to report with its position.
      const candidates = [`${base}.ts`, join(base, "index.ts")];
      if (base.endsWith(".ts")) candidates.unshift(base);
      for (const candidate of candidates) {
        if (isFile(candidate)) {
          queue.push(candidate);
          break;
        }
      }
    }
  }
  // The root is the deepest directory containing every file, so paths stay short and never need "..".
  let root = dirname(entryAbs);
  for (const file of texts.keys()) {
    while (relative(root, file).startsWith("..")) root = dirname(root);
  }
  const files: Record<string, string> = {};
  for (const [file, text] of texts) files[relative(root, file).split(sep).join("/")] = text;
  const sources: ContractSources = { entry: relative(root, entryAbs).split(sep).join("/"), files };
  checkSources(sources);
  return { sources, root };
}
