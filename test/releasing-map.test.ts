import { describe, expect, it } from "vitest";
import { CommittedStateCache } from "../node/exec/state-cache.ts";
import { ReleasingMap } from "../node/releasing-map.ts";

describe("ReleasingMap", () => {
  it("behaves as a Map: get, has, size, insertion order, overwrite in place", () => {
    const m = new ReleasingMap<string, { n: number }>();
    m.set("a", { n: 1 }).set("b", { n: 2 }).set("c", { n: 3 });
    m.set("a", { n: 10 }); // keeps its place
    expect(m.size).toBe(3);
    expect(m.get("a")?.n).toBe(10);
    expect(m.has("b")).toBe(true);
    expect([...m.keys()]).toEqual(["a", "b", "c"]);
    expect([...m.values()].map((v) => v.n)).toEqual([10, 2, 3]);
    expect([...m].map(([k, v]) => `${k}${v.n}`)).toEqual(["a10", "b2", "c3"]);
  });

  it("deletes (also while iterating) and clears", () => {
    const m = new ReleasingMap<number, string>();
    for (let i = 0; i < 6; i++) m.set(i, `v${i}`);
    expect(m.delete(9)).toBe(false);
    const seen: string[] = [];
    for (const [k, v] of m) {
      seen.push(v);
      if (k % 2 === 0) m.delete(k + 1); // an entry deleted ahead of the iterator is not visited
    }
    expect(seen).toEqual(["v0", "v2", "v4"]);
    expect(m.get(1)).toBeUndefined();
    expect(m.has(1)).toBe(false);
    expect(m.size).toBe(3);
    m.clear();
    expect(m.size).toBe(0);
    expect([...m.values()]).toEqual([]);
  });
});

describe("CommittedStateCache", () => {
  const v = (n: number, len = 8): Uint8Array => new Uint8Array(len).fill(n);

  it("overwrites a known key in place and keeps the byte count exact", () => {
    const c = new CommittedStateCache(1_000);
    c.set("k1", v(1));
    c.set("k2", null);
    c.set("k1", v(2, 20));
    expect(c.get("k1")).toEqual(v(2, 20));
    expect(c.get("k2")).toBeNull();
    expect(c.get("k3")).toBeUndefined();
    expect(c.size).toBe(2);
    expect(c.sizeBytes).toBe(2 + 20 + 64 + 2 + 64);
  });

  it("evicts the first-inserted keys when over its bound, and drops a value larger than the bound", () => {
    const c = new CommittedStateCache(3 * (2 + 8 + 64));
    c.set("k1", v(1));
    c.set("k2", v(2));
    c.set("k3", v(3));
    c.set("k1", v(4)); // rewriting does not move k1 back
    c.set("k4", v(5));
    expect(c.has("k1")).toBe(false);
    expect([c.get("k2"), c.get("k3"), c.get("k4")]).toEqual([v(2), v(3), v(5)]);
    c.set("k2", v(9, 10_000));
    expect(c.has("k2")).toBe(false);
    expect(c.sizeBytes).toBe(2 * (2 + 8 + 64));
  });
});
