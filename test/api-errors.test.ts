// Every error status of the REST API, each produced by a real bad request over HTTP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { toHex, toJson, utf8 } from "../node/codec/index.ts";
import { SignedInvocation, type Invocation } from "../node/codec/types.ts";
import { SodiumSigner } from "../node/crypto/sodium.ts";
import { FakeNode, serveOverHttp } from "./api-fake-node.ts";
import { invocationSigner } from "./helpers/invocations.ts";

const alice = new SodiumSigner(new Uint8Array(32).fill(9));
const bob = new SodiumSigner(new Uint8Array(32).fill(10));
const carol = new SodiumSigner(new Uint8Array(32).fill(11));

const signedInvocation = invocationSigner();
function signed(s: SodiumSigner, nonce: bigint, over: Partial<Invocation> = {}): Record<string, unknown> {
  return toJson(SignedInvocation, signedInvocation(s, nonce, over)) as Record<string, unknown>;
}

const servers: FastifyInstance[] = [];
async function serve(node: FakeNode, bodyLimit?: number): Promise<string> {
  const { app, url } = await serveOverHttp(node, bodyLimit === undefined ? {} : { bodyLimit });
  servers.push(app);
  return url;
}

let node: FakeNode;
let base: string;

async function raw(method: string, path: string, body?: string, contentType = "application/json", url = base) {
  const res = await fetch(url + path, { method, headers: body === undefined ? {} : { "content-type": contentType }, body });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text) as { error: { code: string; message: string } }, type: res.headers.get("content-type") };
}
const post = (path: string, body: unknown, url = base) => raw("POST", path, JSON.stringify(body), "application/json", url);

