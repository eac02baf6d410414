// State shared between the public API (index.ts) and the host-facing exports (abi.ts).
// Both reach this file through the package name "cairn/internal", so there is exactly one copy of it.

/** invoker (32 bytes) ++ input, filled by the host through `__cairn_prepare` before the method runs. */
export let callBuffer: ArrayBuffer | null = null;
/** The method's result; the host reads it after the method returns. */
export let outputBuffer: ArrayBuffer | null = null;

export const INVOKER_BYTES: i32 = 32;

export function setCallBuffer(buffer: ArrayBuffer): void {
  callBuffer = buffer;
}

export function setOutputBuffer(buffer: ArrayBuffer): void {
  outputBuffer = buffer;
}

export function requireCallBuffer(): ArrayBuffer {
  const buffer = callBuffer;
  if (buffer === null) {
    abort("cairn: no invocation data (the host did not call __cairn_prepare)");
    return new ArrayBuffer(0);
  }
  return buffer;
}
