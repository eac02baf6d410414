// Clients waiting for receipts (`?wait=true`). A batch of ids shares one timer; an id still pending is answered
// when its commit delivers the receipt, any other from the store. No receipts are kept here: the source's
// ordering (below) leaves no moment at which a receipt is in neither place.

import { toHex } from "./codec/hex.ts";
import type { Receipt } from "./codec/types.ts";
import { ReleasingMap } from "./releasing-map.ts";

/**
 * Where receipts come from. The caller keeps one ordering: an id stops being pending only once its receipt is
 * in the store, and `deliver` is called for it in the same synchronous run in which it stops being pending. A
 * waiter that registers before then is answered by `deliver`; one that registers after finds it stored.
 */
export interface ReceiptSource {
  /** True while the invocation is admitted and not yet committed: its receipt will come through `deliver`. */
  isPending(idHex: string): boolean;
  /** The committed receipt from storage (for ids that are not pending). */
  load(id: Uint8Array): Promise<Receipt | null>;
}

/** One `wait` call: its answers so far and how many are still open. */
interface WaitGroup {
  readonly out: (Receipt | null)[];
  open: number;
  readonly waiters: Waiter[];
  timer: NodeJS.Timeout | null;
  resolve: (out: (Receipt | null)[]) => void;
}

/** One id of a group, registered under its hex (a plain record rather than a closure per id). */
interface Waiter {
  readonly group: WaitGroup;
  readonly i: number;
  readonly hex: string;
}

export class ReceiptWaiters {
  /** Waiters by id hex: one record, or a list when several waits want the same id. */
  private readonly waiting = new ReleasingMap<string, Waiter | Waiter[]>();
  /** The pending waits, so `close` can answer them. */
  private readonly groups = new Set<WaitGroup>();
  private closed = false;

  constructor(private readonly source: ReceiptSource) {}

  /**
   * Called for every committed receipt, in commit order, right as its id stops being pending (see
   * ReceiptSource); `idHex` is `toHex(r.id)` when the caller has it.
   */
  deliver(r: Receipt, idHex?: string): void {
    const hex = idHex ?? toHex(r.id);
    const ws = this.waiting.get(hex);
    if (ws === undefined) return;
    this.waiting.delete(hex);
    if (Array.isArray(ws)) for (const w of ws) this.answer(w, r);
    else this.answer(ws, r);
  }

  /**
   * Resolves with each id's receipt, or null for ids still uncommitted when `timeoutMs` runs out (or the node
   * stops). Positions match `ids`.
   */
  wait(ids: readonly Uint8Array[], timeoutMs: number): Promise<(Receipt | null)[]> {
    const out: (Receipt | null)[] = new Array<Receipt | null>(ids.length).fill(null);
    if (this.closed || ids.length === 0) return Promise.resolve(out);
    return new Promise((resolve) => {
      const group: WaitGroup = { out, open: 0, waiters: [], timer: null, resolve };
      this.groups.add(group);
      group.timer = setTimeout(() => this.finish(group), timeoutMs);
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        const hex = toHex(id);
        group.open++;
        const w: Waiter = { group, i, hex };
        group.waiters.push(w);
        const list = this.waiting.get(hex);
        if (list === undefined) this.waiting.set(hex, w);
        else if (Array.isArray(list)) list.push(w);
        else this.waiting.set(hex, [list, w]);
        // Not pending: it has committed (so it is stored) or was never admitted here. Ask the store.
        if (!this.source.isPending(hex)) {
          this.source.load(id).then(
            (r) => (r ? this.answer(w, r) : undefined),
            () => undefined,
          );
        }
      }
      if (group.open === 0) this.finish(group);
    });
  }

  private answer(w: Waiter, r: Receipt): void {
    const g = w.group;
    // A store read can come back after the wait has already answered: its array is no longer ours to fill.
    if (g.out[w.i] !== null || !this.groups.has(g)) return;
    g.out[w.i] = r;
    if (--g.open === 0) this.finish(g);
  }

  private finish(g: WaitGroup): void {
    if (!this.groups.delete(g)) return;
    if (g.timer !== null) clearTimeout(g.timer);
    for (const w of g.waiters) this.unregister(w);
    g.resolve(g.out);
  }

  private unregister(w: Waiter): void {
    const list = this.waiting.get(w.hex);
    if (list === undefined) return;
    if (!Array.isArray(list)) {
      if (list === w) this.waiting.delete(w.hex);
      return;
    }
    const at = list.indexOf(w);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) this.waiting.delete(w.hex);
  }

  /** Answers every waiter now (with what it has) and refuses to wait from here on. */
  close(): void {
    this.closed = true;
    for (const g of [...this.groups]) this.finish(g);
  }
}
