// Calls of deployed contracts: an invocation's run (version lookup, intrinsic gas, landing an ok run's writes)
// and the vm call under it, which is re-run from scratch after loading each key the vm asked for that was not
// in memory. Synchronous when the code is loaded and every key the method reads is in memory.

import { decode } from "../codec/codec.ts";
import { toHex } from "../codec/hex.ts";
import { ContractVersionInfo } from "../codec/types.ts";
import type { BlockContext, ContractVersion, InvocationContext } from "./context.ts";
import { ExecError } from "./errors.ts";
import { intrinsicGas } from "./gas.ts";
import { invalidOutcome, outOfGasOutcome, toOutcome, type Outcome } from "./outcome.ts";
import { ContractStateReader, type StateView, type VmAttempt } from "./state-view.ts";
import { stateKeys } from "./state-keys.ts";
import type { ExecStats } from "./types.ts";
import type { ContractVm, VmCallResult } from "./vm-adapter.ts";

/** Module bytes kept for code the vm may have dropped: this many, first in first out. */
const CODE_CACHE_ENTRIES = 64;

/** One method call of one contract version against a state view: what every run of it needs. */
export class ContractCall {
  constructor(
    readonly view: StateView,
    readonly version: ContractVersion,
    readonly method: string,
    readonly input: Uint8Array,
    readonly invoker: Uint8Array,
    readonly proposer: Uint8Array,
    /** The vm's gas limit (an invocation's limit minus its intrinsic charge). */
    readonly gasLimit: bigint,
  ) {}
}

export class ContractRunner {
  constructor(
    private readonly vm: ContractVm,
    /** Module bytes by code hash (hex), for code the vm does not hold; shared with the Deployer. */
    private readonly codeCache: Map<string, Uint8Array>,
    /** Most missing-state re-runs of one call before it fails as 'unavailable'. */
    private readonly maxRetries: number,
    private readonly stats: ExecStats,
  ) {}

  /** Runs an invocation of a deployed contract; an ok run's writes land on the block's overlay. */
  run(ctx: InvocationContext): Outcome | Promise<Outcome> {
    const version = contractVersion(ctx.block, ctx.inv.contract, ctx.inv.version);
    if (version instanceof Promise) return version.then((v) => this.runVersion(ctx, v));
    return this.runVersion(ctx, version);
  }

  private runVersion(ctx: InvocationContext, version: ContractVersion | null): Outcome | Promise<Outcome> {
    const inv = ctx.inv;
    if (version === null) return invalidOutcome(inv.gasLimit, `unknown contract ${inv.contract} version ${inv.version}`);
    const intrinsic = intrinsicGas(inv.input.length);
    if (inv.gasLimit < intrinsic) return outOfGasOutcome(inv.gasLimit, intrinsic);
    const call = new ContractCall(ctx.view, version, inv.method, inv.input, inv.invoker, ctx.block.proposer, inv.gasLimit - intrinsic);
    const result = this.call(call);
    if (result instanceof Promise) return result.then((r) => landed(ctx, call, r, intrinsic));
    return landed(ctx, call, result, intrinsic);
  }

  /**
   * Runs a method until it completes without touching a key that is not in memory: synchronously when the
   * code is loaded and every key it reads is in memory, else re-running from scratch after each load.
   */
  call(c: ContractCall): VmCallResult | Promise<VmCallResult> {
    if (!this.vm.hasCode(c.version.info.codeHash)) return this.callSlow(c, null);
    const attempt = this.attempt(c, null);
    if (attempt instanceof Promise) return this.callSlow(c, attempt);
    if (attempt.missing === null) return attempt.result!;
    return this.callSlow(c, attempt);
  }

  /** One run of the vm; `missing` is the first key it asked for that is not in memory (then the result is not one). */
  private attempt(c: ContractCall, wasm: Uint8Array | null): VmAttempt | Promise<VmAttempt> {
    const state = new ContractStateReader(c.view, c.version.prefix, this.vm);
    let pending: VmCallResult | Promise<VmCallResult>;
    try {
      pending = this.vm.call({
        codeHash: c.version.info.codeHash,
        wasm,
        method: c.method,
        input: c.input,
        invoker: c.invoker,
        proposer: c.proposer,
        gasLimit: c.gasLimit,
        state,
      });
    } catch (e) {
      return state.failed(e);
    }
    return pending instanceof Promise ? pending.then((r) => state.done(r), (e: unknown) => state.failed(e)) : state.done(pending);
  }

  /** The asynchronous rest of call: fetch the code if needed, load each missing key, run again. */
  private async callSlow(c: ContractCall, first: VmAttempt | Promise<VmAttempt> | null): Promise<VmCallResult> {
    let wasm: Uint8Array | null = null;
    if (first === null) {
      const info = c.version.info;
      const codeHex = toHex(info.codeHash);
      wasm = this.codeCache.get(codeHex) ?? (await c.view.read(stateKeys.code(info.codeHash)));
      // deploy writes a version's code with its record, so a recorded version without code is corrupt state.
      if (wasm === null) throw new ExecError("invariant", `code ${codeHex} of ${info.name} v${info.version} is missing from the state`);
      this.codeCache.set(codeHex, wasm);
      if (this.codeCache.size > CODE_CACHE_ENTRIES) this.codeCache.delete(this.codeCache.keys().next().value!);
    }
    let attempt = await (first ?? this.attempt(c, wasm));
    for (let reruns = 0; ; reruns++) {
      if (attempt.missing === null) return attempt.result!;
      if (reruns >= this.maxRetries) throw new ExecError("unavailable", `invocation still missing state after ${reruns} re-runs`);
      this.stats.stateRetries++;
      await c.view.load(attempt.missing.key, attempt.missing.str);
      attempt = await this.attempt(c, wasm);
    }
  }
}

/** A contract version of this block's state (cached per block), or null when there is no such version. */
function contractVersion(block: BlockContext, name: string, version: number): ContractVersion | null | Promise<ContractVersion | null> {
  const cacheKey = `${version}/${name}`;
  const hit = block.versions.get(cacheKey);
  if (hit !== undefined) return hit;
  const found = (raw: Uint8Array | null): ContractVersion | null => {
    if (raw === null) return null;
    const info = decode(ContractVersionInfo, raw, "contract version");
    const entry = { info, prefix: stateKeys.storagePrefix(info.name) };
    block.versions.set(cacheKey, entry);
    return entry;
  };
  const raw = block.view.read(stateKeys.version(name, version));
  return raw instanceof Promise ? raw.then(found) : found(raw);
}

/** A contract run's outcome (gas including the intrinsic charge); its writes land on the overlay when it is ok. */
function landed(ctx: InvocationContext, call: ContractCall, result: VmCallResult, intrinsic: bigint): Outcome {
  const outcome = toOutcome(result, call.gasLimit);
  outcome.gasUsed += intrinsic;
  if (outcome.status === "ok") {
    const prefix = call.version.prefix;
    for (const w of outcome.writes) ctx.overlay.set(stateKeys.storage(prefix, w.key), w.value.length === 0 ? null : w.value);
  }
  return outcome;
}
