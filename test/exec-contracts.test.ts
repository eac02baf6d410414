// Deploys and contract calls through the real vm: the pinned AssemblyScript compiler in its worker, the real
// validator, and RocksDB. The fixture contracts are compiled once (the first compile of a file is the slow one).

import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decode, encode } from "../node/codec/codec.ts";
import { fromUtf8, toHex, utf8 } from "../node/codec/hex.ts";
import { DeployPayload, SourceFile, list } from "../node/codec/index.ts";
import { k12 } from "../node/crypto/hash.ts";
import { EXEC_GAS, RealContractVm, intrinsicGas, replay, stateKeys } from "../node/exec/index.ts";
import { compileGas } from "../node/exec/gas.ts";
import { DEFAULT_TOOLCHAIN_ID } from "../vm/index.ts";
import type { CompileOutcome, ContractSourcesInput } from "../node/exec/vm-adapter.ts";
import { childBlock, deploy, sign, signer, testGenesis } from "./fixtures/exec/chain.ts";
import { TestChain } from "./fixtures/exec/harness.ts";
import { recursiveInstantiation } from "./fixtures/hostile-sources.ts";

const alice = signer(1);
const bob = signer(2);
const proposer = signer(9);
const GENESIS = testGenesis([
  { account: alice.publicKey, balance: 10_000_000_000n },
  { account: bob.publicKey, balance: 10_000_000_000n },
]);

const fixture = (name: string) => readFileSync(new URL(`./fixtures/exec/contracts/${name}`, import.meta.url), "utf8");
const COUNTER = { "counter.ts": fixture("counter.ts") };
const COUNTER_V2 = { "counter.ts": fixture("counter-v2.ts") };
const BROKEN = { "broken.ts": fixture("broken.ts") };

/** The real vm, recording which compiles were asked for (to see prefetch start them). */
class RecordingVm extends RealContractVm {
  readonly compiles: string[] = [];
  override compile(toolchain: string, sources: ContractSourcesInput): Promise<CompileOutcome> {
    this.compiles.push(sources.entry);
    return super.compile(toolchain, sources);
  }
}

const vm = new RecordingVm();
let chain: TestChain;
let aliceNonce = 0n;
let bobNonce = 0n;

beforeAll(async () => {
  chain = await TestChain.open(GENESIS, vm);
});
afterAll(async () => {
  await chain.close();
});

/** What a deploy of `files` costs: the fixed part, its source bytes, and the work its compile measured. */
async function deployGas(files: Record<string, string>, input: Uint8Array): Promise<bigint> {
  let bytes = 0;
  for (const [path, content] of Object.entries(files)) bytes += utf8(path).length + utf8(content).length;
  const compiled = await new RealContractVm().compile(DEFAULT_TOOLCHAIN_ID, { entry: Object.keys(files)[0]!, files });
  expect(compiled.work.units).toBeGreaterThan(0);
  return intrinsicGas(input.length) + EXEC_GAS.deployBase + EXEC_GAS.deployPerSourceByte * BigInt(bytes) + compileGas(compiled.work);
}

