// The deploy built-in (deploy.deploy): version 1 of a name creates it with the invoker as owner, version n+1 by
// the owner adds a version. Also what the node does with deploys before they run: compile early (prefetch) and
// refuse admission to a deploy this validator cannot compile for environmental reasons.

import { decode, encode } from "../codec/codec.ts";
import { bytesEqual, toHex, utf8 } from "../codec/hex.ts";
import {
  BUILTIN_DEPLOY,
  ContractVersionInfo,
  DeployPayload,
  LIMITS,
  type ContractVersionInfo as ContractVersionInfoT,
  type DeployPayload as DeployPayloadT,
  type SignedInvocation,
  type SourceFile,
} from "../codec/types.ts";
import { k12 } from "../crypto/hash.ts";
import type { InvocationContext } from "./context.ts";
import { ExecError } from "./errors.ts";
import { EXEC_GAS, compileGas, intrinsicGas } from "./gas.ts";
import { clipBytes, invalidOutcome, okOutcome, outOfGasOutcome, revertedOutcome, type Outcome } from "./outcome.ts";
import { ContractRecord, SourceList, stateKeys } from "./state-keys.ts";
import type { ContractSourcesInput, ContractVm } from "./vm-adapter.ts";

export class Deployer {
  constructor(
    private readonly vm: ContractVm,
    /** Module bytes by code hash (hex), shared with the contract runner so a fresh deploy's code is at hand. */
    private readonly codeCache: Map<string, Uint8Array>,
  ) {}

  /** Runs a deploy invocation; writes to the block's overlay only when it succeeds. */
  async run(ctx: InvocationContext): Promise<Outcome> {
    const inv = ctx.inv;
    const height = ctx.block.height;
    if (inv.method !== "deploy") return invalidOutcome(inv.gasLimit, `deploy has no method ${JSON.stringify(inv.method)} (it has: deploy)`);
    let payload: DeployPayloadT;
    try {
      payload = decode(DeployPayload, inv.input, "deploy payload");
    } catch (e) {
      return invalidOutcome(inv.gasLimit, `malformed deploy payload: ${(e as Error).message}`);
    }
    let sourceBytes = 0;
    for (const f of payload.sources) sourceBytes += utf8(f.path).length + utf8(f.content).length;
    const gas = intrinsicGas(inv.input.length) + EXEC_GAS.deployBase + EXEC_GAS.deployPerSourceByte * BigInt(sourceBytes);
    if (inv.gasLimit < gas) return outOfGasOutcome(inv.gasLimit, gas);

    const name = payload.name;
    const recordKey = stateKeys.contract(name);
    const recordRaw = await ctx.view.read(recordKey);
    const record = recordRaw === null ? null : decode(ContractRecord, recordRaw, "contract record");
    if (payload.version === 0) return revertedOutcome(gas, "contract versions start at 1");
    if (record === null) {
      if (payload.version !== 1) return revertedOutcome(gas, `contract ${name} does not exist: its first deploy must be version 1, not ${payload.version}`);
    } else {
      if (!bytesEqual(record.owner, inv.invoker)) {
        return revertedOutcome(gas, `contract ${name} belongs to ${toHex(record.owner)}; only its owner may deploy new versions`);
      }
      if (payload.version !== record.latest + 1) {
        return revertedOutcome(gas, `contract ${name} is at version ${record.latest}; the next deploy must be version ${record.latest + 1}, not ${payload.version}`);
      }
    }
    if (!this.vm.supportedToolchains().includes(payload.toolchain)) {
      return revertedOutcome(gas, `toolchain ${JSON.stringify(payload.toolchain)} is not supported (supported: ${this.vm.supportedToolchains().join(", ")})`);
    }
    const sources = toContractSources(payload);
    if (typeof sources === "string") return revertedOutcome(gas, sources);
    let compiled;
    try {
      compiled = await this.vm.compile(payload.toolchain, sources);
    } catch (e) {
      throw new ExecError("unavailable", `compiling ${name} v${payload.version} failed outside the sources' control: ${(e as Error).message}`, height, { cause: e });
    }
    // The compile's work is paid whatever its result; a deploy whose limit does not cover it runs out of gas.
    const withCompile = gas + compileGas(compiled.work);
    if (inv.gasLimit < withCompile) return outOfGasOutcome(inv.gasLimit, withCompile);
    if (!compiled.ok) return revertedOutcome(withCompile, compiled.error, clipBytes(utf8(compiled.details), LIMITS.maxOutputBytes));
    const invalid = this.vm.validate(compiled.wasm);
    if (invalid !== null) return revertedOutcome(withCompile, `compiled module is not acceptable: ${invalid}`);

    const sourceList: SourceFile[] = payload.sources;
    const sourcesEncoded = encode(SourceList, sourceList);
    const info: ContractVersionInfoT = {
      name,
      version: payload.version,
      owner: record === null ? inv.invoker : record.owner,
      toolchain: payload.toolchain,
      entry: payload.entry,
      codeHash: compiled.codeHash,
      sourcesHash: k12("cairn.sources", sourcesEncoded),
      deployedAt: height,
    };
    const overlay = ctx.overlay;
    overlay.set(recordKey, encode(ContractRecord, { owner: info.owner, latest: payload.version }));
    overlay.set(stateKeys.version(name, payload.version), encode(ContractVersionInfo, info));
    overlay.set(stateKeys.sources(name, payload.version), sourcesEncoded);
    overlay.set(stateKeys.code(compiled.codeHash), compiled.wasm);
    this.codeCache.set(toHex(compiled.codeHash), compiled.wasm);
    return okOutcome(withCompile, compiled.codeHash);
  }

