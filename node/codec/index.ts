export * from "./codec.ts";
export * from "./hex.ts";
export * from "./types.ts";