describe("exec: deploy", () => {
  it("prefetch starts the compile before the block runs; v1 makes the invoker the owner", async () => {
    const inv = deploy(alice, "counter", 1, COUNTER, aliceNonce++, { gasPrice: 2n });
    chain.ex.prefetch([inv]);
    expect(vm.compiles).toEqual(["counter.ts"]);
    const [r] = await chain.run([inv], proposer.publicKey);
    expect(r!.status).toBe("ok");
    expect(r!.gasUsed).toBe(await deployGas(COUNTER, inv.input));
    expect(r!.fee).toBe(r!.gasUsed * 2n);
    // The compile started by prefetch was the one execution used.
    expect(vm.compiles).toEqual(["counter.ts", "counter.ts"]);
    const contract = await chain.ex.getContract("counter");
    expect(contract!.owner).toEqual(alice.publicKey);
    expect(contract!.versions.map((v) => v.version)).toEqual([1]);
    const v1 = await chain.ex.getContractVersion("counter", 1);
    expect(v1!.info).toMatchObject({ name: "counter", version: 1, toolchain: "asc-0.28.20+sdk-2", entry: "counter.ts", deployedAt: chain.head.header.height });
    expect(v1!.info.codeHash).toEqual(r!.output);
    expect(v1!.sources).toEqual([{ path: "counter.ts", content: COUNTER["counter.ts"] }]);
    const payload = decode(DeployPayload, inv.input);
    expect(v1!.info.sourcesHash).toEqual(k12("cairn.sources", encode(list(SourceFile, 64), payload.sources)));
  });

  it("refuses v2 from a non-owner, a version gap and a second v1, charging the gas each time", async () => {
    const before = await chain.ex.getAccount(bob.publicKey);
    const receipts = await chain.run(
      [
        deploy(bob, "counter", 2, COUNTER_V2, bobNonce++),
        deploy(alice, "counter", 3, COUNTER_V2, aliceNonce++),
        deploy(alice, "counter", 1, COUNTER_V2, aliceNonce++),
        deploy(alice, "fresh", 2, COUNTER, aliceNonce++),
      ],
      proposer.publicKey,
    );
    expect(receipts.map((r) => r.status)).toEqual(["reverted", "reverted", "reverted", "reverted"]);
    expect(receipts[0]!.error).toMatch(/only its owner may deploy/);
    expect(receipts[1]!.error).toMatch(/at version 1; the next deploy must be version 2, not 3/);
    expect(receipts[2]!.error).toMatch(/next deploy must be version 2, not 1/);
    expect(receipts[3]!.error).toMatch(/does not exist: its first deploy must be version 1/);
    expect(await chain.ex.getAccount(bob.publicKey)).toEqual({ balance: before.balance - receipts[0]!.fee, nonce: before.nonce + 1n });
    expect(receipts[0]!.fee).toBeGreaterThan(0n);
    expect((await chain.ex.getContract("counter"))!.versions).toHaveLength(1);
    expect(await chain.ex.getContract("fresh")).toBeNull();
  });

  it("reverts a compile error with the compiler's diagnostics, and an unknown toolchain", async () => {
    const broken = deploy(alice, "broken", 1, BROKEN, aliceNonce++);
    const receipts = await chain.run([broken, deploy(alice, "other", 1, COUNTER, aliceNonce++, { toolchain: "asc-0.0.1+sdk-9" })], proposer.publicKey);
    expect(receipts.map((r) => r.status)).toEqual(["reverted", "reverted"]);
    expect(receipts[0]!.error).toMatch(/broken\.ts:5:\d+.*AS2304.*notDeclaredAnywhere/);
    expect(fromUtf8(receipts[0]!.output)).toMatch(/Cannot find name 'notDeclaredAnywhere'/);
    expect(receipts[0]!.fee).toBe(await deployGas(BROKEN, broken.input));
    expect(receipts[1]!.error).toMatch(/toolchain "asc-0\.0\.1\+sdk-9" is not supported/);
    expect(await chain.ex.getContract("broken")).toBeNull();
  });

  it("runs out of gas below the deploy cost without compiling or storing anything", async () => {
    const inv = deploy(alice, "cheap", 1, COUNTER_V2, aliceNonce++, { gasLimit: 100_000n });
    const compiles = vm.compiles.length;
    const [r] = await chain.run([inv], proposer.publicKey);
    expect(r!.status).toBe("out_of_gas");
    expect(r!.gasUsed).toBe(100_000n);
    expect(vm.compiles.length).toBe(compiles);
    expect(await chain.ex.getContract("cheap")).toBeNull();
  });

  it("runs out of gas when the limit covers the deploy's base cost but not its compile work, storing nothing", async () => {
    const probe = deploy(alice, "underfunded", 1, COUNTER_V2, 0n);
    const full = await deployGas(COUNTER_V2, probe.input);
    const inv = deploy(alice, "underfunded", 1, COUNTER_V2, aliceNonce++, { gasLimit: full - 1n });
    const [r] = await chain.run([inv], proposer.publicKey);
    expect(r!.status).toBe("out_of_gas");
    expect(r!.gasUsed).toBe(full - 1n);
    expect(await chain.ex.getContract("underfunded")).toBeNull();
  });

  it("reverts a source past a compile limit, charging the work measured up to the limit", async () => {
    const HOSTILE = { "hostile.ts": recursiveInstantiation() };
    const inv = deploy(alice, "hostile", 1, HOSTILE, aliceNonce++);
    const [r] = await chain.run([inv], proposer.publicKey);
    expect(r!.status).toBe("reverted");
    expect(r!.error).toMatch(/compile limit exceeded: the compile nests more than 1000 levels deep/);
    expect(r!.gasUsed).toBe(await deployGas(HOSTILE, inv.input));
    const withoutCompile = intrinsicGas(inv.input.length) + EXEC_GAS.deployBase + EXEC_GAS.deployPerSourceByte * BigInt(utf8("hostile.ts").length + utf8(HOSTILE["hostile.ts"]).length);
    expect(r!.gasUsed - withoutCompile).toBeGreaterThan(100_000n);
    expect(await chain.ex.getContract("hostile")).toBeNull();
  });

  it("lets the owner deploy v2, which shares v1's storage name", async () => {
    const [r] = await chain.run([deploy(alice, "counter", 2, COUNTER_V2, aliceNonce++)], proposer.publicKey);
    expect(r!.status).toBe("ok");
    const contract = await chain.ex.getContract("counter");
    expect(contract!.versions.map((v) => v.version)).toEqual([1, 2]);
    expect(toHex(contract!.versions[1]!.codeHash)).not.toBe(toHex(contract!.versions[0]!.codeHash));
    expect(contract!.versions[1]!.owner).toEqual(alice.publicKey);
  });
});

