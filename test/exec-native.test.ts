// Execution without Wasm: genesis, signatures, nonces, fees, bank transfers, forks, commit, restart, replay.

import { afterEach, describe, expect, it } from "vitest";
import { CodecError, encode } from "../node/codec/codec.ts";
import { compareBytes, toHex } from "../node/codec/hex.ts";
import { Account } from "../node/codec/types.ts";
import { blockHash, invocationId } from "../node/crypto/digests.ts";
import { EXEC_GAS, ExecError, RealContractVm, genesisStateRoot, intrinsicGas, nextStateRoot, replay, stateKeys } from "../node/exec/index.ts";
import { decodeAccount, encodeAccount } from "../node/exec/account.ts";
import { keyString } from "../node/exec/state-keys.ts";
import { StoreError, storeKeys } from "../node/store/index.ts";
import { childBlock, sign, signer, testGenesis, transfer } from "./fixtures/exec/chain.ts";
import { TestChain } from "./fixtures/exec/harness.ts";

const alice = signer(1);
const bob = signer(2);
const carol = signer(3);
const proposer = signer(9);
const GENESIS = testGenesis([
  { account: alice.publicKey, balance: 1_000_000n },
  { account: bob.publicKey, balance: 50_000n },
]);
const vm = new RealContractVm();
const TRANSFER_INPUT = 40; // TransferPayload: 32-byte key + u64
const TRANSFER_GAS = intrinsicGas(TRANSFER_INPUT) + EXEC_GAS.transfer;

let chain: TestChain | null = null;
afterEach(async () => {
  await chain?.close();
  chain = null;
});

async function open(): Promise<TestChain> {
  chain = await TestChain.open(GENESIS, vm);
  return chain;
}

describe("exec: genesis", () => {
  it("funds the allocations and records root(genesis) at height 0", async () => {
    const c = await open();
    expect(c.ex.head().height).toBe(0n);
    expect(c.ex.head().stateRoot).toEqual(genesisStateRoot(GENESIS));
    expect(await c.ex.getAccount(alice.publicKey)).toEqual({ balance: 1_000_000n, nonce: 0n });
    expect(await c.ex.getAccount(carol.publicKey)).toEqual({ balance: 0n, nonce: 0n });
    expect(blockHash((await c.ex.getBlock("latest"))!.header)).toEqual(c.ex.genesisBlockHash);
    expect(await c.store.stateRootAt(0n)).toEqual(genesisStateRoot(GENESIS));
  });

  it("refuses duplicate allocations and a supply over u64", async () => {
    const dup = testGenesis([
      { account: alice.publicKey, balance: 1n },
      { account: alice.publicKey, balance: 2n },
    ]);
    await expect(TestChain.open(dup, vm)).rejects.toMatchObject({ code: "bad_genesis" });
    const huge = testGenesis([
      { account: alice.publicKey, balance: (1n << 64n) - 1n },
      { account: bob.publicKey, balance: 1n },
    ]);
    await expect(TestChain.open(huge, vm)).rejects.toMatchObject({ code: "bad_genesis" });
  });
});

