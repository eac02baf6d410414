// A validator that was down while the chain moved on by a thousand blocks comes back and catches up through
// committed-range sync (certified ranges, hash links, execution), then agrees with the others on every block it
// was shown, on the head and on the state, and votes again.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, Keypair } from "../node/client/index.ts";
import { TestCluster } from "./helpers/cluster.ts";
import { commitProbe } from "./helpers/probe.ts";

/** Blocks the chain must grow by while validator 3 is down. */
const BEHIND = 1_000;

describe("a validator a thousand blocks behind", () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    // An idle chain writes no blocks: the test keeps work coming, each batch of transfers followed by the empty
    // blocks that commit it. The down validator's turns as leader time out after 100 ms.
    cluster = await TestCluster.create(4, { consensus: { baseTimeoutMs: 100, maxTimeoutMs: 2000 } });
    cluster.startAll();
    await Promise.all([0, 1, 2, 3].map((i) => cluster.waitReady(i)));
  }, 120_000);

  afterAll(async () => {
    await cluster?.destroy();
  });

  it(`catches up ${BEHIND}+ blocks with their invocations and agrees on blocks, head and state`, async () => {
    const funded = Keypair.fromSecretHex(cluster.info.funded.secretKey);
    const client = new Client(cluster.info.rest[0]!);
    await cluster.waitHeight(3, await commitProbe(cluster.info.rest[0]!, cluster.info.funded.secretKey));
    await cluster.kill(3, "SIGKILL");
    const downAt = await cluster.height(0);

    // While it is down: batches of transfers, each committed (with the empty blocks its commit needs) before the
    // next, until the chain has grown by BEHIND blocks.
    const payees = Array.from({ length: 8 }, () => Keypair.generate());
    let sent = 0n;
    let receipt: { height: bigint } | null = null;
    while ((await cluster.height(0)) < downAt + BigInt(BEHIND)) {
      let last = "";
      for (const p of payees) last = (await client.transfer({ key: funded, to: p.publicKey, amount: 1n })) as string;
      sent += 1n;
      const r = await client.waitForReceipt(last, 30_000);
      expect(r.status).toBe("ok");
      receipt = r;
    }

    // Back: it fetches the range it missed, executes it and takes part again.
    const target = await cluster.height(0);
    expect(target - downAt).toBeGreaterThanOrEqual(BigInt(BEHIND));
    const t0 = performance.now();
    cluster.start(3);
    await cluster.waitReady(3);
    await cluster.waitHeight(3, target, 120_000);
    const seconds = (performance.now() - t0) / 1000;
    const metrics = await (await fetch(cluster.info.rest[3] + "/metrics")).text();
    const counter = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(metrics)?.[1] ?? 0);
    const byRange = counter("cairn_sync_range_blocks_total");
    const byHash = counter("cairn_sync_hash_blocks_total");
    process.stderr.write(`catch-up: ${target - downAt} blocks in ${seconds.toFixed(1)} s (${byRange} in certified ranges, ${byHash} by hash)\n`);
    // The gap came in certified ranges, not by walking back one ancestor at a time.
    expect(byRange).toBeGreaterThanOrEqual(Number(target - downAt) - 64);

    // Every 97th block of the gap, its ends and the block carrying the last transfer: the same everywhere.
    const heights = new Set<bigint>([downAt, downAt + 1n, receipt!.height, target]);
    for (let h = downAt; h <= target; h += 97n) heights.add(h);
    for (const h of heights) {
      const hashes = await Promise.all([0, 1, 2, 3].map((i) => cluster.blockHash(i, h)));
      expect(new Set(hashes).size, `block ${h}`).toBe(1);
    }
    // The state it computed by executing the gap is everyone's: balances, and the commitment at one height.
    for (const p of payees) {
      const balances = await Promise.all([0, 1, 2, 3].map(async (i) => (await cluster.getJson(i, `/v1/accounts/${p.publicKeyHex}`)).body.balance));
      expect(balances).toEqual([sent.toString(), sent.toString(), sent.toString(), sent.toString()]);
    }
    // A block commits the state after its parent: block target+1 carries everyone's state after `target`.
    await commitProbe(cluster.info.rest[0]!, cluster.info.funded.secretKey);
    await Promise.all([0, 1, 2, 3].map((i) => cluster.waitHeight(i, target + 1n, 30_000)));
    const roots = await Promise.all([0, 1, 2, 3].map(async (i) => (await cluster.getJson(i, `/v1/blocks/${target + 1n}`)).body.header.stateRoot));
    expect(typeof roots[0]).toBe("string");
    expect(new Set(roots).size).toBe(1);

    // It votes again: with validator 0 down, commits need validator 3 (3 of 4).
    await cluster.kill(0, "SIGKILL");
    const h1 = await cluster.height(1);
    const probed = await commitProbe(cluster.info.rest[1]!, cluster.info.funded.secretKey);
    expect(probed).toBeGreaterThan(h1);
    await cluster.waitHeight(3, probed, 30_000);

    // Committed blocks leave the uncommitted-block index, also those that came in ranges: after a thousand
    // blocks it holds the last few views' blocks, not the chain.
    for (const i of [1, 3]) {
      const text = await (await fetch(cluster.info.rest[i] + "/metrics")).text();
      const stored = Number(/^cairn_stored_uncommitted_blocks (\d+)$/m.exec(text)?.[1]);
      expect(stored, `validator ${i}`).toBeLessThanOrEqual(8);
    }
  }, 300_000);
});
