// Clients waiting for receipts (`?wait=true`). A batch of ids shares one timer, and the receipts of recent
// commits are kept in memory, so a waiter that registers just after its invocation committed is answered
// without a disk read: under load, every waited invocation used to cost a timer and two RocksDB reads.

import { toHex } from "./codec/hex.ts";
import type { Receipt } from "./codec/types.ts";

export interface ReceiptSource {
  /** True while the invocation is admitted and not yet committed: its receipt will come through `deliver`. */
  isPending(idHex: string): boolean;
  /** The committed receipt from storage (the slow path, for ids neither recent nor pending). */
  load(id: Uint8Array): Promise<Receipt | null>;
}

/** Receipts remembered after their commit; enough for several seconds of commits at full load. */
const RECENT_RECEIPTS = 65_536;

export class ReceiptWaiters {
  private readonly waiting = new Map<string, Array<(r: Receipt) => void>>();
  private readonly recent = new Map<string, Receipt>();
  private closed = false;

  constructor(private readonly source: ReceiptSource) {}

  /** Called for every committed receipt, in commit order; `idHex` is `toHex(r.id)` when the caller has it. */
  deliver(r: Receipt, idHex?: string): void {
    const hex = idHex ?? toHex(r.id);
    if (this.recent.size >= RECENT_RECEIPTS) this.recent.delete(this.recent.keys().next().value!);
    this.recent.set(hex, r);
    const ws = this.waiting.get(hex);
    if (!ws) return;
    this.waiting.delete(hex);
    for (const w of ws) w(r);
  }

  /**
   * Resolves with each id's receipt, or null for ids still uncommitted when `timeoutMs` runs out (or the node
   * stops). Positions match `ids`.
   */
  wait(ids: readonly Uint8Array[], timeoutMs: number): Promise<(Receipt | null)[]> {
    const out: (Receipt | null)[] = ids.map(() => null);
    if (this.closed || ids.length === 0) return Promise.resolve(out);
    return new Promise((resolve) => {
      let open = 0;
      const registered: Array<[string, (r: Receipt) => void]> = [];
      const finish = (): void => {
        if (!this.finishers.delete(finish)) return;
        clearTimeout(timer);
        for (const [hex, w] of registered) this.unregister(hex, w);
        resolve(out);
      };
      this.finishers.add(finish);
      const timer = setTimeout(finish, timeoutMs);
      ids.forEach((id, i) => {
        const hex = toHex(id);
        const known = this.recent.get(hex);
        if (known) {
          out[i] = known;
          return;
        }
        open++;
        const w = (r: Receipt): void => {
          if (out[i] !== null) return;
          out[i] = r;
          if (--open === 0) finish();
        };
        registered.push([hex, w]);
        const list = this.waiting.get(hex);
        if (list) list.push(w);
        else this.waiting.set(hex, [w]);
        // Neither recent nor pending: it committed long ago (or was never admitted here). Ask the store.
        if (!this.source.isPending(hex)) {
          this.source.load(id).then(
            (r) => (r ? w(r) : undefined),
            () => undefined,
          );
        }
      });
      if (open === 0) finish();
    });
  }

  /** The pending waits' completions, so `close` can answer them. */
  private readonly finishers = new Set<() => void>();

  private unregister(hex: string, w: (r: Receipt) => void): void {
    const list = this.waiting.get(hex);
    if (!list) return;
    const at = list.indexOf(w);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) this.waiting.delete(hex);
  }

  /** Answers every waiter now (with what it has) and refuses to wait from here on. */
  close(): void {
    this.closed = true;
    for (const f of [...this.finishers]) f();
  }
}
