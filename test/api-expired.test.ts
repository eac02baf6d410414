// The final status `expired` over real HTTP: what the REST API answers for an invocation the mempool dropped
// (a gap that never filled, eviction from a full pool, replacement), and how the SDK reports it.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { decode, encode, toJson, type Invocation } from "../node/codec/index.ts";
import { InvocationBatch, SignedInvocation, SubmitOutcomes, BINARY_MEDIA_TYPE } from "../node/codec/types.ts";
import { Client, ExpiredError, Keypair, invocationIdHex, signInvocation } from "../node/client/index.ts";
import { FakeNode, serveOverHttp } from "./api-fake-node.ts";

const alice = Keypair.generate();
const bob = Keypair.generate();
const carol = Keypair.generate();
const clock = { t: 0 };
let node: FakeNode;
let app: FastifyInstance;
let url: string;
let client: Client;

beforeAll(async () => {
  node = new FakeNode(
    "testnet",
    [alice, bob, carol].map((k) => [k.publicKey, 10_000_000n] as [Uint8Array, bigint]),
    { now: () => clock.t, gapExpiryMs: 1000, maxTotal: 3 },
  );
  ({ app, url } = await serveOverHttp(node));
  client = new Client(url);
});
afterAll(async () => {
  await app.close();
});

function signed(k: Keypair, nonce: bigint, over: Partial<Invocation> = {}): SignedInvocation {
  return signInvocation(k, { chainId: "testnet", contract: "counter", version: 1, method: "inc", input: new Uint8Array(), nonce, gasLimit: 100n, gasPrice: 1n, ...over });
}

async function post(path: string, inv: SignedInvocation): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(toJson(SignedInvocation, inv)) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function get(path: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url + path);
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Resolves once the pool holds `id`, so a test moves the clock only after the wait is registered. */
async function pendingSoon(id: string): Promise<void> {
  for (let i = 0; i < 200 && !node.mempool.isPending(id); i++) await new Promise((r) => setTimeout(r, 5));
}

describe("expired invocations", () => {
  it("answers a waiting submission of a gapped invocation with expired at once when it expires, and GET after", async () => {
    const gapped = signed(alice, 2n);
    const id = invocationIdHex(gapped);
    const waiting = post("/v1/invocations?wait=true&timeoutMs=60000", gapped);
    await pendingSoon(id);
    expect((await get(`/v1/invocations/${id}`)).json).toEqual({ status: "pending" });
    clock.t += 1000;
    expect(node.mempool.expire().map((d) => d.idHex)).toEqual([id]);
    const answer = await waiting;
    expect(answer).toEqual({ status: 200, json: { status: "expired", id, reason: "gap_timeout" } });
    expect(await get(`/v1/invocations/${id}`)).toEqual({ status: 200, json: { status: "expired", id, reason: "gap_timeout" } });
    // The SDK reads it as a final status and refuses to wait on.
    expect(await client.receipt(id)).toEqual({ status: "expired", reason: "gap_timeout" });
    const err = await client.waitForReceipt(id, 1000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExpiredError);
    expect(err).toMatchObject({ code: "expired", id, reason: "gap_timeout" });
  });

  it("reports a replaced invocation with replacedBy, and refuses a same-price replacement with 409", async () => {
    const first = signed(bob, 0n, { gasPrice: 10n });
    expect((await post("/v1/invocations", first)).status).toBe(202);
    const same = await post("/v1/invocations", signed(bob, 0n, { gasPrice: 10n, gasLimit: 99n }));
    expect(same.status).toBe(409);
    expect((same.json.error as { code: string }).code).toBe("replacement_underpriced");
    const second = signed(bob, 0n, { gasPrice: 11n });
    expect((await post("/v1/invocations", second)).status).toBe(202);
    const firstId = invocationIdHex(first);
    expect((await get(`/v1/invocations/${firstId}`)).json).toEqual({ status: "expired", id: firstId, reason: "replaced", replacedBy: invocationIdHex(second) });
    expect(await client.receipt(firstId)).toEqual({ status: "expired", reason: "replaced", replacedBy: invocationIdHex(second) });
  });

  it("reports an evicted invocation in a binary batch answer the SDK parses", async () => {
    // The pool (3) holds bob's 0; carol's 1 and 2 are gapped and cheap.
    const c1 = signed(carol, 1n);
    const c2 = signed(carol, 2n);
    const waited = client.submitBatch([c1, c2], { wait: true, timeoutMs: 60_000 });
    await pendingSoon(invocationIdHex(c2));
    // alice pays more: carol's newest gapped one makes room (and is recorded as evicted at once).
    expect((await post("/v1/invocations", signed(alice, 0n, { gasPrice: 2n }))).status).toBe(202);
    expect((await get(`/v1/invocations/${invocationIdHex(c2)}`)).json).toMatchObject({ status: "expired", reason: "evicted" });
    // The batch waits for both: expire carol's other (gapped) one so the answer comes back.
    clock.t += 1000;
    node.mempool.expire();
    expect(await waited).toEqual([
      { id: invocationIdHex(c1), status: "expired", reason: "gap_timeout" },
      { id: invocationIdHex(c2), status: "expired", reason: "evicted" },
    ]);
  });

  it("sends the expiry in the binary batch answer as a refusal with code expired and a fixed message", async () => {
    const gapped = signed(alice, 5n);
    const answer = fetch(url + "/v1/invocations/batch?wait=true&timeoutMs=60000", {
      method: "POST",
      headers: { "content-type": BINARY_MEDIA_TYPE, accept: BINARY_MEDIA_TYPE },
      body: encode(InvocationBatch, [gapped]),
    });
    await pendingSoon(invocationIdHex(gapped));
    clock.t += 1000;
    node.mempool.expire();
    const raw = await answer;
    expect(raw.status).toBe(200);
    expect(decode(SubmitOutcomes, new Uint8Array(await raw.arrayBuffer()))).toEqual([
      { type: "refused", value: { code: "expired", message: "expired: gap_timeout" } },
    ]);
  });
});