const u64le = (n: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
};
const call = (key: ReturnType<typeof signer>, contract: string, method: string, nonce: bigint, extra: Partial<Parameters<typeof sign>[1]> = {}) =>
  sign(key, { contract, method, nonce, gasLimit: 2_000_000n, ...extra });

describe("exec: contract calls", () => {
  it("runs methods against the name's storage, shared by all versions, with sorted reads and writes in the receipt", async () => {
    const receipts = await chain.run(
      [call(bob, "counter", "increment", bobNonce++), call(bob, "counter", "increment", bobNonce++), call(bob, "counter", "increment", bobNonce++, { version: 2 })],
      proposer.publicKey,
    );
    expect(receipts.map((r) => r.status)).toEqual(["ok", "ok", "ok"]);
    expect(receipts.map((r) => fromUtf8(r.output))).toEqual(["1", "2", "4"]);
    expect(receipts[2]!.reads).toEqual([utf8("count")]);
    expect(receipts[2]!.writes).toEqual([{ key: utf8("count"), value: u64le(4n) }]);
    expect(receipts[0]!.gasUsed).toBeGreaterThan(intrinsicGas(0));
    expect(receipts[0]!.fee).toBe(receipts[0]!.gasUsed);
    expect(await chain.ex.getState("counter", utf8("count"))).toEqual(u64le(4n));
    expect(await chain.store.getState(stateKeys.storage(stateKeys.storagePrefix("counter"), utf8("count")))).toEqual(u64le(4n));
  });

  it("reverted, out_of_gas and trap pay for their gas, bump the nonce and write nothing; unknown code is invalid", async () => {
    const before = await chain.ex.getAccount(bob.publicKey);
    const proposerBefore = await chain.ex.getAccount(proposer.publicKey);
    const receipts = await chain.run(
      [
        call(bob, "counter", "incrementThenRevert", bobNonce++, { gasPrice: 3n }),
        call(bob, "counter", "incrementThenSpin", bobNonce++, { gasPrice: 3n, gasLimit: 300_000n }),
        call(bob, "counter", "incrementThenTrap", bobNonce++, { gasPrice: 3n }),
        call(bob, "counter", "noSuchMethod", bobNonce++, { gasPrice: 3n }),
        call(bob, "counter", "increment", bobNonce++, { gasPrice: 3n, version: 9 }),
      ],
      proposer.publicKey,
    );
    expect(receipts.map((r) => r.status)).toEqual(["reverted", "out_of_gas", "trap", "invalid", "invalid"]);
    expect(receipts[0]!.error).toBe("changed my mind");
    expect(receipts[1]!.gasUsed).toBe(300_000n);
    expect(receipts[2]!.error).toMatch(/unreachable/);
    expect(receipts[3]!.error).toMatch(/no such method/);
    expect(receipts[4]!.gasUsed).toBe(EXEC_GAS.invalid);
    expect(receipts[4]!.error).toMatch(/unknown contract counter version 9/);
    let fees = 0n;
    for (const r of receipts) {
      expect(r.gasUsed).toBeGreaterThan(0n);
      expect(r.fee).toBe(r.gasUsed * 3n);
      expect(r.writes).toEqual([]);
      fees += r.fee;
    }
    expect(await chain.ex.getAccount(bob.publicKey)).toEqual({ balance: before.balance - fees, nonce: before.nonce + 5n });
    expect(await chain.ex.getAccount(proposer.publicKey)).toEqual({ balance: proposerBefore.balance + fees, nonce: 0n });
    expect(await chain.ex.getState("counter", utf8("count"))).toEqual(u64le(4n));
    expect(await chain.ex.getState("counter", utf8("spin"))).toBeNull();
  });

  it("keeps each contract's storage private to its name", async () => {
    // Same code under another name: its own "count", untouched by counter's.
    const [d] = await chain.run([deploy(bob, "other", 1, COUNTER, bobNonce++)], proposer.publicKey);
    expect(d!.status).toBe("ok");
    const receipts = await chain.run([call(alice, "other", "increment", aliceNonce++), call(alice, "other", "get", aliceNonce++), call(alice, "counter", "get", aliceNonce++)]);
    expect(receipts.map((r) => fromUtf8(r.output))).toEqual(["1", "1", "4"]);
    expect(await chain.ex.getState("other", utf8("count"))).toEqual(u64le(1n));
    expect(await chain.ex.getState("counter", utf8("count"))).toEqual(u64le(4n));
    expect((await chain.ex.getContract("other"))!.owner).toEqual(bob.publicKey);
  });

  it("gives contracts the block's proposer and answers read-only queries without writing", async () => {
    const [r] = await chain.run([call(alice, "counter", "proposer", aliceNonce++)], proposer.publicKey);
    expect(fromUtf8(r!.output)).toBe(toHex(proposer.publicKey));
    const q = await chain.ex.query({ contract: "counter", version: 1, method: "increment", input: new Uint8Array(0) });
    expect(q).toMatchObject({ status: "ok", error: null });
    expect(fromUtf8(q.output)).toBe("5");
    expect(await chain.ex.getState("counter", utf8("count"))).toEqual(u64le(4n));
    const capped = await chain.ex.query({ contract: "counter", version: 1, method: "incrementThenSpin", input: new Uint8Array(0), gasLimit: 50_000n });
    expect(capped).toMatchObject({ status: "out_of_gas", gasUsed: 50_000n });
    expect((await chain.ex.query({ contract: "nope", version: 1, method: "get", input: new Uint8Array(0) })).status).toBe("invalid");
    expect((await chain.ex.query({ contract: "bank", version: 1, method: "transfer", input: new Uint8Array(0) })).status).toBe("invalid");
  });

  it("does not let a deploy on a losing fork leak into the committed state", async () => {
    const parent = chain.head;
    const root = chain.ex.head().stateRoot;
    const ghost = childBlock(parent, root, [deploy(alice, "ghost", 1, COUNTER, aliceNonce)], { view: parent.header.view + 1n });
    const winner = childBlock(parent, root, [call(alice, "counter", "get", aliceNonce)], { view: parent.header.view + 2n });
    const rg = await chain.ex.executeBlock(ghost);
    expect(rg.receipts[0]!.status).toBe("ok");
    const ghostCall = childBlock(ghost, rg.stateRoot, [call(alice, "ghost", "increment", aliceNonce + 1n)]);
    expect((await chain.ex.executeBlock(ghostCall)).receipts[0]!.status).toBe("ok");
    const rw = await chain.ex.executeBlock(winner);
    await chain.ex.commitBlock(rw.hash);
    chain.head = winner;
    aliceNonce++;
    const [r] = await chain.run([call(alice, "ghost", "increment", aliceNonce++)]);
    expect(r!.status).toBe("invalid");
    expect(await chain.ex.getContract("ghost")).toBeNull();
  });

  it("re-runs an invocation after each missing key (cold cache) and reaches the same receipt and root", async () => {
    const [filled] = await chain.run([call(alice, "counter", "fill", aliceNonce++, { input: utf8("40") })]);
    expect(filled!.status).toBe("ok");
    expect(filled!.writes).toHaveLength(40);
    const block = chain.next([call(alice, "counter", "sum", aliceNonce, { input: utf8("40") })], proposer.publicKey);
    const warm = await chain.ex.executeBlock(block);
    expect(fromUtf8(warm.receipts[0]!.output)).toBe(String((39 * 40) / 2));
    // Reopen with no cache at all: every storage read misses, throws the vm's missing-state signal, is loaded
    // from RocksDB, and the invocation is re-run from scratch.
    await chain.reopen({ preloadState: false, stateCacheBytes: 0 });
    const before = chain.ex.stats.stateRetries;
    const cold = await chain.ex.executeBlock(block);
    expect(chain.ex.stats.stateRetries - before).toBe(40);
    expect(cold.receipts).toEqual(warm.receipts);
    expect(cold.stateRoot).toEqual(warm.stateRoot);
    await chain.ex.commitBlock(cold.hash);
    chain.head = block;
    aliceNonce++;
  });

  it("runs the example token end to end (mint, transfer, a revert that lands nothing)", async () => {
    const token = { "token.ts": readFileSync(new URL("../contracts/examples/token.ts", import.meta.url), "utf8") };
    const text = (s: string) => utf8(s);
    const receipts = await chain.run([
      deploy(alice, "token", 1, token, aliceNonce++),
      call(alice, "token", "mint", aliceNonce++, { input: text(`${toHex(alice.publicKey)} 1000`) }),
      call(alice, "token", "transfer", aliceNonce++, { input: text(`${toHex(bob.publicKey)} 300`) }),
      call(bob, "token", "transfer", bobNonce++, { input: text(`${toHex(alice.publicKey)} 301`) }),
      call(bob, "token", "mint", bobNonce++, { input: text(`${toHex(bob.publicKey)} 5`) }),
    ]);
    expect(receipts.map((r) => r.status)).toEqual(["ok", "ok", "ok", "reverted", "reverted"]);
    expect(receipts[3]!.error).toMatch(/insufficient balance/);
    const balance = async (who: Uint8Array) =>
      fromUtf8((await chain.ex.query({ contract: "token", version: 1, method: "balanceOf", input: text(toHex(who)) })).output);
    expect(await balance(alice.publicKey)).toBe("700");
    expect(await balance(bob.publicKey)).toBe("300");
    expect(fromUtf8((await chain.ex.query({ contract: "token", version: 1, method: "totalSupply", input: new Uint8Array(0) })).output)).toBe("1000");
  });

  it("replay from genesis (recompiling every deploy) reproduces the live root", async () => {
    const report = await replay(chain.store, GENESIS, { vm });
    expect(report.mismatch).toBeNull();
    expect(report.height).toBe(chain.ex.head().height);
    expect(report.stateRoot).toEqual(chain.ex.head().stateRoot);
  });
});
