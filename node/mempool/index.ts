export { Mempool } from "./mempool.ts";
export { createVerifier, WorkerPoolVerifier, DEFAULT_WORKER_THRESHOLD, type VerifierOptions } from "./verify-pool.ts";
export { InlineVerifier, verifyEncoded } from "./verify.ts";
export type * from "./types.ts";
export { DisplacedLog, DEFAULT_DISPLACED_MEMORY } from "./displaced-log.ts";
