/**
 * Compiling contract source: pinned toolchain, worker thread, caches.
 *
 * `compileContract` resolves the requested toolchain (VmError 'toolchain_unknown' when it is not installed),
 * hands the sources to a worker thread running the AssemblyScript compiler, and returns the uninstrumented
 * Wasm with its code hash. Results are cached by K12(toolchain fingerprint, sources) in memory and, when a
 * cache directory is given, on disk. Compile errors come back as a CompileError carrying the compiler's
 * diagnostics with file, line and column.
 */

import { Worker } from "node:worker_threads";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { VmError } from "./errors.ts";
import { resolveToolchain, type Toolchain } from "./toolchain.ts";
import { checkSources, sourcesHash, type ContractSources } from "./compile-sources.ts";
import type { AscJob, AscOutcome, Diagnostic } from "./compile-asc.ts";
import type { WorkerRequest, WorkerResponse } from "./compile-worker.ts";
import { codeHash } from "./runtime-codehash.ts";
import { DEFAULT_COMPILE_LIMITS, type CompileLimits, type CompileWork } from "./compile-limits.ts";

export type { Diagnostic } from "./compile-asc.ts";

export interface CompileOptions {
  /** Toolchain id; defaults to the pinned one (DEFAULT_TOOLCHAIN_ID). */
  readonly toolchain?: string;
  /** Directory for an on-disk cache of compiled modules (created if missing). */
  readonly cacheDir?: string;
  /** Kill the compiler after this long (default 120 s); the compile then fails with 'compile_failed'. */
  readonly timeoutMs?: number;
  /**
   * Compiler arguments appended after the toolchain's (e.g. `--disable bulk-memory` for the benchmark's MVP
   * build). For tools and benchmarks only: the output is then NOT what the toolchain id names. Part of the
   * cache key.
   */
  readonly extraCompilerArgs?: readonly string[];
  /** Compile bounds; tests only (the toolchain's DEFAULT_COMPILE_LIMITS are part of what its id means). */
  readonly limits?: CompileLimits;
  /**
   * 'urgent' (the default: a block waits for it) runs before every 'background' compile (a deploy being
   * admitted): a running background compile is stopped and queued again, and a background compile already
   * queued is moved up when an urgent request for the same sources arrives. Background compiles wait at most MAX_BACKGROUND_QUEUE deep; past that they are refused with
   * VmError 'limit_exceeded' at once, so a flood of deploys can neither grow the queue nor delay blocks.
   */
  readonly priority?: CompilePriority;
}

export type CompilePriority = "urgent" | "background";

/** Background compiles that may wait at once (each is bounded by vm/compile-limits.ts). */
export const MAX_BACKGROUND_QUEUE = 8;

export interface CompiledContract {
  /** The compiled, uninstrumented module (what is deployed and what the code hash covers). */
  readonly wasm: Uint8Array;
  /** K12 of `wasm` (32 bytes) and its hex. */
  readonly codeHash: Uint8Array;
  readonly codeHashHex: string;
  readonly toolchain: string;
  /** Cache key: K12 of the toolchain fingerprint and the sources. */
  readonly sourcesHash: string;
  /** Warnings and infos of the compiler (errors make the compile fail instead). */
  readonly diagnostics: readonly Diagnostic[];
  /** The compile's deterministic measure (what a deploy pays for). */
  readonly work: CompileWork;
}

/**
 * A compile that failed on the sources themselves, the same way on every machine: `diagnostics` holds the
 * compiler's messages (or the compile limit that was exceeded) and `work` what the attempt measured.
 * Failures that are not deterministic (a crash, a timeout) are plain VmErrors with code 'compile_failed'.
 */
export class CompileError extends VmError {
  readonly diagnostics: readonly Diagnostic[];
  readonly work: CompileWork;

  constructor(message: string, diagnostics: readonly Diagnostic[], work: CompileWork) {
    super("compile_failed", message);
    this.diagnostics = diagnostics;
    this.work = work;
  }
}

/** One line per diagnostic: `file:line:column: severity AScode: message`. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.file ? `${d.file}${d.line ? `:${d.line}:${d.column}` : ""}: ` : "";
  return `${where}${d.severity}${d.code ? ` AS${d.code}` : ""}: ${d.message}`;
}

const DEFAULT_TIMEOUT_MS = 120_000;
const WORKER_STACK_MB = 64;
const MEMORY_CACHE_ENTRIES = 64;

// ---- worker management -------------------------------------------------------------------------------------

interface Pending {
  readonly id: number;
  readonly key: string;
  readonly priority: CompilePriority;
  readonly job: AscJob;
  readonly timeoutMs: number;
  readonly resolve: (outcome: AscOutcome) => void;
  readonly reject: (e: VmError) => void;
}

let worker: Worker | null = null;
/** The job being compiled and the worker it was sent to (a stale worker's events must not touch a newer job). */
let current: Pending | null = null;
let currentWorker: Worker | null = null;
let currentTimer: NodeJS.Timeout | null = null;
const urgent: Pending[] = [];
const background: Pending[] = [];
let nextId = 1;

