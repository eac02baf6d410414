// The REST API of a node that knows it is behind (syncing), and of invocations displaced by another that used
// their nonce first: over real HTTP against the in-memory node.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { decode, encode, toHex, toJson, utf8 } from "../node/codec/index.ts";
import { BINARY_MEDIA_TYPE, InvocationBatch, SignedInvocation, SubmitOutcomes } from "../node/codec/types.ts";
import { invocationId } from "../node/crypto/digests.ts";
import { SodiumSigner } from "../node/crypto/sodium.ts";
import { FakeNode, serveOverHttp } from "./api-fake-node.ts";
import { invocationSigner } from "./helpers/invocations.ts";

const alice = new SodiumSigner(new Uint8Array(32).fill(21));
const bob = new SodiumSigner(new Uint8Array(32).fill(22));

const signed = invocationSigner();

let node: FakeNode;
let app: FastifyInstance;
let base: string;

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text === "" ? undefined : JSON.parse(text) };
}

const idHex = (inv: SignedInvocation): string => toHex(invocationId(inv));

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

describe("a syncing node", () => {
  it("says so in /v1/status, refuses writes with 503 syncing and Retry-After, and labels every read", async () => {
    await call("POST", "/v1/invocations", toJson(SignedInvocation, signed(bob, 0n)));
    await node.commit();
    node.syncing = { reason: "catching up: height 1 of 250", knownHeight: 250n };
    try {
      const s = await call("GET", "/v1/status");
      expect(s.json).toMatchObject({ height: "1", syncing: true, syncReason: "catching up: height 1 of 250", knownHeight: "250" });

      const one = await call("POST", "/v1/invocations", toJson(SignedInvocation, signed(alice, 0n)));
      expect(one.status).toBe(503);
      expect(one.json.error).toMatchObject({ code: "syncing", height: "1", knownHeight: "250" });
      expect(one.json.error.message).toContain("catching up");
      expect(one.headers.get("retry-after")).toMatch(/^[1-9][0-9]*$/);
      const batch = await call("POST", "/v1/invocations/batch", [toJson(SignedInvocation, signed(alice, 0n))]);
      expect(batch.status).toBe(503);
      expect(batch.json.error.code).toBe("syncing");
      expect(batch.headers.get("retry-after")).toMatch(/^[1-9][0-9]*$/);
      const binary = await fetch(base + "/v1/invocations/batch", {
        method: "POST",
        headers: { "content-type": BINARY_MEDIA_TYPE, accept: BINARY_MEDIA_TYPE },
        body: encode(InvocationBatch, [signed(alice, 0n)]),
      });
      expect(binary.status).toBe(503);
      expect(node.mempool.size).toBe(0); // nothing was admitted against the old state

      const reads = [
        "/v1/status",
        `/v1/accounts/${toHex(alice.publicKey)}`,
        "/v1/blocks/latest",
        "/v1/blocks/0",
        `/v1/invocations/${"ab".repeat(32)}`, // a 404 is an answer read at a height too
        `/v1/state/counter/${toHex(utf8("last"))}`,
        "/v1/contracts/counter",
      ];
      for (const path of reads) {
        const r = await call("GET", path);
        expect(r.headers.get("x-cairn-height"), path).toBe("1");
        expect(r.headers.get("x-cairn-syncing"), path).toBe("true");
      }
      const q = await call("POST", "/v1/query", { contract: "echo", version: 1, method: "m" });
      expect(q.headers.get("x-cairn-syncing")).toBe("true");
      expect(q.json.height).toBe("1");
      const acct = await call("GET", `/v1/accounts/${toHex(bob.publicKey)}`);
      expect(acct.json).toMatchObject({ nonce: "1", height: "1" });
    } finally {
      node.syncing = null;
    }
    const s = await call("GET", "/v1/status");
    expect(s.json).toMatchObject({ syncing: false, syncReason: null, knownHeight: "1" });
    expect(s.headers.get("x-cairn-height")).toBe("1");
    expect(s.headers.get("x-cairn-syncing")).toBeNull();
    expect((await call("POST", "/v1/invocations", toJson(SignedInvocation, signed(alice, 0n)))).status).toBe(202);
    await node.commit();
  });

  it("documents the new fields in the OpenAPI document", async () => {
    const doc = (await call("GET", "/docs/json")).json;
    const status = doc.paths["/v1/status"].get.responses["200"].content["application/json"].schema;
    expect(status.required).toEqual(expect.arrayContaining(["syncing", "syncReason", "knownHeight"]));
    const account = doc.paths["/v1/accounts/{pubkey}"].get.responses["200"].content["application/json"].schema;
    expect(account.required).toContain("height");
    expect(Object.keys(doc.paths["/v1/invocations/batch"].post.responses)).toContain("503");
    const receipt = JSON.stringify(doc.paths["/v1/invocations/{id}"].get.responses["200"]);
    expect(receipt).toContain("displaced");
  });
});

