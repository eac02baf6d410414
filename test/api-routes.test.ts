// Every route of the REST API over real HTTP against an in-memory node.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { decode, encode, toHex, toJson, utf8 } from "../node/codec/index.ts";
import { BINARY_MEDIA_TYPE, DeployPayload, InvocationBatch, Receipt, SignedInvocation, SubmitOutcomes } from "../node/codec/types.ts";
import { blockHash, invocationId } from "../node/crypto/digests.ts";
import { SodiumSigner } from "../node/crypto/sodium.ts";
import { FakeNode, GAS_USED, serveOverHttp } from "./api-fake-node.ts";
import { invocationSigner } from "./helpers/invocations.ts";

const alice = new SodiumSigner(new Uint8Array(32).fill(7));
const bob = new SodiumSigner(new Uint8Array(32).fill(8));

const signed = invocationSigner({ input: utf8("hello"), gasPrice: 2n });

let node: FakeNode;
let app: FastifyInstance;
let base: string;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any; text: string; type: string | null }> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, type: res.headers.get("content-type") };
}

/** A POST in the binary wire form; the answer body comes back as bytes (and as JSON when it is JSON). */
async function callBinary(path: string, body: Uint8Array, accept = BINARY_MEDIA_TYPE): Promise<{ status: number; bytes: Uint8Array; json: any; type: string | null }> {
  const res = await fetch(base + path, { method: "POST", headers: { "content-type": BINARY_MEDIA_TYPE, accept }, body });
  const bytes = new Uint8Array(await res.arrayBuffer());
  const type = res.headers.get("content-type");
  return { status: res.status, bytes, json: type?.startsWith("application/json") ? JSON.parse(new TextDecoder().decode(bytes)) : undefined, type };
}

beforeAll(async () => {
  node = new FakeNode("testnet", [
    [alice.publicKey, 1_000_000n],
    [bob.publicKey, 1_000_000n],
  ]);
  ({ app, url: base } = await serveOverHttp(node));
});

afterAll(async () => {
  await app.close();
});

