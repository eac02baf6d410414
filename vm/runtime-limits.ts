/**
 * Limits the runtime enforces on one invocation, on top of the module limits of vm/limits.ts.
 * They are part of consensus (a violation is a deterministic `trap`), so every node uses the same values.
 */

import { VmError } from "./errors.ts";

export interface RuntimeLimits {
  /** Largest key a contract may read or write. */
  readonly maxKeyBytes: number;
  /** Largest value a contract may write. */
  readonly maxValueBytes: number;
  /** Distinct keys one invocation may write (deletions included). */
  readonly maxWrites: number;
  /** Largest result a method may return. */
  readonly maxOutputBytes: number;
  /** Largest input an invocation may carry (bigger requests are `invalid`). */
  readonly maxInputBytes: number;
  /** Revert/abort messages are cut to this many UTF-16 units (they end up in receipts). */
  readonly maxErrorChars: number;
}

export const DEFAULT_RUNTIME_LIMITS: RuntimeLimits = Object.freeze({
  maxKeyBytes: 1024,
  maxValueBytes: 256 * 1024,
  maxWrites: 4096,
  maxOutputBytes: 64 * 1024,
  maxInputBytes: 256 * 1024,
  maxErrorChars: 1024,
});

export function resolveRuntimeLimits(overrides?: Partial<RuntimeLimits>): RuntimeLimits {
  if (!overrides) return DEFAULT_RUNTIME_LIMITS;
  const merged: RuntimeLimits = { ...DEFAULT_RUNTIME_LIMITS, ...overrides };
  for (const [key, value] of Object.entries(merged)) {
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      throw new VmError("bad_config", `RuntimeLimits.${key} must be a non-negative safe integer, got ${String(value)}`);
    }
  }
  return Object.freeze(merged);
}
