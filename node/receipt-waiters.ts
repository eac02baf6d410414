// Clients waiting for receipts (`?wait=true`). A batch of ids shares one timer; an id still pending is answered
// when its commit delivers the receipt (or the commit that displaced it says so), any other from the store or
// the record of displaced invocations. Nothing is kept here: the source's ordering (below) leaves no moment at
// which an outcome is in neither place.

import { toHex } from "./codec/hex.ts";
import type { Receipt } from "./codec/types.ts";
import type { Displaced } from "./mempool/types.ts";
import { ReleasingMap } from "./releasing-map.ts";

/**
 * What a wait ends with: the receipt, or the record of why the invocation left the pool without running (a
 * different invocation used its nonce, or the pool dropped it: expired, evicted, replaced).
 */
export type FinalOutcome = Receipt | Displaced;

/** True when the outcome is not a receipt but a drop of either kind (receipts have no `idHex`). */
export function isDisplaced(o: FinalOutcome): o is Displaced {
  return "idHex" in o;
}

/**
 * Where outcomes come from. The caller keeps one ordering: an id stops being pending only once its receipt is
 * in the store (or its displacement in `displaced`), and `deliver` (or `deliverDisplaced`) is called for it
 * after it stops being pending. A waiter that registers before then is answered by `deliver`; one that
 * registers after finds it stored or recorded.
 */
export interface ReceiptSource {
  /** True while the invocation is admitted and not yet committed: its outcome will come through `deliver*`. */
  isPending(idHex: string): boolean;
  /** The committed receipt from storage (for ids that are not pending). */
  load(id: Uint8Array): Promise<Receipt | null>;
  /** The record of a displaced or dropped invocation (`Mempool.displacedBy`), for ids that are not pending. */
  displaced(idHex: string): Displaced | undefined;
}

/** One `wait` call: its answers so far and how many are still open. */
interface WaitGroup {
  readonly out: (FinalOutcome | null)[];
  open: number;
  readonly waiters: Waiter[];
  timer: { cancel(): void } | null;
  resolve: (out: (FinalOutcome | null)[]) => void;
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

  /** `after` runs a wait's timeout (Node.js timers by default; the simulator passes its clock). */
  constructor(
    private readonly source: ReceiptSource,
    private readonly after: (ms: number, fn: () => void) => { cancel(): void } = nodeTimer,
  ) {}

  /**
   * Called for every committed receipt, in commit order, right as its id stops being pending (see
   * ReceiptSource); `idHex` is `toHex(r.id)` when the caller has it.
   */
  deliver(r: Receipt, idHex?: string): void {
    this.settle(idHex ?? toHex(r.id), r);
  }

  /** Called with the displaced invocations of each commit (`Mempool.onCommitted`'s `displaced`) and with the pool's drops (`Mempool.onDropped`). */
  deliverDisplaced(ds: readonly Displaced[]): void {
    for (const d of ds) this.settle(d.idHex, d);
  }

  private settle(hex: string, o: FinalOutcome): void {
    const ws = this.waiting.get(hex);
    if (ws === undefined) return;
    this.waiting.delete(hex);
    if (Array.isArray(ws)) for (const w of ws) this.answer(w, o);
    else this.answer(ws, o);
  }

  /**
   * Resolves with each id's receipt or displacement, or null for ids still open when `timeoutMs` runs out (or
   * the node stops). Positions match `ids`.
   */
  wait(ids: readonly Uint8Array[], timeoutMs: number): Promise<(FinalOutcome | null)[]> {
    const out: (FinalOutcome | null)[] = new Array<FinalOutcome | null>(ids.length).fill(null);
    if (this.closed || ids.length === 0) return Promise.resolve(out);
    return new Promise((resolve) => {
      const group: WaitGroup = { out, open: 0, waiters: [], timer: null, resolve };
      this.groups.add(group);
      group.timer = this.after(timeoutMs, () => this.finish(group));
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        const hex = toHex(id);
        const pending = this.source.isPending(hex);
        // Not pending: it was displaced (recorded, answered now), has committed (stored) or was never admitted here.
        const d = pending ? undefined : this.source.displaced(hex);
        if (d !== undefined) {
          out[i] = d;
          continue;
        }
        group.open++;
        const w: Waiter = { group, i, hex };
        group.waiters.push(w);
        const list = this.waiting.get(hex);
        if (list === undefined) this.waiting.set(hex, w);
        else if (Array.isArray(list)) list.push(w);
        else this.waiting.set(hex, [list, w]);
        if (!pending) {
          this.source.load(id).then(
            (r) => (r ? this.answer(w, r) : undefined),
            () => undefined,
          );
        }
      }
      if (group.open === 0) this.finish(group);
    });
  }

  private answer(w: Waiter, r: FinalOutcome): void {
    const g = w.group;
    // A store read can come back after the wait has already answered: its array is no longer ours to fill.
    if (g.out[w.i] !== null || !this.groups.has(g)) return;
    g.out[w.i] = r;
    if (--g.open === 0) this.finish(g);
  }

  private finish(g: WaitGroup): void {
    if (!this.groups.delete(g)) return;
    g.timer?.cancel();
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

function nodeTimer(ms: number, fn: () => void): { cancel(): void } {
  const t = setTimeout(fn, ms);
  return { cancel: () => clearTimeout(t) };
}
