// Real TCP on 127.0.0.1: validators link up and exchange messages, strangers and impostors are refused,
// and garbage of every kind costs the offender its connection while the node keeps serving the others.

import { createServer, connect, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { encode } from "../node/codec/codec.ts";
import { NET_PROTOCOL_VERSION, NetMessage, type NetMessage as NetMessageT } from "../node/codec/net.ts";
import { frame } from "../node/net/framing.ts";
import type { CloseReason } from "../node/net/errors.ts";
import type { HandshakeSigner } from "../node/net/handshake.ts";
import {
  CHAIN,
  RawPeer,
  cluster,
  fullMesh,
  invocation,
  nextMessage,
  roundTrip,
  signerFor,
  waitFor,
  type Cluster,
} from "./net-harness.ts";

let c: Cluster | null = null;
const servers: Server[] = [];
const raws: RawPeer[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  for (const s of servers.splice(0)) s.close();
  await c?.stopAll();
  c = null;
});

function disconnects(cl: Cluster, i: number, reason: CloseReason): number {
  return cl.net(i).metrics().disconnects[reason] ?? 0;
}

describe("four validators", () => {
  it("link pairwise and carry messages both ways", async () => {
    const all = [0, 1, 2, 3];
    c = await cluster(4, all);
    await fullMesh(c, all);
    for (const i of all) expect(c.net(i).connectedPeers()).toEqual(all.filter((j) => j !== i));

    let tag = 1;
    for (const a of all) for (const b of all) if (a !== b) await roundTrip(c, a, b, tag++);

    // a broadcast reaches every other validator, encoded once, attributed to the sender
    const batch = [invocation(1n), invocation(2n, 1000)];
    const got = [0, 1, 2].map((i) => nextMessage(c!.net(i), 3, (m) => m.type === "invocations"));
    expect(c.net(3).broadcast({ type: "invocations", value: batch })).toBe(3);
    for (const m of await Promise.all(got)) expect(m).toEqual({ type: "invocations", value: batch });

    // status is delivered and remembered per peer
    const st = nextMessage(c.net(2), 0, (m) => m.type === "status");
    c.net(0).send(2, { type: "status", value: { committedHeight: 41n, highQcView: 44n } });
    await st;
    expect(c.net(2).peerStatus(0)).toEqual({ committedHeight: 41n, highQcView: 44n });

    const m = c.net(1).metrics();
    expect(m.connectedPeers).toBe(3);
    expect(m.handshakesOk).toBe(3);
    expect(m.handshakesFailed).toBe(0);
    expect(m.peers.find((p) => p.index === 0)!.framesIn).toBeGreaterThan(0);
    // a handler that throws is logged and does not cost the link
    const off = c.net(0).onMessage(() => {
      throw new Error("handler bug");
    });
    await roundTrip(c, 1, 0, 200);
    off();
    expect(c.logs[0]!.entries.some((e) => e.level === "error" && e.msg === "message handler threw")).toBe(true);
    await roundTrip(c, 1, 0, 201);
    expect(c.net(0).isConnected(1)).toBe(true);
  });

  it("refuses to send a message larger than the frame limit, with a typed error", async () => {
    c = await cluster(2, [0, 1], { maxFrameBytes: 64 * 1024, maxQueueBytes: 1024 * 1024 });
    await fullMesh(c, [0, 1]);
    expect(() => c!.net(0).send(1, { type: "consensus", value: new Uint8Array(64 * 1024) })).toThrow(
      expect.objectContaining({ code: "too_large" }),
    );
    await roundTrip(c, 0, 1, 1);
  });
});

