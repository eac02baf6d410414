/**
 * Typed access to the host's WebAssembly API. The project compiles against lib ES2022 without DOM, which has no
 * WebAssembly declarations, so the few members the instrumenter and its tests use are typed here.
 */

export interface EngineGlobal {
  value: number | bigint;
}

export interface EngineInstance {
  readonly exports: Record<string, unknown>;
}

export interface EngineModule {
  readonly __brand?: "WebAssembly.Module";
}

export interface WasmEngine {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => EngineModule;
  Instance: new (module: EngineModule, imports?: Record<string, Record<string, unknown>>) => EngineInstance;
  RuntimeError: new (...args: never[]) => Error;
  CompileError: new (...args: never[]) => Error;
}

export const engine: WasmEngine = (globalThis as unknown as { WebAssembly: WasmEngine }).WebAssembly;
