// One invoker's pooled invocations, kept sorted by nonce (at most maxPerInvoker of them, so a sorted array
// with binary-search insertion is the simplest structure that is fast enough). Entries are never below `base`:
// whoever moves `base` (observe) drops the stale ones at once.

import type { PoolEntry } from "./types.ts";

const NONE: readonly PoolEntry[] = Object.freeze([]);

export class InvokerQueue {
  /** The committed account's next nonce, as last read; only ever moves up. */
  base: bigint;
  /** The committed balance, as last read. */
  balance: bigint;
  /** Sum of maxFee over the entries. */
  feeTotal = 0n;
  readonly entries: PoolEntry[] = [];

  constructor(base: bigint, balance: bigint) {
    this.base = base;
    this.balance = balance;
  }

  observe(account: { nonce: bigint; balance: bigint }): void {
    if (account.nonce > this.base) this.base = account.nonce;
    this.balance = account.balance;
  }

  private indexOf(nonce: bigint): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.inv.nonce < nonce) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  at(nonce: bigint): PoolEntry | undefined {
    const e = this.entries[this.indexOf(nonce)];
    return e !== undefined && e.inv.nonce === nonce ? e : undefined;
  }

  insert(e: PoolEntry): void {
    this.entries.splice(this.indexOf(e.inv.nonce), 0, e);
    this.feeTotal += e.maxFee;
  }

  remove(e: PoolEntry): boolean {
    const i = this.indexOf(e.inv.nonce);
    if (this.entries[i] !== e) return false;
    this.entries.splice(i, 1);
    this.feeTotal -= e.maxFee;
    return true;
  }

  /** Removes and returns entries whose nonce is below `base` (used or skipped for good). */
  dropStale(): readonly PoolEntry[] {
    const n = this.indexOf(this.base);
    // Nothing stale is the common case after a commit: answer without a fresh (spliced) array.
    if (n === 0) return NONE;
    const out = this.entries.splice(0, n);
    for (const e of out) this.feeTotal -= e.maxFee;
    return out;
  }

  /** Removes the highest nonces until the balance covers the rest (later nonces depend on earlier ones). */
  dropUnaffordable(): readonly PoolEntry[] {
    if (this.feeTotal <= this.balance) return NONE;
    const out: PoolEntry[] = [];
    while (this.entries.length > 0 && this.feeTotal > this.balance) {
      const e = this.entries.pop()!;
      this.feeTotal -= e.maxFee;
      out.push(e);
    }
    return out;
  }

  /** How many entries, from the first, form the contiguous run starting at `base` (the ready ones). */
  readyCount(): number {
    let next = this.base;
    let n = 0;
    for (const e of this.entries) {
      if (e.inv.nonce !== next) break;
      next++;
      n++;
    }
    return n;
  }

  /** The highest nonce, when it may be evicted: not the account's next-ready one (later ones would strand). */
  evictableTail(): PoolEntry | undefined {
    const n = this.entries.length;
    if (n === 0) return undefined;
    const tail = this.entries[n - 1]!;
    return n === 1 && tail.inv.nonce === this.base ? undefined : tail;
  }

  /** True when every entry is ready (nonces run from `base` without a hole; entries are never below `base`). */
  contiguous(): boolean {
    const n = this.entries.length;
    return n === 0 || this.entries[n - 1]!.inv.nonce === this.base + BigInt(n - 1);
  }

  /** The next nonce after the contiguous run starting at `base` (what a client should sign next). */
  nextNonce(): bigint {
    let next = this.base;
    for (const e of this.entries) {
      if (e.inv.nonce < next) continue;
      if (e.inv.nonce !== next) break;
      next++;
    }
    return next;
  }
}