describe("an invocation displaced by another that used its nonce first", () => {
  it("is reported as displaced by GET, naming the committed invocation and its height", async () => {
    const mine = signed(alice, 1n);
    const theirs = signed(alice, 1n, { method: "theirs" });
    expect((await call("POST", "/v1/invocations", toJson(SignedInvocation, mine))).status).toBe(202);
    const [r] = await node.commitForeign([theirs]);
    const got = await call("GET", `/v1/invocations/${idHex(mine)}`);
    expect(got.status).toBe(200);
    expect(got.json).toEqual({ status: "displaced", id: idHex(mine), by: idHex(theirs), height: String(r!.height) });
  });

  it("answers a waiting submission at once instead of at its timeout", async () => {
    const mine = signed(alice, 2n);
    const theirs = signed(alice, 2n, { method: "theirs" });
    const started = Date.now();
    const waiting = call("POST", "/v1/invocations?wait=true&timeoutMs=60000", toJson(SignedInvocation, mine));
    while (!node.mempool.isPending(invocationId(mine))) await new Promise((r) => setTimeout(r, 5));
    const [r] = await node.commitForeign([theirs]);
    const res = await waiting;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ status: "displaced", id: idHex(mine), by: idHex(theirs), height: String(r!.height) });
  });

  it("answers batch waits (JSON and binary) with the displacement", async () => {
    const mine = [signed(alice, 3n), signed(alice, 4n)];
    const theirs = signed(alice, 3n, { method: "theirs" });
    const started = Date.now();
    const json = call("POST", "/v1/invocations/batch?wait=true&timeoutMs=60000", [toJson(SignedInvocation, mine[0]!)]);
    while (!node.mempool.isPending(invocationId(mine[0]!))) await new Promise((r) => setTimeout(r, 5));
    const [r] = await node.commitForeign([theirs]);
    const res = await json;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(res.json.results[0]).toEqual({ id: idHex(mine[0]!), status: "displaced", by: idHex(theirs), height: String(r!.height) });

    const theirs5 = signed(alice, 4n, { method: "theirs" });
    const bin = fetch(base + "/v1/invocations/batch?wait=true&timeoutMs=60000", {
      method: "POST",
      headers: { "content-type": BINARY_MEDIA_TYPE, accept: BINARY_MEDIA_TYPE },
      body: encode(InvocationBatch, [mine[1]!]),
    });
    while (!node.mempool.isPending(invocationId(mine[1]!))) await new Promise((res) => setTimeout(res, 5));
    const [r5] = await node.commitForeign([theirs5]);
    const outcomes = decode(SubmitOutcomes, new Uint8Array(await (await bin).arrayBuffer()), "answer");
    expect(outcomes).toEqual([{ type: "refused", value: { code: "displaced", message: `displaced by ${idHex(theirs5)} at height ${r5!.height}` } }]);
  });

  it("reports an already committed item of a batch as already_committed with its height", async () => {
    const inv = signed(bob, 1n);
    await call("POST", "/v1/invocations", toJson(SignedInvocation, inv));
    const [r] = await node.commit();
    const res = await call("POST", "/v1/invocations/batch", [toJson(SignedInvocation, inv), toJson(SignedInvocation, signed(bob, 1n, { method: "x" }))]);
    expect(res.json.results[0].error).toMatchObject({ code: "already_committed", id: idHex(inv), height: String(r!.height) });
    expect(res.json.results[1].error.code).toBe("nonce_used");
  });
});
