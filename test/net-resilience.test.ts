// Real TCP on 127.0.0.1: links come back after a validator restarts, a peer that stops reading cannot
// make a node buffer without bound, and block sync round-trips, is checked, and fails cleanly.

import { afterEach, describe, expect, it } from "vitest";
import type { Block } from "../node/codec/types.ts";
import { NetError } from "../node/net/errors.ts";
import type { CommittedRange, SyncProvider } from "../node/net/sync.ts";
import { RawPeer, chainOfBlocks, cluster, fullMesh, invocation, roundTrip, sleep, waitFor, type Cluster } from "./net-harness.ts";
import { toHex } from "../node/codec/hex.ts";

let c: Cluster | null = null;
const raws: RawPeer[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  await c?.stopAll();
  c = null;
});

function code(e: unknown): string | undefined {
  return e instanceof NetError ? e.code : undefined;
}

describe("reconnection", () => {
  it("restores every link after the highest and the lowest validator restart", async () => {
    const all = [0, 1, 2, 3];
    c = await cluster(4, all);
    const cl = c;
    await fullMesh(cl, all);

    for (const victim of [3, 0]) {
      const port = cl.ports[victim];
      await cl.net(victim).stop();
      await waitFor(() => all.every((i) => i === victim || !cl.net(i).isConnected(victim)), 3_000, `peers notice ${victim} is gone`);
      // while it is down the dialers keep trying with backoff, and nothing else is disturbed
      await sleep(150);
      await roundTrip(cl, 1, 2, 1);
      await cl.startNode(victim);
      expect(cl.ports[victim]).toBe(port);
      await fullMesh(cl, all, 5_000);
      for (const other of all) if (other !== victim) {
        await roundTrip(cl, other, victim, 2);
        await roundTrip(cl, victim, other, 3);
      }
    }
    // validator 2 linked to each restarted peer twice (before and after), to the others once
    const m2 = cl.net(2).metrics().peers;
    expect(m2.find((p) => p.index === 3)!.connects).toBe(2);
    expect(m2.find((p) => p.index === 0)!.connects).toBe(2);
    expect(m2.find((p) => p.index === 1)!.connects).toBe(1);
  });
});

describe("outbound queue under a flood", () => {
  it("stays within its bounds for a peer that stops reading, dropping gossip, then cuts the slow consumer", async () => {
    const maxQueueFrames = 64;
    const maxQueueBytes = 1024 * 1024;
    c = await cluster(2, [1], { maxQueueFrames, maxQueueBytes, maxFrameBytes: 256 * 1024 });
    const cl = c;
    const r = new RawPeer({ port: cl.ports[1]!, index: 0, signer: cl.signers[0]!, validatorKeys: cl.signers.map((s) => s.publicKey), expectedPeer: 1 });
    raws.push(r);
    await r.handshake();
    await waitFor(() => cl.net(1).isConnected(0));
    r.socket.pause(); // stops reading: the kernel buffers fill, then the node's queue does

    const gossip = { type: "invocations" as const, value: Array.from({ length: 4 }, (_, k) => invocation(BigInt(k), 2_000)) };
    let maxFrames = 0;
    let maxBytes = 0;
    for (let round = 0; round < 40; round++) {
      for (let k = 0; k < 200; k++) cl.net(1).send(0, gossip);
      const q = cl.net(1).outboundQueue(0)!;
      maxFrames = Math.max(maxFrames, q.frames);
      maxBytes = Math.max(maxBytes, q.bytes);
      await sleep(2);
    }
    const afterGossip = cl.net(1).metrics();
    expect(maxFrames).toBeLessThanOrEqual(maxQueueFrames);
    expect(maxBytes).toBeLessThanOrEqual(maxQueueBytes);
    expect(maxFrames).toBe(maxQueueFrames); // the bound was actually reached
    expect(afterGossip.peers[0]!.dropped).toBeGreaterThan(1000);
    expect(afterGossip.framesDropped).toBe(afterGossip.peers[0]!.dropped);
    // gossip overflow alone does not cost the link
    expect(cl.net(1).isConnected(0)).toBe(true);

    // essential messages push the gossip out, and when they alone overflow, the peer is cut
    let accepted = 0;
    while (cl.net(1).send(0, { type: "consensus", value: new Uint8Array(32 * 1024) })) accepted++;
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThanOrEqual(maxQueueBytes / (32 * 1024));
    expect(cl.net(1).isConnected(0)).toBe(false);
    expect(cl.net(1).metrics().disconnects.slow_consumer).toBe(1);
    expect(cl.net(1).outboundQueue(0)).toBeNull();
  });
});