describe("hostile connections", () => {
  // Validators 0..4; 1..4 run, validator 0's key is held by the test's raw peers (a Byzantine validator).
  const RUNNING = [1, 2, 3, 4];
  const TARGET = 4;

  async function setup(): Promise<Cluster> {
    c = await cluster(5, RUNNING);
    await fullMesh(c, RUNNING);
    return c;
  }

  function raw(cl: Cluster, signer: HandshakeSigner = cl.signers[0]!, index = 0): RawPeer {
    const r = new RawPeer({
      port: cl.ports[TARGET]!,
      index,
      signer,
      validatorKeys: cl.signers.map((s) => s.publicKey),
      expectedPeer: TARGET,
    });
    raws.push(r);
    return r;
  }

  async function stillServing(cl: Cluster, tag: number): Promise<void> {
    for (const other of [1, 2, 3]) {
      await roundTrip(cl, other, TARGET, tag);
      await roundTrip(cl, TARGET, other, tag);
    }
  }

  it("drops a stranger and an impostor without a signature from the configured key", async () => {
    const cl = await setup();
    const stranger = raw(cl, signerFor(99));
    await expect(stranger.handshake()).rejects.toThrow(/closed/);
    expect(disconnects(cl, TARGET, "stranger")).toBe(1);

    // claims validator 0 (its real public key) but cannot sign with its key
    const impostor = raw(cl, { publicKey: cl.signers[0]!.publicKey, sign: (m) => signerFor(98).sign(m) });
    // The impostor may see the node's (valid) proof before the node rejects its own; either way it is cut off.
    await impostor.handshake().catch(() => {});
    await impostor.closed;
    expect(cl.net(TARGET).isConnected(0)).toBe(false);
    expect(disconnects(cl, TARGET, "bad_proof")).toBe(1);

    // a real validator dialing the wrong way (higher to lower) is refused too
    const backwards = new RawPeer({
      port: cl.ports[1]!,
      index: 3,
      signer: cl.signers[3]!,
      validatorKeys: cl.signers.map((s) => s.publicKey),
      expectedPeer: 1,
    });
    raws.push(backwards);
    await expect(backwards.handshake()).rejects.toThrow(/closed/);
    expect(disconnects(cl, 1, "wrong_direction")).toBe(1);

    const m = cl.net(TARGET).metrics();
    expect(m.handshakesFailed).toBe(2);
    expect(m.connectedPeers).toBe(3);
    expect(cl.logs[TARGET]!.dropped("stranger")[0]!.level).toBe("warn");
    expect(cl.logs[TARGET]!.dropped("bad_proof")[0]!.level).toBe("warn");
    await stillServing(cl, 10);
  });

  it("drops garbage, oversize lengths, truncated frames and out-of-order messages before auth", async () => {
    const cl = await setup();
    const cases: Array<{ reason: CloseReason; act: (r: RawPeer) => void }> = [
      // a 16-byte frame whose union tag does not exist
      { reason: "malformed", act: (r) => r.sendRaw(Buffer.concat([Buffer.from([16, 0, 0, 0]), Buffer.alloc(16, 0xff)])) },
      // a length prefix far above the pre-auth limit: dropped on the header, before any body arrives
      { reason: "bad_frame", act: (r) => r.sendRaw(Buffer.from([0xff, 0xff, 0xff, 0x7f])) },
      { reason: "bad_frame", act: (r) => r.sendRaw(Buffer.from([0, 0, 0, 0])) },
      // a consensus message before the handshake
      { reason: "unexpected_message", act: (r) => r.sendPlain({ type: "consensus", value: new Uint8Array([1]) }) },
      // half a frame, then the stream ends
      {
        reason: "truncated",
        act: (r) => {
          r.sendRaw(Buffer.from([100, 0, 0, 0, 1, 2, 3]));
          r.socket.end();
        },
      },
      // half a frame, then silence: the handshake timeout ends it
      { reason: "handshake_timeout", act: (r) => r.sendRaw(Buffer.from([100, 0, 0, 0, 1, 2, 3])) },
      // a well-formed hello for another chain
      {
        reason: "wrong_chain",
        act: (r) => r.sendPlain({ type: "hello", value: { ...r.hs.hello, chainId: "other-chain" } }),
      },
      {
        reason: "protocol_version",
        act: (r) => r.sendPlain({ type: "hello", value: { ...r.hs.hello, protocolVersion: NET_PROTOCOL_VERSION + 1 } }),
      },
    ];
    const peers = cases.map((k) => {
      const r = raw(cl);
      k.act(r);
      return r;
    });
    await Promise.all(peers.map((p) => p.closed));
    const want = new Map<CloseReason, number>();
    for (const k of cases) want.set(k.reason, (want.get(k.reason) ?? 0) + 1);
    for (const [reason, n] of want) expect(disconnects(cl, TARGET, reason), reason).toBe(n);
    expect(cl.net(TARGET).metrics().connectedPeers).toBe(3);
    await stillServing(cl, 20);
  });

  it("drops an authenticated validator that sends undecodable, unsealed, oversize or handshake frames", async () => {
    const cl = await setup();
    const cases: Array<{ reason: CloseReason; act: (r: RawPeer) => void }> = [
      { reason: "malformed", act: (r) => r.sendSealedBytes(new Uint8Array([0xfe, 1, 2, 3])) },
      { reason: "decrypt_failed", act: (r) => r.sendRaw(frame(encode(NetMessage, { type: "consensus", value: new Uint8Array(40) }))) },
      { reason: "bad_frame", act: (r) => r.sendRaw(Buffer.from([0x01, 0x00, 0x00, 0x01])) }, // 16 MiB + 1
      { reason: "unexpected_message", act: (r) => r.send({ type: "hello", value: r.hs.hello }) },
    ];
    for (const [i, k] of cases.entries()) {
      const r = raw(cl);
      const linked = new Promise<void>((resolve) => {
        const off = cl.net(TARGET).onPeerConnected((p) => {
          if (p === 0) {
            off();
            resolve();
          }
        });
      });
      await r.handshake();
      await linked;
      // the link works before the garbage...
      const got = nextMessage(cl.net(TARGET), 0, (m) => m.type === "consensus");
      r.send({ type: "consensus", value: new Uint8Array([i]) });
      expect(await got).toEqual({ type: "consensus", value: new Uint8Array([i]) });
      k.act(r);
      await r.closed;
      expect(disconnects(cl, TARGET, k.reason), k.reason).toBeGreaterThanOrEqual(1);
      expect(cl.net(TARGET).isConnected(0)).toBe(false);
    }
    const m = cl.net(TARGET).metrics();
    expect(m.peers.find((p) => p.index === 0)!.connects).toBe(cases.length);
    expect(cl.logs[TARGET]!.dropped("decrypt_failed")[0]!.level).toBe("warn");
    await stillServing(cl, 30);
  });

  it("caps unauthenticated connections held at once and recovers when they time out", async () => {
    c = await cluster(5, RUNNING, { maxPendingHandshakes: 4, handshakeTimeoutMs: 300 });
    const cl = c;
    await fullMesh(cl, RUNNING);
    // Strangers from addresses no validator is configured at (127.0.0.1 would take the reserved path).
    const idle: Socket[] = Array.from({ length: 7 }, (_, k) =>
      connect({ host: "127.0.0.1", port: cl.ports[TARGET]!, localAddress: `127.0.0.${2 + (k % 2)}` }).on("error", () => {}),
    );
    await waitFor(() => cl.net(TARGET).metrics().inboundRejected === 3, 2_000, "3 refused on accept");
    await waitFor(() => disconnects(cl, TARGET, "handshake_timeout") === 4, 2_000, "4 pending timed out");
    for (const s of idle) s.destroy();
    // the slots are free again: validator 0 gets in, and the existing links never noticed
    const r = raw(cl);
    await r.handshake();
    await waitFor(() => cl.net(TARGET).isConnected(0));
    expect(cl.net(TARGET).metrics().connectedPeers).toBe(4);
    await stillServing(cl, 40);
  });

  it("caps unauthenticated connections per remote host, so one host cannot keep a validator out", async () => {
    c = await cluster(5, RUNNING, { maxPendingHandshakes: 8, maxPendingHandshakesPerHost: 3, handshakeTimeoutMs: 2_000 });
    const cl = c;
    await fullMesh(cl, RUNNING);
    // Another loopback address stands in for a hostile host: it gets 3 slots, the other 3 are refused at once.
    const hostile = Array.from({ length: 6 }, () =>
      connect({ host: "127.0.0.1", port: cl.ports[TARGET]!, localAddress: "127.0.0.2" }).on("error", () => {}),
    );
    await waitFor(() => cl.net(TARGET).metrics().inboundRejected === 3, 1_000, "3 refused on accept");
    expect(disconnects(cl, TARGET, "too_many_pending_from_host")).toBe(3);
    // Validator 0 (from 127.0.0.1) still gets in while the hostile host's handshakes are pending.
    const r = raw(cl);
    await r.handshake();
    await waitFor(() => cl.net(TARGET).isConnected(0));
    expect(disconnects(cl, TARGET, "handshake_timeout")).toBe(0);
    // The hostile host's slots come back when its connections go away.
    for (const s of hostile) s.destroy();
    await waitFor(() => cl.net(TARGET).metrics().disconnects.remote_closed! >= 3, 1_000, "pending ones closed");
    const again = connect({ host: "127.0.0.1", port: cl.ports[TARGET]!, localAddress: "127.0.0.2" }).on("error", () => {});
    await new Promise((res) => setTimeout(res, 100));
    expect(cl.net(TARGET).metrics().inboundRejected).toBe(3);
    again.destroy();
    await stillServing(cl, 41);
  });

  it("lets a newer authenticated link from the same validator replace the old one", async () => {
    const cl = await setup();
    const first = raw(cl);
    await first.handshake();
    await waitFor(() => cl.net(TARGET).isConnected(0));
    const reasons: CloseReason[] = [];
    cl.net(TARGET).onPeerDisconnected((p, r) => p === 0 && reasons.push(r));
    const second = raw(cl);
    await second.handshake();
    await first.closed;
    expect(reasons).toEqual(["replaced"]);
    const got = nextMessage(cl.net(TARGET), 0, (m) => m.type === "consensus");
    second.send({ type: "consensus", value: new Uint8Array([7]) });
    await got;
    // and the node's messages to validator 0 now go down the new link
    cl.net(TARGET).send(0, { type: "consensus", value: new Uint8Array([8]) });
    await waitFor(() => second.received.some((m: NetMessageT) => m.type === "consensus" && m.value[0] === 8));
  });
});

