import { afterEach, describe, expect, it } from "vitest";
import { toHex } from "../node/codec/hex.ts";
import { blockHash } from "../node/crypto/digests.ts";
import type { BatchOp, IterateOptions, StorageEngine } from "../node/store/engine.ts";
import { StoreError } from "../node/store/errors.ts";
import { MemoryDisk, type MemoryEngine } from "../node/store/memory-engine.ts";
import { RocksDb } from "../node/store/rocks.ts";
import { Store } from "../node/store/store.ts";
import { childBlock, tempDir } from "./fixtures/exec/chain.ts";
import { buildChain, receiptsFor, rootFor, stateKeyFor } from "./fixtures/exec/store-chain.ts";
import { Rng } from "./sim/prng.ts";

const b = (...xs: number[]): Uint8Array => new Uint8Array(xs);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A schedule the test runs by hand: steps wait in a queue until run. */
class ManualSchedule {
  private readonly queue: Array<() => void> = [];
  readonly schedule = (fn: () => void): void => {
    this.queue.push(fn);
  };

  get pending(): number {
    return this.queue.length;
  }

  /** Runs the oldest waiting step, then lets the promise callbacks it set off run. */
  async runOne(): Promise<void> {
    this.queue.shift()!();
    await settle();
  }

  async runAll(): Promise<void> {
    while (this.queue.length > 0) await this.runOne();
  }
}

/** Lets every queued promise callback run (a macrotask turn comes after all microtasks). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Tracks whether a promise settled, without handling it for anyone else. */
function watch<T>(p: Promise<T>): { settled: () => boolean; result: Promise<T> } {
  let done = false;
  const result = p.finally(() => {
    done = true;
  });
  result.catch(() => undefined);
  return { settled: () => done, result };
}

async function errorOf(p: Promise<unknown>): Promise<StoreError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(StoreError);
  return e as StoreError;
}

async function entries(engine: StorageEngine, options: IterateOptions = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const [k, v] of engine.iterate(options)) out.push(`${toHex(k)}=${toHex(v)}`);
  return out;
}

