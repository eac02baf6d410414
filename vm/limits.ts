/**
 * Static limits the VM enforces on contract modules and their execution.
 *
 * Validation limits bound the work a hostile module can cause at deploy time (parsing, instrumenting, V8 compile)
 * and the size of what every validator must keep. Execution limits (memory, stack units) are part of consensus:
 * every node must use the same values, so they live here as one frozen default and are only overridden in tests.
 */

import { VmError } from "./errors.ts";

export interface VmLimits {
  /** Largest accepted module (bytes of the uninstrumented binary). */
  readonly maxModuleBytes: number;
  /** Memory cap in 64 KiB pages: initial memory above it is rejected, memory.grow past it returns -1. */
  readonly maxMemoryPages: number;
  /**
   * Deterministic call-stack budget in "stack units" (see vm/instrument/frame.ts for what a unit costs).
   * Every entry of a function that calls anything adds its static frame cost; exceeding this traps with
   * `__cairn_trap` = 2. Sizing: a unit is at most 8 bytes of real stack in every V8 tier we measured, so
   * 64k units is <= 512 KiB, plus one frame of at most maxFrameUnits (128 KiB) that is allocated before its
   * entry check runs (or an uncounted leaf function). That leaves ~340 KiB of node's default 984 KiB stack for
   * the JS frames below the call into Wasm and inside host functions. Nodes must run with the default
   * --stack-size or larger (worker threads have 4 MiB).
   */
  readonly maxStackUnits: number;
  /** Largest static frame cost of one function; bigger functions are rejected at validation. */
  readonly maxFrameUnits: number;
  /** Functions defined in the module (imports not counted). */
  readonly maxFunctions: number;
  /** Entries of the type section. */
  readonly maxTypes: number;
  /** Parameters of one function type. */
  readonly maxParams: number;
  /** Results of one function/block type (functions themselves may return at most one value). */
  readonly maxResults: number;
  /** Params + declared locals of one function. */
  readonly maxLocalsPerFunction: number;
  /** Bytes of one function body (code section entry). */
  readonly maxBodyBytes: number;
  /** Nesting depth of block/loop/if inside one function. */
  readonly maxBlockDepth: number;
  /** Labels listed in one br_table. */
  readonly maxBrTableTargets: number;
  readonly maxImports: number;
  readonly maxExports: number;
  readonly maxGlobals: number;
  /** Entries of the (single, fixed-size) function table. */
  readonly maxTableSize: number;
  readonly maxDataSegments: number;
  readonly maxElemSegments: number;
}

export const DEFAULT_VM_LIMITS: VmLimits = Object.freeze({
  maxModuleBytes: 1024 * 1024,
  maxMemoryPages: 256, // 16 MiB
  maxStackUnits: 64_000,
  maxFrameUnits: 16_000,
  maxFunctions: 10_000,
  maxTypes: 4_096,
  maxParams: 500,
  maxResults: 16,
  maxLocalsPerFunction: 4_000,
  maxBodyBytes: 256 * 1024,
  maxBlockDepth: 2_048,
  maxBrTableTargets: 16_384,
  maxImports: 64,
  maxExports: 1_024,
  maxGlobals: 1_024,
  maxTableSize: 10_000,
  maxDataSegments: 4_096,
  maxElemSegments: 64,
});

/** Merge overrides onto the defaults and check they are sane (non-negative safe integers, hard caps of Wasm). */
export function resolveLimits(overrides?: Partial<VmLimits>): VmLimits {
  if (!overrides) return DEFAULT_VM_LIMITS;
  const merged: VmLimits = { ...DEFAULT_VM_LIMITS, ...overrides };
  for (const [key, value] of Object.entries(merged)) {
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      throw new VmError("bad_config", `VmLimits.${key} must be a non-negative safe integer, got ${String(value)}`);
    }
  }
  if (merged.maxMemoryPages > 65_536) {
    throw new VmError("bad_config", `VmLimits.maxMemoryPages ${merged.maxMemoryPages} exceeds the 32-bit Wasm maximum 65536`);
  }
  // the i32 stack counter adds a frame to a value <= maxStackUnits: keep both far from overflow
  if (merged.maxStackUnits > 0x3fff_ffff || merged.maxFrameUnits > 0x3fff_ffff) {
    throw new VmError("bad_config", "VmLimits.maxStackUnits and maxFrameUnits must be <= 2^30-1");
  }
  return Object.freeze(merged);
}
