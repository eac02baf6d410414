import { spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { toHex } from "../node/codec/hex.ts";
import { blockHash } from "../node/crypto/digests.ts";
import { genesisHash } from "../node/crypto/digests.ts";
import { ConsensusLog } from "../node/store/consensus-log.ts";
import { Store, StoreError, storeKeys, verifyChain } from "../node/store/index.ts";
import { MemoryBatch, MemoryDisk } from "../node/store/memory-engine.ts";
import { COMPACTION_NICE, RocksDb, WriteBatch } from "../node/store/rocks.ts";
import { childBlock, signer, tempDir, transfer } from "./fixtures/exec/chain.ts";
import { GENESIS, buildChain, receiptsFor, rootFor, stateKeyFor } from "./fixtures/exec/store-chain.ts";

/** The main thread's nice value before any store opens: what the compaction threads are lowered from (Linux). */
const mainNiceAtLoad = process.platform === "linux" ? niceOf(String(process.pid)) : 0;

/** A thread's nice value, from field 19 of its /proc stat line (the fields after the parenthesised name). */
function niceOf(tid: string): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
}

function compactionThreads(): string[] {
  return readdirSync("/proc/self/task").filter((tid) => readFileSync(`/proc/self/task/${tid}/comm`, "utf8").startsWith("rocksdb:low"));
}

/** A database to open a Store on again and again (each open after the last store on it closed). */
interface Database {
  open(): Promise<Store>;
  cleanup(): void;
}

/** The engines the store's logic is tested on: what a validator runs, and what the simulator runs. */
const ENGINES = [
  {
    name: "RocksDB",
    batchClass: WriteBatch as { prototype: { put(key: Uint8Array, value: Uint8Array): void } },
    make(): Database {
      const dir = tempDir("store");
      return { open: () => Store.open(dir.path), cleanup: () => dir.cleanup() };
    },
  },
  {
    name: "MemoryEngine",
    batchClass: MemoryBatch as { prototype: { put(key: Uint8Array, value: Uint8Array): void } },
    make(): Database {
      const disk = new MemoryDisk();
      return { open: () => Store.openOn(disk.open()), cleanup: () => undefined };
    },
  },
];

let store: Store;

async function expectStoreError(p: Promise<unknown>, code: string, height?: bigint): Promise<StoreError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(StoreError);
  expect((e as StoreError).code).toBe(code);
  if (height !== undefined) expect((e as StoreError).height).toBe(height);
  return e as StoreError;
}

