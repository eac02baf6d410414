// The execution layer's view of the vm: the few operations it needs, in the shapes it needs them.
// Keeping this seam narrow lets exec stay the same while vm/ evolves, and lets the distinction that matters
// for consensus live in one place: a DETERMINISTIC failure (compile error in the sources, invalid module) is an
// invocation outcome every validator reaches; an ENVIRONMENTAL failure (compiler crash, timeout) is not, and
// must fail the block's execution (ExecError 'unavailable') instead of producing a receipt.

import { toHex } from "../codec/hex.ts";
import type { ReceiptStatus } from "../codec/types.ts";
import {
  CompileError,
  MissingState,
  checkSources,
  compileContract,
  formatDiagnostic,
  isVmError,
  loadContract,
  runContract,
  sourcesHash,
  supportedToolchains,
  type CompilePriority,
  type LoadedContract,
} from "../../vm/index.ts";

/** Synchronous state of one contract (user keys). Throws the vm's missing-state signal when a key is not loaded. */
export interface VmStateView {
  get(key: Uint8Array): Uint8Array | null;
}

export interface VmCallRequest {
  readonly codeHash: Uint8Array;
  /** The module bytes; may be omitted when `hasCode(codeHash)` said the vm already holds it. */
  readonly wasm: Uint8Array | null;
  readonly method: string;
  readonly input: Uint8Array;
  readonly invoker: Uint8Array;
  readonly proposer: Uint8Array;
  readonly gasLimit: bigint;
  readonly state: VmStateView;
}

export type VmStatus = Exclude<ReceiptStatus, "rejected">;

export interface VmCallResult {
  readonly status: VmStatus;
  readonly gasUsed: bigint;
  readonly output: Uint8Array;
  readonly error: string | null;
  /** Keys read (user keys); the vm gives them distinct and sorted (exec sorts only what is not). */
  readonly reads: readonly Uint8Array[];
  /** Final value per written key (user keys); an empty value deletes. Applied only when status is ok. */
  readonly writes: ReadonlyArray<{ readonly key: Uint8Array; readonly value: Uint8Array }>;
}

export interface ContractSourcesInput {
  readonly entry: string;
  readonly files: Readonly<Record<string, string>>;
}

/** A compile's deterministic measure; the deployer pays for it (gas.ts compileGas). */
export interface CompileWorkMeasure {
  readonly units: number;
  readonly codeBytes: number;
}

export type CompileOutcome =
  | { readonly ok: true; readonly wasm: Uint8Array; readonly codeHash: Uint8Array; readonly work: CompileWorkMeasure }
  /** A deterministic failure: `error` is short (receipt error), `details` the full diagnostics text. */
  | { readonly ok: false; readonly error: string; readonly details: string; readonly work: CompileWorkMeasure };

export interface ContractVm {
  /** Toolchain ids this build compiles with (identical on every validator running the same release). */
  supportedToolchains(): readonly string[];
  /**
   * Compiles in a worker (never blocking the event loop). Resolves ok:false for failures caused by the sources
   * or toolchain id; rejects (any error) for environmental failures. 'background' compiles (admission) wait
   * behind 'urgent' ones (the default: a block needs it) and are refused when too many wait.
   */
  compile(toolchain: string, sources: ContractSourcesInput, priority?: CompilePriority): Promise<CompileOutcome>;
  /** Checks a compiled module against the Cairn Wasm profile; the reason when it is not acceptable, else null. */
  validate(wasm: Uint8Array): string | null;
  /** True when the vm holds a prepared module for this code hash (so `wasm` may be null). */
  hasCode(codeHash: Uint8Array): boolean;
  /** Runs one method from scratch. Throws (through the state view) the missing-state signal, or internal errors. */
  call(request: VmCallRequest): VmCallResult | Promise<VmCallResult>;
  /** The signal a state view throws for a key it does not hold. */
  missingState(key: Uint8Array): unknown;
  /** The key a caught error asks for when it is the missing-state signal, else null. */
  missingKey(error: unknown): Uint8Array | null;
}

// ---- the real vm ---------------------------------------------------------------------------------------------

export interface RealVmOptions {
  /** On-disk cache of compiled modules (by toolchain fingerprint and sources), e.g. <dataDir>/compiled. */
  readonly compileCacheDir?: string;
  /** Compiles that take longer fail the block's execution as 'unavailable' (default: the vm's 120 s). */
  readonly compileTimeoutMs?: number;
}

const COMPILE_OUTCOMES_KEPT = 64;
const LOADED_KEPT = 256;
/** The runtime takes gas limits below 2^63; a larger limit is simply capped (deterministically). */
const MAX_VM_GAS = (1n << 63n) - 1n;
const EMPTY = new Uint8Array(0);
const NO_WORK: CompileWorkMeasure = Object.freeze({ units: 0, codeBytes: 0 });

/** ContractVm over vm/index.ts: compileContract in its worker, loadContract (cached by code hash), runContract. */
export class RealContractVm implements ContractVm {
  /** Outcomes by sources hash, deterministic failures included (the vm's own cache forgets failures). */
  private readonly outcomes = new Map<string, Promise<CompileOutcome>>();
  /** Loaded modules by code hash, or the deterministic reason the module cannot be loaded. */
  private readonly loaded = new Map<string, LoadedContract | string>();
  /** The hex of the code hash asked about last: a block's calls of one contract share one hash object. */
  private lastHash: Uint8Array | null = null;
  private lastHex = "";

