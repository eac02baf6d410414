// The SDK against nodes that are behind (syncing, or restarted on old state) and against displaced
// invocations: over real HTTP to in-memory nodes.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { toHex, utf8 } from "../node/codec/index.ts";
import { invocationId } from "../node/crypto/digests.ts";
import { AlreadyCommittedError, Client, DisplacedError, Keypair, signInvocation } from "../node/client/index.ts";
import { FakeNode, serveOverHttp } from "./api-fake-node.ts";
import { caught } from "./helpers/client-errors.ts";

const alice = Keypair.generate();
const bob = Keypair.generate();

interface Served {
  node: FakeNode;
  app: FastifyInstance;
  url: string;
}
const served: Served[] = [];

async function serve(): Promise<Served> {
  const node = new FakeNode("testnet", [
    [alice.publicKey, 10_000_000n],
    [bob.publicKey, 10_000_000n],
  ]);
  const s = { node, ...(await serveOverHttp(node)) };
  served.push(s);
  return s;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


afterEach(async () => {
  for (const s of served.splice(0)) await s.app.close();
});

describe("nonces are never read from a node that is behind", () => {
  it("a transfer after a restart on old state is a new transfer, not the old receipt handed back", async () => {
    const { node, url } = await serve();
    node.autoCommit = true;
    const before = node.snapshot();
    const first = await new Client(url).transfer({ key: alice, to: bob.publicKey, amount: 100n, wait: true });
    expect(first.status).toBe("ok");
    // The validator restarts on the state before that transfer: nonce 0 again, the transfer's block still to fetch.
    node.autoCommit = false;
    node.restartFrom(before);
    expect((await new Client(url).account(alice.publicKey)).nonce).toBe(0n);

    // A fresh client (as the CLI is), same call, same amount: byte for byte the first invocation if signed now.
    const started = Date.now();
    const second = new Client(url).transfer({ key: alice, to: bob.publicKey, amount: 100n, wait: true, timeoutMs: 10_000 });
    await sleep(400);
    expect(node.mempool.size).toBe(0); // nothing signed from the stale nonce reached the pool
    node.autoCommit = true;
    await node.catchUp();
    const r = await second;
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(r.status).toBe("ok");
    expect(toHex(r.id)).not.toBe(toHex(first.id));
    expect(r.height).toBeGreaterThan(first.height);
    expect(node.accounts.get(toHex(bob.publicKey))!.balance).toBe(10_000_000n + 200n);
    expect(node.accounts.get(toHex(alice.publicKey))!.nonce).toBe(2n);
  });

  it("a client that has seen a height passes over a node answering below it, even one that does not say it is syncing", async () => {
    const { node, url } = await serve();
    node.autoCommit = true;
    const client = new Client(url, { syncWaitMs: 5_000 });
    const before = node.snapshot();
    const first = await client.transfer({ key: alice, to: bob.publicKey, amount: 7n, wait: true });
    node.autoCommit = false;
    node.restartFrom(before, true);
    const second = client.transfer({ key: alice, to: bob.publicKey, amount: 7n, wait: true, timeoutMs: 10_000 });
    await sleep(300);
    expect(node.mempool.size).toBe(0);
    node.autoCommit = true;
    await node.catchUp();
    const r = await second;
    expect(toHex(r.id)).not.toBe(toHex(first.id));
    expect(node.accounts.get(toHex(bob.publicKey))!.balance).toBe(10_000_000n + 14n);
  });

  it("with two endpoints, the first syncing on old state, signs with the second's nonce", async () => {
    const a = await serve();
    const b = await serve();
    // a restarted behind (alice's nonce 0 there); b is level: alice has used nonces 0 to 2.
    a.node.syncing = { reason: "starting: heard from 0 of 1 peers needed", knownHeight: null };
    b.node.accounts.set(toHex(alice.publicKey), { balance: 10_000_000n, nonce: 3n });
    const client = new Client([a.url, b.url]);
    const id = await client.transfer({ key: alice, to: bob.publicKey, amount: 5n });
    expect(a.node.mempool.size).toBe(0);
    const held = b.node.mempool.get(id);
    expect(held?.inv.nonce).toBe(3n);
    expect(client.url).toBe(b.url);
  });

  it("a submission refused with 503 syncing moves to the next endpoint with the same signed bytes", async () => {
    const a = await serve();
    const b = await serve();
    a.node.syncing = { reason: "catching up: height 0 of 9", knownHeight: 9n };
    const inv = signInvocation(alice, { chainId: "testnet", contract: "counter", version: 1, method: "inc", input: utf8("x"), nonce: 0n, gasLimit: 10_000n, gasPrice: 1n });
    const id = await new Client([a.url, b.url]).submit(inv);
    expect(id).toBe(toHex(invocationId(inv)));
    expect(b.node.mempool.isPending(id as string)).toBe(true);
    expect(a.node.mempool.size).toBe(0);
  });

  it("a refused connection moves to the next endpoint", async () => {
    const b = await serve();
    const client = new Client(["http://127.0.0.1:1", b.url]);
    const id = await client.transfer({ key: alice, to: bob.publicKey, amount: 1n });
    expect(b.node.mempool.isPending(id)).toBe(true);
  });

  it("waits while every endpoint is syncing, then fails with code syncing after syncWaitMs", async () => {
    const a = await serve();
    a.node.syncing = { reason: "catching up", knownHeight: 3n };
    const started = Date.now();
    const e = await caught(new Client(a.url, { syncWaitMs: 600 }).transfer({ key: alice, to: bob.publicKey, amount: 1n }));
    expect(e).toMatchObject({ status: 503, code: "syncing" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(a.node.mempool.size).toBe(0);
    // And succeeds once the node is level within the wait.
    const later = new Client(a.url, { syncWaitMs: 5_000 }).transfer({ key: alice, to: bob.publicKey, amount: 1n });
    await sleep(300);
    a.node.syncing = null;
    expect(a.node.mempool.isPending(await later)).toBe(true);
  });
});

describe("outcomes that are not a new success", () => {
  it("resubmitting committed bytes throws AlreadyCommittedError naming the height", async () => {
    const { node, url } = await serve();
    const client = new Client(url);
    const inv = signInvocation(alice, { chainId: "testnet", contract: "counter", version: 1, method: "inc", input: utf8("y"), nonce: 0n, gasLimit: 10_000n, gasPrice: 1n });
    await client.submit(inv);
    const [r] = await node.commit();
    const e = await caught(client.submit(inv, { wait: true }));
    expect(e).toBeInstanceOf(AlreadyCommittedError);
    expect(e).toMatchObject({ status: 409, code: "already_committed", id: toHex(r!.id), height: r!.height });
  });

  it("an invocation displaced by another that used its nonce first: wait throws DisplacedError at once", async () => {
    const { node, url } = await serve();
    const client = new Client(url);
    const started = Date.now();
    const mine = client.invoke({ key: alice, contract: "counter", version: 1, method: "inc", nonce: 0n, wait: true, timeoutMs: 60_000 });
    while (node.mempool.size === 0) await sleep(5);
    const theirs = signInvocation(alice, { chainId: "testnet", contract: "counter", version: 1, method: "other", input: new Uint8Array(0), nonce: 0n, gasLimit: 10_000n, gasPrice: 1n });
    const [r] = await node.commitForeign([theirs]);
    const e = await caught(mine);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(e).toBeInstanceOf(DisplacedError);
    expect(e).toMatchObject({ code: "displaced", by: toHex(invocationId(theirs)), height: r!.height });
    const id = (e as DisplacedError).id;
    expect(await client.receipt(id)).toEqual({ status: "displaced", by: toHex(invocationId(theirs)), height: r!.height });
    await expect(client.waitForReceipt(id, 60_000)).rejects.toBeInstanceOf(DisplacedError);
  });

  it("a batch reports a displaced item with the invocation that used its nonce", async () => {
    const { node, url } = await serve();
    const client = new Client(url);
    const mine = signInvocation(alice, { chainId: "testnet", contract: "counter", version: 1, method: "inc", input: utf8("z"), nonce: 0n, gasLimit: 10_000n, gasPrice: 1n });
    const theirs = signInvocation(alice, { ...mine, method: "other" });
    const pending = client.submitBatch([mine], { wait: true, timeoutMs: 60_000 });
    while (node.mempool.size === 0) await sleep(5);
    const [r] = await node.commitForeign([theirs]);
    expect(await pending).toEqual([{ id: toHex(invocationId(mine)), status: "displaced", by: toHex(invocationId(theirs)), height: r!.height }]);
  });
});

afterAll(async () => {
  for (const s of served.splice(0)) await s.app.close();
});

void beforeAll;