describe("REST API routes", () => {
  it("submits an invocation, reports it pending, then serves its receipt", async () => {
    const inv = signed(alice, 0n);
    const idHex = toHex(invocationId(inv));
    const sub = await call("POST", "/v1/invocations", toJson(SignedInvocation, inv));
    expect(sub.status).toBe(202);
    expect(sub.json).toEqual({ id: idHex });
    expect(await call("GET", `/v1/invocations/${idHex}`)).toMatchObject({ status: 200, json: { status: "pending" } });
    await node.commit();
    const got = await call("GET", `/v1/invocations/${idHex}`);
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ id: idHex, status: "ok", gasUsed: GAS_USED.toString(), fee: (GAS_USED * 2n).toString(), output: toHex(utf8("hello")), error: null, height: "1", index: 0 });
  });

  it("waits for the commit with wait=true, or answers 202 pending when the wait times out", async () => {
    const slow = await call("POST", "/v1/invocations?wait=true&timeoutMs=50", toJson(SignedInvocation, signed(alice, 1n)));
    expect(slow.status).toBe(202);
    expect(slow.json.status).toBe("pending");
    node.autoCommit = true;
    try {
      const inv = signed(alice, 2n);
      const res = await call("POST", "/v1/invocations?wait=true", toJson(SignedInvocation, inv));
      expect(res.status).toBe(200);
      expect(res.json.id).toBe(toHex(invocationId(inv)));
      expect(res.json.status).toBe("ok");
      expect(res.json.height).toMatch(/^[0-9]+$/);
    } finally {
      node.autoCommit = false;
    }
  });

  it("submits a batch with one result per item", async () => {
    const a = signed(bob, 0n);
    const b = signed(bob, 1n);
    const clash = signed(bob, 1n, { method: "other" });
    const res = await call("POST", "/v1/invocations/batch", [a, b, clash].map((i) => toJson(SignedInvocation, i)));
    expect(res.status).toBe(200);
    expect(res.json.results[0]).toEqual({ id: toHex(invocationId(a)) });
    expect(res.json.results[1]).toEqual({ id: toHex(invocationId(b)) });
    // A different invocation for a pending nonce at the same gas price: not enough to replace it.
    expect(res.json.results[2].error.code).toBe("replacement_underpriced");
    await node.commit();
    // Committed state shows up in the account, with the pending nonce counting the pool.
    const acct = await call("GET", `/v1/accounts/${toHex(bob.publicKey)}`);
    expect(acct.json).toEqual({ publicKey: toHex(bob.publicKey), balance: String(1_000_000n - 2n * 2n * GAS_USED), nonce: "2", pendingNonce: "2", height: String(node.blocks.length - 1) });
    await call("POST", "/v1/invocations", toJson(SignedInvocation, signed(bob, 2n)));
    expect((await call("GET", `/v1/accounts/${toHex(bob.publicKey)}`)).json.pendingNonce).toBe("3");
    const nobody = await call("GET", `/v1/accounts/${"ab".repeat(32)}`);
    expect(nobody.json).toMatchObject({ balance: "0", nonce: "0", pendingNonce: "0" });
  });

  it("takes invocations and batches in the binary wire form and answers batches in it", async () => {
    const carol = new SodiumSigner(new Uint8Array(32).fill(9));
    node.accounts.set(toHex(carol.publicKey), { balance: 1_000_000n, nonce: 0n });
    const one = signed(carol, 0n);
    const single = await callBinary("/v1/invocations", encode(SignedInvocation, one));
    expect(single.status).toBe(202);
    expect(single.json).toEqual({ id: toHex(invocationId(one)) });

    const a = signed(carol, 1n);
    const b = signed(carol, 2n);
    const clash = signed(carol, 2n, { method: "other" });
    const res = await callBinary("/v1/invocations/batch", encode(InvocationBatch, [a, b, clash]));
    expect(res.status).toBe(200);
    expect(res.type).toBe(BINARY_MEDIA_TYPE);
    const outcomes = decode(SubmitOutcomes, res.bytes);
    expect(outcomes.slice(0, 2)).toEqual([a, b].map((i) => ({ type: "admitted", value: { id: invocationId(i) } })));
    expect(outcomes[2]).toMatchObject({ type: "refused", value: { code: "replacement_underpriced" } });

    // A binary body may still ask for the JSON answer, which is the same as for a JSON body.
    const asJson = await callBinary("/v1/invocations/batch", encode(InvocationBatch, [signed(carol, 3n), a]), "application/json");
    expect(asJson.json.results[0]).toEqual({ id: toHex(invocationId(signed(carol, 3n))) });
    expect(asJson.json.results[1].error.code).toBe("duplicate");

    // With wait: committed items carry their receipt (the very one the receipt route serves), the rest pend.
    const late = await callBinary("/v1/invocations/batch?wait=true&timeoutMs=50", encode(InvocationBatch, [signed(carol, 4n)]));
    expect(decode(SubmitOutcomes, late.bytes)).toEqual([{ type: "pending", value: { id: invocationId(signed(carol, 4n)) } }]);
    node.autoCommit = true;
    try {
      const next = signed(carol, 5n);
      const waited = decode(SubmitOutcomes, (await callBinary("/v1/invocations/batch?wait=true", encode(InvocationBatch, [next, next]))).bytes);
      expect(waited[0]!.type).toBe("committed");
      const receipt = waited[0]!.value as Receipt;
      expect(receipt).toMatchObject({ id: invocationId(next), status: "ok" });
      expect((await call("GET", `/v1/invocations/${toHex(invocationId(next))}`)).json).toEqual(toJson(Receipt, receipt));
      expect(waited[1]).toMatchObject({ type: "refused", value: { code: "duplicate" } });
    } finally {
      node.autoCommit = false;
    }
  });

  it("refuses malformed binary bodies with the field that is wrong, and admits nothing from them", async () => {
    const dave = new SodiumSigner(new Uint8Array(32).fill(10));
    node.accounts.set(toHex(dave.publicKey), { balance: 1_000_000n, nonce: 0n });
    const good = encode(SignedInvocation, signed(dave, 0n));
    const garbage = await callBinary("/v1/invocations", good.subarray(0, 40));
    expect(garbage.status).toBe(400);
    expect(garbage.json.error.code).toBe("malformed");
    expect(garbage.json.error.message).toMatch(/body\.input needs/);
    const trailing = await callBinary("/v1/invocations", new Uint8Array([...good, 0]));
    expect(trailing).toMatchObject({ status: 400, json: { error: { code: "malformed" } } });

    const batch = encode(InvocationBatch, [signed(dave, 0n), signed(dave, 1n)]);
    const cut = await callBinary("/v1/invocations/batch", batch.subarray(0, batch.length - 1));
    expect(cut.status).toBe(400);
    expect(cut.json.error.message).toMatch(/body\[1\]\./);
    expect((await callBinary("/v1/invocations/batch", encode(InvocationBatch, []))).json.error.message).toMatch(/1 to 1000 invocations, this one 0/);
    const tooMany = Array.from({ length: 1001 }, () => signed(dave, 0n));
    expect((await callBinary("/v1/invocations/batch", encode(InvocationBatch, tooMany))).json.error.message).toMatch(/this one 1001/);
    expect((await callBinary("/v1/invocations/batch", new Uint8Array([1, 0]))).json.error.message).toMatch(/body length/);
    // A count that promises more than the body holds is refused without reading past it.
    const lying = new Uint8Array(batch);
    new DataView(lying.buffer).setUint32(0, 9000, true);
    expect((await callBinary("/v1/invocations/batch", lying)).status).toBe(400);
    // Nothing of the refused bodies reached the pool.
    expect((await call("GET", `/v1/accounts/${toHex(dave.publicKey)}`)).json.pendingNonce).toBe("0");
  });

  it("runs read-only queries with hex or text input", async () => {
    const text = await call("POST", "/v1/query", { contract: "echo", version: 1, method: "say", inputString: "hi" });
    expect(text.json).toEqual({ status: "ok", gasUsed: "42", output: toHex(utf8("say:hi")), outputString: "say:hi", error: null, height: String(node.blocks.length - 1) });
    const hex = await call("POST", "/v1/query", { contract: "echo", version: 1, method: "say", input: "0x4142", gasLimit: "1000" });
    expect(hex.json.outputString).toBe("say:AB");
    const bin = await call("POST", "/v1/query", { contract: "echo", version: 1, method: "binary" });
    expect(bin.json).toEqual({ status: "ok", gasUsed: "7", output: "fffe", error: null, height: String(node.blocks.length - 1) });
    const failed = await call("POST", "/v1/query", { contract: "echo", version: 1, method: "fail" });
    expect(failed.status).toBe(200);
    expect(failed.json).toMatchObject({ status: "reverted", error: "nope" });
  });

  it("serves blocks by height and the latest, with their hash", async () => {
    const latest = await call("GET", "/v1/blocks/latest");
    expect(latest.status).toBe(200);
    const tip = node.blocks.at(-1)!;
    expect(latest.json.hash).toBe(toHex(blockHash(tip.header)));
    expect(latest.json.header.height).toBe(tip.header.height.toString());
    const one = await call("GET", "/v1/blocks/1");
    expect(one.json.invocations).toHaveLength(1);
    expect(one.json.invocations[0].nonce).toBe("0");
    expect((await call("GET", "/v1/blocks/0")).json.header.parentHash).toBe("00".repeat(32));
  });

  it("serves contracts, versions, sources and state", async () => {
    const payload = encode(DeployPayload, {
      name: "counter",
      version: 1,
      toolchain: "asc-0.28.20+sdk-2",
      entry: "counter.ts",
      sources: [{ path: "counter.ts", content: "export function inc(): void {}" }],
    });
    const deploy = signed(alice, 3n, { contract: "deploy", version: 0, method: "deploy", input: payload, gasLimit: 300_000n });
    expect((await call("POST", "/v1/invocations", toJson(SignedInvocation, deploy))).status).toBe(202);
    await node.commit();
    const c = await call("GET", "/v1/contracts/counter");
    expect(c.json.name).toBe("counter");
    expect(c.json.owner).toBe(toHex(alice.publicKey));
    expect(c.json.versions.map((v: { version: number }) => v.version)).toEqual([1]);
    const v1 = await call("GET", "/v1/contracts/counter/1");
    expect(v1.json).toMatchObject({ name: "counter", version: 1, owner: toHex(alice.publicKey), toolchain: "asc-0.28.20+sdk-2", entry: "counter.ts" });
    expect(v1.json.codeHash).toMatch(/^[0-9a-f]{64}$/);
    expect(v1.json.sources).toEqual([{ path: "counter.ts", content: "export function inc(): void {}" }]);
    const state = await call("GET", `/v1/state/counter/${toHex(utf8("last"))}`);
    expect(state.json).toEqual({ contract: "counter", key: toHex(utf8("last")), value: toHex(utf8("hello")) });
  });

  it("serves status, evidence and metrics", async () => {
    const s = await call("GET", "/v1/status");
    expect(s.json).toMatchObject({ chainId: "testnet", validators: [{ publicKey: "11".repeat(32), name: "v0" }], self: 0 });
    expect(s.json.height).toBe(String(node.blocks.length - 1));
    node.evidenceList = [{ kind: "double_vote", view: 5n, signer: new Uint8Array([1, 2]) }];
    expect((await call("GET", "/v1/evidence")).json).toEqual({ evidence: [{ kind: "double_vote", view: "5", signer: "0102" }] });
    const m = await call("GET", "/metrics");
    expect(m.status).toBe(200);
    expect(m.type).toMatch(/^text\/plain/);
    expect(m.text).toMatch(/cairn_http_requests_total\{method="GET",route="\/v1\/status",status="200"\} 1/);
    expect(m.text).toMatch(/cairn_http_request_duration_seconds_bucket\{method="POST",route="\/v1\/invocations",le="\+Inf"\} \d+/);
    expect(m.text).toContain("cairn_fake_height");
  });

  it("publishes the OpenAPI document with every route", async () => {
    const doc = await call("GET", "/docs/json");
    expect(doc.status).toBe(200);
    expect(doc.json.openapi).toMatch(/^3\./);
    const paths = Object.keys(doc.json.paths);
    for (const p of [
      "/v1/invocations",
      "/v1/invocations/batch",
      "/v1/invocations/{id}",
      "/v1/query",
      "/v1/blocks/latest",
      "/v1/blocks/{height}",
      "/v1/accounts/{pubkey}",
      "/v1/contracts/{name}",
      "/v1/contracts/{name}/{version}",
      "/v1/state/{contract}/{keyHex}",
      "/v1/status",
      "/v1/evidence",
      "/metrics",
    ]) {
      expect(paths).toContain(p);
    }
    const body = doc.json.paths["/v1/invocations"].post.requestBody.content["application/json"].schema;
    expect(body.required).toContain("signature");
    expect(Object.keys(doc.json.paths["/v1/invocations/batch"].post.requestBody.content)).toEqual(["application/json", BINARY_MEDIA_TYPE]);
    const ui = await fetch(base + "/docs/");
    expect(ui.status).toBe(200);
    expect(await ui.text()).toMatch(/swagger/i);
  });
});