function startWorker(): Worker {
  const w = new Worker(new URL("./compile-worker.mjs", import.meta.url), {
    // Not `stderr: true`: a piped stderr keeps the parent alive even when the worker is unref'd. The compiler only
    // writes there when it crashes; the text is also collected below and attached to the error.
    stderr: false,
    // No inherited --import tsx: see compile-worker.mjs for why the compiler must load without it.
    execArgv: [],
    // The stack is far larger than the compile meter's depth bound needs (vm/compile-limits.ts), so that no
    // compile within the bound gets near it whatever the JIT tier makes of each frame.
    resourceLimits: { maxOldGenerationSizeMb: 2048, stackSizeMb: WORKER_STACK_MB },
  });
  let stderr = "";
  w.stderr.on("data", (chunk: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += chunk.toString();
  });
  w.on("message", (response: WorkerResponse) => {
    if (!current || currentWorker !== w || response.id !== current.id) return;
    const done = current;
    finishCurrent();
    done.resolve(response.outcome);
  });
  const fail = (message: string) => {
    if (worker === w) worker = null;
    if (current && currentWorker === w) {
      const done = current;
      finishCurrent();
      done.reject(new VmError("compile_failed", `${message}${stderr.trim() ? `\n${stderr.trim()}` : ""}`));
    }
  };
  w.on("error", (e) => fail(`compiler worker failed: ${e.message}`));
  w.on("exit", (code) => fail(`compiler crashed (worker exit code ${code})`));
  return w;
}

function finishCurrent(): void {
  if (currentTimer) clearTimeout(currentTimer);
  currentTimer = null;
  current = null;
  currentWorker = null;
  pump();
}

function pump(): void {
  if (current) return;
  const next = urgent.shift() ?? background.shift();
  if (!next) {
    worker?.unref();
    return;
  }
  if (!worker) worker = startWorker();
  worker.ref();
  current = next;
  currentWorker = worker;
  currentTimer = setTimeout(() => {
    const w = worker;
    worker = null;
    if (current === next) {
      finishCurrent();
      next.reject(new VmError("compile_failed", `compiler timed out after ${next.timeoutMs} ms`));
    }
    void w?.terminate();
  }, next.timeoutMs);
  const request: WorkerRequest = { id: next.id, job: next.job };
  worker.postMessage(request);
}

function runInWorker(key: string, job: AscJob, timeoutMs: number, priority: CompilePriority): Promise<AscOutcome> {
  if (priority === "background" && background.length >= MAX_BACKGROUND_QUEUE) {
    return Promise.reject(new VmError("limit_exceeded", `the compiler is busy: ${background.length} deploys are waiting to be compiled`));
  }
  return new Promise((resolve, reject) => {
    (priority === "urgent" ? urgent : background).push({ id: nextId++, key, job, timeoutMs, priority, resolve, reject });
    if (priority === "urgent") preemptBackground();
    pump();
  });
}

/**
 * Stops a running background compile so that an urgent one starts as soon as a new worker has loaded the
 * compiler, rather than after it (up to the compile bound); the stopped one runs again later.
 */
function preemptBackground(): void {
  if (current === null || current.priority !== "background") return;
  const stopped = current;
  const w = worker;
  worker = null;
  if (currentTimer) clearTimeout(currentTimer);
  currentTimer = null;
  current = null;
  currentWorker = null;
  background.unshift(stopped);
  void w?.terminate();
}

/** Moves a queued background compile of `key` into the urgent queue: a block now waits for it. */
function promote(key: string): void {
  const at = background.findIndex((p) => p.key === key);
  if (at < 0) return;
  const [moved] = background.splice(at, 1);
  urgent.push({ ...moved!, priority: "urgent" });
  preemptBackground();
  pump();
}

/** Stops the compiler worker (it is restarted on the next compile). Idle workers never keep a process alive. */
export async function shutdownCompiler(): Promise<void> {
  const w = worker;
  worker = null;
  if (w) await w.terminate();
}

// ---- caches ------------------------------------------------------------------------------------------------

const memoryCache = new Map<string, Promise<CompiledContract>>();

function remember(key: string, value: Promise<CompiledContract>): void {
  memoryCache.delete(key);
  memoryCache.set(key, value);
  while (memoryCache.size > MEMORY_CACHE_ENTRIES) memoryCache.delete(memoryCache.keys().next().value!);
}

