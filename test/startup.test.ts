// Start-up in constant time: a validator's open checks the last START_CHECK_BLOCKS committed blocks (and any
// it re-executes), refuses corruption there naming the height, leaves older blocks to the full check
// (verifyChain, `cairn verify-chain`), and reads a bounded number of blocks whatever the chain's length.
// Chains come from the start-up benchmark's generator on real RocksDB, for a one-validator devnet config.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { encode } from "../node/codec/codec.ts";
import { bytesEqual, toHex } from "../node/codec/hex.ts";
import { QuorumCertificate, type Block } from "../node/codec/types.ts";
import { blockHash } from "../node/crypto/digests.ts";
import { SodiumSigner } from "../node/crypto/sodium.ts";
import { runVerifyChain } from "../node/cli/commands/node.ts";
import { loadConfig, type LoadedConfig } from "../node/config.ts";
import { initDevnet } from "../node/devnet.ts";
import { Executor, type ExecutorOptions } from "../node/exec/executor.ts";
import { RealContractVm } from "../node/exec/vm-adapter.ts";
import type { BatchOp, EngineBatch, IterateOptions, StorageEngine } from "../node/store/engine.ts";
import { StoreError } from "../node/store/errors.ts";
import { TABLE, keys } from "../node/store/keys.ts";
import { RocksDb } from "../node/store/rocks.ts";
import { Store } from "../node/store/store.ts";
import { START_CHECK_BLOCKS, verifyChain } from "../node/store/verify.ts";
import { generateChain } from "../bench/startup/chain.ts";
import { tempDir } from "./fixtures/exec/chain.ts";

const HEAD = 300n;
/** Lowest height the start-up check covers on a chain whose head is HEAD. */
const WINDOW_FROM = HEAD - BigInt(START_CHECK_BLOCKS) + 1n;

