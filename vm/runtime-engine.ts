/**
 * Typed access to the parts of the host's WebAssembly API the runtime uses. The project compiles against lib
 * ES2022 without DOM, which declares no WebAssembly types.
 */

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

export interface WasmGlobal {
  value: number | bigint;
}

export interface WasmModule {
  readonly __brand?: "WebAssembly.Module";
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

export interface ModuleExportDescriptor {
  readonly name: string;
  readonly kind: "function" | "table" | "memory" | "global" | "tag";
}

export type Imports = Record<string, Record<string, unknown>>;

interface WasmApi {
  Module: {
    new (bytes: Uint8Array): WasmModule;
    exports(module: WasmModule): ModuleExportDescriptor[];
    imports(module: WasmModule): { module: string; name: string; kind: string }[];
  };
  Instance: new (module: WasmModule, imports?: Imports) => WasmInstance;
  Memory: new (descriptor: { initial: number; maximum?: number }) => WasmMemory;
  Global: new (descriptor: { value: string; mutable?: boolean }, value?: number | bigint) => WasmGlobal;
  RuntimeError: new (...args: never[]) => Error;
  CompileError: new (...args: never[]) => Error;
  LinkError: new (...args: never[]) => Error;
}

export const wasm: WasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export function isMemory(v: unknown): v is WasmMemory {
  return v instanceof (wasm.Memory as unknown as new () => object);
}

export function isGlobal(v: unknown): v is WasmGlobal {
  return v instanceof (wasm.Global as unknown as new () => object);
}
