/**
 * Deterministic names for Wasm traps. The engine's messages are V8's wording and may change between Node
 * versions; results carry these fixed names instead (the spec's own trap names where it has them).
 */

const TRAPS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^unreachable/i, "unreachable"],
  [/memory access out of bounds|out of bounds memory|data segment.*out of bounds/i, "out of bounds memory access"],
  [/divide by zero|remainder by zero|division by zero/i, "integer divide by zero"],
  [/divide result unrepresentable|integer overflow/i, "integer overflow"],
  [/float unrepresentable|invalid conversion to integer/i, "invalid conversion to integer"],
  [/signature mismatch|indirect call.*type/i, "indirect call type mismatch"],
  [/table index is out of bounds|invalid index into function table|element segment.*out of bounds|uninitialized element/i, "undefined element"],
  [/unaligned/i, "unaligned atomic access"],
];

/** The fixed name of the trap whose engine message is `message` ("wasm trap" when unrecognised). */
export function describeTrap(message: string): string {
  for (const [pattern, name] of TRAPS) if (pattern.test(message)) return name;
  return "wasm trap";
}
