/**
 * Compile AssemblyScript source text to Wasm in memory with the pinned compiler (tests and the micro benchmark).
 */

import * as asc from "assemblyscript/asc";

export async function compileAs(source: string, args: readonly string[] = ["-O3", "--runtime", "stub"]): Promise<Uint8Array> {
  let wasm: Uint8Array | null = null;
  const result = await asc.main(["input.ts", ...args, "--outFile", "out.wasm", "--noColors"], {
    readFile: (name: string) => (name === "input.ts" ? source : null),
    writeFile: (name: string, contents: Uint8Array | string) => {
      if (name === "out.wasm" && typeof contents !== "string") wasm = Uint8Array.from(contents);
    },
    listFiles: () => [],
  });
  if (result.error || wasm === null) {
    throw new Error(`asc failed: ${result.error?.message ?? "no output"}\n${result.stderr.toString()}`);
  }
  return wasm;
}
