import { describe, expect, it } from "vitest";
import { toHex } from "../node/codec/hex.ts";
import type { Receipt } from "../node/codec/types.ts";
import type { Displaced } from "../node/mempool/types.ts";
import { ReceiptWaiters, isDisplaced, type FinalOutcome } from "../node/receipt-waiters.ts";

const id = (n: number): Uint8Array => new Uint8Array(32).fill(n);
const receipt = (n: number, height = 1n): Receipt => ({
  id: id(n),
  status: "ok",
  gasUsed: 1n,
  fee: 1n,
  output: new Uint8Array(0),
  error: null,
  height,
  index: n,
  reads: [],
  writes: [],
});

/** The receipt's index, or null (for a displacement or nothing). */
const indexOf = (o: FinalOutcome | null | undefined): number | null => (o && !isDisplaced(o) ? o.index : null);
const displacement = (n: number, by: number, height = 3n): Displaced => ({ id: id(n), idHex: toHex(id(n)), by: id(by), height });

function setup(stored: Receipt[] = [], pending: number[] = []) {
  const loads: string[] = [];
  const pend = new Set(pending.map((n) => toHex(id(n))));
  const displaced = new Map<string, Displaced>();
  const waiters = new ReceiptWaiters({
    isPending: (hex) => pend.has(hex),
    load: async (key) => {
      loads.push(toHex(key));
      return stored.find((r) => toHex(r.id) === toHex(key)) ?? null;
    },
    displaced: (hex) => displaced.get(hex),
  });
  return { waiters, loads, pend, displaced };
}

describe("receipt waiters", () => {
  it("answers a batch when its last receipt is delivered, positions matching the ids", async () => {
    const { waiters, loads } = setup([], [1, 2, 3]);
    const p = waiters.wait([id(1), id(2), id(3)], 5_000);
    waiters.deliver(receipt(2));
    waiters.deliver(receipt(1));
    let settled = false;
    void p.then(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    waiters.deliver(receipt(3));
    const got = await p;
    expect(got.map(indexOf)).toEqual([1, 2, 3]);
    expect(loads).toEqual([]); // pending ids never touch the store
  });

  it("answers ids that are not pending from the store, and keeps no receipt once delivered", async () => {
    const { waiters, loads, pend } = setup([receipt(9, 0n), receipt(4)], [4]);
    const p = waiters.wait([id(4), id(9)], 5_000);
    // As the validator commits: the id stops being pending and its receipt is delivered in one run.
    pend.delete(toHex(id(4)));
    waiters.deliver(receipt(4));
    const got = await p;
    expect(indexOf(got[0])).toBe(4);
    expect((got[1] as Receipt).height).toBe(0n);
    expect(loads).toEqual([toHex(id(9))]);
    // A wait registered after the delivery reads the store: nothing was kept in memory.
    expect(indexOf((await waiters.wait([id(4)], 5_000))[0])).toBe(4);
    expect(loads).toEqual([toHex(id(9)), toHex(id(4))]);
  });

  it("gives null for what did not commit in time and forgets the waiter", async () => {
    const { waiters } = setup([], [5, 6]);
    const got = await waiters.wait([id(5), id(6)], 30);
    expect(got).toEqual([null, null]);
    // A late delivery after the timeout must not throw or touch the answered array.
    waiters.deliver(receipt(5));
    expect(got).toEqual([null, null]);
    // A new wait on the still pending id is answered by its delivery.
    const again = waiters.wait([id(6)], 5_000);
    waiters.deliver(receipt(6));
    expect(indexOf((await again)[0])).toBe(6);
  });

  it("answers a partial batch at the timeout", async () => {
    const { waiters } = setup([], [7, 8]);
    const p = waiters.wait([id(7), id(8)], 50);
    waiters.deliver(receipt(8));
    expect((await p).map(indexOf)).toEqual([null, 8]);
  });

  it("close answers every waiter at once and later waits return immediately", async () => {
    const { waiters } = setup([], [1]);
    const p = waiters.wait([id(1)], 60_000);
    waiters.close();
    expect(await p).toEqual([null]);
    expect(await waiters.wait([id(1)], 60_000)).toEqual([null]);
  });

  it("answers a waiter at once when its invocation is displaced, beside receipts of the same wait", async () => {
    const { waiters, pend, displaced } = setup([], [1, 2]);
    const p = waiters.wait([id(1), id(2)], 60_000);
    // The commit: 1 is included, 2 is displaced by 9 (recorded first, then delivered, as Mempool.onCommitted orders it).
    pend.clear();
    const d = displacement(2, 9);
    displaced.set(d.idHex, d);
    waiters.deliver(receipt(1));
    waiters.deliverDisplaced([d]);
    const started = Date.now();
    const got = await p;
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(indexOf(got[0])).toBe(1);
    expect(got[1]).toEqual(d);
  });

  it("a wait registered after the displacement finds the record without touching the store", async () => {
    const { waiters, loads, displaced } = setup();
    const d = displacement(4, 5, 7n);
    displaced.set(d.idHex, d);
    const got = await waiters.wait([id(4)], 60_000);
    expect(got).toEqual([d]);
    expect(isDisplaced(got[0]!)).toBe(true);
    expect(loads).toEqual([]);
  });
});
