// Gas charged by the execution layer itself (the vm charges Wasm execution from vm/gas.ts). Part of consensus:
// every validator must use these numbers, so they are constants of the chain, never node settings.

export const EXEC_GAS = Object.freeze({
  /** Charged to every accepted invocation before anything runs (covers signature check, nonce, bookkeeping). */
  intrinsic: 1_000n,
  /** Plus this much per byte of the invocation's input (it is stored in the block forever). */
  perInputByte: 1n,
  /** The whole charge of an invocation whose contract, version or built-in method does not exist (capped at its gas limit). */
  invalid: 1_000n,
  /** bank.transfer on top of the intrinsic charge. */
  transfer: 1_000n,
  /** deploy on top of the intrinsic charge: a fixed base ... */
  deployBase: 100_000n,
  /** ... plus this per byte of source (path and content, UTF-8). Never compile time: that is not deterministic. */
  deployPerSourceByte: 10n,
  /**
   * ... plus the compile's deterministic measure (vm/compile-limits.ts), whether it succeeded or not: this per
   * metered compiler step ...
   */
  deployPerCompileUnit: 1n,
  /** ... and this per byte of code before optimization (what the optimizer's time grows with). */
  deployPerCodeByte: 10n,
});

/** Gas for the compile work a deploy caused. */
export function compileGas(work: { readonly units: number; readonly codeBytes: number }): bigint {
  return EXEC_GAS.deployPerCompileUnit * BigInt(work.units) + EXEC_GAS.deployPerCodeByte * BigInt(work.codeBytes);
}

export const U64_MAX = (1n << 64n) - 1n;

/** Intrinsic gas of an invocation with `inputLength` bytes of input. */
export function intrinsicGas(inputLength: number): bigint {
  return EXEC_GAS.intrinsic + EXEC_GAS.perInputByte * BigInt(inputLength);
}
