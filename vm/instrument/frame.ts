/**
 * Static frame cost of a function, in stack units, for the deterministic stack-depth limit.
 *
 * A unit stands for one 8-byte machine stack slot. Measured on Node 20 (V8 11.3), x64:
 * - Liftoff (baseline tier) reserves one slot per parameter and per local, spills every operand-stack value at
 *   a call, and the caller's outgoing arguments take one more slot each; fixed frame overhead ~64-72 bytes.
 * - TurboFan frames are smaller for plain code (~40 bytes fixed, spill slots only for values live across calls),
 *   BUT value numbering and loop-invariant hoisting can keep any pure computation alive across a call: a
 *   function that recomputes 200 products after a call got a 1.6 KB TurboFan frame against 88 bytes in Liftoff.
 *   So every value-producing instruction (other than constants and local accesses) may cost a slot.
 *
 * frame = FRAME_OVERHEAD_UNITS + 2 * params + locals + maxOperandStack + valueOps
 *
 * The overhead also covers the instrumentation's own locals (gas cache, NaN temporaries) and operand values.
 * In every shape we measured the real frame was at most 8 bytes per counted unit (usually far less);
 * VmLimits.maxStackUnits and maxFrameUnits are sized from that, and test/vm-instrument-stack.test.ts checks
 * the margin under four V8 flag sets (figures in its header).
 */

export const FRAME_OVERHEAD_UNITS = 12;

export function frameUnits(params: number, locals: number, maxOperandStack: number, valueOps: number): number {
  return FRAME_OVERHEAD_UNITS + 2 * params + locals + maxOperandStack + valueOps;
}