/** A RocksDB engine that records which blocks (by hash, hex) were read from the 'B' table. */
class CountingEngine implements StorageEngine {
  readonly blockReads: string[] = [];
  constructor(private readonly inner: StorageEngine) {}
  get location(): string {
    return this.inner.location;
  }
  get isOpen(): boolean {
    return this.inner.isOpen;
  }
  private note(key: Uint8Array): void {
    if (key[0] === TABLE.block) this.blockReads.push(toHex(key.subarray(1)));
  }
  get(key: Uint8Array): Promise<Uint8Array | null> {
    this.note(key);
    return this.inner.get(key);
  }
  getMany(ks: readonly Uint8Array[]): Promise<Array<Uint8Array | null>> {
    ks.forEach((k) => this.note(k));
    return this.inner.getMany(ks);
  }
  async *iterate(options?: IterateOptions): AsyncGenerator<[Uint8Array, Uint8Array]> {
    for await (const [k, v] of this.inner.iterate(options)) {
      this.note(k);
      yield [k, v];
    }
  }
  put(key: Uint8Array, value: Uint8Array, sync: boolean): Promise<void> {
    return this.inner.put(key, value, sync);
  }
  batch(ops: readonly BatchOp[], sync: boolean): Promise<void> {
    return this.inner.batch(ops, sync);
  }
  newBatch(): EngineBatch {
    return this.inner.newBatch();
  }
  write(batch: EngineBatch, sync: boolean): Promise<void> {
    return this.inner.write(batch, sync);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

let dir: ReturnType<typeof tempDir>;
let configPath: string;
let loaded: LoadedConfig;
let dbPath: string;
let blocks: Block[];
const vm = new RealContractVm();

beforeAll(async () => {
  dir = tempDir("startup");
  initDevnet(dir.path, { validators: 1, basePort: 7700 });
  configPath = join(dir.path, "node0.json");
  loaded = loadConfig(configPath);
  dbPath = join(loaded.config.dataDir, "db");
  mkdirSync(loaded.config.dataDir, { recursive: true });
  const store = await Store.open(dbPath, { syncCommits: false });
  try {
    blocks = (await generateChain(store, loaded.genesis, new SodiumSigner(loaded.secretKey), Number(HEAD), { keepBlocks: true })).blocks;
  } finally {
    await store.close();
  }
});

afterAll(() => dir.cleanup());

let store: Store;
beforeEach(async () => {
  store = await Store.open(dbPath, { syncCommits: false });
});
afterEach(async () => {
  await store.close();
});

function open(options: Partial<ExecutorOptions> = {}): Promise<Executor> {
  return Executor.open(store, { genesis: loaded.genesis, vm, preloadState: false, ...options });
}

async function refusal(p: Promise<unknown>): Promise<StoreError> {
  const e = await p.then(
    (ex) => {
      void (ex as Executor | undefined)?.close?.();
      return null;
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(StoreError);
  expect((e as StoreError).code).toBe("corrupt_chain");
  return e as StoreError;
}

function hashAt(h: bigint): Uint8Array {
  return blockHash(blocks[Number(h)]!.header);
}

/** Flips one byte of the stored block at `h`; returns the undo. */
async function flipBlock(h: bigint): Promise<() => Promise<void>> {
  const key = keys.block(hashAt(h));
  const raw = (await store.db.get(key))!;
  const flipped = raw.slice();
  flipped[flipped.length - 40] ^= 0x01;
  await store.db.put(key, flipped, true);
  return () => store.db.put(key, raw, true);
}

async function cliVerify(): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runVerifyChain(["--config", configPath], { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

describe("start-up check on RocksDB", () => {
  it("reads only the last blocks of the chain on open, and logs what it checked", async () => {
    await store.close();
    const counting = new CountingEngine(await RocksDb.open(dbPath));
    store = await Store.openOn(counting);
    const lines: string[] = [];
    const ex = await open({ openLog: { info: (msg, fields) => lines.push(`${msg} ${JSON.stringify(fields ?? {}, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}`) } });
    try {
      expect(ex.head().height).toBe(HEAD);
      expect(ex.openCheck).toMatchObject({ mode: "tail", from: WINDOW_FROM, to: HEAD, blocks: START_CHECK_BLOCKS });
    } finally {
      await ex.close();
    }
    // The window's blocks, the one below it (its parent link) and nothing older.
    const read = new Set(counting.blockReads);
    for (let h = WINDOW_FROM - 1n; h <= HEAD; h++) expect(read.has(toHex(hashAt(h)))).toBe(true);
    for (let h = 0n; h < WINDOW_FROM - 1n; h++) expect(read.has(toHex(hashAt(h))), `block ${h} was read`).toBe(false);
    expect(counting.blockReads.length).toBeLessThanOrEqual(START_CHECK_BLOCKS + 2);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^start-up check: the last 64 committed blocks/);
    expect(lines[1]).toMatch(new RegExp(`^start-up check passed: 64 blocks in [0-9.]+ ms .*"from":"${WINDOW_FROM}","to":"${HEAD}"`));

    // The full walk, asked for, reads every block: the counter sees them.
    counting.blockReads.length = 0;
    const full = await open({ verifyOnOpen: "full" });
    await full.close();
    expect(full.openCheck).toMatchObject({ mode: "full", from: 0n, to: HEAD, blocks: Number(HEAD) + 1 });
    expect(new Set(counting.blockReads).size).toBe(Number(HEAD) + 1);
  });

  it("refuses corruption in the last 64 blocks, naming the height", async () => {
    const cases: Array<{ height: bigint; what: RegExp; corrupt: () => Promise<() => Promise<void>> }> = [
      { height: HEAD - 3n, what: /hash|decode/, corrupt: () => flipBlock(HEAD - 3n) },
      { height: WINDOW_FROM, what: /hash|decode/, corrupt: () => flipBlock(WINDOW_FROM) },
      {
        height: WINDOW_FROM,
        what: /missing from the chain index/,
        corrupt: async () => {
          await store.db.batch([{ type: "del", key: keys.height(WINDOW_FROM) }], true);
          return () => store.db.put(keys.height(WINDOW_FROM), hashAt(WINDOW_FROM), true);
        },
      },
      {
        height: HEAD - 5n,
        what: /height|parent/,
        corrupt: async () => {
          await store.db.put(keys.height(HEAD - 5n), hashAt(HEAD - 4n), true);
          return () => store.db.put(keys.height(HEAD - 5n), hashAt(HEAD - 5n), true);
        },
      },
      {
        height: HEAD - 10n,
        what: /stored QC certifies another block/,
        corrupt: async () => {
          const key = keys.qc(HEAD - 10n);
          const raw = (await store.db.get(key))!;
          const other = (await store.qcAt(HEAD - 11n))!;
          await store.db.put(key, encode(QuorumCertificate, other), true);
          return () => store.db.put(key, raw, true);
        },
      },
      {
        height: HEAD - 20n,
        what: /stateRoot .* differs from the recorded root/,
        corrupt: async () => {
          const key = keys.root(HEAD - 21n);
          const raw = (await store.db.get(key))!;
          await store.db.put(key, new Uint8Array(32).fill(7), true);
          return () => store.db.put(key, raw, true);
        },
      },
      {
        // The head's index entry lost (a truncated tail): execution results now run beyond the committed head.
        height: HEAD,
        what: /beyond the committed head/,
        corrupt: async () => {
          await store.db.batch([{ type: "del", key: keys.height(HEAD) }], true);
          return () => store.db.put(keys.height(HEAD), hashAt(HEAD), true);
        },
      },
    ];
    for (const c of cases) {
      const undo = await c.corrupt();
      const e = await refusal(open());
      expect(e.height, e.message).toBe(c.height);
      expect(e.message).toMatch(new RegExp(`height ${c.height}\\b`));
      expect(e.message).toMatch(c.what);
      await undo();
    }
    const ex = await open();
    expect(ex.head().height).toBe(HEAD);
    await ex.close();
  });

  it("does not read corruption older than the last 64 blocks on open; the full check finds it", async () => {
    const old = 5n;
    const undo = await flipBlock(old);
    try {
      const ex = await open();
      expect(ex.openCheck).toMatchObject({ mode: "tail", from: WINDOW_FROM, blocks: START_CHECK_BLOCKS });
      await ex.close();

      const e = await refusal(verifyChain(store));
      expect(e.height).toBe(old);
      expect((await refusal(open({ verifyOnOpen: "full" }))).height).toBe(old);

      await store.close();
      const bad = await cliVerify();
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/corrupt_chain: committed chain is corrupt at height 5\b/);
      store = await Store.open(dbPath, { syncCommits: false });
    } finally {
      await undo();
    }
    await store.close();
    const good = await cliVerify();
    expect(good.stdout).toMatch(new RegExp(`^chain ok: ${Number(HEAD) + 1} committed blocks, head ${HEAD} ${toHex(hashAt(HEAD))}; safety state ok`));
    expect(good.code).toBe(0);
    store = await Store.open(dbPath, { syncCommits: false });
  });

  it("checks every block open re-executes, however far below the window", async () => {
    // Execution results wiped: open re-executes the whole chain from genesis, so it must check all of it.
    const headRoot = (await store.lastApplied())!.stateRoot;
    await store.resetExecution();
    const undo = await flipBlock(5n);
    expect((await refusal(open())).height).toBe(5n);
    await undo();
    const ex = await open();
    try {
      expect(ex.openCheck).toMatchObject({ mode: "tail", from: 0n, to: HEAD, blocks: Number(HEAD) + 1 });
      // The generator's roots are the executor's own: re-executing its chain reaches the same head root.
      expect(ex.head().height).toBe(HEAD);
      expect(bytesEqual(ex.head().hash, hashAt(HEAD))).toBe(true);
      expect(toHex(ex.head().stateRoot)).toBe(toHex(headRoot));
    } finally {
      await ex.close();
    }
  });
});