describe.each(ENGINES)("store on $name: committed chain", (engine) => {
  let db: Database;
  beforeEach(async () => {
    db = engine.make();
    store = await db.open();
  });
  afterEach(async () => {
    await store.close();
    db.cleanup();
  });

  it("commits blocks with their results and reads them back after reopening", async () => {
    const blocks = await buildChain(store, 3);
    await store.close();
    store = await db.open();
    expect(await store.committedHead()).toEqual({ height: 3n, hash: blockHash(blocks[3]!.header) });
    expect(await store.lastApplied()).toEqual({ height: 3n, stateRoot: rootFor(3n) });
    expect(await store.stateRootAt(2n)).toEqual(rootFor(2n));
    const b2 = await store.blockAt(2n);
    expect(blockHash(b2!.header)).toEqual(blockHash(blocks[2]!.header));
    expect(await store.getState(stateKeyFor(3n))).toEqual(new Uint8Array([3]));
    const r = receiptsFor(blocks[2]!)[0]!;
    expect(await store.receiptById(r.id)).toEqual(r);
    expect(await store.receiptLocation(r.id)).toEqual({ height: 2n, index: 0 });
    expect(await store.receiptsOfBlock(2n)).toEqual([r]);
    const history = await store.invocationsOf(signer(1).publicKey);
    expect(history.map((x) => x.nonce)).toEqual([0n, 1n, 2n]);
    expect(history[1]!.id).toEqual(receiptsFor(blocks[2]!)[0]!.id);
    const res = await verifyChain(store);
    expect(res.head).toBe(3n);
    expect(res.blocks).toBe(4);
  });

  it("is append-only: another block at a committed height is refused and nothing of it lands", async () => {
    const blocks = await buildChain(store, 2);
    const rival = childBlock(blocks[1]!, rootFor(1n), [], { view: 77n });
    await expectStoreError(store.appendCommitted(rival, null), "chain_conflict", 2n);
    // Re-appending the same block is fine (idempotent).
    await store.appendCommitted(blocks[2]!, null);
    // Applying a block that does not extend the applied height is refused before writing anything.
    const next = childBlock(blocks[2]!, rootFor(2n), [transfer(signer(1), signer(3).publicKey, 5n, 2n)]);
    const skip = childBlock(next, rootFor(3n));
    await expectStoreError(
      store.commitExecuted({ block: skip, qc: null, stateRoot: rootFor(4n), state: [{ key: stateKeyFor(4n), value: new Uint8Array([4]) }], receipts: [] }),
      "chain_conflict",
      4n,
    );
    expect(await store.getState(stateKeyFor(4n))).toBeNull();
    expect(await store.lastApplied()).toEqual({ height: 2n, stateRoot: rootFor(2n) });
    // A child whose parent hash is not the committed block at height - 1 is refused too.
    const orphan = childBlock(rival, rootFor(2n));
    await expectStoreError(store.appendCommitted(orphan, null), "chain_conflict", 3n);
    expect(await store.blockHashAt(3n)).toBeNull();
  });

  it("stores a QC only when it certifies the block, and a replay's rejection never takes the id of the run", async () => {
    const blocks = await buildChain(store, 1);
    const dup = blocks[1]!.invocations[0]!;
    const b2 = childBlock(blocks[1]!, rootFor(1n), [transfer(signer(1), signer(2).publicKey, 1n, 1n), dup]);
    const wrongQc = { view: 5n, blockHash: blockHash(blocks[1]!.header), signatures: [] };
    await expectStoreError(
      store.commitExecuted({ block: b2, qc: wrongQc, stateRoot: rootFor(2n), state: [], receipts: receiptsFor(b2) }),
      "chain_conflict",
      2n,
    );
    const qc = { view: 5n, blockHash: blockHash(b2.header), signatures: [] };
    const receipts = receiptsFor(b2);
    receipts[1] = { ...receipts[1]!, status: "rejected", gasUsed: 0n, fee: 0n, error: "bad nonce" };
    await store.commitExecuted({ block: b2, qc, stateRoot: rootFor(2n), state: [], receipts });
    expect(await store.qcAt(2n)).toEqual(qc);
    // The replayed invocation's rejection is stored at (2, 1) but its id still names the receipt that ran.
    const first = await store.receiptById(receipts[1]!.id);
    expect(first!.height).toBe(1n);
    expect(first!.status).toBe("ok");
    expect((await store.receiptAt(2n, 1))!.status).toBe("rejected");
  });

  it("indexes an id by its non-rejected receipt; a rejected one only when nothing else claims the id", async () => {
    const blocks = await buildChain(store, 1);
    const key = signer(1);
    const ahead = transfer(key, signer(2).publicKey, 7n, 2n); // nonce 2 while the account is at 1
    const other = transfer(key, signer(2).publicKey, 8n, 9n);
    const b2 = childBlock(blocks[1]!, rootFor(1n), [ahead, other, other]);
    const r2 = receiptsFor(b2).map((r) => ({ ...r, status: "rejected" as const, gasUsed: 0n, fee: 0n, error: "bad nonce" }));
    await store.commitExecuted({ block: b2, qc: null, stateRoot: rootFor(2n), state: [], receipts: r2 });
    // Rejected with nothing indexed yet: the first rejection of each id is what the id names.
    expect(await store.receiptLocation(r2[0]!.id)).toEqual({ height: 2n, index: 0 });
    expect(await store.receiptLocation(r2[1]!.id)).toEqual({ height: 2n, index: 1 });

    // The same id rejected again, then running, in one block: the run takes the id over from the older
    // rejection that held it, and the new rejection earlier in the block does not get in the way.
    const now = transfer(key, signer(2).publicKey, 1n, 1n);
    const b3 = childBlock(b2, rootFor(2n), [ahead, now, ahead]);
    const r3 = receiptsFor(b3);
    r3[0] = { ...r3[0]!, status: "rejected", gasUsed: 0n, fee: 0n, error: "bad nonce" };
    await store.commitExecuted({ block: b3, qc: null, stateRoot: rootFor(3n), state: [], receipts: r3 });
    expect(await store.receiptLocation(r3[2]!.id)).toEqual({ height: 3n, index: 2 });
    expect((await store.receiptById(r3[2]!.id))!.status).toBe("ok");
    expect(await store.receiptLocation(r3[1]!.id)).toEqual({ height: 3n, index: 1 });
    // Only accepted invocations enter the nonce index.
    expect((await store.invocationsOf(key.publicKey, 1n)).map((x) => [x.nonce, toHex(x.id)])).toEqual([
      [1n, toHex(r3[1]!.id)],
      [2n, toHex(r3[2]!.id)],
    ]);
  });

  it("iterates state ranges in key order and persists the safety state", async () => {
    await buildChain(store, 3);
    const entries: string[] = [];
    for await (const [k, v] of store.iterateState(new TextEncoder().encode("k-"))) entries.push(`${new TextDecoder().decode(k)}=${v[0]}`);
    expect(entries).toEqual(["k-0=0", "k-1=1", "k-2=2", "k-3=3"]);
    const limited: string[] = [];
    for await (const [k] of store.iterateState(new TextEncoder().encode("k-"), { after: new TextEncoder().encode("k-1"), limit: 2 })) {
      limited.push(new TextDecoder().decode(k));
    }
    expect(limited).toEqual(["k-2", "k-3"]);
    expect(await store.getSafety()).toBeNull();
    await store.putSafety(new Uint8Array([9, 8, 7]));
    await store.close();
    store = await db.open();
    expect(await store.getSafety()).toEqual(new Uint8Array([9, 8, 7]));
  });

  it("stores the safety state and a step's uncommitted blocks in one batch, handed back after reopening", async () => {
    const blocks = await buildChain(store, 2);
    const a = childBlock(blocks[2]!, rootFor(2n), [], { view: 10n });
    const b = childBlock(a, rootFor(2n), [], { view: 11n });
    const clog = new ConsensusLog(store);
    await clog.putSafety(new Uint8Array([1, 2]), [
      { block: a, hash: blockHash(a.header) },
      { block: b, hash: blockHash(b.header) },
    ]);
    await store.close();
    store = await db.open();
    expect(await store.getSafety()).toEqual(new Uint8Array([1, 2]));
    const pending = await new ConsensusLog(store).pendingAbove(2n);
    expect(pending.map((x) => toHex(blockHash(x.header)))).toEqual([toHex(blockHash(a.header)), toHex(blockHash(b.header))]);
    expect(await new ConsensusLog(store).pendingAbove(3n)).toHaveLength(1);
  });

  it("writes pruned blocks' deletions with the next safety state, and clears what a crash left over on reopening", async () => {
    const blocks = await buildChain(store, 2);
    const a = childBlock(blocks[2]!, rootFor(2n), [], { view: 10n });
    const fork = childBlock(blocks[2]!, rootFor(2n), [], { view: 11n });
    const b = childBlock(a, rootFor(3n), [], { view: 12n });
    const [ha, hf, hb] = [a, fork, b].map((x) => blockHash(x.header)) as [Uint8Array, Uint8Array, Uint8Array];
    const clog = new ConsensusLog(store);
    await clog.putSafety(new Uint8Array([1]), [
      { block: a, hash: ha },
      { block: fork, hash: hf },
      { block: b, hash: hb },
    ]);
    // a commits; the fork is pruned. The deletions wait for the next safety write.
    await store.appendCommitted(a, null);
    await clog.dropPending([
      { height: 3n, hash: ha, committed: true },
      { height: 3n, hash: hf, committed: false },
    ]);
    expect(await store.getBlockBytes(hf)).not.toBeNull();
    await clog.putSafety(new Uint8Array([2]));
    expect(await store.getBlockBytes(hf)).toBeNull();
    expect(await store.getBlockBytes(ha)).not.toBeNull();
    expect((await clog.pendingAbove(2n)).map((x) => toHex(blockHash(x.header)))).toEqual([toHex(hb)]);

    // A crash before the deletions are written: reopening clears the stale entries, forked bytes included.
    const fork2 = childBlock(a, rootFor(3n), [], { view: 13n });
    const hf2 = blockHash(fork2.header);
    await clog.putSafety(new Uint8Array([3]), [{ block: fork2, hash: hf2 }]);
    await store.appendCommitted(b, null);
    await clog.dropPending([{ height: 4n, hash: hf2, committed: false }]);
    await store.close();
    store = await db.open();
    expect(await new ConsensusLog(store).pendingAbove(4n)).toEqual([]);
    expect(await store.getBlockBytes(hf2)).toBeNull();
    expect(await store.getBlockBytes(hb)).not.toBeNull();
  });

  it("commits a block it stored uncommitted without writing its bytes again, but writes them once they were pruned", async () => {
    const blocks = await buildChain(store, 2);
    const a = childBlock(blocks[2]!, rootFor(2n), [transfer(signer(1), signer(2).publicKey, 5n, 0n)], { view: 10n });
    const b = childBlock(a, rootFor(3n), [], { view: 11n });
    const [ha, hb] = [a, b].map((x) => blockHash(x.header)) as [Uint8Array, Uint8Array];
    const clog = new ConsensusLog(store);
    await clog.putSafety(new Uint8Array([1]), [{ block: a, hash: ha }]);
    await clog.putPending(b, hb);
    // b is pruned as if forked off: its bytes are deleted with the next safety write, so committing it (which
    // the core never does with a pruned block, but the store must not rely on) writes them again.
    await clog.dropPending([{ height: 4n, hash: hb, committed: false }]);
    await clog.putSafety(new Uint8Array([2]));
    expect(await store.getBlockBytes(hb)).toBeNull();

    const put = vi.spyOn(engine.batchClass.prototype, "put");
    try {
      const blockKeysPut = (): string[] => put.mock.calls.map(([k]) => toHex(k)).filter((k) => k === toHex(storeKeys.block(ha)) || k === toHex(storeKeys.block(hb)));
      await store.appendCommitted(a, null);
      expect(blockKeysPut()).toEqual([]);
      expect(put.mock.calls.length).toBeGreaterThan(0);
      await store.appendCommitted(b, null);
      expect(blockKeysPut()).toEqual([toHex(storeKeys.block(hb))]);
    } finally {
      put.mockRestore();
    }
    await store.close();
    store = await db.open();
    expect(await store.getBlock(ha)).toEqual(a);
    expect(await store.getBlock(hb)).toEqual(b);
    expect(toHex((await store.blockHashAt(4n))!)).toBe(toHex(hb));
  });

  it("refuses a database bound to another genesis", async () => {
    await store.bindGenesis(genesisHash(GENESIS));
    await store.bindGenesis(genesisHash(GENESIS));
    await expectStoreError(store.bindGenesis(new Uint8Array(32).fill(7)), "genesis_mismatch");
  });
});

