/**
 * The pinned contract toolchain: exactly which compiler, SDK and compiler options turn AssemblyScript source
 * into a contract module.
 *
 * A toolchain id such as `asc-0.28.20+sdk-2` names the AssemblyScript compiler version and the SDK version.
 * Two nodes that accept the same id must produce the same bytes from the same sources, so:
 *  - the compiler version is read from the installed package and must equal the pinned `ASC_VERSION` (and its
 *    Binaryen the pinned `BINARYEN_VERSION`);
 *  - the SDK sources (contracts/sdk/*.ts) and the release options of asconfig.json are hashed into a
 *    fingerprint that must equal `SDK_FINGERPRINT`. Editing the SDK or the options without bumping
 *    `SDK_VERSION` and recording the new fingerprint makes every compile fail loudly (and the self-check test),
 *    instead of silently changing what an existing id means.
 *
 * Compiler options (asconfig.json, release target) and why:
 *  - optimizeLevel 3, shrinkLevel 0: gas is charged per instruction executed, so faster code is cheaper code.
 *  - noAssert false: `assert` is one of the ways a contract reverts.
 *  - runtime "incremental": with a fresh instance per invocation the "stub" runtime (bump allocator, never
 *    frees) is tempting, but then any loop that allocates temporaries (string building, toString in a loop)
 *    exhausts the 16 MiB memory cap after a few MB of garbage. The incremental collector is ordinary Wasm,
 *    metered like the contract's own code, so its work is deterministic and paid for in gas.
 *  - no exportStart: AssemblyScript emits a start function only when top-level code needs one, and the
 *    instrumenter turns any start function into the metered export `__cairn_start` the runtime calls first.
 *  - no memory options: the instrumenter caps memory at VmLimits.maxMemoryPages for every module.
 *  - default Wasm features (bulk memory, sign extension, mutable globals, non-trapping float-to-int); floats
 *    are allowed, the instrumenter canonicalizes NaNs.
 */

import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { kt128 } from "@noble/hashes/sha3-addons.js";
import { VmError } from "./errors.ts";
import { DEFAULT_COMPILE_LIMITS, type CompileLimits } from "./compile-limits.ts";

/** The AssemblyScript compiler this build of Cairn is pinned to. */
export const ASC_VERSION = "0.28.20";
/** The Binaryen build that compiler depends on (exactly pinned by assemblyscript's own package.json). */
export const BINARYEN_VERSION = "131.0.0-nightly.20260721";
/**
 * Bump whenever a file under contracts/sdk/, the release options in asconfig.json or the compile limits
 * (vm/compile-limits.ts) change. Version 2: compile limits, which refuse some sources version 1 compiled.
 */
export const SDK_VERSION = 2;
/**
 * K12 of the SDK sources and compiler options that `SDK_VERSION` names (see `toolchainFingerprint`).
 * Recompute with `node --import tsx -e 'import("./vm/toolchain.ts").then(m => console.log(m.computeFingerprint()))'`
 * — but only together with a bump of `SDK_VERSION`.
 */
export const SDK_FINGERPRINT = "c1c63257df351b1e17b10ae3ab7f7e5e1e2549f5d72d29b3604b80fc136a2b30";

/** The id of the toolchain pinned by this build. */
export const DEFAULT_TOOLCHAIN_ID = `asc-${ASC_VERSION}+sdk-${SDK_VERSION}`;

export interface Toolchain {
  readonly id: string;
  readonly ascVersion: string;
  readonly binaryenVersion: string;
  readonly sdkVersion: number;
  /** Hex K12 over the SDK sources and the compiler arguments. */
  readonly fingerprint: string;
  /** SDK sources by file name (e.g. "index.ts"), served to the compiler as the package "cairn". */
  readonly sdkFiles: ReadonlyMap<string, string>;
  /** Compiler arguments derived from asconfig.json's release target (no entry files, no output paths). */
  readonly compilerArgs: readonly string[];
}

const SDK_DIR = fileURLToPath(new URL("../contracts/sdk/", import.meta.url));
const ASCONFIG_PATH = fileURLToPath(new URL("../asconfig.json", import.meta.url));

/**
 * asconfig options a contract build may set, with their kind. Anything else (transforms, library paths, `use`
 * aliases, bindings, source maps) would let the build depend on files or code outside the pinned toolchain.
 */
const ALLOWED_OPTIONS: Readonly<Record<string, "int" | "bool" | "string" | "strings">> = {
  optimizeLevel: "int",
  shrinkLevel: "int",
  converge: "bool",
  noAssert: "bool",
  runtime: "string",
  debug: "bool",
  initialMemory: "int",
  maximumMemory: "int",
  stackSize: "int",
  exportStart: "string",
  memoryBase: "int",
  uncheckedBehavior: "string",
  trapMode: "string",
  enable: "strings",
  disable: "strings",
  noUnsafe: "bool",
  pedantic: "bool",
};

