// A validator restarted while its peers went on: from the moment its REST port opens it must either say it is
// syncing (and refuse writes) or answer from the chain's current state, and a client pointed at it makes a new
// transfer, not a copy of one already committed. Before, it answered from its old state for 0.4 to 3 s (nonce 0
// where the truth was 20, HTTP 200, no sign of being behind), and an SDK transfer through it got an old receipt.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, Keypair } from "../node/client/index.ts";
import { TestCluster } from "./helpers/cluster.ts";

interface Observation {
  ms: number;
  syncing: boolean;
  nonce: bigint;
  height: string | null;
}

describe("a validator restarted behind its peers", () => {
  let cluster: TestCluster;
  let funded: Keypair;

  beforeAll(async () => {
    cluster = await TestCluster.running(4, { consensus: { baseTimeoutMs: 400, maxTimeoutMs: 4000 } });
    funded = Keypair.fromSecretHex(cluster.info.funded.secretKey);
  }, 120_000);

  afterAll(async () => {
    await cluster?.destroy();
  });

  /** Commits `n` transfers through validator 0 while validator 3 is down. */
  async function advanceWithout3(n: number, to: Keypair): Promise<bigint> {
    await cluster.kill(3, "SIGKILL");
    const client = new Client(cluster.info.rest[0]!);
    for (let i = 0; i < n; i++) await client.transfer({ key: funded, to: to.publicKey, amount: 1n, wait: true, timeoutMs: 30_000 });
    return (await client.account(funded.publicKey)).nonce;
  }

  it("never answers from its old state as if current, refuses writes while syncing, then serves the truth", async () => {
    const bob = Keypair.generate();
    const truth = await advanceWithout3(20, bob);
    expect(truth).toBeGreaterThanOrEqual(20n);
    cluster.start(3);
    const seen: Observation[] = [];
    let refusedWrite: { status: number; code: string; retryAfter: string | null } | null = null;
    const t0 = performance.now();
    // Ask as fast as possible from the moment the port opens until the node has answered level twice.
    let level = 0;
    while (level < 2 && performance.now() - t0 < 60_000) {
      let res: Response;
      try {
        res = await fetch(`${cluster.info.rest[3]}/v1/accounts/${funded.publicKeyHex}`);
      } catch {
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      const body = (await res.json()) as { nonce: string };
      const o = { ms: Math.round(performance.now() - t0), syncing: res.headers.get("x-cairn-syncing") === "true", nonce: BigInt(body.nonce), height: res.headers.get("x-cairn-height") };
      seen.push(o);
      if (o.syncing && refusedWrite === null) {
        const w = await fetch(`${cluster.info.rest[3]}/v1/invocations`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
        refusedWrite = { status: w.status, code: ((await w.json()) as { error: { code: string } }).error.code, retryAfter: w.headers.get("retry-after") };
      }
      level = o.syncing ? 0 : level + 1;
    }
    const stale = seen.filter((o) => !o.syncing && o.nonce < truth);
    expect(stale, `answers from old state without saying syncing: ${JSON.stringify(stale.slice(0, 3), (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}`).toEqual([]);
    expect(seen.every((o) => o.height !== null)).toBe(true);
    expect(level).toBe(2);
    expect(seen[seen.length - 1]!.nonce).toBe(truth);
    if (refusedWrite !== null) {
      // Refused as syncing (before the body is even looked at) or, if it caught up meanwhile, as malformed.
      expect([503, 400]).toContain(refusedWrite.status);
      if (refusedWrite.status === 503) {
        expect(refusedWrite.code).toBe("syncing");
        expect(Number(refusedWrite.retryAfter)).toBeGreaterThan(0);
      }
    }
    console.log(`restart: ${seen.length} answers, ${seen.filter((o) => o.syncing).length} saying syncing, level after ${seen.find((o) => !o.syncing)?.ms} ms`);
  }, 180_000);

  it("an SDK transfer through the just-restarted validator is a new transfer, never an old receipt", async () => {
    const carol = Keypair.generate();
    await advanceWithout3(5, carol);
    const v0 = new Client(cluster.info.rest[0]!);
    const before = (await v0.account(carol.publicKey)).balance;
    const headBefore = (await v0.status()).height;
    cluster.start(3);
    const v3 = new Client(cluster.info.rest[3]!, { syncWaitMs: 60_000 });
    // The port may not be open yet: the client's first reads are refused connections, then syncing answers.
    let receipt;
    for (const t0 = performance.now(); ; ) {
      try {
        receipt = await v3.transfer({ key: funded, to: carol.publicKey, amount: 7n, wait: true, timeoutMs: 30_000 });
        break;
      } catch (e) {
        if (performance.now() - t0 > 60_000 || !/ECONNREFUSED|fetch failed|connect/i.test(String((e as Error).cause ?? e))) throw e;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    expect(typeof receipt).not.toBe("string");
    const r = receipt as { status: string; height: bigint };
    expect(r.status).toBe("ok");
    expect(r.height).toBeGreaterThan(BigInt(headBefore));
    await cluster.waitHeight(0, r.height);
    expect((await v0.account(carol.publicKey)).balance).toBe(before + 7n);
  }, 180_000);
});