  constructor(private readonly options: RealVmOptions = {}) {}

  supportedToolchains(): readonly string[] {
    return supportedToolchains();
  }

  compile(toolchain: string, sources: ContractSourcesInput, priority: CompilePriority = "urgent"): Promise<CompileOutcome> {
    const key = `${toolchain}/${sourcesHash(sources)}`;
    const hit = this.outcomes.get(key);
    if (hit) {
      // The vm's own cache has the same compile: asking it urgently moves the compile up if it is still queued.
      if (priority === "urgent") this.compileUncached(toolchain, sources, priority).catch(() => undefined);
      return hit;
    }
    const promise = this.compileUncached(toolchain, sources, priority);
    this.outcomes.set(key, promise);
    while (this.outcomes.size > COMPILE_OUTCOMES_KEPT) this.outcomes.delete(this.outcomes.keys().next().value!);
    // Environmental failures are not remembered: the next attempt may succeed.
    promise.catch(() => {
      if (this.outcomes.get(key) === promise) this.outcomes.delete(key);
    });
    return promise;
  }

  private async compileUncached(toolchain: string, sources: ContractSourcesInput, priority: CompilePriority): Promise<CompileOutcome> {
    try {
      checkSources(sources);
    } catch (e) {
      return { ok: false, error: `invalid sources: ${(e as Error).message}`, details: (e as Error).message, work: NO_WORK };
    }
    try {
      const out = await compileContract(sources, {
        toolchain,
        priority,
        ...(this.options.compileCacheDir ? { cacheDir: this.options.compileCacheDir } : {}),
        ...(this.options.compileTimeoutMs ? { timeoutMs: this.options.compileTimeoutMs } : {}),
      });
      return { ok: true, wasm: out.wasm, codeHash: out.codeHash, work: out.work };
    } catch (e) {
      if (e instanceof CompileError) {
        const errors = e.diagnostics.filter((d) => d.severity === "error");
        const first = errors[0] ? formatDiagnostic(errors[0]) : e.message.split("\n")[0]!;
        return { ok: false, error: `compile failed: ${first}`, details: e.diagnostics.map(formatDiagnostic).join("\n") || e.message, work: e.work };
      }
      if (isVmError(e) && e.code === "toolchain_unknown") return { ok: false, error: e.message, details: e.message, work: NO_WORK };
      throw e;
    }
  }

  /** Loads (validates, instruments, engine-compiles) once per code hash; 'invalid_wasm' becomes a reason. */
  private hexOfCode(codeHash: Uint8Array): string {
    if (codeHash !== this.lastHash) {
      this.lastHex = toHex(codeHash);
      this.lastHash = codeHash;
    }
    return this.lastHex;
  }

  private load(codeHash: Uint8Array, wasm: Uint8Array | null): LoadedContract | string {
    const hex = this.hexOfCode(codeHash);
    const hit = this.loaded.get(hex);
    if (hit !== undefined) return hit;
    if (wasm === null) throw new Error(`vm adapter: code ${hex} is not loaded and no bytes were given`);
    let entry: LoadedContract | string;
    try {
      entry = loadContract(wasm);
    } catch (e) {
      if (isVmError(e) && e.code === "invalid_wasm") entry = e.message;
      else throw e;
    }
    this.loaded.set(hex, entry);
    while (this.loaded.size > LOADED_KEPT) this.loaded.delete(this.loaded.keys().next().value!);
    return entry;
  }

  validate(wasm: Uint8Array): string | null {
    let entry: LoadedContract | string;
    try {
      entry = loadContract(wasm);
    } catch (e) {
      if (isVmError(e) && e.code === "invalid_wasm") return e.message;
      throw e;
    }
    this.loaded.set(entry.codeHashHex, entry);
    return null;
  }

  hasCode(codeHash: Uint8Array): boolean {
    return this.loaded.has(this.hexOfCode(codeHash));
  }

  call(request: VmCallRequest): VmCallResult {
    const contract = this.load(request.codeHash, request.wasm);
    if (typeof contract === "string") {
      return { status: "invalid", gasUsed: 0n, output: EMPTY, error: `contract code cannot be loaded: ${contract}`, reads: [], writes: [] };
    }
    const r = runContract(contract, {
      method: request.method,
      input: request.input,
      invoker: request.invoker,
      proposer: request.proposer,
      gasLimit: request.gasLimit > MAX_VM_GAS ? MAX_VM_GAS : request.gasLimit,
      state: request.state,
    });
    if (r.status === "missing_state") throw new MissingState(r.missingKey ?? EMPTY);
    return {
      status: r.status,
      gasUsed: r.gasUsed,
      output: r.output,
      error: r.error,
      reads: r.reads.map((x) => x.key),
      writes: r.writes,
    };
  }

  missingState(key: Uint8Array): unknown {
    return new MissingState(key);
  }

  missingKey(error: unknown): Uint8Array | null {
    return error instanceof MissingState ? error.key : null;
  }
}
