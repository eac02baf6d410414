// What an invocation's handler decided (an Outcome), the vm result normalized into one, and the receipt made
// from it: sorted reads and writes, the receipt codec's limits, and output and error clipped to what a receipt
// may carry.

import { compareBytes, fromUtf8, utf8 } from "../codec/hex.ts";
import { LIMITS, type Receipt } from "../codec/types.ts";
import type { InvocationContext } from "./context.ts";
import { EXEC_GAS } from "./gas.ts";
import { keyString } from "./state-keys.ts";
import type { VmCallResult, VmStatus } from "./vm-adapter.ts";

/** What one invocation's handler decided, before fees and nonces. */
export interface Outcome {
  status: VmStatus;
  gasUsed: bigint;
  output: Uint8Array;
  error: string | null;
  reads: Uint8Array[];
  writes: Array<{ key: Uint8Array; value: Uint8Array }>;
}

export const EMPTY = new Uint8Array(0);
/** The shared empty list of reads or writes (frozen: nothing may push to it). */
export const NONE: never[] = Object.freeze([]) as unknown as never[];

export function okOutcome(gasUsed: bigint, output: Uint8Array): Outcome {
  return { status: "ok", gasUsed, output, error: null, reads: NONE, writes: NONE };
}

/** Unknown contract, version or built-in method, or a malformed built-in payload. */
export function invalidOutcome(gasLimit: bigint, error: string): Outcome {
  return { status: "invalid", gasUsed: gasLimit < EXEC_GAS.invalid ? gasLimit : EXEC_GAS.invalid, output: EMPTY, error, reads: NONE, writes: NONE };
}

/** A fixed charge above the limit: the whole limit is charged. */
export function outOfGasOutcome(gasLimit: bigint, needed: bigint): Outcome {
  return { status: "out_of_gas", gasUsed: gasLimit, output: EMPTY, error: `out of gas: needs ${needed}, gas limit is ${gasLimit}`, reads: NONE, writes: NONE };
}

export function revertedOutcome(gasUsed: bigint, error: string, output: Uint8Array = EMPTY): Outcome {
  return { status: "reverted", gasUsed, output, error, reads: NONE, writes: NONE };
}

/**
 * Normalizes a vm result into an outcome the receipt codec can hold: sorted reads and writes, and limits the
 * codec enforces turned into a deterministic trap rather than an encoding failure later.
 */
export function toOutcome(r: VmCallResult, gasLimit: bigint): Outcome {
  const gasUsed = r.status === "out_of_gas" ? gasLimit : r.gasUsed > gasLimit ? gasLimit : r.gasUsed;
  // The vm returns both distinct and in key order; check that in one pass rather than sort again.
  const reads = strictlyAscending(r.reads) ? (r.reads as Uint8Array[]) : uniqueSorted(r.reads);
  let writes = r.writes as Array<{ key: Uint8Array; value: Uint8Array }>;
  if (!keysAscending(writes)) writes = [...writes].sort(byKey);
  let error: string | null = null;
  if (reads.length > LIMITS.maxReadsWrites || writes.length > LIMITS.maxReadsWrites) {
    error = `more than ${LIMITS.maxReadsWrites} distinct keys read or written`;
  } else if (longestKey(reads, writes) > LIMITS.maxKeyBytes) {
    error = `a state key exceeds ${LIMITS.maxKeyBytes} bytes`;
  } else if (largestValue(writes) > LIMITS.maxValueBytes) {
    error = `a state value exceeds ${LIMITS.maxValueBytes} bytes`;
  } else if (r.output.length > LIMITS.maxOutputBytes) {
    error = `output exceeds ${LIMITS.maxOutputBytes} bytes`;
  }
  if (error !== null) return { status: "trap", gasUsed, output: EMPTY, error, reads: [], writes: [] };
  return { status: r.status, gasUsed, output: r.output, error: r.error, reads, writes };
}

/** The receipt of an accepted invocation that paid `fee`; only an ok outcome reports its writes. */
export function settledReceipt(ctx: InvocationContext, outcome: Outcome, fee: bigint): Receipt {
  return {
    id: ctx.id,
    status: outcome.status,
    gasUsed: outcome.gasUsed,
    fee,
    output: clipBytes(outcome.output, LIMITS.maxOutputBytes),
    error: outcome.error === null ? null : clip(outcome.error, LIMITS.maxErrorBytes),
    height: ctx.block.height,
    index: ctx.index,
    reads: outcome.reads,
    writes: outcome.status === "ok" ? outcome.writes : NONE,
  };
}

/** The receipt of a rejected invocation: no fee, nothing read or written. */
export function rejectedReceipt(ctx: InvocationContext, reason: string): Receipt {
  return {
    id: ctx.id,
    status: "rejected",
    gasUsed: 0n,
    fee: 0n,
    output: EMPTY,
    error: clip(reason, LIMITS.maxErrorBytes),
    height: ctx.block.height,
    index: ctx.index,
    reads: NONE,
    writes: NONE,
  };
}

/** Truncates text to at most `max` UTF-8 bytes without splitting a character. */
function clip(text: string, max: number): string {
  const bytes = utf8(text);
  if (bytes.length <= max) return text;
  let end = max;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return fromUtf8(bytes.subarray(0, end));
}

export function clipBytes(b: Uint8Array, max: number): Uint8Array {
  return b.length <= max ? b : b.slice(0, max);
}

function byKey(a: { key: Uint8Array }, b: { key: Uint8Array }): number {
  return compareBytes(a.key, b.key);
}

function strictlyAscending(ks: readonly Uint8Array[]): boolean {
  for (let i = 1; i < ks.length; i++) if (compareBytes(ks[i - 1]!, ks[i]!) >= 0) return false;
  return true;
}

function keysAscending(ws: ReadonlyArray<{ key: Uint8Array }>): boolean {
  for (let i = 1; i < ws.length; i++) if (compareBytes(ws[i - 1]!.key, ws[i]!.key) >= 0) return false;
  return true;
}

/** Distinct keys in byte order. */
function uniqueSorted(ks: readonly Uint8Array[]): Uint8Array[] {
  if (ks.length === 0) return NONE;
  const m = new Map<string, Uint8Array>();
  for (const k of ks) m.set(keyString(k), k);
  // keyString order is byte order.
  const strs = [...m.keys()].sort();
  const out: Uint8Array[] = [];
  for (const str of strs) out.push(m.get(str)!);
  return out;
}

function longestKey(reads: readonly Uint8Array[], writes: ReadonlyArray<{ key: Uint8Array }>): number {
  let max = 0;
  for (const k of reads) if (k.length > max) max = k.length;
  for (const w of writes) if (w.key.length > max) max = w.key.length;
  return max;
}

function largestValue(writes: ReadonlyArray<{ value: Uint8Array }>): number {
  let max = 0;
  for (const w of writes) if (w.value.length > max) max = w.value.length;
  return max;
}