describe("MemoryEngine: durability across crashes", () => {
  it("loses unsynced writes on a crash and keeps synced ones", async () => {
    const disk = new MemoryDisk();
    let e = disk.open();
    await e.put(b(1), b(10), false);
    await e.put(b(2), b(20), true);
    await e.put(b(3), b(30), false);
    expect(disk.unsyncedWrites).toBe(1);
    disk.crash();
    e = disk.open();
    expect(await e.get(b(1))).toEqual(b(10));
    expect(await e.get(b(2))).toEqual(b(20));
    expect(await e.get(b(3))).toBeNull();
  });

  it("a synced write makes every earlier write durable, deletions included; a later unsynced one is still lost", async () => {
    const disk = new MemoryDisk();
    let e = disk.open();
    await e.put(b(9), b(90), true);
    await e.put(b(1), b(10), false);
    await e.batch([{ type: "put", key: b(2), value: b(20) }, { type: "del", key: b(9) }], false);
    await e.put(b(3), b(30), true);
    await e.put(b(4), b(40), false);
    disk.crash();
    e = disk.open();
    expect(await entries(e)).toEqual(["01=0a", "02=14", "03=1e"]);
  });

  it("a crash may keep a prefix of the unsynced writes, each batch whole or not at all", async () => {
    const disk = new MemoryDisk();
    let e = disk.open();
    await e.put(b(1), b(1), false);
    await e.batch([{ type: "put", key: b(1), value: b(2) }, { type: "put", key: b(2), value: b(2) }], false);
    await e.batch([{ type: "put", key: b(1), value: b(3) }, { type: "del", key: b(2) }, { type: "put", key: b(3), value: b(3) }], false);
    disk.crash({ keepUnsynced: 2 });
    disk.crash(); // what survived the first one is on the medium
    e = disk.open();
    expect(await entries(e)).toEqual(["01=02", "02=02"]);
    await e.close();
    // What a reopened engine found is durable: recovery flushed it.
    disk.crash();
    expect(await entries(disk.open())).toEqual(["01=02", "02=02"]);
  });

  it("a killed process keeps every write that landed; a power failure before reopening still loses them", async () => {
    const disk = new MemoryDisk();
    let e = disk.open();
    await e.put(b(1), b(1), false);
    disk.kill();
    e = disk.open();
    expect(await e.get(b(1))).toEqual(b(1));
    await e.put(b(2), b(2), false);
    disk.kill();
    disk.crash();
    e = disk.open();
    expect(await e.get(b(1))).toEqual(b(1));
    expect(await e.get(b(2))).toBeNull();
  });

  it("an engine killed by a crash never completes its in-flight operations, and later calls reject with 'closed'", async () => {
    const steps = new ManualSchedule();
    const disk = new MemoryDisk({ schedule: steps.schedule });
    const e = disk.open();
    const write = watch(e.put(b(1), b(1), true));
    const read = watch(e.get(b(1)));
    disk.crash();
    await steps.runAll();
    expect(write.settled()).toBe(false);
    expect(read.settled()).toBe(false);
    expect(e.isOpen).toBe(false);
    expect((await errorOf(e.get(b(1)))).code).toBe("closed");
    expect((await errorOf(e.put(b(1), b(1), true))).code).toBe("closed");
    expect(() => e.newBatch()).toThrow(StoreError);
    const it = e.iterate();
    expect((await errorOf(it.next())).code).toBe("closed");
    // The write never landed.
    const again = disk.open();
    const got = watch(again.get(b(1)));
    await steps.runAll();
    expect(await got.result).toBeNull();
  });

  it("a crash between a synced write's landing and its report keeps the write though its caller never heard back", async () => {
    const steps = new ManualSchedule();
    const disk = new MemoryDisk({ schedule: steps.schedule });
    const e = disk.open();
    const write = watch(e.put(b(1), b(7), true));
    await steps.runOne(); // lands
    expect(steps.pending).toBe(1); // the report
    disk.crash();
    await steps.runAll();
    expect(write.settled()).toBe(false);
    const again = disk.open();
    const got = watch(again.get(b(1)));
    await steps.runAll();
    expect(await got.result).toEqual(b(7));
  });

  it("one engine at a time holds the disk; close waits for the engine's operations in flight", async () => {
    const steps = new ManualSchedule();
    const disk = new MemoryDisk({ schedule: steps.schedule });
    const e = disk.open();
    expect(() => disk.open()).toThrow(StoreError);
    const write = watch(e.put(b(1), b(1), false));
    const closed = watch(e.close());
    expect((await errorOf(e.get(b(1)))).code).toBe("closed");
    await steps.runOne(); // the write lands
    expect(closed.settled()).toBe(false);
    await steps.runAll();
    expect(write.settled() && closed.settled()).toBe(true);
    const again = disk.open();
    const got = watch(again.get(b(1)));
    await steps.runAll();
    expect(await got.result).toEqual(b(1));
  });
});

