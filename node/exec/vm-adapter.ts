// The execution layer's view of the vm: the few operations it needs, in the shapes it needs them.
// Keeping this seam narrow lets exec stay the same while vm/ evolves, and lets the distinction that matters
// for consensus live in one place: a DETERMINISTIC failure (compile error in the sources, invalid module) is an
// invocation outcome every validator reaches; an ENVIRONMENTAL failure (compiler crash, timeout) is not, and
// must fail the block's execution (ExecError 'unavailable') instead of producing a receipt.

import type { ReceiptStatus } from "../codec/types.ts";
import { CompileError, compileContract, formatDiagnostic } from "../../vm/compile.ts";
import { checkSources, sourcesHash } from "../../vm/compile-sources.ts";
import { isVmError } from "../../vm/errors.ts";
import { supportedToolchains } from "../../vm/toolchain.ts";
import { validateModule } from "../../vm/validate.ts";

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
  /** Keys read (user keys), any order; exec sorts. */
  readonly reads: readonly Uint8Array[];
  /** Final value per written key (user keys); an empty value deletes. Applied only when status is ok. */
  readonly writes: ReadonlyArray<{ readonly key: Uint8Array; readonly value: Uint8Array }>;
}

export interface ContractSourcesInput {
  readonly entry: string;
  readonly files: Readonly<Record<string, string>>;
}

export type CompileOutcome =
  | { readonly ok: true; readonly wasm: Uint8Array; readonly codeHash: Uint8Array }
  /** A deterministic failure: `error` is short (receipt error), `details` the full diagnostics text. */
  | { readonly ok: false; readonly error: string; readonly details: string };

export interface ContractVm {
  /** Toolchain ids this build compiles with (identical on every validator running the same release). */
  supportedToolchains(): readonly string[];
  /**
   * Compiles in a worker (never blocking the event loop). Resolves ok:false for failures caused by the sources
   * or toolchain id; rejects (any error) for environmental failures.
   */
  compile(toolchain: string, sources: ContractSourcesInput): Promise<CompileOutcome>;
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

/** The signal our state views throw; the runtime lets exceptions of host functions propagate out of a run. */
export class MissingStateSignal extends Error {
  override readonly name = "MissingStateSignal";
  constructor(readonly key: Uint8Array) {
    super("state key not loaded");
  }
}

export class RealContractVm implements ContractVm {
  /** Outcomes by sources hash, deterministic failures included (the vm's own cache forgets failures). */
  private readonly outcomes = new Map<string, Promise<CompileOutcome>>();

  constructor(private readonly options: RealVmOptions = {}) {}

  supportedToolchains(): readonly string[] {
    return supportedToolchains();
  }

  compile(toolchain: string, sources: ContractSourcesInput): Promise<CompileOutcome> {
    const key = `${toolchain}/${sourcesHash(sources)}`;
    const hit = this.outcomes.get(key);
    if (hit) return hit;
    const promise = this.compileUncached(toolchain, sources);
    this.outcomes.set(key, promise);
    while (this.outcomes.size > COMPILE_OUTCOMES_KEPT) this.outcomes.delete(this.outcomes.keys().next().value!);
    // Environmental failures are not remembered: the next attempt may succeed.
    promise.catch(() => {
      if (this.outcomes.get(key) === promise) this.outcomes.delete(key);
    });
    return promise;
  }

  private async compileUncached(toolchain: string, sources: ContractSourcesInput): Promise<CompileOutcome> {
    try {
      checkSources(sources);
    } catch (e) {
      return { ok: false, error: `invalid sources: ${(e as Error).message}`, details: (e as Error).message };
    }
    try {
      const out = await compileContract(sources, {
        toolchain,
        ...(this.options.compileCacheDir ? { cacheDir: this.options.compileCacheDir } : {}),
        ...(this.options.compileTimeoutMs ? { timeoutMs: this.options.compileTimeoutMs } : {}),
      });
      return { ok: true, wasm: out.wasm, codeHash: out.codeHash };
    } catch (e) {
      if (e instanceof CompileError) {
        const errors = e.diagnostics.filter((d) => d.severity === "error");
        const first = errors[0] ? formatDiagnostic(errors[0]) : e.message.split("\n")[0]!;
        return { ok: false, error: `compile failed: ${first}`, details: e.diagnostics.map(formatDiagnostic).join("\n") || e.message };
      }
      if (isVmError(e) && e.code === "toolchain_unknown") return { ok: false, error: e.message, details: e.message };
      throw e;
    }
  }

  validate(wasm: Uint8Array): string | null {
    try {
      validateModule(wasm);
      return null;
    } catch (e) {
      if (isVmError(e) && e.code === "invalid_wasm") return e.message;
      throw e;
    }
  }

  hasCode(_codeHash: Uint8Array): boolean {
    return false;
  }

  call(_request: VmCallRequest): VmCallResult {
    throw new Error("vm runtime (vm/index.ts) is not available yet");
  }

  missingState(key: Uint8Array): unknown {
    return new MissingStateSignal(key);
  }

  missingKey(error: unknown): Uint8Array | null {
    return error instanceof MissingStateSignal ? error.key : null;
  }
}
