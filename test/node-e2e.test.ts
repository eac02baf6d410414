// One validator as a real process: real HTTP, real RocksDB, the real compiler. Fees, replays, every error
// status, SIGKILL in the middle of a stream, and a corrupted block on disk.

import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, ClientError, Keypair, signInvocation, type Receipt } from "../node/client/index.ts";
import { encode, toJson } from "../node/codec/codec.ts";
import { toHex } from "../node/codec/hex.ts";
import { SignedInvocation, TransferPayload, type SignedInvocation as SignedInvocationT } from "../node/codec/types.ts";
import { CAIRN_BIN } from "../node/devnet.ts";
import { TestCluster } from "./helpers/cluster.ts";
import { commitProbe } from "./helpers/probe.ts";

const EXAMPLES = join(import.meta.dirname, "..", "contracts", "examples");

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CAIRN_BIN, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A POST with `Expect: 100-continue`, as curl sends large bodies: the server refuses an oversized body from its
 * headers before a byte of it is sent. (A client that pushes megabytes first gets its connection reset.)
 */
function postRaw(url: string, body: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(u.port), u.hostname);
    let got = "";
    const timer = setTimeout(() => (sock.destroy(), reject(new Error(`no answer from ${url}: ${got.slice(0, 200)}`))), 20_000);
    let sentBody = false;
    const done = (): void => {
      if (!sentBody && got.startsWith("HTTP/1.1 100")) {
        // The server says "continue" and judges the declared length right after: like curl, give its final
        // answer a moment to arrive before pushing megabytes that it would reset the connection over.
        sentBody = true;
        got = got.slice(got.indexOf("\r\n\r\n") + 4);
        setTimeout(() => {
          if (!sock.destroyed) sock.write(body);
        }, 500);
      }
      const headerEnd = got.indexOf("\r\n\r\n");
      if (headerEnd < 0) return;
      const status = Number(got.slice(9, 12));
      const len = Number(/content-length: *(\d+)/i.exec(got.slice(0, headerEnd))?.[1] ?? "0");
      if (got.length - headerEnd - 4 < len) return;
      clearTimeout(timer);
      sock.destroy();
      resolve({ status, body: got.slice(headerEnd + 4, headerEnd + 4 + len) });
    };
    sock.setEncoding("utf8");
    sock.on("data", (d) => {
      got += d;
      done();
    });
    sock.on("error", () => undefined);
    sock.on("close", () => done());
    sock.write(`POST ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n`);
  });
}

function editConfig(cluster: TestCluster, i: number, edit: (c: any) => void): void {
  const path = join(cluster.dir, `node${i}.json`);
  const c = JSON.parse(readFileSync(path, "utf8"));
  edit(c);
  writeFileSync(path, JSON.stringify(c, null, 2));
}