describe("MemoryEngine: faults and copies", () => {
  it("a failed write rejects with 'io' and changes nothing; a failed read rejects with 'io'", async () => {
    const disk = new MemoryDisk();
    const e = disk.open();
    await e.put(b(1), b(1), true);
    const seen: Array<{ ops: readonly BatchOp[]; sync: boolean }> = [];
    disk.faults = {
      failWrite: (ops, sync) => {
        seen.push({ ops, sync });
        return ops.some((op) => op.key[0] === 2);
      },
      failRead: (key) => key[0] === 3,
    };
    const batch = e.newBatch();
    batch.put(b(1), b(99));
    batch.put(b(2), b(2));
    expect((await errorOf(e.write(batch, false))).code).toBe("io");
    expect(seen.at(-1)!.ops.map((op) => op.key[0])).toEqual([1, 2]);
    expect((await errorOf(e.batch([{ type: "del", key: b(1) }, { type: "del", key: b(2) }], true))).code).toBe("io");
    expect(seen.at(-1)!.sync).toBe(true);
    expect(disk.unsyncedWrites).toBe(0);
    expect(await entries(e)).toEqual(["01=01"]);
    await e.put(b(3), b(3), false);
    expect((await errorOf(e.get(b(3)))).code).toBe("io");
    expect((await errorOf(e.getMany([b(1), b(3)]))).code).toBe("io");
    const it = e.iterate();
    expect((await it.next()).value).toEqual([b(1), b(1)]);
    expect((await errorOf(it.next())).code).toBe("io");
    disk.faults = {};
    expect(await e.getMany([b(1), b(3), b(4)])).toEqual([b(1), b(3), null]);
  });

  it("hands out copies and copies what it is given", async () => {
    const e = new MemoryDisk().open();
    const key = b(1);
    const value = b(5, 6);
    await e.put(key, value, false);
    key[0] = 2;
    value[0] = 0;
    const batch = e.newBatch();
    batch.put(key, value); // key 2
    key[0] = 3;
    value[1] = 0;
    await e.write(batch, false);
    const got = (await e.get(b(1)))!;
    got[0] = 42;
    expect(await e.get(b(1))).toEqual(b(5, 6));
    expect(await e.get(b(2))).toEqual(b(0, 6));
    for await (const [k, v] of e.iterate()) {
      k[0] = 9;
      v[0] = 9;
    }
    expect(await entries(e)).toEqual(["01=0506", "02=0006"]);
    expect(() => e.write(new MemoryDisk().open().newBatch(), false)).toThrow(TypeError);
  });
});

describe("MemoryEngine iterates exactly as RocksDB does", () => {
  let dir: ReturnType<typeof tempDir> | null = null;
  let rocks: RocksDb | null = null;
  afterEach(async () => {
    await rocks?.close();
    dir?.cleanup();
  });

  /** A key of 1-4 bytes from an alphabet with both ends of the byte range, so prefixes and 0x00/0xff meet. */
  function randomKey(rng: Rng): Uint8Array {
    const alphabet = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
    return Uint8Array.from({ length: 1 + rng.int(0, 3) }, () => alphabet[rng.int(0, alphabet.length - 1)]!);
  }

  it.each([1, 2, 3])("on the same random data and random ranges (seed %i)", async (seed) => {
    const rng = new Rng(seed);
    dir = tempDir("store-compare");
    rocks = await RocksDb.open(dir.path);
    const memory: MemoryEngine = new MemoryDisk().open();
    for (let w = 0; w < 40; w++) {
      const ops: BatchOp[] = Array.from({ length: 1 + rng.int(0, 7) }, () =>
        rng.int(0, 3) === 0 ? { type: "del", key: randomKey(rng) } : { type: "put", key: randomKey(rng), value: Uint8Array.from([w, rng.int(0, 255)]) },
      );
      await rocks.batch(ops, false);
      await memory.batch(ops, false);
    }
    expect((await entries(memory)).length).toBeGreaterThan(20);
    expect(await entries(memory)).toEqual(await entries(rocks));
    for (let q = 0; q < 200; q++) {
      const options: IterateOptions = {};
      if (rng.int(0, 2) > 0) options.gte = randomKey(rng);
      if (rng.int(0, 2) > 0) options.lt = randomKey(rng);
      if (rng.int(0, 1) === 0) options.reverse = true;
      const limit = [-1, 0, 1, 2, 5, 100][rng.int(0, 5)]!;
      if (limit !== -1 || rng.int(0, 1) === 0) options.limit = limit;
      expect(await entries(memory, options), JSON.stringify({ ...options, gte: options.gte && toHex(options.gte), lt: options.lt && toHex(options.lt) })).toEqual(
        await entries(rocks, options),
      );
    }
    // Point reads agree too, present and absent keys alike.
    const probe = Array.from({ length: 50 }, () => randomKey(rng));
    expect(await memory.getMany(probe)).toEqual(await rocks.getMany(probe));
  });

  it("sees a snapshot taken at its first step: writes made while it runs are not seen", async () => {
    dir = tempDir("store-compare");
    rocks = await RocksDb.open(dir.path);
    const memory = new MemoryDisk().open();
    const run = async (engine: StorageEngine): Promise<string[]> => {
      await engine.batch([1, 3, 5].map((k) => ({ type: "put", key: b(k), value: b(k) })), false);
      const it = engine.iterate({ gte: b(1), lt: b(9) });
      const seen = [toHex((await it.next()).value![0])];
      await engine.batch([{ type: "put", key: b(2), value: b(2) }, { type: "del", key: b(5) }, { type: "put", key: b(3), value: b(33) }], false);
      for await (const [k, v] of it) seen.push(`${toHex(k)}=${toHex(v)}`);
      return seen;
    };
    const fromMemory = await run(memory);
    expect(fromMemory).toEqual(["01", "03=03", "05=05"]);
    expect(fromMemory).toEqual(await run(rocks));
  });
});