describe.runIf(process.platform === "linux")("store: RocksDB's compaction threads", () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(async () => {
    dir = tempDir("store");
    store = await Store.open(dir.path);
  });
  afterEach(async () => {
    await store.close();
    dir.cleanup();
  });

  it("run COMPACTION_NICE below the event loop, which keeps its priority; another open lowers them no further", async () => {
    const want = Math.min(19, mainNiceAtLoad + COMPACTION_NICE);
    const threads = compactionThreads();
    expect(threads.length).toBeGreaterThan(0);
    for (const tid of threads) expect(niceOf(tid)).toBe(want);
    expect(niceOf(String(process.pid))).toBe(mainNiceAtLoad);

    const other = tempDir("store-other");
    const db = await RocksDb.open(other.path);
    try {
      for (const tid of compactionThreads()) expect(niceOf(tid)).toBe(want);
    } finally {
      await db.close();
      other.cleanup();
    }
  });
});

describe.each(ENGINES)("store on $name: verifyChain", (engine) => {
  let db: Database;
  beforeEach(async () => {
    db = engine.make();
    store = await db.open();
  });
  afterEach(async () => {
    await store.close();
    db.cleanup();
  });

  it("names the height of a block with one flipped byte", async () => {
    const blocks = await buildChain(store, 5);
    await store.bindGenesis(genesisHash(GENESIS));
    await verifyChain(store);
    const hash = blockHash(blocks[3]!.header);
    const raw = (await store.getBlockBytes(hash))!;
    const flipped = raw.slice();
    flipped[60] = flipped[60]! ^ 0x01;
    await store.db.put(storeKeys.block(hash), flipped, true);
    const e = await expectStoreError(verifyChain(store), "corrupt_chain", 3n);
    expect(e.message).toMatch(/height 3/);
  });

  it("finds a byte flipped inside an invocation (invocationsRoot) and a rewritten index entry", async () => {
    const blocks = await buildChain(store, 4);
    const hash2 = blockHash(blocks[2]!.header);
    const raw = (await store.getBlockBytes(hash2))!;
    const flipped = raw.slice();
    flipped[raw.length - 10] = flipped[raw.length - 10]! ^ 0x80; // inside the signature of the last invocation
    await store.db.put(storeKeys.block(hash2), flipped, true);
    await expectStoreError(verifyChain(store), "corrupt_chain", 2n);
    await store.db.put(storeKeys.block(hash2), raw, true);
    await verifyChain(store);
    // Point height 3 at block 4: the hash is a real block, but its height and parent do not fit.
    await store.db.put(storeKeys.height(3n), blockHash(blocks[4]!.header), true);
    await expectStoreError(verifyChain(store), "corrupt_chain", 3n);
  });

  it("reports stored bytes that do not decode as corrupt_chain, not as a codec error", async () => {
    const blocks = await buildChain(store, 2);
    const hash = blockHash(blocks[2]!.header);
    await store.db.put(storeKeys.block(hash), new Uint8Array([1, 2, 3]), true);
    await expectStoreError(store.getBlock(hash), "corrupt_chain");
    await store.db.put(storeKeys.receipt(1n, 0), new Uint8Array([9]), true);
    await expectStoreError(store.receiptAt(1n, 0), "corrupt_chain");
    await expectStoreError(store.receiptsOfBlock(1n), "corrupt_chain");
    const id = receiptsFor(blocks[1]!)[0]!.id;
    await store.db.put(storeKeys.receiptById(id), new Uint8Array(5), true);
    await expectStoreError(store.receiptLocation(id), "corrupt_chain");
  });

  it("detects a missing height and a truncated tail", async () => {
    await buildChain(store, 4);
    await store.db.batch([{ type: "del", key: storeKeys.height(2n) }], true);
    const e = await expectStoreError(verifyChain(store), "corrupt_chain", 2n);
    expect(e.message).toMatch(/missing/);
    const db2 = engine.make();
    const s2 = await db2.open();
    try {
      await buildChain(s2, 4);
      await s2.db.batch([{ type: "del", key: storeKeys.height(4n) }, { type: "del", key: storeKeys.height(3n) }], true);
      await expectStoreError(verifyChain(s2), "corrupt_chain", 3n);
    } finally {
      await s2.close();
      db2.cleanup();
    }
  });
});

