// What one block's execution (or one query) reads: its layers of uncommitted writes over the committed state,
// with the missing-state protocol the vm's synchronous reads need. A read that is in memory answers at once;
// a read that is not either returns a promise of the load (execution's own reads) or, inside the vm, stops the
// run with the vm's missing-state signal so the caller can load the key and run again.

import type { CommittedState } from "./committed-state.ts";
import { isStoreError } from "../store/errors.ts";
import { ExecError } from "./errors.ts";
import type { Overlay } from "./overlay.ts";
import { keyString, stateKeys } from "./state-keys.ts";
import type { ContractVm, VmCallResult } from "./vm-adapter.ts";

/** A key the vm asked for that was not in memory, with its keyString. */
export interface MissingKey {
  readonly key: Uint8Array;
  readonly str: string;
}

/** One run of the vm: its result, unless it asked for a key that is not in memory (`missing`). */
export interface VmAttempt {
  readonly result: VmCallResult | null;
  readonly missing: MissingKey | null;
}

/**
 * Layers of writes (top first) over the committed state. Reads that hit memory (a layer, a value this run
 * loaded, the committed-state cache) answer synchronously; only a miss goes to RocksDB (load).
 */
export class StateView {
  constructor(
    private readonly committed: CommittedState,
    readonly layers: Overlay[],
    /**
     * Committed values this run has seen: loaded from RocksDB, or found in the cache (pinned here on first
     * sight), so that neither a bounded cache evicting them nor a concurrent query can undo a run's progress.
     */
    readonly fetched = new Map<string, Uint8Array | null>(),
  ) {}

  /** The value of a key (keyString), or undefined when it is not in memory. */
  peek(str: string): Uint8Array | null | undefined {
    const layers = this.layers;
    for (let i = 0; i < layers.length; i++) {
      const w = layers[i]!.lookup(str);
      if (w !== undefined) return w.value;
    }
    const f = this.fetched.get(str);
    if (f !== undefined || this.fetched.has(str)) return f;
    const c = this.committed.cache.get(str);
    if (c !== undefined) this.fetched.set(str, c);
    return c;
  }

  /** The value of a key: synchronously when in memory, else a promise of the load. */
  read(key: Uint8Array, str = keyString(key)): Uint8Array | null | Promise<Uint8Array | null> {
    const v = this.peek(str);
    return v !== undefined ? v : this.load(key, str);
  }

  /**
   * Loads a committed value from RocksDB. A read that fails for I/O reasons fails the execution as 'unavailable':
   * nothing of it is kept (the block's overlay is dropped), so executing the block again is safe and may succeed.
   */
  async load(key: Uint8Array, str = keyString(key)): Promise<Uint8Array | null> {
    let value: Uint8Array | null;
    try {
      value = await this.committed.load(key, str);
    } catch (e) {
      if (isStoreError(e) && e.code === "io") throw new ExecError("unavailable", `reading committed state failed: ${e.message}`, null, { cause: e });
      throw e;
    }
    this.fetched.set(str, value);
    return value;
  }
}

/**
 * The state a contract run reads (its own storage, through the view), noting the first key that is not in
 * memory: the vm is stopped there by its missing-state signal and the run is repeated once the key is loaded.
 * A class rather than closures: one object per run is all it costs.
 */
export class ContractStateReader {
  missing: MissingKey | null = null;

  constructor(
    private readonly view: StateView,
    private readonly prefix: Uint8Array,
    private readonly vm: ContractVm,
  ) {}

  get(userKey: Uint8Array): Uint8Array | null {
    const key = stateKeys.storage(this.prefix, userKey);
    const str = keyString(key);
    const v = this.view.peek(str);
    if (v !== undefined) return v;
    this.missing = { key, str };
    throw this.vm.missingState(key);
  }

  /** The attempt's outcome once the vm returned `result` (null: it threw the missing-state signal). */
  done(result: VmCallResult | null): VmAttempt {
    // Even when the vm turned the signal into some other outcome, a run that missed a key is not a result.
    if (this.missing === null && result === null) throw new ExecError("invariant", "vm reported missing state without a key");
    return { result, missing: this.missing };
  }

  failed(e: unknown): VmAttempt {
    if (this.missing === null && this.vm.missingKey(e) === null) throw e;
    return this.done(null);
  }
}
