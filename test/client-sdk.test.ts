// The TypeScript SDK against a real HTTP server over an in-memory node.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { toHex, utf8 } from "../node/codec/index.ts";
import { invocationId, invocationSigningDigest } from "../node/crypto/digests.ts";
import { SodiumSigner, verifyStrict } from "../node/crypto/sodium.ts";
import { Client, ClientError, DEFAULT_TOOLCHAIN, Keypair, signInvocation } from "../node/client/index.ts";
import { DEFAULT_TOOLCHAIN_ID } from "../vm/toolchain.ts";
import { FakeNode, GAS_USED, serveOverHttp } from "./api-fake-node.ts";
import { caught } from "./helpers/client-errors.ts";

const alice = Keypair.generate();
const bob = Keypair.generate();
let node: FakeNode;
let app: FastifyInstance;
let url: string;
let client: Client;

beforeAll(async () => {
  node = new FakeNode("testnet", [
    [alice.publicKey, 10_000_000n],
    [bob.publicKey, 10_000_000n],
  ]);
  ({ app, url } = await serveOverHttp(node));
  client = new Client(url);
});
afterAll(async () => {
  await app.close();
});


describe("keys and signatures", () => {
  it("noble keys and signatures are the ones libsodium (the validators) derives and accepts", () => {
    for (let i = 0; i < 5; i++) {
      const k = Keypair.generate();
      expect(Keypair.fromSecretHex(k.secretKeyHex).publicKeyHex).toBe(k.publicKeyHex);
      expect(new SodiumSigner(k.secretKey).publicKey).toEqual(k.publicKey);
      const inv = signInvocation(k, {
        chainId: "testnet",
        contract: "counter",
        version: 1,
        method: "inc",
        input: new Uint8Array([i]),
        nonce: BigInt(i),
        gasLimit: 100n,
        gasPrice: 1n,
      });
      expect(verifyStrict(inv.signature, invocationSigningDigest(inv), k.publicKey)).toBe(true);
      expect(verifyStrict(inv.signature, invocationSigningDigest({ ...inv, nonce: inv.nonce + 1n }), k.publicKey)).toBe(false);
    }
    expect(() => Keypair.fromSecretHex("abcd")).toThrow(ClientError);
    expect(DEFAULT_TOOLCHAIN).toBe(DEFAULT_TOOLCHAIN_ID);
  });
});