describe("store on RocksDB: commit atomicity under SIGKILL", () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => {
    dir = tempDir("store");
  });
  afterEach(async () => {
    await store.close();
    dir.cleanup();
  });

  it("after a kill at an arbitrary instant, state, receipts, root and last applied height agree", async () => {
    const script = fileURLToPath(new URL("./fixtures/exec/commit-loop.ts", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", script, dir.path], { stdio: ["ignore", "pipe", "inherit"] });
    let printed = 0;
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => {
        printed += chunk.toString().split("\n").filter(Boolean).length;
        // Kill while it is busy committing, at a point that depends on scheduling, not on our choosing.
        if (printed >= 40 && child.exitCode === null && !child.killed) child.kill("SIGKILL");
      });
      child.on("exit", () => resolve());
      child.on("error", reject);
    });
    expect(printed).toBeGreaterThanOrEqual(40);
    store = await Store.open(dir.path);
    const applied = (await store.lastApplied())!;
    expect(applied.height).toBeGreaterThanOrEqual(40n);
    expect(applied.stateRoot).toEqual(rootFor(applied.height));
    const want = new TextEncoder().encode(String(applied.height));
    const values = await store.getStateMany(Array.from({ length: 64 }, (_, i) => new TextEncoder().encode(`s-${i}`)));
    for (const v of values) expect(toHex(v!)).toBe(toHex(want));
    expect(await store.receiptsOfBlock(applied.height)).toHaveLength(1);
    expect(await store.receiptsOfBlock(applied.height + 1n)).toHaveLength(0);
    expect(await store.stateRootAt(applied.height + 1n)).toBeNull();
    expect((await store.committedHead())!.height).toBe(applied.height);
    await verifyChain(store);
  });
});
