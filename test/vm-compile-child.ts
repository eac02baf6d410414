// Child process of vm-compile.test.ts: compiles a contract file in a fresh process and prints the code hash and
// the module bytes, so the parent can check builds are byte-identical across processes.
import { compileContract, loadContractSources, shutdownCompiler } from "../vm/index.ts";

const compiled = await compileContract(loadContractSources(process.argv[2]!).sources);
process.stdout.write(JSON.stringify({ codeHash: compiled.codeHashHex, wasm: Buffer.from(compiled.wasm).toString("base64") }));
await shutdownCompiler();
