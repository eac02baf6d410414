/**
 * Deterministic bounds on compiling contract source, and the measure of a compile's work.
 *
 * The AssemblyScript compiler and Binaryen's optimizer take time that grows faster than the source: generics can
 * double their instances at each level of nesting, a generic can instantiate itself with an ever larger type, and
 * the optimizer is quadratic in the size of one function. A wall-clock timeout cannot bound that fairly, since
 * validators of different speeds would disagree about which deploys fit. Instead every compile is metered in
 * units that do not depend on the machine (see vm/compile-meter.ts):
 *  - `units`: calls of the compiler's parsing, resolving and compiling steps, each a small, bounded amount of
 *    work. The count is a property of the compiler's program and the sources, identical on every validator.
 *  - `depth`: how deeply those calls nest. Bounding it keeps the compiler far from the thread's stack limit,
 *    whose exact position depends on the JIT tier and so is not deterministic.
 *  - the unoptimized module's code size, in total and per function, which is what the optimizer's time grows
 *    with (quadratically per function, so the per-function bound matters most).
 * A compile that exceeds a bound fails the same way on every validator, as a compile error of the deploy.
 *
 * These numbers are part of what a toolchain id means: changing them changes which deploys succeed.
 */

export interface CompileLimits {
  /** Metered compiler steps (parse, resolve, compile calls) in one compile. */
  readonly maxUnits: number;
  /** Nesting of metered steps (source nesting, type nesting, functions compiled while compiling another). */
  readonly maxDepth: number;
  /** Bytes of all function bodies of the module before optimization. */
  readonly maxCodeBytes: number;
  /** Bytes of the largest function body before optimization. */
  readonly maxFunctionCodeBytes: number;
  /** Functions in the module before optimization (imports not counted). */
  readonly maxFunctions: number;
}

// Sizing (the example contracts' measures and the hostile sources' compile times are in bench/PERFORMANCE.md,
// "Compile bounds"): the bounds leave real contracts many times the room they use while the slowest source we
// could write stays within seconds. The optimizer is roughly linear in the total code but quadratic in one
// function's, hence the small per-function bound.
export const DEFAULT_COMPILE_LIMITS: CompileLimits = Object.freeze({
  maxUnits: 1_000_000,
  maxDepth: 1_000,
  maxCodeBytes: 128 * 1024,
  maxFunctionCodeBytes: 4 * 1024,
  maxFunctions: 4_000,
});

/** What one compile measured; the deployer pays for it (node/exec/gas.ts) whether the compile succeeded or not. */
export interface CompileWork {
  readonly units: number;
  /** Bytes of all function bodies before optimization (0 when the compile stopped before emitting a module). */
  readonly codeBytes: number;
}

export const NO_WORK: CompileWork = Object.freeze({ units: 0, codeBytes: 0 });