// A cache entry is the module followed by its work: units and code bytes as two u32 (little-endian). The work is
// part of what a deploy pays, so an entry without it (an older cache) is a miss.
const WORK_TRAILER = 8;

function readDiskCache(cacheDir: string, key: string): { wasm: Uint8Array; work: CompileWork } | null {
  try {
    const bytes = new Uint8Array(readFileSync(join(cacheDir, `${key}.cwasm`)));
    if (bytes.length <= WORK_TRAILER) return null;
    const view = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - WORK_TRAILER, WORK_TRAILER);
    return { wasm: bytes.slice(0, bytes.length - WORK_TRAILER), work: { units: view.getUint32(0, true), codeBytes: view.getUint32(4, true) } };
  } catch {
    return null;
  }
}

function writeDiskCache(cacheDir: string, key: string, wasm: Uint8Array, work: CompileWork): void {
  try {
    mkdirSync(cacheDir, { recursive: true });
    const bytes = new Uint8Array(wasm.length + WORK_TRAILER);
    bytes.set(wasm);
    const view = new DataView(bytes.buffer, wasm.length, WORK_TRAILER);
    view.setUint32(0, work.units, true);
    view.setUint32(4, work.codeBytes, true);
    const tmp = join(cacheDir, `${key}.${process.pid}.tmp`);
    writeFileSync(tmp, bytes);
    renameSync(tmp, join(cacheDir, `${key}.cwasm`));
  } catch {
    // A cache that cannot be written only costs a recompile next time.
  }
}

function compiled(wasm: Uint8Array, toolchain: Toolchain, key: string, diagnostics: readonly Diagnostic[], work: CompileWork): CompiledContract {
  const hash = codeHash(wasm);
  return Object.freeze({
    wasm,
    codeHash: hash,
    codeHashHex: Buffer.from(hash).toString("hex"),
    toolchain: toolchain.id,
    sourcesHash: key,
    diagnostics,
    work,
  });
}

// ---- public API --------------------------------------------------------------------------------------------

/**
 * Compiles contract sources with the pinned toolchain in a worker thread.
 * Throws VmError 'toolchain_unknown' (id not installed), 'toolchain_mismatch' (installation inconsistent),
 * CompileError ('compile_failed' with diagnostics) for errors in the sources, or VmError 'compile_failed'
 * when the compiler itself crashed or timed out.
 */
export async function compileContract(sources: ContractSources, options: CompileOptions = {}): Promise<CompiledContract> {
  const toolchain = resolveToolchain(options.toolchain);
  checkSources(sources);
  const extra = options.extraCompilerArgs ?? [];
  const limits = options.limits ?? DEFAULT_COMPILE_LIMITS;
  const variant = `${extra.length ? `/${JSON.stringify(extra)}` : ""}${limits !== DEFAULT_COMPILE_LIMITS ? `/${JSON.stringify(limits)}` : ""}`;
  const key = sourcesHash(sources, `${toolchain.id}/${toolchain.fingerprint}${variant}`);
  const priority = options.priority ?? "urgent";
  const hit = memoryCache.get(key);
  if (hit) {
    remember(key, hit);
    if (priority === "urgent") promote(key);
    return hit;
  }
  const promise = (async () => {
    if (options.cacheDir) {
      const hit = readDiskCache(options.cacheDir, key);
      if (hit) return compiled(hit.wasm, toolchain, key, [], hit.work);
    }
    const job: AscJob = { args: [...toolchain.compilerArgs, ...extra], sdkFiles: [...toolchain.sdkFiles], sources, limits };
    const outcome = await runInWorker(key, job, options.timeoutMs ?? DEFAULT_TIMEOUT_MS, priority);
    if (!outcome.ok) {
      if (!outcome.deterministic) throw new VmError("compile_failed", outcome.message);
      const errors = outcome.diagnostics.filter((d) => d.severity === "error" && d.message !== outcome.message);
      const shown = errors.slice(0, 5).map(formatDiagnostic).join("\n");
      throw new CompileError(`${outcome.message}${shown ? `:\n${shown}` : ""}`, outcome.diagnostics, outcome.work);
    }
    if (options.cacheDir) writeDiskCache(options.cacheDir, key, outcome.wasm, outcome.work);
    return compiled(outcome.wasm, toolchain, key, outcome.diagnostics, outcome.work);
  })();
  remember(key, promise);
  // Failures are not cached: a crash or timeout may be transient, and a source error is cheap to report again.
  promise.catch(() => {
    if (memoryCache.get(key) === promise) memoryCache.delete(key);
  });
  return promise;
}