/** Turns asconfig.json (its `options`, overridden by `targets.release`) into compiler arguments. */
export function compilerArgsFromAsconfig(text: string): string[] {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw new VmError("bad_config", `asconfig.json is not valid JSON: ${(e as Error).message}`);
  }
  const obj = (config ?? {}) as { options?: Record<string, unknown>; targets?: Record<string, Record<string, unknown>> };
  const release = obj.targets?.release;
  if (!release || typeof release !== "object") throw new VmError("bad_config", "asconfig.json has no targets.release");
  const merged: Record<string, unknown> = { ...(obj.options ?? {}), ...release };
  const args: string[] = [];
  for (const name of Object.keys(merged).sort()) {
    const kind = ALLOWED_OPTIONS[name];
    const value = merged[name];
    if (!kind) throw new VmError("bad_config", `asconfig.json option '${name}' is not allowed for contract builds`);
    const bad = () => new VmError("bad_config", `asconfig.json option '${name}' has an invalid value ${JSON.stringify(value)}`);
    switch (kind) {
      case "bool":
        if (typeof value !== "boolean") throw bad();
        if (value) args.push(`--${name}`);
        break;
      case "int":
        if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) throw bad();
        args.push(`--${name}`, String(value));
        break;
      case "string":
        if (typeof value !== "string" || value === "") throw bad();
        args.push(`--${name}`, value);
        break;
      case "strings": {
        const list = typeof value === "string" ? [value] : value;
        if (!Array.isArray(list) || !list.every((v) => typeof v === "string" && v !== "")) throw bad();
        if (list.length) args.push(`--${name}`, list.join(","));
        break;
      }
    }
  }
  return args;
}

function readSdkFiles(): Map<string, string> {
  const names = readdirSync(SDK_DIR)
    .filter((n) => n.endsWith(".ts"))
    .sort();
  const files = new Map<string, string>();
  for (const name of names) files.set(name, readFileSync(join(SDK_DIR, name), "utf8"));
  if (!files.has("index.ts") || !files.has("abi.ts")) {
    throw new VmError("bad_config", `contract SDK at ${SDK_DIR} is incomplete (index.ts and abi.ts are required)`);
  }
  return files;
}

const utf8 = new TextEncoder();

function pushField(parts: Uint8Array[], text: string): void {
  const bytes = utf8.encode(text);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, bytes.length, true);
  parts.push(len, bytes);
}

/** K12 over length-prefixed (name, content) pairs of the SDK, the compiler arguments and the compile limits. */
export function toolchainFingerprint(
  sdkFiles: ReadonlyMap<string, string>,
  compilerArgs: readonly string[],
  limits: CompileLimits = DEFAULT_COMPILE_LIMITS,
): string {
  const parts: Uint8Array[] = [];
  pushField(parts, "cairn-toolchain-fingerprint-v2");
  for (const name of Object.keys(limits).sort()) pushField(parts, `${name}=${limits[name as keyof CompileLimits]}`);
  for (const name of [...sdkFiles.keys()].sort()) {
    pushField(parts, name);
    pushField(parts, sdkFiles.get(name)!);
  }
  for (const arg of compilerArgs) pushField(parts, arg);
  let total = 0;
  for (const p of parts) total += p.length;
  const all = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  return Buffer.from(kt128(all, { dkLen: 32 })).toString("hex");
}

/** The fingerprint of the SDK and options currently on disk (what `SDK_FINGERPRINT` must record). */
export function computeFingerprint(): string {
  return toolchainFingerprint(readSdkFiles(), compilerArgsFromAsconfig(readFileSync(ASCONFIG_PATH, "utf8")));
}

function installedPackageVersion(name: string): string {
  const require = createRequire(import.meta.url);
  const pkg = require(`${name}/package.json`) as { version?: unknown };
  if (typeof pkg.version !== "string") throw new VmError("bad_config", `${name}/package.json has no version`);
  return pkg.version;
}

let installed: Toolchain | null = null;

/**
 * The toolchain installed with this build, checked against the pinned versions and fingerprint.
 * Throws VmError 'toolchain_mismatch' when the installation does not match what the id promises.
 */
export function installedToolchain(): Toolchain {
  if (installed) return installed;
  const ascVersion = installedPackageVersion("assemblyscript");
  const binaryenVersion = installedPackageVersion("binaryen");
  if (ascVersion !== ASC_VERSION || binaryenVersion !== BINARYEN_VERSION) {
    throw new VmError(
      "toolchain_mismatch",
      `installed compiler is assemblyscript ${ascVersion} / binaryen ${binaryenVersion}, ` +
        `but ${DEFAULT_TOOLCHAIN_ID} pins assemblyscript ${ASC_VERSION} / binaryen ${BINARYEN_VERSION}`,
    );
  }
  const sdkFiles = readSdkFiles();
  const compilerArgs = compilerArgsFromAsconfig(readFileSync(ASCONFIG_PATH, "utf8"));
  const fingerprint = toolchainFingerprint(sdkFiles, compilerArgs);
  if (fingerprint !== SDK_FINGERPRINT) {
    throw new VmError(
      "toolchain_mismatch",
      `contract SDK or asconfig.json changed (fingerprint ${fingerprint}) without bumping SDK_VERSION ` +
        `(sdk-${SDK_VERSION} is ${SDK_FINGERPRINT}); bump SDK_VERSION and record the new fingerprint in vm/toolchain.ts`,
    );
  }
  installed = Object.freeze({
    id: DEFAULT_TOOLCHAIN_ID,
    ascVersion,
    binaryenVersion,
    sdkVersion: SDK_VERSION,
    fingerprint,
    sdkFiles,
    compilerArgs: Object.freeze(compilerArgs),
  });
  return installed;
}

/** Ids this node can compile with (one: the pinned toolchain). */
export function supportedToolchains(): string[] {
  return [DEFAULT_TOOLCHAIN_ID];
}

/** The toolchain named `id` (default: the pinned one), or VmError 'toolchain_unknown'. */
export function resolveToolchain(id: string = DEFAULT_TOOLCHAIN_ID): Toolchain {
  if (id !== DEFAULT_TOOLCHAIN_ID) {
    throw new VmError(
      "toolchain_unknown",
      `toolchain '${id}' is not installed; this node compiles with ${supportedToolchains().join(", ")}`,
    );
  }
  return installedToolchain();
}
