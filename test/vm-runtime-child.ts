// Child process of vm-runtime.test.ts: runs one method of a compiled module under whatever V8 flags the parent
// chose and prints the result, so gas and status can be compared across tiers.
import { readFileSync } from "node:fs";
import { loadContract, runContract } from "../vm/index.ts";

const [wasmPath, method, input, gas] = process.argv.slice(2);
const contract = loadContract(new Uint8Array(readFileSync(wasmPath!)));
const results = [];
// Twice: the second run may execute code V8 has tiered up meanwhile.
for (let i = 0; i < 2; i++) {
  const r = runContract(contract, {
    method: method!,
    input: new TextEncoder().encode(input),
    invoker: new Uint8Array(32),
    proposer: new Uint8Array(32),
    gasLimit: BigInt(gas!),
    state: { get: () => null },
  });
  results.push({ status: r.status, gasUsed: r.gasUsed.toString(), error: r.error, output: Buffer.from(r.output).toString("hex") });
}
process.stdout.write(JSON.stringify(results));
