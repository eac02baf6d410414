/**
 * Child process of test/vm-instrument-stack.test.ts (run under different V8 flags). For each frame shape it
 * recurses until something stops it, once uninstrumented (where V8's native stack overflows) and once
 * instrumented with the default limits (where our stack-unit limit must trap first), and prints one JSON line.
 * The recursion is entered from a deep JS stack and every frame calls a host function that itself runs JS
 * (hashing, a few nested calls), as the runtime's host functions would.
 */

import { readFileSync } from "node:fs";
import { kt128 } from "@noble/hashes/sha3-addons.js";
import { prepareModule } from "../../vm/instrument/index.ts";
import { engine, type EngineGlobal } from "../../vm/wasm/engine.ts";
import type { ShapeModule } from "./stack-shapes.ts";

// the modules are built by the parent (binaryen is slow to load through tsx) and passed as a JSON file
const SHAPES = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as ShapeModule[];

let gas: EngineGlobal | undefined;
function hostWork(bytes: Uint8Array, depth: number): number {
  // a few nested JS frames and real work, like a host function reading state
  if (depth > 0) return hostWork(bytes, depth - 1) + 1;
  return kt128(bytes, { dkLen: 32 })[0]!;
}
function instantiate(wasm: Uint8Array) {
  let mem: Uint8Array | undefined;
  const ex = new engine.Instance(new engine.Module(wasm), {
    cairn: {
      get: (kp: number, kl: number) => {
        if (gas) gas.value = (gas.value as bigint) - 200n - 2n * BigInt(kl);
        hostWork(mem!.subarray(kp, kp + kl), 20);
        return -1;
      },
      set: () => {},
      proposer_addr: () => {},
    },
    env: { abort: () => { throw new Error("abort"); } },
  }).exports;
  mem = new Uint8Array((ex.memory as { buffer: ArrayBuffer }).buffer);
  return ex;
}

/** Call `f` from a JS stack `jsDepth` frames deep. */
function deep<T>(jsDepth: number, f: () => T): T {
  return jsDepth === 0 ? f() : deep(jsDepth - 1, f);
}

const GAS = 1n << 50n;
const results: Record<string, unknown> = {};
for (const shape of SHAPES) {
  const raw = new Uint8Array(Buffer.from(shape.wasm, "base64"));
  const extra = Array.from({ length: shape.params }, () => 0n);

  // 1. uninstrumented: where does V8 itself overflow?
  gas = undefined;
  const plain = instantiate(raw);
  for (let i = 0; i < 150; i++) (plain.f as (...a: unknown[]) => unknown)(0, 10, ...extra); // warm up (tier-up)
  let nativeDepth = -1;
  try {
    deep(300, () => (plain.f as (...a: unknown[]) => unknown)(0, 0x7fffffff, ...extra));
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    nativeDepth = (plain.depth as () => number)();
  }

  // 2. instrumented with the default limits: our limit must trap first, identically every time
  const ex = instantiate(prepareModule(raw));
  gas = ex.__cairn_gas as EngineGlobal;
  const trap = ex.__cairn_trap as EngineGlobal;
  const stack = ex.__cairn_stack as EngineGlobal;
  const run = (max: number) => {
    gas!.value = GAS;
    trap.value = 0;
    stack.value = 0;
    try {
      deep(300, () => (ex.f as (...a: unknown[]) => unknown)(0, max, ...extra));
      return { status: "ok", depth: (ex.depth as () => number)(), gasUsed: String(GAS - (gas!.value as bigint)) };
    } catch (e) {
      const status = e instanceof RangeError ? "native_stack_overflow" : trap.value === 2 ? "stack_overflow" : trap.value === 1 ? "out_of_gas" : `trap: ${String(e)}`;
      return { status, depth: (ex.depth as () => number)(), gasUsed: String(GAS - (gas!.value as bigint)), stackUnits: stack.value };
    }
  };
  const runs = [run(0x7fffffff)];
  for (let i = 0; i < 150; i++) run(10); // warm up so that plain node tiers the instrumented code up
  runs.push(run(0x7fffffff), run(0x7fffffff));
  results[shape.name] = { nativeDepth, runs };
}
process.stdout.write(JSON.stringify(results) + "\n");
