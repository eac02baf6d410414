/**
 * Static frame cost of a function, in stack units, for the deterministic stack-depth limit.
 *
 * A unit stands for one 8-byte machine stack slot, which is what V8's baseline compiler (Liftoff, the tier with
 * the largest frames) reserves per local and per spilled operand-stack value. A frame costs a fixed overhead
 * (return address, frame pointer, instance and feedback slots, the instrumentation's own temporaries) plus one
 * unit per parameter, per declared local and per value of the function's maximum operand-stack height.
 * Parameters count twice: once in the caller's outgoing argument area and once in the callee's spill slots.
 *
 * The limit VmLimits.maxStackUnits is chosen (see test/vm-instrument-stack.test.ts and the report) so that the
 * native V8 stack cannot overflow before this count does, under every V8 tier/flag combination we support.
 */

export const FRAME_OVERHEAD_UNITS = 8;

export function frameUnits(params: number, locals: number, maxOperandStack: number): number {
  return FRAME_OVERHEAD_UNITS + 2 * params + locals + maxOperandStack;
}
