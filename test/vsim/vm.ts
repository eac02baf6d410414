// The contract vm of simulated validators: the real one (validation, metering, instances, gas), with the
// compile worker replaced by the outcomes of real compiles made once per process before any seed runs. A
// worker's timing is the one thing of the vm a seed cannot fix; its crashes are injected instead.

import { readFileSync } from "node:fs";
import { RealContractVm, type CompileOutcome, type ContractSourcesInput, type ContractVm, type VmCallRequest, type VmCallResult } from "../../node/exec/vm-adapter.ts";
import { sourcesHash } from "../../vm/index.ts";

const compiled = new Map<string, CompileOutcome>();
const shared = new RealContractVm();

function keyOf(toolchain: string, sources: ContractSourcesInput): string {
  return `${toolchain}/${sourcesHash(sources)}`;
}

/** Compiles (really) the contracts the simulation deploys, so simulated deploys find their outcomes. */
export async function precompile(toolchain: string, sources: ContractSourcesInput[]): Promise<void> {
  for (const s of sources) {
    const key = keyOf(toolchain, s);
    if (!compiled.has(key)) compiled.set(key, await shared.compile(toolchain, s));
  }
}

export function exampleSources(name: string): ContractSourcesInput {
  const content = readFileSync(new URL(`../../contracts/examples/${name}.ts`, import.meta.url), "utf8");
  return { entry: `${name}.ts`, files: { [`${name}.ts`]: content } };
}

export class SimVm implements ContractVm {
  /** Compiles to fail as a crashed worker would (an environmental failure), decided per call by the seed. */
  crashCompile: () => boolean = () => false;

  supportedToolchains(): readonly string[] {
    return shared.supportedToolchains();
  }

  compile(toolchain: string, sources: ContractSourcesInput): Promise<CompileOutcome> {
    if (this.crashCompile()) return Promise.reject(new Error("simulated compile worker crash"));
    const hit = compiled.get(keyOf(toolchain, sources));
    if (hit === undefined) return Promise.reject(new Error("simulation: sources not precompiled"));
    return Promise.resolve(hit);
  }

  validate(wasm: Uint8Array): string | null {
    return shared.validate(wasm);
  }

  hasCode(codeHash: Uint8Array): boolean {
    return shared.hasCode(codeHash);
  }

  call(request: VmCallRequest): VmCallResult {
    return shared.call(request);
  }

  missingState(key: Uint8Array): unknown {
    return shared.missingState(key);
  }

  missingKey(error: unknown): Uint8Array | null {
    return shared.missingKey(error);
  }
}
