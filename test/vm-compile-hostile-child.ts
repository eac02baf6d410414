// Child process of vm-compile-limits.test.ts: compiles each hostile source named on the command line (as
// `generator:arg,arg`) and prints one JSON line per source with its outcome: the code hash and work of a module,
// or the deterministic error and work of a refused compile. The parent runs it under different V8 flags.
import * as hostile from "./fixtures/hostile-sources.ts";
import { CompileError, compileContract, shutdownCompiler } from "../vm/index.ts";

export type HostileOutcome =
  | { name: string; ok: true; codeHash: string; work: { units: number; codeBytes: number } }
  | { name: string; ok: false; error: string; work: { units: number; codeBytes: number } };

/** Builds the source a `generator:arg,arg` spec names. */
export function hostileSource(spec: string): string {
  const [gen, args = ""] = spec.split(":");
  const make = (hostile as unknown as Record<string, (...a: number[]) => string>)[gen!];
  if (!make) throw new Error(`no hostile source generator ${gen}`);
  return make(...(args ? args.split(",").map(Number) : []));
}

export async function compileHostile(spec: string): Promise<HostileOutcome> {
  try {
    const c = await compileContract({ entry: "hostile.ts", files: { "hostile.ts": hostileSource(spec) } });
    return { name: spec, ok: true, codeHash: c.codeHashHex, work: c.work };
  } catch (e) {
    if (e instanceof CompileError) return { name: spec, ok: false, error: e.message, work: e.work };
    throw e;
  }
}

if (process.argv[1]?.endsWith("vm-compile-hostile-child.ts")) {
  for (const spec of process.argv.slice(2)) process.stdout.write(`${JSON.stringify(await compileHostile(spec))}\n`);
  await shutdownCompiler();
}