beforeAll(async () => {
  node = new FakeNode("testnet", [
    [alice.publicKey, 1_000_000n],
    [bob.publicKey, 1_000_000n],
    [carol.publicKey, 1_000_000n],
  ]);
  base = await serve(node, 64 * 1024);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

function expectError(r: { status: number; json: { error: { code: string; message: string } }; type: string | null }, status: number, code: string): void {
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  expect(r.json.error.code).toBe(code);
  expect(typeof r.json.error.message).toBe("string");
  expect(r.type).toMatch(/application\/json/);
}

describe("REST API errors", () => {
  it("400 for malformed JSON, wrong types, unknown or missing fields, bad hex", async () => {
    expectError(await raw("POST", "/v1/invocations", "{not json"), 400, "malformed");
    expectError(await raw("POST", "/v1/invocations", ""), 400, "malformed");
    expectError(await raw("POST", "/v1/invocations", '{"__proto__":{"x":1}}'), 400, "malformed");
    expectError(await raw("POST", "/v1/invocations", "<inv/>", "application/xml"), 400, "malformed");
    const good = signed(alice, 0n);
    const cases: Record<string, unknown>[] = [
      { ...good, nonce: true },
      { ...good, version: "1" }, // no type coercion
      { ...good, nonce: "-1" },
      { ...good, nonce: "18446744073709551616" }, // 2^64
      { ...good, extra: 1 },
      Object.fromEntries(Object.entries(good).filter(([k]) => k !== "signature")),
      { ...good, signature: "zz".repeat(64) },
      { ...good, invoker: "ab".repeat(31) },
      { ...good, input: "abc" },
      { ...good, contract: "Not A Name" },
    ];
    for (const body of cases) expectError(await post("/v1/invocations", body), 400, "malformed");
    expectError(await post("/v1/invocations", [good]), 400, "malformed");
    expectError(await post("/v1/invocations/batch", []), 400, "malformed");
    expectError(await post("/v1/invocations/batch", { items: [good] }), 400, "malformed");
    // In a batch each of those is refused alone, naming its place, and the good item beside them is admitted.
    const dave = new SodiumSigner(new Uint8Array(32).fill(12));
    node.accounts.set(toHex(dave.publicKey), { balance: 1_000_000n, nonce: 0n });
    const batch = await post("/v1/invocations/batch", [...cases, "not an object", null, signed(dave, 0n)]);
    expect(batch.status).toBe(200);
    const results = (batch.json as unknown as { results: Array<{ id?: string; error?: { code: string; message: string } }> }).results;
    expect(results).toHaveLength(cases.length + 3);
    results.slice(0, -1).forEach((r, i) => {
      expect(r.error?.code, JSON.stringify(r)).toBe("malformed");
      expect(r.error?.message).toContain(`body[${i}]`);
    });
    expect(results.at(-1)!.id).toMatch(/^[0-9a-f]{64}$/);
    expect(node.mempool.size).toBe(1);
    await node.commit();
    expect(node.mempool.size).toBe(0);
    expectError(await post("/v1/invocations?timeoutMs=soon", good), 400, "malformed");
    expectError(await post("/v1/query", { contract: "echo", version: 1, method: "m", input: "00", inputString: "x" }), 400, "malformed");
    expectError(await post("/v1/query", { contract: "echo", version: 1, method: "m", input: "0g" }), 400, "malformed");
    expectError(await post("/v1/query", { contract: "echo", version: -1, method: "m" }), 400, "malformed");
    expectError(await raw("GET", "/v1/invocations/1234"), 400, "malformed");
    expectError(await raw("GET", "/v1/blocks/abc"), 400, "malformed");
    expectError(await raw("GET", "/v1/accounts/xyz"), 400, "malformed");
    expectError(await raw("GET", "/v1/contracts/counter/99999999999"), 400, "malformed");
    expectError(await raw("GET", "/v1/state/counter/abc"), 400, "malformed");
    expectError(await raw("GET", "/v1/contracts/%E0%A4%A"), 400, "malformed");
    expect(node.mempool.size).toBe(0);
  });

  it("400 for a bad signature, the wrong chain and unaffordable gas", async () => {
    const tampered = { ...signed(alice, 0n), method: "dec" };
    expectError(await post("/v1/invocations", tampered), 400, "bad_signature");
    expectError(await post("/v1/invocations", signed(alice, 0n, { chainId: "elsewhere" })), 400, "wrong_chain");
    expectError(await post("/v1/invocations", signed(alice, 0n, { gasLimit: 2_000_000n })), 400, "insufficient_balance");
    expectError(await post("/v1/invocations", signed(alice, 0n, { gasLimit: 0n })), 400, "invalid_invocation");
    expect(node.mempool.size).toBe(0);
  });

  it("400 gas_price_too_low below the chain's floor, and a never-funded key is refused at any price", async () => {
    const stranger = new SodiumSigner(new Uint8Array(32).fill(12));
    const floored = new FakeNode("testnet", [[alice.publicKey, 1_000_000n]], { minGasPrice: 1n });
    const url = await serve(floored);
    const status = await fetch(url + "/v1/status").then((r) => r.json() as Promise<{ minGasPrice: string }>);
    expect(status.minGasPrice).toBe("1");
    for (const who of [alice, stranger]) {
      const r = await post("/v1/invocations", signed(who, 0n, { gasPrice: 0n }), url);
      expectError(r, 400, "gas_price_too_low");
      expect(r.json.error.message).toBe("gasPrice 0 is below the chain's minimum gas price 1");
    }
    expectError(await post("/v1/invocations", signed(stranger, 0n, { gasPrice: 1n, gasLimit: 1n }), url), 400, "insufficient_balance");
    const batch = await post("/v1/invocations/batch", [signed(stranger, 0n, { gasPrice: 0n })], url);
    expect((batch.json as unknown as { results: Array<{ error: { code: string } }> }).results[0]!.error.code).toBe("gas_price_too_low");
    expect(floored.mempool.size).toBe(0);
    expect((await post("/v1/invocations", signed(alice, 0n, { gasPrice: 1n }), url)).status).toBe(202);
    // The chain without a floor (this file's node) reports 0 and keeps admitting what it did before.
    expect((await fetch(base + "/v1/status").then((r) => r.json() as Promise<{ minGasPrice: string }>)).minGasPrice).toBe("0");
  });

  it("409 for duplicates and replayed nonces", async () => {
    const inv = signed(alice, 0n);
    expect((await post("/v1/invocations", inv)).status).toBe(202);
    expectError(await post("/v1/invocations", inv), 409, "duplicate");
    // A different invocation for the pending nonce, at the same gas price: refused, as it cannot replace it.
    expectError(await post("/v1/invocations", signed(alice, 0n, { method: "other" })), 409, "replacement_underpriced");
    await node.commit();
    expectError(await post("/v1/invocations", signed(alice, 0n, { method: "third" })), 409, "nonce_used");
  });

  it("409 already_committed, naming the id and height, when the very invocation is committed", async () => {
    const inv = signed(alice, 1n);
    expect((await post("/v1/invocations", inv)).status).toBe(202);
    const [receipt] = await node.commit();
    const again = await post("/v1/invocations", inv);
    expectError(again, 409, "already_committed");
    const body = again.json as unknown as { error: { id: string; height: string; message: string } };
    expect(body.error.id).toBe(toHex(receipt!.id));
    expect(body.error.height).toBe(String(receipt!.height));
    expect(body.error.message).toContain(`height ${receipt!.height}`);
  });

  it("413 for an oversized body", async () => {
    const big = signed(alice, 1n, { input: new Uint8Array(40 * 1024) }); // 80 KiB of hex > 64 KiB limit
    expectError(await post("/v1/invocations", big), 413, "too_large");
  });

  it("404 for unknown ids, blocks, contracts, state and routes", async () => {
    expectError(await raw("GET", `/v1/invocations/${"ab".repeat(32)}`), 404, "not_found");
    expectError(await raw("GET", "/v1/blocks/999"), 404, "not_found");
    expectError(await raw("GET", "/v1/contracts/nothing"), 404, "not_found");
    expectError(await raw("GET", "/v1/contracts/nothing/1"), 404, "not_found");
    expectError(await raw("GET", `/v1/state/counter/${toHex(utf8("none"))}`), 404, "not_found");
    expectError(await post("/v1/query", { contract: "nothing", version: 1, method: "m" }), 404, "not_found");
    expectError(await raw("GET", "/v2/whatever"), 404, "not_found");
    expectError(await raw("DELETE", "/v1/status"), 404, "not_found");
  });

  it("503 when the mempool is full", async () => {
    const small = new FakeNode("testnet", [[bob.publicKey, 1_000_000n], [carol.publicKey, 1_000_000n]], { maxTotal: 1 });
    const url = await serve(small);
    expect((await post("/v1/invocations", signed(bob, 0n), url)).status).toBe(202);
    const full = await post("/v1/invocations", signed(carol, 0n), url);
    expectError(full, 503, "mempool_full");
    const batch = await post("/v1/invocations/batch", [signed(carol, 0n)], url);
    expect(batch.status).toBe(200);
    expect((batch.json as unknown as { results: Array<{ error: { code: string } }> }).results[0]!.error.code).toBe("mempool_full");
  });

  it("500 for internal failures without leaking details, and the server keeps serving", async () => {
    node.failWith = new Error("ENOENT /secret/path/db at Store.read (store.ts:42)");
    try {
      const r = await raw("GET", "/v1/blocks/latest");
      expectError(r, 500, "internal");
      expect(r.json.error.message).toBe("internal error");
      expect(JSON.stringify(r.json)).not.toMatch(/secret|store\.ts/);
    } finally {
      node.failWith = null;
    }
    expect((await raw("GET", "/v1/status")).status).toBe(200);
    const metrics = await (await fetch(base + "/metrics")).text();
    expect(metrics).toMatch(/route="\/v1\/blocks\/latest",status="500"\} 1/);
  });
});
