export { Mempool, minReplacementPrice, DEFAULT_MAX_PER_INVOKER, DEFAULT_MAX_NONCE_GAP, DEFAULT_GAP_EXPIRY_MS } from "./mempool.ts";
export { isExpired } from "./types.ts";
export { createVerifier, WorkerPoolVerifier, DEFAULT_WORKER_THRESHOLD, type VerifierOptions } from "./verify-pool.ts";
export { InlineVerifier, verifyEncoded } from "./verify.ts";
export type * from "./types.ts";
export { DisplacedLog, DEFAULT_DISPLACED_MEMORY } from "./displaced-log.ts";
