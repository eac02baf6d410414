// How the SDK calls the chain's built-in contracts (node/exec/bank.ts and node/exec/deploy.ts): the executor looks only at the
// contract name and method, so the version is free; the SDK always sends 0, which no deployed contract uses.

import { BUILTIN_BANK, BUILTIN_DEPLOY } from "../codec/types.ts";

export const BUILTIN_VERSION = 0;
export const BANK = { contract: BUILTIN_BANK, version: BUILTIN_VERSION, transfer: "transfer" } as const;
export const DEPLOY = { contract: BUILTIN_DEPLOY, version: BUILTIN_VERSION, method: "deploy" } as const;

/** The contract toolchain this SDK release deploys with; equals vm/toolchain.ts's DEFAULT_TOOLCHAIN_ID (tested). */
export const DEFAULT_TOOLCHAIN = "asc-0.28.20+sdk-2";

/** Default gas limits: generous, since fees charge the gas used, not the limit (the limit must be affordable). */
export const DEFAULT_GAS = {
  invoke: 1_000_000n,
  transfer: 10_000n,
  /**
   * Deploys: a base plus this much per byte of payload (the executor charges 100 000 + 10/byte of source), plus
   * room for the largest compile the toolchain allows (1 gas per compile step and 10 per byte of unoptimized
   * code, at most about 2.3 million; see vm/compile-limits.ts).
   */
  deployBase: 2_600_000n,
  deployPerByte: 20n,
} as const;
