// Deploys and contract calls through the real vm: the pinned AssemblyScript compiler in its worker, the real
// validator, and RocksDB. The fixture contracts are compiled once (the first compile of a file is the slow one).

import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decode, encode } from "../node/codec/codec.ts";
import { fromUtf8, toHex, utf8 } from "../node/codec/hex.ts";
import { DeployPayload, SourceFile, list } from "../node/codec/index.ts";
import { k12 } from "../node/crypto/hash.ts";
import { EXEC_GAS, RealContractVm, intrinsicGas } from "../node/exec/index.ts";
import type { CompileOutcome, ContractSourcesInput } from "../node/exec/vm-adapter.ts";
import { deploy, signer, testGenesis } from "./fixtures/exec/chain.ts";
import { TestChain } from "./fixtures/exec/harness.ts";

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

function deployGas(files: Record<string, string>, input: Uint8Array): bigint {
  let bytes = 0;
  for (const [path, content] of Object.entries(files)) bytes += utf8(path).length + utf8(content).length;
  return intrinsicGas(input.length) + EXEC_GAS.deployBase + EXEC_GAS.deployPerSourceByte * BigInt(bytes);
}

describe("exec: deploy", () => {
  it("prefetch starts the compile before the block runs; v1 makes the invoker the owner", async () => {
    const inv = deploy(alice, "counter", 1, COUNTER, aliceNonce++, { gasPrice: 2n });
    chain.ex.prefetch([inv]);
    expect(vm.compiles).toEqual(["counter.ts"]);
    const [r] = await chain.run([inv], proposer.publicKey);
    expect(r!.status).toBe("ok");
    expect(r!.gasUsed).toBe(deployGas(COUNTER, inv.input));
    expect(r!.fee).toBe(r!.gasUsed * 2n);
    // The compile started by prefetch was the one execution used.
    expect(vm.compiles).toEqual(["counter.ts", "counter.ts"]);
    const contract = await chain.ex.getContract("counter");
    expect(contract!.owner).toEqual(alice.publicKey);
    expect(contract!.versions.map((v) => v.version)).toEqual([1]);
    const v1 = await chain.ex.getContractVersion("counter", 1);
    expect(v1!.info).toMatchObject({ name: "counter", version: 1, toolchain: "asc-0.28.20+sdk-1", entry: "counter.ts", deployedAt: chain.head.header.height });
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
    expect(receipts[0]!.fee).toBe(deployGas(BROKEN, broken.input));
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

  it("lets the owner deploy v2, which shares v1's storage name", async () => {
    const [r] = await chain.run([deploy(alice, "counter", 2, COUNTER_V2, aliceNonce++)], proposer.publicKey);
    expect(r!.status).toBe("ok");
    const contract = await chain.ex.getContract("counter");
    expect(contract!.versions.map((v) => v.version)).toEqual([1, 2]);
    expect(toHex(contract!.versions[1]!.codeHash)).not.toBe(toHex(contract!.versions[0]!.codeHash));
    expect(contract!.versions[1]!.owner).toEqual(alice.publicKey);
  });
});
