export { k12, ZERO_HASH, type HashDomain } from "./hash.ts";
export { merkleRoot } from "./merkle.ts";
export * from "./digests.ts";
