/**
 * Worker thread running AssemblyScript compiles one at a time for vm/compile.ts, so a node's event loop
 * never stalls on the compiler and a compiler crash (it calls process.exit) ends only this thread.
 */

import { parentPort } from "node:worker_threads";
import { exhaustedThread, runAsc, type AscJob, type AscOutcome } from "./compile-asc.ts";

export interface WorkerRequest {
  readonly id: number;
  readonly job: AscJob;
}

export interface WorkerResponse {
  readonly id: number;
  readonly outcome: AscOutcome;
}

const port = parentPort;
if (!port) throw new Error("vm/compile-worker.ts must run in a worker thread");

port.on("message", (request: WorkerRequest) => {
  runAsc(request.job).then(
    (outcome) => {
      const response: WorkerResponse = { id: request.id, outcome };
      port.postMessage(response, outcome.ok ? [outcome.wasm.buffer as ArrayBuffer] : []);
      // After an exhausted stack or heap the compiler's state is not to be trusted: the next compile gets a new thread.
      if (!outcome.ok && !outcome.deterministic) process.exit(0);
    },
    (e: unknown) => {
      const message = `compiler failed: ${e instanceof Error ? e.message : String(e)}`;
      const response: WorkerResponse = {
        id: request.id,
        outcome: { ok: false, deterministic: false, message, diagnostics: [{ file: null, line: 0, column: 0, message, code: 0, severity: "error" }] },
      };
      port.postMessage(response);
      if (exhaustedThread(String(e))) process.exit(0);
    },
  );
});