describe("a tampering relay", () => {
  it("breaks the link on the first altered byte; the dialer reconnects", async () => {
    c = await cluster(2, [1]);
    const cl = c;
    const realPort = cl.ports[1]!;
    let armed = false;
    let flipped = 0;
    const sockets: Socket[] = [];
    const proxy = createServer((down) => {
      const up = connect({ host: "127.0.0.1", port: realPort });
      sockets.push(down, up);
      down.on("error", () => {});
      up.on("error", () => {});
      down.on("data", (chunk: Buffer) => {
        if (armed) {
          armed = false;
          flipped++;
          chunk[chunk.length - 1]! ^= 0x40;
        }
        up.write(chunk);
      });
      up.on("data", (chunk: Buffer) => down.write(chunk));
      down.on("close", () => up.destroy());
      up.on("close", () => down.destroy());
    });
    servers.push(proxy);
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    cl.ports[1] = (proxy.address() as { port: number }).port;
    await cl.startNode(0);
    await fullMesh(cl, [0, 1]);
    await roundTrip(cl, 0, 1, 1);

    armed = true;
    cl.net(0).send(1, { type: "consensus", value: new Uint8Array(100).fill(1) });
    await waitFor(() => disconnects(cl, 1, "decrypt_failed") === 1, 3_000, "decrypt failure");
    expect(flipped).toBe(1);
    await fullMesh(cl, [0, 1]);
    await roundTrip(cl, 0, 1, 2);
    await roundTrip(cl, 1, 0, 3);
    expect(cl.net(0).metrics().peers[0]!.connects).toBe(2);
    for (const s of sockets) s.destroy();
  });
});
