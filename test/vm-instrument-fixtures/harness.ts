/**
 * Runs instrumented modules the way the runtime does (per notes/vm-contract.md): set `__cairn_gas`, call, read
 * the gas back, classify traps with `__cairn_trap`. Host functions charge hostCallBase + hostPerByte in JS.
 */

import { DEFAULT_GAS_SCHEDULE } from "../../vm/gas.ts";
import { engine, type EngineGlobal } from "../../vm/wasm/engine.ts";

export type Status = "ok" | "out_of_gas" | "stack_overflow" | "trap" | "native_stack_overflow";

export interface Outcome {
  status: Status;
  gasUsed: bigint;
  value: unknown;
  error?: string;
}

export interface Instance {
  readonly exports: Record<string, unknown>;
  readonly memory: () => Uint8Array;
  call(name: string, gasLimit: bigint, ...args: unknown[]): Outcome;
  start(gasLimit: bigint): Outcome;
  hostCalls: number;
}

export function instantiate(wasm: Uint8Array, hostWork?: (key: Uint8Array) => void): Instance {
  let exports: Record<string, unknown> = {};
  const gas = (): EngineGlobal => exports.__cairn_gas as EngineGlobal;
  const trap = (): EngineGlobal => exports.__cairn_trap as EngineGlobal;
  const mem = (): Uint8Array => new Uint8Array((exports.memory as { buffer: ArrayBuffer }).buffer);
  const charge = (bytes: number): void => {
    const cost = BigInt(DEFAULT_GAS_SCHEDULE.hostCallBase + DEFAULT_GAS_SCHEDULE.hostPerByte * bytes);
    const left = gas().value as bigint;
    if (left < cost) {
      gas().value = 0n;
      trap().value = 1;
      throw new Error("out of gas in host");
    }
    gas().value = left - cost;
  };
  const self: Instance = {
    get exports() {
      return exports;
    },
    memory: mem,
    hostCalls: 0,
    call(name, gasLimit, ...args) {
      gas().value = gasLimit;
      trap().value = 0;
      (exports.__cairn_stack as EngineGlobal).value = 0;
      try {
        const value = (exports[name] as (...a: unknown[]) => unknown)(...args);
        return { status: "ok", gasUsed: gasLimit - (gas().value as bigint), value };
      } catch (e) {
        const used = gasLimit - (gas().value as bigint);
        const error = e instanceof Error ? e.message : String(e);
        if (e instanceof RangeError) return { status: "native_stack_overflow", gasUsed: used, value: undefined, error };
        const t = trap().value;
        const status: Status = t === 1 ? "out_of_gas" : t === 2 ? "stack_overflow" : "trap";
        return { status, gasUsed: used, value: undefined, error };
      }
    },
    start(gasLimit) {
      return self.call("__cairn_start", gasLimit);
    },
  };
  const host = {
    cairn: {
      get: (kp: number, kl: number, _bp: number, _bc: number): number => {
        self.hostCalls++;
        charge(kl);
        hostWork?.(mem().slice(kp, kp + kl));
        return -1;
      },
      set: (_kp: number, kl: number, _vp: number, vl: number): void => {
        self.hostCalls++;
        charge(kl + vl);
      },
      proposer_addr: (_p: number): void => {
        charge(32);
      },
    },
    env: {
      abort: (): void => {
        charge(0);
        throw new Error("abort");
      },
    },
  };
  exports = new engine.Instance(new engine.Module(wasm), host).exports;
  return self;
}

/** Instantiate an uninstrumented module with no-op hosts (for comparing behaviour). */
export function instantiatePlain(wasm: Uint8Array): Record<string, unknown> {
  return new engine.Instance(new engine.Module(wasm), {
    cairn: { get: () => -1, set: () => {}, proposer_addr: () => {} },
    env: { abort: () => { throw new Error("abort"); } },
  }).exports;
}