describe("Client", () => {
  it("reads status, accounts and blocks", async () => {
    const s = await client.status();
    expect(s.chainId).toBe("testnet");
    expect(typeof s.height).toBe("bigint");
    expect(await client.chainId()).toBe("testnet");
    const a = await client.account(alice.publicKeyHex);
    expect(a).toMatchObject({ balance: 10_000_000n, nonce: 0n, pendingNonce: 0n });
    const genesis = await client.block(0);
    expect(genesis!.header.height).toBe(0n);
    expect(genesis!.hash).toHaveLength(32);
    expect(await client.block(999n)).toBeNull();
  });

  it("invokes, tracks nonces across concurrent calls, and waits for receipts", async () => {
    const ids = await Promise.all([0, 1, 2].map((i) => client.invoke({ key: alice, contract: "counter", version: 1, method: "inc", inputString: `n${i}` })));
    expect(new Set(ids).size).toBe(3);
    expect(await client.receipt(ids[0]!)).toEqual({ status: "pending" });
    expect((await client.account(alice.publicKey)).pendingNonce).toBe(3n);
    await node.commit();
    const r = await client.receipt(ids[2]!);
    expect(r).toMatchObject({ status: "ok", gasUsed: GAS_USED, height: 1n });
    expect(toHex((r as { id: Uint8Array }).id)).toBe(ids[2]);
    expect(await client.receipt("ab".repeat(32))).toBeNull();
    node.autoCommit = true;
    try {
      const receipt = await client.invoke({ key: alice, contract: "counter", version: 1, method: "inc", input: new Uint8Array([1, 2]), wait: true });
      expect(receipt.status).toBe("ok");
      expect(receipt.output).toEqual(new Uint8Array([1, 2]));
      expect(receipt.fee).toBe(GAS_USED);
    } finally {
      node.autoCommit = false;
    }
    expect((await client.account(alice.publicKey)).nonce).toBe(4n);
  });

  it("transfers through the bank and deploys with automatic versions", async () => {
    node.autoCommit = true;
    try {
      const t = await client.transfer({ key: bob, to: alice.publicKey, amount: 12_345n, wait: true });
      expect(t.status).toBe("ok");
      expect((await client.account(bob.publicKey)).balance).toBe(10_000_000n - 12_345n - GAS_USED);
      const sources = { "counter.ts": "export function inc(): void {}", "util.ts": "export const x = 1;" };
      const d1 = await client.deploy({ key: bob, name: "ledger", sources, entry: "counter.ts", wait: true });
      expect(d1.version).toBe(1);
      expect(d1.receipt.status).toBe("ok");
      const d2 = await client.deploy({ key: bob, name: "ledger", sources, entry: "counter.ts", wait: true });
      expect(d2.version).toBe(2);
      const c = await client.contract("ledger");
      expect(c!.versions.map((v) => v.version)).toEqual([1, 2]);
      expect(c!.versions[0]!.toolchain).toBe(DEFAULT_TOOLCHAIN);
      const v = await client.contractVersion("ledger", 2);
      expect(v!.sources.map((s) => s.path)).toEqual(["counter.ts", "util.ts"]);
      expect(await client.contract("nothing")).toBeNull();
    } finally {
      node.autoCommit = false;
    }
  });

  it("queries, reads state and submits batches", async () => {
    const q = await client.query({ contract: "echo", version: 1, method: "say", inputString: "hey" });
    expect(q).toEqual({ status: "ok", gasUsed: 42n, output: utf8("say:hey"), outputString: "say:hey", error: null, height: BigInt(node.blocks.length - 1) });
    expect((await client.query({ contract: "echo", version: 1, method: "binary" })).outputString).toBeUndefined();
    expect(await client.state("counter", utf8("last"))).toEqual(new Uint8Array([1, 2]));
    expect(await client.state("counter", utf8("nope"))).toBeNull();
    const base = (await client.account(bob.publicKey)).pendingNonce;
    const invs = [0n, 1n].map((i) =>
      signInvocation(bob, { chainId: "testnet", contract: "counter", version: 1, method: "inc", input: new Uint8Array(0), nonce: base + i, gasLimit: 5000n, gasPrice: 1n }),
    );
    const results = await client.submitBatch([...invs, invs[0]!]);
    expect(results.slice(0, 2)).toEqual(invs.map((i) => ({ id: toHex(invocationId(i)) })));
    expect(results[2]).toMatchObject({ error: { code: "duplicate" } });
    // With wait, each admitted item comes back with its typed receipt (bigints and bytes, not JSON strings).
    node.autoCommit = true;
    try {
      const more = [2n, 3n].map((i) =>
        signInvocation(bob, { chainId: "testnet", contract: "counter", version: 1, method: "inc", input: new Uint8Array(0), nonce: base + i, gasLimit: 5000n, gasPrice: 1n }),
      );
      const waited = await client.submitBatch(more, { wait: true, timeoutMs: 10_000 });
      expect(waited.map((r) => ("receipt" in r ? [r.id, r.receipt.status, r.receipt.gasUsed] : r))).toEqual(more.map((i) => [toHex(invocationId(i)), "ok", GAS_USED]));
    } finally {
      node.autoCommit = false;
    }
  });

  it("turns API errors into typed ClientErrors and re-reads the nonce after a refusal", async () => {
    const carol = Keypair.generate(); // no balance
    const poor = await caught(client.invoke({ key: carol, contract: "counter", version: 1, method: "inc" }));
    expect(poor).toMatchObject({ status: 400, code: "insufficient_balance" });
    const replay = await caught(client.invoke({ key: alice, contract: "counter", version: 1, method: "inc", nonce: 0n }));
    expect(replay).toMatchObject({ status: 409, code: "nonce_used" });
    const wrongChain = new Client(url, { chainId: "otherchain" });
    expect(await caught(wrongChain.invoke({ key: alice, contract: "counter", version: 1, method: "inc" }))).toMatchObject({ status: 400, code: "wrong_chain" });
    // The refused nonce was not kept: the next call uses the node's pending nonce.
    const id = await client.invoke({ key: alice, contract: "counter", version: 1, method: "inc" });
    expect(node.mempool.get(id)!.inv.nonce).toBe((await client.account(alice.publicKey)).nonce);
    expect(await caught(client.query({ contract: "nothing", version: 1, method: "m" }))).toMatchObject({ status: 404, code: "not_found" });
    expect(await caught(new Client("http://127.0.0.1:1").status())).toMatchObject({ status: 0, code: "unavailable" });
    expect(await caught(client.waitForReceipt(id, 30))).toMatchObject({ code: "timeout" });
  });
});

describe("the chain's fee floor", () => {
  it("prices an invocation that names no gasPrice at the floor the node reports, and at least 1", async () => {
    const floored = new FakeNode("testnet", [[alice.publicKey, 10_000_000n]], { minGasPrice: 7n });
    const { app: server, url: flooredUrl } = await serveOverHttp(floored);
    try {
      const c = new Client(flooredUrl);
      expect((await c.status()).minGasPrice).toBe(7n);
      const id = await c.transfer({ key: alice, to: bob.publicKey, amount: 5n });
      expect(floored.mempool.get(id)!.inv.gasPrice).toBe(7n);
      const [receipt] = await floored.commit();
      expect(receipt!.fee).toBe(GAS_USED * 7n);
      // A price below the floor, given explicitly, is the node's to refuse.
      const low = await caught(c.transfer({ key: alice, to: bob.publicKey, amount: 5n, gasPrice: 6n }));
      expect(low).toMatchObject({ status: 400, code: "gas_price_too_low" });
      // A floor given up front is used as it is (no status read needed for it).
      const given = new Client(flooredUrl, { minGasPrice: 9n });
      expect(await given.defaultGasPrice()).toBe(9n);
    } finally {
      await server.close();
    }
    // A chain without a floor (this file's node reports 0) keeps the SDK's old default of 1.
    expect((await client.status()).minGasPrice).toBe(0n);
    expect(await client.defaultGasPrice()).toBe(1n);
  });
});

describe("browser safety", () => {
  it("the SDK's import graph uses no Node built-ins, native modules or Node globals", () => {
    const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
    const seen = new Set<string>();
    const external = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      // Comments may mention Node APIs ("so no Buffer"); code may not.
      const src = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
      expect(src, file).not.toMatch(/\bBuffer\.|\bprocess\.|\brequire\(/);
      for (const m of src.matchAll(/(?:import|export)\s[^;]*?from\s+"([^"]+)"/g)) {
        const spec = m[1]!;
        if (spec.startsWith(".")) visit(resolve(dirname(file), spec));
        else external.add(spec);
      }
    };
    visit(resolve(root, "node/client/index.ts"));
    expect([...external].every((s) => s.startsWith("@noble/"))).toBe(true);
    expect([...seen].some((f) => f.endsWith("sodium.ts"))).toBe(false);
  });
});
