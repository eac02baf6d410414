// Worker thread body: verifies packed batches (see verify.ts) and answers with one byte per item.

import { parentPort } from "node:worker_threads";
import { verifyPacked } from "./verify.ts";

interface Job {
  seq: number;
  buf: Uint8Array;
  offsets: Uint32Array;
}

parentPort!.on("message", (job: Job) => {
  const ok = verifyPacked(job.buf, job.offsets);
  parentPort!.postMessage({ seq: job.seq, ok }, [ok.buffer as ArrayBuffer]);
});
