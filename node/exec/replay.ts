// replay: rebuild the state from genesis into a fresh temporary database by re-executing every committed block
// of a validator's database, comparing the state root block by block with what that database recorded.
// The first mismatch names the height where this build's execution and the recorded history part ways.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bytesEqual } from "../codec/hex.ts";
import type { Genesis } from "../codec/types.ts";
import { Store } from "../store/store.ts";
import { ExecError, isExecError } from "./errors.ts";
import { Executor } from "./executor.ts";
import { genesisStateRoot } from "./genesis.ts";
import type { ContractVm } from "./vm-adapter.ts";

export interface ReplayOptions {
  readonly vm: ContractVm;
  /** Parent directory of the temporary database (default: the OS temp dir). It is deleted afterwards. */
  readonly tempParent?: string;
  /** Stop after this height (default: the committed head). */
  readonly toHeight?: bigint;
  readonly onBlock?: (height: bigint, stateRoot: Uint8Array) => void;
}

export interface ReplayMismatch {
  readonly height: bigint;
  /** What the source database recorded (its root for that height, or the next header's stateRoot). */
  readonly expected: Uint8Array;
  /** What re-execution produced. */
  readonly actual: Uint8Array;
}

export interface ReplayReport {
  readonly ok: boolean;
  /** Highest height re-executed and compared. */
  readonly height: bigint;
  readonly stateRoot: Uint8Array;
  readonly mismatch: ReplayMismatch | null;
}

export async function replay(source: string | Store, genesis: Genesis, options: ReplayOptions): Promise<ReplayReport> {
  const src = typeof source === "string" ? await Store.open(source) : source;
  const tmp = mkdtempSync(join(options.tempParent ?? tmpdir(), "cairn-replay-"));
  let fresh: Store | null = null;
  let ex: Executor | null = null;
  try {
    fresh = await Store.open(tmp, { syncCommits: false, syncSafety: false });
    ex = await Executor.open(fresh, { genesis, vm: options.vm, verifyOnOpen: false, preloadState: false });
    const root0 = genesisStateRoot(genesis);
    const recorded0 = await src.stateRootAt(0n);
    if (recorded0 !== null && !bytesEqual(recorded0, root0)) {
      return { ok: false, height: 0n, stateRoot: root0, mismatch: { height: 0n, expected: recorded0, actual: root0 } };
    }
    const head = await src.committedHead();
    const last = head === null ? 0n : options.toHeight !== undefined && options.toHeight < head.height ? options.toHeight : head.height;
    let root = root0;
    for (let h = 1n; h <= last; h++) {
      const block = await src.blockAt(h);
      if (block === null) throw new ExecError("bad_block", `committed block at height ${h} is missing from the source database`, h);
      if (!bytesEqual(block.header.stateRoot, root)) {
        // The recorded history says the parent's root was something else.
        return { ok: false, height: h - 1n, stateRoot: root, mismatch: { height: h - 1n, expected: block.header.stateRoot, actual: root } };
      }
      const result = await ex.executeBlock(block);
      try {
        await ex.commitBlock(result.hash, await src.qcAt(h));
      } catch (e) {
        if (isExecError(e) && e.code === "state_diverged") {
          return { ok: false, height: h - 1n, stateRoot: root, mismatch: { height: h - 1n, expected: block.header.stateRoot, actual: root } };
        }
        throw e;
      }
      root = result.stateRoot;
      const recorded = await src.stateRootAt(h);
      if (recorded !== null && !bytesEqual(recorded, root)) {
        return { ok: false, height: h, stateRoot: root, mismatch: { height: h, expected: recorded, actual: root } };
      }
      options.onBlock?.(h, root);
    }
    return { ok: true, height: last, stateRoot: root, mismatch: null };
  } finally {
    if (ex) await ex.close();
    if (fresh) await fresh.close();
    if (typeof source === "string") await src.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}
