// Shared by the vm runtime/compile/contract tests: compile AssemblyScript from a string or a file, an in-memory
// state that applies writes like a node would, and a terse way to call a method.
import { readFileSync } from "node:fs";
import {
  compileContract,
  loadContract,
  loadContractSources,
  runContract,
  type LoadedContract,
  type RunResult,
  type StateView,
} from "../vm/index.ts";

export const REPO = new URL("..", import.meta.url).pathname;
export const EXAMPLES = `${REPO}contracts/examples/`;

export async function compileSource(source: string, name = "contract.ts"): Promise<Uint8Array> {
  return (await compileContract({ entry: name, files: { [name]: source } })).wasm;
}

export async function compileExample(name: string): Promise<Uint8Array> {
  return (await compileContract(loadContractSources(`${EXAMPLES}${name}.ts`).sources)).wasm;
}

export function readExample(name: string): string {
  return readFileSync(`${EXAMPLES}${name}.ts`, "utf8");
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** A key-value state that counts reads and applies the writes of ok runs. */
export class MemoryState implements StateView {
  readonly data = new Map<string, Uint8Array>();
  gets = 0;

  get(key: Uint8Array): Uint8Array | null {
    this.gets++;
    return this.data.get(hex(key)) ?? null;
  }

  apply(r: RunResult): RunResult {
    if (r.status === "ok") {
      for (const w of r.writes) {
        if (w.value.length === 0) this.data.delete(hex(w.key));
        else this.data.set(hex(w.key), w.value);
      }
    }
    return r;
  }

  getString(key: string): string | null {
    const v = this.data.get(hex(new TextEncoder().encode(key)));
    return v ? new TextDecoder().decode(v) : null;
  }
}

export const ALICE = new Uint8Array(32).fill(0xa1);
export const BOB = new Uint8Array(32).fill(0xb2);
export const PROPOSER = new Uint8Array(32).fill(0x99);

export interface CallOptions {
  input?: string | Uint8Array;
  invoker?: Uint8Array;
  gas?: bigint;
  state?: StateView;
}

/** Runs `method` and, when `state` is a MemoryState, applies the writes of an ok run. */
export function call(contract: LoadedContract, method: string, opts: CallOptions = {}): RunResult {
  const input = typeof opts.input === "string" ? new TextEncoder().encode(opts.input) : (opts.input ?? new Uint8Array(0));
  const state = opts.state ?? new MemoryState();
  const r = runContract(contract, {
    method,
    input,
    invoker: opts.invoker ?? ALICE,
    proposer: PROPOSER,
    gasLimit: opts.gas ?? 100_000_000n,
    state,
  });
  return state instanceof MemoryState ? state.apply(r) : r;
}

export const text = (r: RunResult) => new TextDecoder().decode(r.output);

export { loadContract, hex };