describe("both engines after close", () => {
  it.each(["RocksDB", "MemoryEngine"])("%s rejects every operation with 'closed' and closes again without error", async (name) => {
    const dir = tempDir("store-closed");
    try {
      const engine: StorageEngine = name === "RocksDB" ? await RocksDb.open(dir.path) : new MemoryDisk().open();
      await engine.put(b(1), b(1), true);
      expect(engine.isOpen).toBe(true);
      await engine.close();
      expect(engine.isOpen).toBe(false);
      for (const p of [engine.get(b(1)), engine.getMany([b(1)]), engine.put(b(2), b(2), false), engine.batch([{ type: "del", key: b(1) }], true), engine.iterate().next()]) {
        expect((await errorOf(p)).code).toBe("closed");
      }
      expect(() => engine.newBatch()).toThrow(StoreError);
      await engine.close();
    } finally {
      dir.cleanup();
    }
  });
});

describe("Store on MemoryEngine: crashes", () => {
  const commitNext = async (store: Store, parent: Parameters<typeof childBlock>[0]) => {
    const h = parent.header.height + 1n;
    const block = childBlock(parent, rootFor(parent.header.height), []);
    await store.commitExecuted({ block, qc: null, stateRoot: rootFor(h), state: [{ key: stateKeyFor(h), value: b(Number(h)) }], receipts: receiptsFor(block) });
    return block;
  };

  it("loses a block commit that was not synced, and keeps one followed by a synced safety write", async () => {
    const disk = new MemoryDisk();
    let store = await Store.openOn(disk.open(), { syncCommits: false });
    const blocks = await buildChain(store, 2);
    await store.putSafety(b(1));
    const lost = await commitNext(store, blocks[2]!);
    expect((await store.lastApplied())!.height).toBe(3n);
    disk.crash();

    store = await Store.openOn(disk.open(), { syncCommits: false });
    expect(await store.committedHead()).toEqual({ height: 2n, hash: blockHash(blocks[2]!.header) });
    expect((await store.lastApplied())!.height).toBe(2n);
    expect(await store.getBlock(blockHash(lost.header))).toBeNull();
    expect(await store.getState(stateKeyFor(3n))).toBeNull();
    expect(await store.getSafety()).toEqual(b(1));

    const kept = await commitNext(store, blocks[2]!);
    await store.putSafety(b(2));
    disk.crash();
    store = await Store.openOn(disk.open(), { syncCommits: false });
    expect(await store.committedHead()).toEqual({ height: 3n, hash: blockHash(kept.header) });
    expect(await store.lastApplied()).toEqual({ height: 3n, stateRoot: rootFor(3n) });
    expect(await store.getState(stateKeyFor(3n))).toEqual(b(3));
    expect(await store.getSafety()).toEqual(b(2));
    await store.close();
  });

  it("a commit whose write fails leaves nothing of it, and the store then refuses every write (reads still work)", async () => {
    const disk = new MemoryDisk();
    const store = await Store.openOn(disk.open());
    const blocks = await buildChain(store, 1);
    let failing = true;
    disk.faults = { failWrite: () => failing };
    expect((await errorOf(commitNext(store, blocks[1]!))).code).toBe("io");
    failing = false;
    expect(await store.lastApplied()).toEqual({ height: 1n, stateRoot: rootFor(1n) });
    expect(await store.getState(stateKeyFor(2n))).toBeNull();
    expect(await store.blockHashAt(2n)).toBeNull();
    // The medium works again, but what the failed write left durable is unknown: no later write goes through.
    const refused = await errorOf(commitNext(store, blocks[1]!));
    expect(refused.code).toBe("io");
    expect(refused.message).toMatch(/earlier write failed/);
    expect((await errorOf(store.putSafety(b(1)))).code).toBe("io");
    expect(await store.getSafety()).toBeNull();
    expect((await store.committedHead())!.height).toBe(1n);
    await store.close();
  });

  it("runs the store's logic with completions in a seeded random order and crashes at random steps", async () => {
    // What the crashes did, over all seeds: the round's commit kept, lost, or the parent's lost too.
    const outcomes = { kept: 0, lost: 0, parentLost: 0 };
    for (let seed = 1; seed <= 20; seed++) {
      const rng = new Rng(seed);
      const queue: Array<() => void> = [];
      const disk = new MemoryDisk({ schedule: (fn) => queue.push(fn) });
      // Runs queued steps in a random order until `p` settles.
      const drive = async <T>(p: Promise<T>): Promise<T> => {
        const w = watch(p);
        for (;;) {
          await settle();
          if (w.settled()) return w.result;
          if (queue.length === 0) throw new Error("nothing left to run, and the operation has not settled");
          queue.splice(rng.int(0, queue.length - 1), 1)[0]!();
        }
      };
      let store = await drive(Store.openOn(disk.open(), { syncCommits: false }));
      let blocks = await drive(buildChain(store, 0));
      await drive(store.putSafety(b(0)));
      // Height of the last commit known durable: one that completed before a synced write that completed.
      let durable = 0n;
      for (let round = 0; round < 8; round++) {
        const parent = blocks.at(-1)!;
        const commit = commitNext(store, parent);
        const safety = store.putSafety(b(round + 1));
        // A crash at a random step while both are in flight, or none.
        const crashAfter = rng.int(0, 2) === 0 ? rng.int(0, 3) : -1;
        let steps = 0;
        const both = watch(Promise.all([commit, safety]));
        await settle();
        while (!both.settled() && queue.length > 0 && steps !== crashAfter) {
          queue.splice(rng.int(0, queue.length - 1), 1)[0]!();
          steps++;
          await settle();
        }
        if (!both.settled()) {
          expect(steps).toBe(crashAfter);
          disk.crash();
          queue.length = 0;
          store = await drive(Store.openOn(disk.open(), { syncCommits: false }));
          const applied = (await drive(store.lastApplied()))!;
          // Commits land whole or not at all, in order, and nothing durable is lost.
          expect(applied.height).toBeGreaterThanOrEqual(durable);
          expect(applied.height).toBeLessThanOrEqual(parent.header.height + 1n);
          expect(applied.stateRoot).toEqual(rootFor(applied.height));
          expect(await drive(store.getState(stateKeyFor(applied.height)))).toEqual(b(Number(applied.height)));
          expect(await drive(store.getState(stateKeyFor(applied.height + 1n)))).toBeNull();
          expect((await drive(store.committedHead()))!.height).toBe(applied.height);
          if (applied.height > parent.header.height) outcomes.kept++;
          else if (applied.height === parent.header.height) outcomes.lost++;
          else outcomes.parentLost++;
          if (applied.height <= parent.header.height) blocks = blocks.slice(0, Number(applied.height) + 1);
          else blocks = [...blocks, (await drive(store.blockAt(applied.height)))!];
        } else {
          await both.result;
          blocks = [...blocks, await commit];
          // The parent's commit completed before this round's synced safety write was issued.
          durable = parent.header.height;
        }
      }
    }
    expect(outcomes.kept).toBeGreaterThan(0);
    expect(outcomes.lost).toBeGreaterThan(0);
    expect(outcomes.parentLost).toBeGreaterThan(0);
  });
});
