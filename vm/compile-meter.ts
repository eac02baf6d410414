/**
 * Meters the AssemblyScript compiler in its worker thread (see vm/compile-limits.ts for why and what).
 *
 * `installMeter` wraps a fixed list of the compiler's recursive methods once per thread; each call through a
 * wrapper is one unit and one level of depth while it runs. Outside a metered compile the wrappers only pass
 * the call on. When a bound is exceeded the wrapper records why and throws; every later call throws again, so the
 * compile unwinds quickly whatever the compiler does with the first exception. The result is then that
 * recorded reason, not whatever error reached the surface.
 */

import * as as from "assemblyscript";
import type { CompileLimits, CompileWork } from "./compile-limits.ts";
import { ByteReader } from "./wasm/bytes.ts";

/** Thrown inside the compiler to stop it; never leaves the worker. */
class CompileBoundReached extends Error {}

/** The compiler's methods that every unbounded recursion or repetition passes through. */
const METERED: ReadonlyArray<readonly [object, readonly string[]]> = [
  [as.Parser.prototype, ["parseTopLevelStatement", "parseStatement", "parseExpression", "parseType"]],
  [as.Resolver.prototype, ["resolveType", "resolveExpression", "lookupExpression", "resolveFunction", "resolveClass"]],
  [as.Compiler.prototype, ["compileFunction", "compileGlobal", "compileStatement", "compileExpression"]],
  [as.Program.prototype, ["checkTypeSupported"]],
];

export class CompileMeter {
  units = 0;
  depth = 0;
  codeBytes = 0;
  /** Why the compile was stopped, once a bound was exceeded. */
  exceeded: string | null = null;

  constructor(readonly limits: CompileLimits) {}

  enter(): void {
    if (this.exceeded !== null) throw new CompileBoundReached(this.exceeded);
    this.units++;
    this.depth++;
    if (this.units > this.limits.maxUnits) this.stop(`the compile needs more than ${this.limits.maxUnits} steps`);
    if (this.depth > this.limits.maxDepth) {
      this.stop(`the compile nests more than ${this.limits.maxDepth} levels deep (deeply nested source, types or generic instantiation)`);
    }
  }

  /** Checks the unoptimized module (its binary) before the optimizer runs over it. */
  measureModule(binary: Uint8Array): void {
    const { functions, codeBytes, largest } = codeSectionSizes(binary);
    this.codeBytes = codeBytes;
    const l = this.limits;
    if (functions > l.maxFunctions) this.stop(`the module has ${functions} functions (more than ${l.maxFunctions})`);
    if (codeBytes > l.maxCodeBytes) this.stop(`the module's code is ${codeBytes} bytes before optimization (more than ${l.maxCodeBytes})`);
    if (largest > l.maxFunctionCodeBytes) {
      this.stop(`a function's code is ${largest} bytes before optimization (more than ${l.maxFunctionCodeBytes}); split it into smaller functions`);
    }
  }

  work(): CompileWork {
    return { units: this.units, codeBytes: this.codeBytes };
  }

  private stop(reason: string): never {
    this.exceeded = `compile limit exceeded: ${reason}`;
    throw new CompileBoundReached(this.exceeded);
  }
}

let active: CompileMeter | null = null;
let installed = false;

/** Wraps the compiler's metered methods (once per thread). */
export function installMeter(): void {
  if (installed) return;
  installed = true;
  for (const [proto, names] of METERED) {
    const methods = proto as Record<string, (...args: unknown[]) => unknown>;
    for (const name of names) {
      const original = methods[name];
      if (typeof original !== "function") throw new Error(`compile meter: the compiler has no method ${name}; update vm/compile-meter.ts for this compiler version`);
      methods[name] = function metered(this: unknown, ...args: unknown[]): unknown {
        const meter = active;
        if (meter === null) return original.apply(this, args);
        meter.enter();
        try {
          return original.apply(this, args);
        } finally {
          meter.depth--;
        }
      };
    }
  }
}

/** Runs one compile under `meter`; compiles in one thread never overlap (the worker takes one job at a time). */
export async function metered<T>(meter: CompileMeter, compile: () => Promise<T>): Promise<T> {
  installMeter();
  if (active !== null) throw new Error("compile meter: compiles overlap in one thread");
  active = meter;
  try {
    return await compile();
  } finally {
    active = null;
  }
}

/** Function count, total and largest body size of a module's code section (a module the compiler just emitted). */
export function codeSectionSizes(binary: Uint8Array): { functions: number; codeBytes: number; largest: number } {
  const r = new ByteReader(binary, 8);
  while (!r.atEnd()) {
    const id = r.u8();
    const end = r.u32() + r.pos;
    if (id === 10) {
      const functions = r.u32();
      let codeBytes = 0;
      let largest = 0;
      for (let i = 0; i < functions; i++) {
        const body = r.u32();
        codeBytes += body;
        largest = Math.max(largest, body);
        r.pos += body;
      }
      return { functions, codeBytes, largest };
    }
    r.pos = end;
  }
  return { functions: 0, codeBytes: 0, largest: 0 };
}