describe("exec: fees, nonces, rejections", () => {
  it("charges gasUsed x gasPrice to the invoker and credits exactly that to the block's proposer", async () => {
    const c = await open();
    const [r] = await c.run([transfer(alice, carol.publicKey, 1234n, 0n, { gasPrice: 3n })], proposer.publicKey);
    expect(r!.status).toBe("ok");
    expect(r!.gasUsed).toBe(TRANSFER_GAS);
    expect(r!.fee).toBe(TRANSFER_GAS * 3n);
    expect(await c.ex.getAccount(alice.publicKey)).toEqual({ balance: 1_000_000n - 1234n - TRANSFER_GAS * 3n, nonce: 1n });
    expect(await c.ex.getAccount(carol.publicKey)).toEqual({ balance: 1234n, nonce: 0n });
    expect(await c.ex.getAccount(proposer.publicKey)).toEqual({ balance: TRANSFER_GAS * 3n, nonce: 0n });
    // The receipt is stored under its invocation id with its position.
    const stored = await c.ex.getReceipt(r!.id);
    expect(stored).toEqual(r);
    expect(stored!.height).toBe(1n);
    expect(stored!.index).toBe(0);
  });

  it("takes nonces strictly in order; a gap or a replay is rejected and changes nothing", async () => {
    const c = await open();
    const t0 = transfer(alice, carol.publicKey, 10n, 0n);
    const receipts = await c.run([
      transfer(alice, carol.publicKey, 10n, 1n), // gap: account's next nonce is 0
      t0,
      transfer(alice, carol.publicKey, 10n, 1n),
      t0, // replay of nonce 0
      transfer(alice, carol.publicKey, 10n, 5n),
    ]);
    expect(receipts.map((r) => r.status)).toEqual(["rejected", "ok", "ok", "rejected", "rejected"]);
    expect(receipts[0]!.error).toMatch(/nonce 1,.* next nonce is 0/);
    expect(receipts[3]!.error).toMatch(/nonce 0,.* next nonce is 2/);
    for (const r of [receipts[0]!, receipts[3]!, receipts[4]!]) {
      expect(r.fee).toBe(0n);
      expect(r.gasUsed).toBe(0n);
    }
    expect(await c.ex.getAccount(alice.publicKey)).toEqual({ balance: 1_000_000n - 20n - 2n * TRANSFER_GAS, nonce: 2n });
    // The replay's rejection does not hide the receipt of the invocation that ran...
    expect((await c.ex.getReceipt(invocationId(t0)))!.status).toBe("ok");
    // ... nor does a rejection that came first: the gap invocation ran later as the same id.
    expect(receipts[0]!.id).toEqual(receipts[2]!.id);
    expect(await c.ex.getReceipt(receipts[0]!.id)).toMatchObject({ status: "ok", index: 2 });
  });

  it("rejects a bad signature, a foreign chain id, an unaffordable gas limit and a u64 overflow, charging nothing", async () => {
    const c = await open();
    const forged = { ...transfer(alice, carol.publicKey, 10n, 0n) };
    forged.signature = forged.signature.slice();
    forged.signature[5] = forged.signature[5]! ^ 1;
    const receipts = await c.run(
      [
        forged,
        transfer(alice, carol.publicKey, 10n, 0n, { chainId: "other-chain" }),
        transfer(bob, carol.publicKey, 10n, 0n, { gasLimit: 50_001n, gasPrice: 1n }), // bob has 50 000
        transfer(alice, carol.publicKey, 10n, 0n, { gasLimit: 1n << 40n, gasPrice: 1n << 30n }),
        sign(carol, { contract: "bank", method: "transfer", input: new Uint8Array(0), nonce: 0n, gasPrice: 1n }), // carol has nothing
      ],
      proposer.publicKey,
    );
    expect(receipts.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected", "rejected", "rejected"]);
    expect(receipts[0]!.error).toMatch(/signature/);
    expect(receipts[1]!.error).toMatch(/wrong chain/);
    expect(receipts[2]!.error).toMatch(/insufficient balance/);
    expect(receipts[3]!.error).toMatch(/overflows u64/);
    expect(receipts[4]!.error).toMatch(/insufficient balance/);
    expect(await c.ex.getAccount(alice.publicKey)).toEqual({ balance: 1_000_000n, nonce: 0n });
    expect(await c.ex.getAccount(bob.publicKey)).toEqual({ balance: 50_000n, nonce: 0n });
    expect(await c.ex.getAccount(proposer.publicKey)).toEqual({ balance: 0n, nonce: 0n });
    // Nothing changed, so the block's write set is empty and its root is root(parent) hashed with an empty delta.
    expect(c.ex.head().stateRoot).toEqual(nextStateRoot(genesisStateRoot(GENESIS), []));
  });

  it("skips signature verification only for ids the caller says were verified", async () => {
    const c = await open();
    const forged = { ...transfer(alice, carol.publicKey, 10n, 0n) };
    forged.signature = new Uint8Array(64).fill(3);
    const block = c.next([forged]);
    const verified = new Set([toHex(invocationId(forged))]);
    const res = await c.ex.executeBlock(block, verified);
    expect(res.receipts[0]!.status).toBe("ok");
    const other = await TestChain.open(GENESIS, vm);
    try {
      const res2 = await other.ex.executeBlock(other.next([forged]));
      expect(res2.receipts[0]!.status).toBe("rejected");
      expect(res2.receipts[0]!.error).toMatch(/signature/);
    } finally {
      await other.close();
    }
  });
});

describe("exec: bank", () => {
  it("reverts a transfer the invoker cannot fund after the fee, still charging the fee and bumping the nonce", async () => {
    const c = await open();
    const fee = TRANSFER_GAS * 2n;
    const [r] = await c.run([transfer(bob, carol.publicKey, 50_000n - fee + 1n, 0n, { gasPrice: 2n, gasLimit: 20_000n })], proposer.publicKey);
    expect(r!.status).toBe("reverted");
    expect(r!.error).toMatch(/insufficient funds/);
    expect(r!.fee).toBe(fee);
    expect(await c.ex.getAccount(bob.publicKey)).toEqual({ balance: 50_000n - fee, nonce: 1n });
    expect(await c.ex.getAccount(carol.publicKey)).toEqual({ balance: 0n, nonce: 0n });
    expect(await c.ex.getAccount(proposer.publicKey)).toEqual({ balance: fee, nonce: 0n });
    // Exactly affordable succeeds.
    const [ok] = await c.run([transfer(bob, carol.publicKey, 50_000n - 2n * fee, 1n, { gasPrice: 2n, gasLimit: 20_000n })], proposer.publicKey);
    expect(ok!.status).toBe("ok");
    expect(await c.ex.getAccount(bob.publicKey)).toEqual({ balance: 0n, nonce: 2n });
  });

  it("runs out of gas below the fixed cost: pays the whole limit, moves nothing", async () => {
    const c = await open();
    const [r] = await c.run([transfer(alice, carol.publicKey, 5n, 0n, { gasLimit: TRANSFER_GAS - 1n, gasPrice: 5n })], proposer.publicKey);
    expect(r!.status).toBe("out_of_gas");
    expect(r!.gasUsed).toBe(TRANSFER_GAS - 1n);
    expect(r!.fee).toBe((TRANSFER_GAS - 1n) * 5n);
    expect(await c.ex.getAccount(carol.publicKey)).toEqual({ balance: 0n, nonce: 0n });
    expect(await c.ex.getAccount(alice.publicKey)).toEqual({ balance: 1_000_000n - (TRANSFER_GAS - 1n) * 5n, nonce: 1n });
  });

  it("charges the base gas for an unknown contract, version or method (status invalid)", async () => {
    const c = await open();
    const receipts = await c.run(
      [
        sign(alice, { contract: "nosuch", method: "run", nonce: 0n, gasPrice: 2n }),
        sign(alice, { contract: "bank", method: "mint", nonce: 1n, gasPrice: 2n }),
        sign(alice, { contract: "bank", method: "transfer", input: new Uint8Array([1, 2]), nonce: 2n, gasPrice: 2n }),
        sign(alice, { contract: "nosuch", method: "run", nonce: 3n, gasLimit: 10n, gasPrice: 2n }),
      ],
      proposer.publicKey,
    );
    expect(receipts.map((r) => r.status)).toEqual(["invalid", "invalid", "invalid", "invalid"]);
    expect(receipts.map((r) => r.gasUsed)).toEqual([EXEC_GAS.invalid, EXEC_GAS.invalid, EXEC_GAS.invalid, 10n]);
    expect(receipts[0]!.error).toMatch(/unknown contract nosuch version 1/);
    expect(await c.ex.getAccount(alice.publicKey)).toEqual({ balance: 1_000_000n - 2n * (3n * EXEC_GAS.invalid + 10n), nonce: 4n });
    expect(await c.ex.getAccount(proposer.publicKey)).toEqual({ balance: 2n * (3n * EXEC_GAS.invalid + 10n), nonce: 0n });
  });

  it("credits a transfer to the proposer on top of its fee, and creates a fresh recipient", async () => {
    const c = await open();
    const [a, b] = await c.run([transfer(alice, proposer.publicKey, 300n, 0n), transfer(alice, carol.publicKey, 20n, 1n)], proposer.publicKey);
    expect([a!.status, b!.status]).toEqual(["ok", "ok"]);
    expect(await c.ex.getAccount(proposer.publicKey)).toEqual({ balance: 300n + 2n * TRANSFER_GAS, nonce: 0n });
    expect(await c.ex.getAccount(carol.publicKey)).toEqual({ balance: 20n, nonce: 0n });
    expect(await c.ex.getAccount(alice.publicKey)).toEqual({ balance: 1_000_000n - 320n - 2n * TRANSFER_GAS, nonce: 2n });
  });

  it("gets the same receipts and roots with every read going to RocksDB as with a warm cache", async () => {
    const blocks = [
      [transfer(alice, carol.publicKey, 100n, 0n), transfer(bob, carol.publicKey, 5n, 0n, { gasLimit: 10_000n }), transfer(alice, bob.publicKey, 1n, 1n)],
      [
        transfer(carol, alice.publicKey, 500n, 0n, { gasLimit: 3_000n, gasPrice: 0n }),
        transfer(bob, proposer.publicKey, 9n, 1n, { gasLimit: 10_000n }),
        transfer(alice, alice.publicKey, 3n, 2n),
      ],
      [sign(bob, { contract: "bank", method: "transfer", input: new Uint8Array(3), nonce: 2n, gasLimit: 10_000n }), transfer(proposer, carol.publicKey, 1n, 0n, { gasLimit: 2_100n })],
    ];
    const warm = await open();
    // No cache at all: every first read of a key in a block is a RocksDB load (the asynchronous path).
    const cold = await TestChain.open(GENESIS, vm, { stateCacheBytes: 0, preloadState: false });
    try {
      const results: Array<{ receipts: unknown[]; root: Uint8Array }> = [];
      for (const c of [warm, cold]) {
        const receipts: unknown[] = [];
        for (const invs of blocks) receipts.push(await c.run(invs, proposer.publicKey));
        results.push({ receipts, root: c.ex.head().stateRoot });
      }
      expect(results[1]).toEqual(results[0]);
      expect((results[0]!.receipts as Array<Array<{ status: string }>>).flat().map((r) => r.status)).toEqual([
        "ok", "ok", "ok", "reverted", "ok", "ok", "invalid", "ok",
      ]);
      expect(cold.ex.cache.size).toBe(0);
      expect(await cold.ex.getAccount(carol.publicKey)).toEqual(await warm.ex.getAccount(carol.publicKey));
    } finally {
      await cold.close();
    }
  });

  it("the proposer paying itself nets to zero, and a self-transfer changes only the fee", async () => {
    const c = await open();
    const [r] = await c.run([transfer(alice, alice.publicKey, 500n, 0n)], alice.publicKey);
    expect(r!.status).toBe("ok");
    expect(await c.ex.getAccount(alice.publicKey)).toEqual({ balance: 1_000_000n, nonce: 1n });
  });
});

describe("exec: speculation, commit, restart, replay", () => {
  it("executes descendants while a commit's write is still in flight, and re-bases once it lands", async () => {
    const c = await open();
    const g = c.ex.genesisBlock;
    const b1 = childBlock(g, c.ex.head().stateRoot, [transfer(alice, carol.publicKey, 100n, 0n)], { view: 1n });
    const r1 = await c.ex.executeBlock(b1);
    // Hold the store's commit write until released.
    const store = c.store;
    const realCommit = store.commitExecuted.bind(store);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    store.commitExecuted = async (record) => {
      await gate;
      return realCommit(record);
    };
    let committed = false;
    const commit = c.ex.commitBlock(r1.hash).then((h) => ((committed = true), h));
    const b2 = childBlock(b1, r1.stateRoot, [transfer(alice, carol.publicKey, 1n, 1n)], { view: 2n });
    const r2 = await c.ex.executeBlock(b2); // would deadlock if the commit held the executor during its write
    expect(committed).toBe(false);
    expect(r2.receipts[0]!.status).toBe("ok"); // nonce 1 on top of the committing block
    expect(c.ex.head().height).toBe(0n);
    release();
    expect(await commit).toEqual({ height: 1n, hash: r1.hash, stateRoot: r1.stateRoot });
    expect(await c.ex.getAccount(carol.publicKey)).toEqual({ balance: 100n, nonce: 0n });
    await c.ex.commitBlock(r2.hash);
    expect(await c.ex.getAccount(carol.publicKey)).toEqual({ balance: 101n, nonce: 0n });
  });

  it("executes two forks and a grandchild, then commits the other branch and drops the losers", async () => {
    const c = await open();
    const g = c.ex.genesisBlock;
    const root0 = c.ex.head().stateRoot;
    const a1 = childBlock(g, root0, [transfer(alice, carol.publicKey, 100n, 0n)], { view: 1n });
    const b1 = childBlock(g, root0, [transfer(alice, carol.publicKey, 700n, 0n)], { view: 2n });
    const ra1 = await c.ex.executeBlock(a1);
    const a2 = childBlock(a1, ra1.stateRoot, [transfer(alice, carol.publicKey, 1n, 1n)], { view: 3n });
    const ra2 = await c.ex.executeBlock(a2);
    const rb1 = await c.ex.executeBlock(b1);
    expect(ra1.headerRootMatches && ra2.headerRootMatches && rb1.headerRootMatches).toBe(true);
    expect(ra1.stateRoot).not.toEqual(rb1.stateRoot);
    expect(ra2.receipts[0]!.status).toBe("ok"); // nonce 1 is valid on top of a1
    // Nothing speculative is visible as committed state.
    expect(await c.ex.getAccount(carol.publicKey)).toEqual({ balance: 0n, nonce: 0n });
    expect(c.ex.rootOf(blockHash(a2.header))).toEqual(ra2.stateRoot);
    // Committing a grandchild before its parent is refused.
    await expect(c.ex.commitBlock(ra2.hash)).rejects.toMatchObject({ code: "not_executed" });
    await c.ex.commitBlock(rb1.hash);
    expect(c.ex.head()).toEqual({ height: 1n, hash: rb1.hash, stateRoot: rb1.stateRoot });
    expect(c.ex.rootOf(ra1.hash)).toBeNull();
    expect(c.ex.rootOf(ra2.hash)).toBeNull();
    expect(c.ex.pendingBlocks()).toHaveLength(0);
    expect(await c.ex.getAccount(carol.publicKey)).toEqual({ balance: 700n, nonce: 0n });
    // The loser's child can no longer be executed or committed.
    await expect(c.ex.commitBlock(ra1.hash)).rejects.toMatchObject({ code: "not_executed" });
    // A child of the winner executes on the committed state.
    const b2 = childBlock(b1, rb1.stateRoot, [transfer(alice, carol.publicKey, 1n, 1n)], { view: 4n });
    const rb2 = await c.ex.executeBlock(b2);
    expect(rb2.receipts[0]!.status).toBe("ok");
    await c.ex.commitBlock(rb2.hash);
    expect(await c.ex.getAccount(carol.publicKey)).toEqual({ balance: 701n, nonce: 0n });
  });

  it("keeps a child of the committed block across the commit and commits it next", async () => {
    const c = await open();
    const g = c.ex.genesisBlock;
    const b1 = childBlock(g, c.ex.head().stateRoot, [transfer(alice, carol.publicKey, 5n, 0n)]);
    const r1 = await c.ex.executeBlock(b1);
    const b2 = childBlock(b1, r1.stateRoot, [transfer(alice, carol.publicKey, 6n, 1n)]);
    const r2 = await c.ex.executeBlock(b2);
    await c.ex.commitBlock(r1.hash);
    expect(c.ex.pendingBlocks().map(toHex)).toEqual([toHex(r2.hash)]);
    await c.ex.commitBlock(r2.hash);
    expect(await c.ex.getAccount(carol.publicKey)).toEqual({ balance: 11n, nonce: 0n });
    expect(await c.store.lastApplied()).toEqual({ height: 2n, stateRoot: r2.stateRoot });
  });

  it("refuses to commit a block whose header root is not ours, writing nothing (state_diverged)", async () => {
    const c = await open();
    const bad = childBlock(c.ex.genesisBlock, new Uint8Array(32).fill(1), [transfer(alice, carol.publicKey, 5n, 0n)]);
    const r = await c.ex.executeBlock(bad);
    expect(r.headerRootMatches).toBe(false);
    await expect(c.ex.commitBlock(r.hash)).rejects.toMatchObject({ code: "state_diverged", height: 1n });
    expect(await c.store.lastApplied()).toEqual({ height: 0n, stateRoot: genesisStateRoot(GENESIS) });
    expect(await c.store.receiptById(r.receipts[0]!.id)).toBeNull();
    expect(await c.store.getState(stateKeys.account(carol.publicKey))).toBeNull();
    expect(await c.store.blockHashAt(1n)).toBeNull();
  });

  it("re-executes committed-but-unapplied blocks on open, and rebuilds wiped state to the same roots", async () => {
    const c = await open();
    await c.run([transfer(alice, carol.publicKey, 10n, 0n)], proposer.publicKey);
    await c.run([transfer(alice, bob.publicKey, 20n, 1n), transfer(bob, carol.publicKey, 30n, 0n, { gasLimit: 20_000n })], proposer.publicKey);
    const live = c.ex.head();
    // Blocks 3 and 4 reach the chain index (e.g. the node recorded the commit) but the node dies before executing.
    const b3 = c.next([transfer(alice, carol.publicKey, 1n, 2n)], proposer.publicKey);
    const r3 = await c.ex.executeBlock(b3); // only to learn root(b3) for b4's header; never committed here
    const b4 = childBlock(b3, r3.stateRoot, [transfer(carol, bob.publicKey, 2n, 0n, { gasPrice: 0n })], { proposer: proposer.publicKey });
    await c.store.appendCommitted(b3, null);
    await c.store.appendCommitted(b4, { view: b4.header.view, blockHash: blockHash(b4.header), signatures: [] });
    expect((await c.store.lastApplied())!.height).toBe(2n);
    await c.reopen();
    expect(c.ex.head().height).toBe(4n);
    expect(await c.store.lastApplied()).toMatchObject({ height: 4n });
    expect(await c.ex.getAccount(carol.publicKey)).toEqual({ balance: 10n + 30n + 1n - 2n, nonce: 1n });
    expect((await c.ex.getReceipt(invocationId(b4.invocations[0]!)))!.status).toBe("ok");
    const root4 = c.ex.head().stateRoot;
    expect(await c.store.stateRootAt(2n)).toEqual(live.stateRoot);

    // Wipe every execution result; the chain alone rebuilds the same state and roots.
    await c.store.resetExecution();
    expect(await c.store.lastApplied()).toBeNull();
    await c.reopen({ preloadState: false });
    expect(c.ex.head()).toMatchObject({ height: 4n, stateRoot: root4 });
    expect(await c.ex.getAccount(carol.publicKey)).toEqual({ balance: 39n, nonce: 1n });
  });

  it("refuses to open on a chain with one flipped byte, naming the height", async () => {
    const c = await open();
    for (let i = 0n; i < 3n; i++) await c.run([transfer(alice, carol.publicKey, 1n, i)]);
    const hash = (await c.store.blockHashAt(2n))!;
    const raw = (await c.store.getBlockBytes(hash))!.slice();
    raw[raw.length - 1] = raw[raw.length - 1]! ^ 0x10;
    await c.store.db.put(storeKeys.block(hash), raw, true);
    const e = await c.reopen().then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(StoreError);
    expect(e).toMatchObject({ code: "corrupt_chain", height: 2n });
    chain = null; // the executor did not reopen; close the store by hand
    await c.store.close();
    c.dir.cleanup();
  });

  it("replay from genesis reproduces the live root at every height and reports a doctored one", async () => {
    const c = await open();
    for (let i = 0n; i < 4n; i++) {
      await c.run([transfer(alice, carol.publicKey, 7n, i), transfer(bob, alice.publicKey, 3n, i, { gasLimit: 20_000n })], proposer.publicKey);
    }
    const report = await replay(c.store, GENESIS, { vm });
    expect(report).toMatchObject({ ok: true, height: 4n, mismatch: null });
    expect(report.stateRoot).toEqual(c.ex.head().stateRoot);
    // Doctor the recorded root of height 3: replay names that height.
    await c.store.db.put(storeKeys.root(3n), new Uint8Array(32).fill(9), true);
    const bad = await replay(c.store, GENESIS, { vm });
    expect(bad.ok).toBe(false);
    expect(bad.mismatch).toMatchObject({ height: 3n, expected: new Uint8Array(32).fill(9) });
  });

  it("is idempotent and refuses unknown parents and wrong heights", async () => {
    const c = await open();
    const b1 = c.next([transfer(alice, carol.publicKey, 1n, 0n)]);
    const r1 = await c.ex.executeBlock(b1);
    expect(await c.ex.executeBlock(b1)).toEqual(r1);
    const orphan = childBlock(childBlock(c.ex.genesisBlock, r1.stateRoot, [], { view: 9n }), r1.stateRoot);
    await expect(c.ex.executeBlock(orphan)).rejects.toBeInstanceOf(ExecError);
    await expect(c.ex.executeBlock(orphan)).rejects.toMatchObject({ code: "unknown_parent" });
    const wrongHeight = { ...b1, header: { ...b1.header, height: 5n } };
    await expect(c.ex.executeBlock(wrongHeight)).rejects.toMatchObject({ code: "bad_block" });
    await c.ex.commitBlock(r1.hash);
    // Asking again for a committed block answers from the store.
    const again = await c.ex.executeBlock(b1);
    expect(again.stateRoot).toEqual(r1.stateRoot);
    expect(again.receipts).toEqual(r1.receipts);
  });
});

describe("exec: hand-coded encodings", () => {
  it("accounts are exactly the codec's bytes, and anything else is refused like the codec refuses it", () => {
    const max = (1n << 64n) - 1n;
    for (const [balance, nonce] of [[0n, 0n], [1n, 2n], [max, max], [1n << 63n, 5n], [0x0102030405060708n, 0x1112131415161718n]] as const) {
      const bytes = encode(Account, { balance, nonce });
      expect(encodeAccount(balance, nonce)).toEqual(bytes);
      expect(decodeAccount(bytes)).toEqual({ balance, nonce });
    }
    expect(decodeAccount(null)).toEqual({ balance: 0n, nonce: 0n });
    expect(() => decodeAccount(new Uint8Array(15))).toThrow(CodecError);
    expect(() => decodeAccount(new Uint8Array(17))).toThrow(/trailing/);
    expect(() => encodeAccount(max + 1n, 0n)).toThrow(CodecError);
    expect(() => encodeAccount(0n, -1n)).toThrow(CodecError);
  });

  it("state key strings sort exactly as the key bytes do, prefixes first", () => {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16;
    const keys: Uint8Array[] = [new Uint8Array(0), new Uint8Array([0]), new Uint8Array([0, 0]), new Uint8Array([255]), new Uint8Array([255, 0])];
    for (let i = 0; i < 300; i++) keys.push(Uint8Array.from({ length: next() % 6 }, () => (next() % 4 === 0 ? 0xff : next() & 0xff)));
    keys.push(new Uint8Array(5000).fill(0x80), new Uint8Array(5000).fill(0x80).fill(0x81, 4999));
    const byBytes = [...keys].sort(compareBytes).map(toHex);
    const byString = [...keys].sort((a, b) => (keyString(a) < keyString(b) ? -1 : keyString(a) > keyString(b) ? 1 : 0)).map(toHex);
    expect(byString).toEqual(byBytes);
    expect(new Set(keys.map(keyString)).size).toBe(new Set(keys.map(toHex)).size);
  });
});

describe("exec: the chain's minimum gas price", () => {
  const FLOORED = { ...GENESIS, minGasPrice: 2n };

  it("rejects an invocation priced below the floor before anything runs: no fee, no nonce, no writes", async () => {
    chain = await TestChain.open(FLOORED, vm);
    const receipts = await chain.run(
      [
        transfer(alice, carol.publicKey, 10n, 0n, { gasPrice: 0n }),
        transfer(alice, carol.publicKey, 10n, 0n, { gasPrice: 1n }),
        // Same nonce 0 again, at the floor: the rejected ones consumed nothing.
        transfer(alice, carol.publicKey, 10n, 0n, { gasPrice: 2n }),
      ],
      proposer.publicKey,
    );
    expect(receipts.map((r) => r.status)).toEqual(["rejected", "rejected", "ok"]);
    expect(receipts[0]!.error).toBe("gas price too low: invocation offers 0, the chain's minimum gas price is 2");
    expect(receipts[1]!.error).toMatch(/gas price too low: invocation offers 1,/);
    for (const r of receipts.slice(0, 2)) {
      expect(r.fee).toBe(0n);
      expect(r.gasUsed).toBe(0n);
      expect(r.writes).toEqual([]);
    }
    expect(await chain.ex.getAccount(alice.publicKey)).toEqual({ balance: 1_000_000n - 10n - TRANSFER_GAS * 2n, nonce: 1n });
    expect(await chain.ex.getAccount(proposer.publicKey)).toEqual({ balance: TRANSFER_GAS * 2n, nonce: 0n });
  });

  it("gives every validator the same receipts and root for a block a faulty leader filled with underpriced invocations", async () => {
    const invs = [
      transfer(carol, alice.publicKey, 0n, 0n, { gasPrice: 0n }), // never funded, free: the loophole the floor closes
      transfer(alice, carol.publicKey, 5n, 0n, { gasPrice: 1n }),
      transfer(alice, carol.publicKey, 5n, 0n, { gasPrice: 3n }),
    ];
    const results = [];
    for (let i = 0; i < 2; i++) {
      const c = await TestChain.open(FLOORED, vm);
      try {
        const block = c.next(invs, proposer.publicKey);
        results.push(await c.ex.executeBlock(block));
      } finally {
        await c.close();
      }
    }
    expect(results[0]!.receipts.map((r) => r.status)).toEqual(["rejected", "rejected", "ok"]);
    expect(results[0]!.receipts[0]!.error).toMatch(/gas price too low/);
    expect(results[1]!.receipts).toEqual(results[0]!.receipts);
    expect(results[1]!.stateRoot).toEqual(results[0]!.stateRoot);
  });

  it("a never-funded key commits nothing on a floored chain, whatever it offers", async () => {
    chain = await TestChain.open(FLOORED, vm);
    const receipts = await chain.run([
      transfer(carol, alice.publicKey, 0n, 0n, { gasPrice: 0n }),
      transfer(carol, alice.publicKey, 0n, 0n, { gasPrice: 2n, gasLimit: 1n }),
      sign(carol, { contract: "nothing", method: "run", nonce: 0n, gasPrice: 5n, gasLimit: 1n }),
    ]);
    expect(receipts.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
    expect(receipts[1]!.error).toMatch(/insufficient balance/);
    expect(await chain.ex.getAccount(carol.publicKey)).toEqual({ balance: 0n, nonce: 0n });
  });

  it("a genesis without the field keeps the old rule (floor 0): a zero-priced invocation of a funded key runs", async () => {
    const c = await open();
    const [r] = await c.run([transfer(alice, carol.publicKey, 10n, 0n, { gasPrice: 0n })]);
    expect(r!.status).toBe("ok");
    expect(r!.fee).toBe(0n);
  });
});