  /** Starts compiling every well-formed deploy among `invocations` (in the vm's worker); never throws. */
  prefetch(invocations: readonly SignedInvocation[]): void {
    for (const inv of invocations) {
      const compilable = this.compilable(inv);
      if (compilable !== null) this.vm.compile(compilable.toolchain, compilable.sources).catch(() => undefined);
    }
  }

  /**
   * Compiles a deploy's sources now (cached, in the worker) and says why this validator cannot accept it when
   * the compile fails for environmental reasons (a compiler crash or timeout). Such a deploy could not be
   * executed as a receipt, and admitting it would let it reach a block that no validator can execute.
   * Deterministic outcomes (success, or diagnostics that become a reverted receipt) return null, as does anything
   * that is not a deploy or is malformed (execution reports those).
   */
  async admissionError(inv: SignedInvocation): Promise<string | null> {
    const compilable = this.compilable(inv);
    if (compilable === null) return null;
    try {
      await this.vm.compile(compilable.toolchain, compilable.sources, "background");
      return null;
    } catch (e) {
      return `the sources could not be compiled on this validator (${(e as Error).message}); not admitted`;
    }
  }

  /** A deploy's toolchain and sources when it is one this vm would compile, else null (execution reports why). */
  private compilable(inv: SignedInvocation): { toolchain: string; sources: ContractSourcesInput } | null {
    if (inv.contract !== BUILTIN_DEPLOY) return null;
    let payload: DeployPayloadT;
    try {
      payload = decode(DeployPayload, inv.input, "deploy payload");
    } catch {
      return null;
    }
    const sources = toContractSources(payload);
    if (typeof sources === "string" || !this.vm.supportedToolchains().includes(payload.toolchain)) return null;
    return { toolchain: payload.toolchain, sources };
  }
}

/** Deploy payload sources as the compiler takes them, or the reason they cannot be. */
function toContractSources(payload: DeployPayloadT): ContractSourcesInput | string {
  const files: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const f of payload.sources) {
    if (Object.hasOwn(files, f.path)) return `source path ${JSON.stringify(f.path)} appears twice`;
    files[f.path] = f.content;
  }
  if (!Object.hasOwn(files, payload.entry)) return `entry ${JSON.stringify(payload.entry)} is not one of the sources`;
  return { entry: payload.entry, files: { ...files } };
}