/** A provider over an in-memory chain, serving committed ranges with the certificate of their last block. */
function chainProvider(blocks: Block[], hashes: Uint8Array[], lastQc: CommittedRange["certificate"]): SyncProvider {
  const byHash = new Map(hashes.map((h, i) => [toHex(h), blocks[i]!]));
  return {
    getBlocksByHash: (hs) => hs.flatMap((h) => byHash.get(toHex(h)) ?? []),
    getCommitted: async (from, max) => {
      const start = Number(from) - 1;
      const slice = blocks.slice(Math.max(0, start), Math.max(0, start + max));
      if (start < 0 || slice.length === 0) return { blocks: [], certificate: null };
      const end = start + slice.length;
      return { blocks: slice, certificate: end < blocks.length ? blocks[end]!.header.justify : lastQc };
    },
  };
}

describe("block sync", () => {
  it("round-trips block and committed-range requests, cutting big answers to the frame limit", async () => {
    c = await cluster(2, [0, 1], { maxFrameBytes: 256 * 1024, maxQueueBytes: 4 * 1024 * 1024 });
    const cl = c;
    await fullMesh(cl, [0, 1]);
    const { blocks, hashes, lastQc } = chainOfBlocks(20, 2, 20_000); // ~40 KB per block
    cl.net(1).setSyncProvider(chainProvider(blocks, hashes, lastQc));

    const byHash = await cl.net(0).requestBlocks(1, [hashes[5]!, new Uint8Array(32).fill(0xee), hashes[2]!]);
    expect(byHash.map((f) => f.hash)).toEqual([hashes[5], hashes[2]]);
    expect(byHash[0]!.block).toEqual(blocks[5]);

    // 3..5 fit; the certificate of block 5 is block 6's justify
    const small = await cl.net(0).requestCommitted(1, 3n, 3);
    expect(small.blocks).toEqual(blocks.slice(2, 5));
    expect(small.hashes).toEqual(hashes.slice(2, 5));
    expect(small.certificate).toEqual(blocks[5]!.header.justify);

    // asking for everything returns a verified prefix that fits in 256 KiB
    const big = await cl.net(0).requestCommitted(1, 1n, 20);
    expect(big.blocks.length).toBeGreaterThan(2);
    expect(big.blocks.length).toBeLessThan(7);
    expect(big.certificate!.blockHash).toEqual(hashes[big.blocks.length - 1]);
    // the tail, fetched on from there, ends with the provider's own certificate
    let next = BigInt(big.blocks.length + 1);
    let fetched = big.blocks.length;
    let last = big;
    while (fetched < 20) {
      last = await cl.net(0).requestCommitted(1, next, 20);
      expect(last.blocks.length).toBeGreaterThan(0);
      fetched += last.blocks.length;
      next += BigInt(last.blocks.length);
    }
    expect(last.certificate).toEqual(lastQc);
    expect(await cl.net(0).requestCommitted(1, 21n, 5)).toEqual({ blocks: [], hashes: [], certificate: null });
    expect(cl.net(1).metrics().sync.served).toBeGreaterThanOrEqual(5);
  });

  it("fails cleanly: refused without a provider, busy, provider errors, timeouts, peer gone, not connected", async () => {
    c = await cluster(3, [0, 1, 2]);
    const cl = c;
    await fullMesh(cl, [0, 1, 2]);
    const h = new Uint8Array(32).fill(1);

    await expect(cl.net(0).requestBlocks(2, [h])).rejects.toSatisfy((e) => code(e) === "refused" && /no sync provider/.test(String(e)));
    await expect(cl.net(0).requestBlocks(2, Array(1025).fill(h))).rejects.toSatisfy((e) => code(e) === "invalid_request");
    await expect(cl.net(0).requestCommitted(2, -1n, 1)).rejects.toSatisfy((e) => code(e) === "invalid_request");

    cl.net(2).setSyncProvider({
      getBlocksByHash: () => {
        throw new Error("disk on fire");
      },
      getCommitted: () => new Promise(() => {}), // never answers
    });
    await expect(cl.net(0).requestBlocks(2, [h])).rejects.toSatisfy((e) => code(e) === "refused" && /provider error/.test(String(e)));

    const t0 = Date.now();
    await expect(cl.net(0).requestCommitted(2, 1n, 1, { timeoutMs: 200 })).rejects.toSatisfy((e) => code(e) === "timeout");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);

    // four hang on the provider (the per-peer serving limit), the fifth is refused as busy
    const hanging = [1, 2, 3, 4].map(() => cl.net(1).requestCommitted(2, 1n, 1, { timeoutMs: 10_000 }).catch((e: unknown) => e));
    await expect(cl.net(1).requestCommitted(2, 1n, 1)).rejects.toSatisfy((e) => code(e) === "refused" && /busy/.test(String(e)));

    // the peer goes away: outstanding requests fail at once rather than waiting out their timeout
    const t1 = Date.now();
    await cl.net(2).stop();
    for (const e of await Promise.all(hanging)) expect(code(e)).toBe("peer_disconnected");
    expect(Date.now() - t1).toBeLessThan(5_000);
    await waitFor(() => !cl.net(0).isConnected(2));
    await expect(cl.net(0).requestBlocks(2, [h])).rejects.toSatisfy((e) => code(e) === "not_connected");

    const s = cl.net(0).metrics().sync;
    expect(s.timeouts).toBe(1);
    expect(cl.net(1).metrics().sync.requestsSent).toBe(5);
    expect(cl.net(0).metrics().sync.requestsSent).toBe(3); // the invalid ones never left
    await cl.net(0).stop();
    await expect(cl.net(0).requestBlocks(1, [h])).rejects.toSatisfy((e) => code(e) === "stopped");
  });

  it("rejects wrong or unlinked answers from a Byzantine peer and ignores unsolicited ones", async () => {
    c = await cluster(2, [1]);
    const cl = c;
    const r = new RawPeer({ port: cl.ports[1]!, index: 0, signer: cl.signers[0]!, validatorKeys: cl.signers.map((s) => s.publicKey), expectedPeer: 1 });
    raws.push(r);
    await r.handshake();
    await waitFor(() => cl.net(1).isConnected(0));
    const { blocks, hashes, lastQc } = chainOfBlocks(4);

    const requestOf = async (type: "getBlocks" | "getCommitted"): Promise<number> => {
      await waitFor(() => r.received.some((m) => m.type === type));
      const i = r.received.findIndex((m) => m.type === type);
      const m = r.received.splice(i, 1)[0]!;
      return (m.value as { requestId: number }).requestId;
    };

    // asked for block 0, answered with block 1
    const p1 = cl.net(1).requestBlocks(0, [hashes[0]!]);
    r.send({ type: "blocks", value: { requestId: await requestOf("getBlocks"), blocks: [blocks[1]!], certificate: null } });
    await expect(p1).rejects.toSatisfy((e) => code(e) === "bad_response" && /unrequested/.test(String(e)));

    // a committed range with a gap
    const p2 = cl.net(1).requestCommitted(0, 1n, 4);
    r.send({ type: "blocks", value: { requestId: await requestOf("getCommitted"), blocks: [blocks[0]!, blocks[2]!], certificate: lastQc } });
    await expect(p2).rejects.toSatisfy((e) => code(e) === "bad_response");

    // an answer nobody asked for is counted and dropped; the link stays
    r.send({ type: "blocks", value: { requestId: 4242, blocks: [], certificate: null } });
    await waitFor(() => cl.net(1).metrics().sync.unsolicited === 1);
    const p3 = cl.net(1).requestCommitted(0, 1n, 4);
    r.send({ type: "blocks", value: { requestId: await requestOf("getCommitted"), blocks, certificate: lastQc } });
    expect((await p3).hashes).toEqual(hashes);
    expect(cl.net(1).metrics().sync.failed).toBe(2);
  });
});