describe("validator node end to end (1 validator, real process)", () => {
  let cluster: TestCluster;
  let client: Client;
  let funded: Keypair;
  let proposer: string;

  beforeAll(async () => {
    cluster = await TestCluster.create(1);
    // A small mempool so that "full" can be produced by a real request.
    editConfig(cluster, 0, (c) => {
      c.mempool.capacity = 40;
      c.mempool.perInvokerLimit = 20;
    });
    cluster.start(0);
    await cluster.waitReady(0);
    client = new Client(cluster.info.rest[0]!);
    funded = Keypair.fromSecretHex(cluster.info.funded.secretKey);
    proposer = (await client.status()).validators[0]!.publicKey as unknown as string;
  }, 120_000);

  afterAll(async () => {
    await cluster?.destroy();
  });

  it("transfers pay fees to the proposer exactly; a replayed invocation is refused", async () => {
    const bob = Keypair.generate();
    const proposerPk = (await client.status()).validators[0]!.publicKey;
    const before = await client.account(proposerPk);
    const fundedBefore = await client.account(funded.publicKey);
    const receipts: Receipt[] = [];
    for (let i = 0; i < 3; i++) {
      receipts.push(await client.transfer({ key: funded, to: bob.publicKey, amount: 1000n, wait: true, gasPrice: 3n }));
    }
    for (const r of receipts) expect(r.status).toBe("ok");
    const fees = receipts.reduce((s, r) => s + r.fee, 0n);
    expect(fees).toBe(receipts.reduce((s, r) => s + r.gasUsed * 3n, 0n));
    expect((await client.account(bob.publicKey)).balance).toBe(3000n);
    expect((await client.account(proposerPk)).balance - before.balance).toBe(fees);
    const fundedAfter = await client.account(funded.publicKey);
    expect(fundedBefore.balance - fundedAfter.balance).toBe(3000n + fees);
    expect(fundedAfter.nonce).toBe(fundedBefore.nonce + 3n);

    // The very same signed bytes again: refused as what it is, an invocation already committed (never as new).
    const block = await client.block(receipts[0]!.height);
    const replayed = block!.invocations[receipts[0]!.index]!;
    const err = await client.submit(replayed).catch((e) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).status).toBe(409);
    expect((err as ClientError).code).toBe("already_committed");
  });

  it("deploys the token example, mints, transfers, queries; out of gas pays and writes nothing", async () => {
    const alice = Keypair.generate();
    await client.transfer({ key: funded, to: alice.publicKey, amount: 50_000_000n, wait: true });
    const source = readFileSync(join(EXAMPLES, "token.ts"), "utf8");
    const dep = await client.deploy({ key: funded, name: "token", sources: { "token.ts": source }, entry: "token.ts", wait: true, timeoutMs: 120_000 });
    expect(dep.receipt.status).toBe("ok");
    expect(dep.version).toBe(1);
    const info = await client.contractVersion("token", 1);
    expect(info!.info.owner).toEqual(funded.publicKey);
    expect(info!.sources[0]!.content).toBe(source);

    const mint = await client.invoke({ key: funded, contract: "token", version: 1, method: "mint", inputString: `${funded.publicKeyHex} 1000`, wait: true });
    expect(mint.status).toBe("ok");
    const tx = await client.invoke({ key: funded, contract: "token", version: 1, method: "transfer", inputString: `${alice.publicKeyHex} 300`, wait: true });
    expect(tx.status).toBe("ok");
    const balanceOf = async (who: Keypair) =>
      (await client.query({ contract: "token", version: 1, method: "balanceOf", inputString: who.publicKeyHex })).outputString;
    expect(await balanceOf(alice)).toBe("300");
    expect(await balanceOf(funded)).toBe("700");

    // Not enough tokens: reverted, fee paid, nonce bumped, balances unchanged.
    const before = await client.account(alice.publicKey);
    const over = await client.invoke({ key: alice, contract: "token", version: 1, method: "transfer", inputString: `${funded.publicKeyHex} 301`, wait: true });
    expect(over.status).toBe("reverted");
    expect(over.error).toMatch(/insufficient balance/);
    expect(over.writes).toEqual([]);
    const after = await client.account(alice.publicKey);
    expect(before.balance - after.balance).toBe(over.fee);
    expect(over.fee).toBeGreaterThan(0n);
    expect(after.nonce).toBe(before.nonce + 1n);
    expect(await balanceOf(alice)).toBe("300");

    // Out of gas: pays exactly gasLimit x gasPrice, and none of its writes land.
    const starved = await client.invoke({
      key: alice, contract: "token", version: 1, method: "transfer", inputString: `${funded.publicKeyHex} 100`,
      gasLimit: 2_500n, gasPrice: 2n, wait: true,
    });
    expect(starved.status).toBe("out_of_gas");
    expect(starved.gasUsed).toBe(2_500n);
    expect(starved.fee).toBe(5_000n);
    expect(starved.writes).toEqual([]);
    expect((await client.account(alice.publicKey)).balance).toBe(after.balance - 5_000n);
    expect(await balanceOf(alice)).toBe("300");
    expect(await balanceOf(funded)).toBe("700");

    // The state route serves the contract's own key space.
    const key = new Uint8Array([...new TextEncoder().encode("bal:"), ...alice.publicKey]);
    const raw = await client.state("token", key);
    expect(raw).not.toBeNull();
    expect(new DataView(raw!.buffer, raw!.byteOffset).getBigUint64(0, true)).toBe(300n);
  }, 180_000);

  it("answers each error status to a real bad request, and keeps serving", async () => {
    const url = cluster.info.rest[0]!;
    const post = (path: string, body: string) => fetch(url + path, { method: "POST", headers: { "content-type": "application/json" }, body });
    const chainId = cluster.info.chainId;
    const mk = (nonce: bigint, key = funded, patch: Partial<SignedInvocationT> = {}) =>
      ({
        ...signInvocation(key, {
          chainId,
          contract: "bank",
          version: 1,
          method: "transfer",
          input: encode(TransferPayload, { to: new Uint8Array(32).fill(1), amount: 1n }),
          nonce,
          gasLimit: 10_000n,
          gasPrice: 1n,
        }),
        ...patch,
      }) as SignedInvocationT;

    // 400 malformed JSON and schema violations
    let r = await post("/v1/invocations", "{not json");
    expect(r.status).toBe(400);
    expect((await r.json() as any).error.code).toBeTypeOf("string");
    r = await post("/v1/invocations", JSON.stringify({ hello: "world" }));
    expect(r.status).toBe(400);
    // 400 bad signature
    const { nonce } = await client.account(funded.publicKey);
    const good = mk(nonce + 100n);
    const forged = { ...good, signature: new Uint8Array(64).fill(7) };
    r = await post("/v1/invocations", JSON.stringify(toJson(SignedInvocation, forged)));
    expect(r.status).toBe(400);
    expect((await r.json() as any).error.code).toBe("bad_signature");
    // 400 wrong chain
    const other = signInvocation(funded, { ...good, chainId: "another-chain" });
    r = await post("/v1/invocations", JSON.stringify(toJson(SignedInvocation, other)));
    expect(r.status).toBe(400);
    // 413 oversized body
    const big = await postRaw(url + "/v1/invocations", JSON.stringify({ input: "00".repeat(4 * 1024 * 1024) }));
    expect(big.status).toBe(413);
    expect(JSON.parse(big.body).error.code).toBe("too_large");
    // 404 unknown invocation, block, contract, route
    expect((await fetch(url + "/v1/invocations/" + "ab".repeat(32))).status).toBe(404);
    expect((await fetch(url + "/v1/blocks/999999")).status).toBe(404);
    expect((await fetch(url + "/v1/contracts/nosuchcontract")).status).toBe(404);
    expect((await fetch(url + "/v1/nothing-here")).status).toBe(404);
    // 409 duplicate (same invocation twice while pending: a nonce far ahead stays in the pool)
    const ahead = mk(nonce + 10n);
    r = await post("/v1/invocations", JSON.stringify(toJson(SignedInvocation, ahead)));
    expect(r.status).toBe(202);
    expect(((await (await fetch(url + "/v1/invocations/" + (await r.json() as any).id)).json()) as any).status).toBe("pending");
    r = await post("/v1/invocations", JSON.stringify(toJson(SignedInvocation, ahead)));
    expect(r.status).toBe(409);
    // 503 mempool full: fill it with invocations that cannot run yet (nonce gaps), from several accounts
    const keys = Array.from({ length: 4 }, () => Keypair.generate());
    for (const k of keys) {
      const rr = await client.transfer({ key: funded, to: k.publicKey, amount: 1_000_000n, wait: true, timeoutMs: 30_000 });
      expect(rr.status).toBe("ok");
    }
    let full = 0;
    for (const k of keys) {
      // Nonces 2..16: gapped (0 and 1 missing) but within the per-invoker gap limit of 16.
      for (let i = 2n; i < 17n && full === 0; i++) {
        const res = await post("/v1/invocations", JSON.stringify(toJson(SignedInvocation, mk(i, k))));
        if (res.status === 503) {
          expect((await res.json() as any).error.code).toBe("mempool_full");
          full++;
        } else expect(res.status).toBe(202);
      }
    }
    expect(full).toBe(1);
    // still serving
    expect((await fetch(url + "/v1/status")).status).toBe(200);
  });

  it("SIGKILL in the middle of a stream loses no receipted invocation; state equals replay from genesis", async () => {
    // A clean restart first: the mempool (memory only) still holds the unready fillers of the 503 test.
    await cluster.kill(0, "SIGTERM");
    cluster.start(0);
    await cluster.waitReady(0);
    const carol = Keypair.generate();
    const ids: string[] = [];
    let killed = false;
    const receipted = new Set<string>();
    const stream = (async () => {
      for (let i = 0; i < 400 && !killed; i++) {
        try {
          ids.push((await client.transfer({ key: funded, to: carol.publicKey, amount: 1n })) as string);
        } catch {
          break;
        }
      }
    })();
    // Let some commit (however loaded the machine), record which have receipts, then kill without warning.
    for (let waited = 0; receipted.size < 5 && waited < 30_000; waited += 250) {
      await new Promise((r) => setTimeout(r, 250));
      for (const id of ids.slice()) {
        if (receipted.has(id)) continue;
        const rc = await client.receipt(id).catch(() => null);
        if (rc && "id" in rc) receipted.add(id);
      }
    }
    killed = true;
    await cluster.kill(0, "SIGKILL");
    await stream;
    expect(receipted.size).toBeGreaterThan(0);

    cluster.start(0);
    await cluster.waitReady(0);
    for (const id of receipted) {
      const rc = await client.receipt(id);
      expect(rc && "id" in rc ? rc.status : "missing").toBe("ok");
    }
    // The chain keeps going after the restart: new work commits above what was there.
    const h = await cluster.height(0);
    expect(await commitProbe(cluster.info.rest[0]!, cluster.info.funded.secretKey)).toBeGreaterThan(h);

    await cluster.kill(0, "SIGTERM");
    const rep = cli(["replay", "--config", join(cluster.dir, "node0.json"), "--json"]);
    expect(rep.stderr).toBe("");
    const report = JSON.parse(rep.stdout);
    expect(report.ok).toBe(true);
    expect(BigInt(report.height)).toBeGreaterThan(0n);
    const vc = cli(["verify-chain", "--config", join(cluster.dir, "node0.json"), "--json"]);
    expect(JSON.parse(vc.stdout).ok).toBe(true);
    cluster.start(0);
    await cluster.waitReady(0);
  });

  it("refuses to start when one byte of a stored block changed, naming the height", async () => {
    await cluster.kill(0, "SIGTERM");
    const { Store } = await import("../node/store/store.ts");
    const { keys } = await import("../node/store/keys.ts");
    const store = await Store.open(join(cluster.dir, "node0", "db"));
    // Near the head: a start checks the last committed blocks only (verify-chain checks them all).
    const height = (await store.committedHead())!.height - 1n;
    const hash = (await store.blockHashAt(height))!;
    const raw = (await store.getBlockBytes(hash))!;
    const flipped = raw.slice();
    flipped[flipped.length - 1] ^= 0x01;
    await store.db.put(keys.block(hash), flipped, true);
    await store.close();

    const r = spawnSync(process.execPath, [CAIRN_BIN, "start", "--config", join(cluster.dir, "node0.json")], { encoding: "utf8", timeout: 60_000 });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`height ${height}\\b`));
    const vc = cli(["verify-chain", "--config", join(cluster.dir, "node0.json")]);
    expect(vc.code).not.toBe(0);
    expect(vc.stderr).toMatch(new RegExp(`height ${height}\\b`));
    expect(toHex(hash)).toHaveLength(64);
  });
});
