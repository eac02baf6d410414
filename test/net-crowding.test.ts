// Strangers trying to crowd validators out: holding every unauthenticated slot from many loopback
// addresses, flooding refused connections, dribbling a handshake byte by byte. Validators must still
// link, the log must stay bounded, and a slow handshake must not keep its slot past the timeout.

import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { encode } from "../node/codec/codec.ts";
import { NET_PROTOCOL_VERSION, NetMessage } from "../node/codec/net.ts";
import { InboundAdmission } from "../node/net/admission.ts";
import { frame } from "../node/net/framing.ts";
import { DEFAULT_NET_LIMITS } from "../node/net/limits.ts";
import { RateLimitedLog } from "../node/net/ratelog.ts";
import { PeerNetwork } from "../node/net/network.ts";
import { CHAIN, CapturingLogger, FAST_LIMITS, cluster, fullMesh, roundTrip, signerFor, sleep, waitFor, type Cluster } from "./net-harness.ts";

let c: Cluster | null = null;
const crowds: Crowd[] = [];
afterEach(async () => {
  for (const k of crowds.splice(0)) k.stop();
  await c?.stopAll();
  c = null;
  vi.useRealTimers();
});

/** Silent connections from `sources`, `perSource` each to every port, reopened whenever one closes. */
class Crowd {
  private stopped = false;
  private readonly sockets = new Set<Socket>();
  constructor(
    private readonly ports: () => number[],
    private readonly sources: string[],
    private readonly perSource: number,
    private readonly reopenMs: number,
  ) {
    for (const [slot] of ports().entries()) for (const src of sources) for (let k = 0; k < perSource; k++) this.open(slot, src);
  }
  private open(slot: number, src: string): void {
    if (this.stopped) return;
    const s = connect({ host: "127.0.0.1", port: this.ports()[slot]!, localAddress: src });
    this.sockets.add(s);
    s.on("error", () => {});
    s.resume(); // reads (and discards) the node's hello, so the node closing the socket is noticed
    s.on("close", () => {
      this.sockets.delete(s);
      setTimeout(() => this.open(slot, src), this.reopenMs);
    });
  }
  stop(): void {
    this.stopped = true;
    for (const s of this.sockets) s.destroy();
  }
}

const STRANGER_SOURCES = Array.from({ length: 10 }, (_, i) => `127.0.0.${i + 2}`);

describe("strangers holding every unauthenticated slot", () => {
  it("cannot keep a restarted validator from relinking with its peers", async () => {
    const all = [0, 1, 2];
    // Default pool sizes; handshakes time out slowly so the strangers hold their slots without churning.
    c = await cluster(3, all, { handshakeTimeoutMs: 20_000 });
    const cl = c;
    await fullMesh(cl, all);
    // 10 sources × 8 = 80 connections per validator against 64 general slots: the pool stays full.
    const crowd = new Crowd(() => cl.ports, STRANGER_SOURCES, DEFAULT_NET_LIMITS.maxPendingHandshakesPerHost, 50);
    crowds.push(crowd);
    await waitFor(
      () => all.every((i) => cl.net(i).metrics().pendingHandshakes >= DEFAULT_NET_LIMITS.maxPendingHandshakes && cl.net(i).metrics().inboundRejected > 0),
      10_000,
      "strangers fill every general slot",
    );

    await cl.net(1).stop();
    await sleep(300); // the strangers' reopen loop now races the validators for the restarted node's slots
    const restartedAt = Date.now();
    const net1 = await cl.startNode(1);
    // Validator 0 dials the restarted node (its inbound side) and the restarted node dials validator 2.
    await fullMesh(cl, all, 5_000);
    const tookMs = Date.now() - restartedAt;
    expect(tookMs).toBeLessThan(5_000);
    await roundTrip(cl, 0, 1, 1);
    await roundTrip(cl, 1, 2, 2);
    // The strangers really were there: the restarted node's general pool filled and refused some.
    await waitFor(() => net1.metrics().inboundRejected > 0, 5_000, "restarted node refuses strangers");
    expect(net1.metrics().pendingHandshakes).toBeGreaterThanOrEqual(DEFAULT_NET_LIMITS.maxPendingHandshakes);
    expect(cl.net(2).metrics().inboundReserved).toBeGreaterThan(0);
  }, 30_000);
});

describe("strangers on the validators' own address (one machine)", () => {
  it("are evicted, newest first, so a restarted validator still relinks", async () => {
    const all = [0, 1, 2];
    c = await cluster(3, all, { handshakeTimeoutMs: 20_000 });
    const cl = c;
    await fullMesh(cl, all);
    // 127.0.0.1 is every validator's configured host: these take the reserved path and churn through it.
    const crowd = new Crowd(() => cl.ports, ["127.0.0.1", ...STRANGER_SOURCES], DEFAULT_NET_LIMITS.maxPendingHandshakesPerHost, 50);
    crowds.push(crowd);
    // Validator 2 has two dialers at 127.0.0.1: the general pool and both reserved allowances fill.
    const full = DEFAULT_NET_LIMITS.maxPendingHandshakes + 2 * DEFAULT_NET_LIMITS.reservedHandshakesPerPeer;
    await waitFor(() => cl.net(2).metrics().pendingHandshakes >= full, 10_000, "every slot of validator 2 held");
    await cl.net(1).stop();
    await sleep(300);
    const net1 = await cl.startNode(1);
    await fullMesh(cl, all, 5_000);
    await roundTrip(cl, 0, 1, 3);
    await roundTrip(cl, 1, 2, 4);
    expect(cl.net(2).metrics().inboundEvicted).toBeGreaterThan(0);
  }, 30_000);
});

describe("the reserved path", () => {
  it("follows a validator's host name and leaves strangers' addresses in the general pool", async () => {
    const signers = [signerFor(1), signerFor(2)];
    const net = new PeerNetwork({
      chainId: CHAIN,
      self: { index: 1, signer: signers[1]! },
      validators: [
        { publicKey: signers[0]!.publicKey, host: "localhost", port: 0 },
        { publicKey: signers[1]!.publicKey, host: "127.0.0.1", port: 0 },
      ],
      listen: { host: "127.0.0.1", port: 0 },
      logger: new CapturingLogger(),
      limits: { ...FAST_LIMITS, maxPendingHandshakes: 1, handshakeTimeoutMs: 5_000 },
    });
    const { port } = await net.start();
    const sockets: Socket[] = [];
    try {
      const open = (src: string): void => void sockets.push(connect({ host: "127.0.0.1", port, localAddress: src }).on("error", () => {}));
      // "localhost" resolves to 127.0.0.1; until the lookup lands such connections are strangers.
      await waitFor(() => {
        open("127.0.0.1");
        return net.metrics().inboundReserved > 0;
      }, 3_000, "localhost resolved");
      for (const s of sockets.splice(0)) s.destroy();
      await waitFor(() => net.metrics().pendingHandshakes === 0, 3_000, "probes gone");
      const base = net.metrics();
      for (const src of ["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.1", "127.0.0.1"]) open(src);
      await waitFor(() => net.metrics().pendingHandshakes + net.metrics().inboundRejected - base.inboundRejected === 5, 3_000, "all accepted");
      // strangers: one general slot, the other two refused; validator 0's address: never refused
      expect(net.metrics().inboundRejected - base.inboundRejected).toBe(2);
      expect(net.metrics().inboundReserved - base.inboundReserved).toBe(2);
      expect(net.metrics().pendingHandshakes).toBe(3);
    } finally {
      for (const s of sockets) s.destroy();
      await net.stop();
    }
  });
});

describe("a flood of refused connections", () => {
  it("is logged at a bounded rate, with the count of suppressed lines", async () => {
    c = await cluster(2, [1], { maxPendingHandshakes: 4, maxPendingHandshakesPerHost: 4, handshakeTimeoutMs: 1_000, strangerLogIntervalMs: 1_000 });
    const cl = c;
    const log = cl.logs[1]!;
    const before = log.entries.length;
    const N = 200;
    const sockets: Socket[] = [];
    for (let k = 0; k < N; k++) sockets.push(connect({ host: "127.0.0.1", port: cl.ports[1]!, localAddress: "127.0.0.2" }).on("error", () => {}));
    await waitFor(() => cl.net(1).metrics().inboundRejected === N - 4, 10_000, "every connection past the pool refused");
    await waitFor(() => (cl.net(1).metrics().disconnects.handshake_timeout ?? 0) === 4, 5_000, "held ones time out");
    await sleep(1_200); // the summary lines of the window
    for (const s of sockets) s.destroy();

    const refused = log.entries.slice(before).filter((e) => e.msg === "inbound connection refused");
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused.length).toBeLessThanOrEqual(4); // the flood lasted well under a few intervals
    // Every refusal is accounted for: logged ones plus the counts they report as suppressed.
    const accounted = refused.reduce((n, e) => n + ((e.fields.suppressed as number | undefined) ?? 1), 0);
    expect(accounted).toBe(N - 4);
    const dropped = log.entries.slice(before).filter((e) => e.fields.reason === "handshake_timeout");
    expect(dropped.length).toBeLessThanOrEqual(2);
    expect(log.entries.length - before).toBeLessThan(12);
  }, 20_000);
});

describe("a slow-loris handshake", () => {
  it("is closed at the handshake timeout however steadily it dribbles bytes", async () => {
    const TIMEOUT = 500;
    c = await cluster(2, [1], { handshakeTimeoutMs: TIMEOUT });
    const cl = c;
    // A well-formed hello from a stranger key, one byte every 20 ms: it would take seconds to complete.
    const hello = frame(
      encode(NetMessage, {
        type: "hello",
        value: {
          protocolVersion: NET_PROTOCOL_VERSION,
          chainId: CHAIN,
          validatorIndex: 0,
          publicKey: cl.signers[0]!.publicKey,
          nonce: new Uint8Array(32).fill(1),
          ephemeralKey: new Uint8Array(32).fill(2),
        },
      }),
    );
    for (const src of ["127.0.0.2", "127.0.0.1"]) {
      const s = connect({ host: "127.0.0.1", port: cl.ports[1]!, localAddress: src }).on("error", () => {});
      const opened = Date.now();
      let sent = 0;
      const drip = setInterval(() => {
        if (sent < hello.length - 1) s.write(hello.subarray(sent, ++sent));
      }, 20);
      const closedAt = await new Promise<number>((resolve) => s.on("close", () => resolve(Date.now())));
      clearInterval(drip);
      const held = closedAt - opened;
      expect(sent).toBeGreaterThan(5); // it did keep dribbling
      expect(sent).toBeLessThan(hello.length - 1);
      expect(held).toBeGreaterThanOrEqual(TIMEOUT - 50);
      expect(held).toBeLessThan(TIMEOUT + 700);
    }
    expect(cl.net(1).metrics().disconnects.handshake_timeout).toBe(2);
    expect(cl.net(1).metrics().pendingHandshakes).toBe(0);
  }, 20_000);
});

describe("InboundAdmission", () => {
  const limits = { maxPendingHandshakes: 3, maxPendingHandshakesPerHost: 2, reservedHandshakesPerPeer: 2 };
  // Validators 0 and 1 may dial us from 10.0.0.1; validator 2 from 10.0.0.2.
  const at: Record<string, number[]> = { "10.0.0.1": [0, 1], "10.0.0.2": [2] };
  const hosts = {
    dialersAt: (h: string) => at[h]?.length ?? 0,
    isDialerAt: (i: number, h: string) => at[h]?.includes(i) ?? false,
  };
  function admitHold(a: InboundAdmission<string>, conn: string, host: string): string | null {
    const r = a.admit(host);
    if (r.kind === "refused") return r.reason;
    a.hold(conn, host, r.kind);
    return r.kind === "reserved" && r.evict !== null ? `evict ${r.evict}` : r.kind;
  }

  it("caps strangers per host and in total, and never lets them into the reserved path", () => {
    const a = new InboundAdmission<string>(limits, hosts);
    expect(admitHold(a, "s1", "9.9.9.1")).toBe("general");
    expect(admitHold(a, "s2", "9.9.9.1")).toBe("general");
    expect(admitHold(a, "s3", "9.9.9.1")).toBe("too_many_pending_from_host");
    expect(admitHold(a, "s4", "9.9.9.2")).toBe("general");
    expect(admitHold(a, "s5", "9.9.9.3")).toBe("too_many_pending");
    // a validator's address is admitted although the general pool is full
    expect(admitHold(a, "v1", "10.0.0.2")).toBe("reserved");
    a.release("s1");
    expect(admitHold(a, "s6", "9.9.9.3")).toBe("general");
    expect(a.size).toBe(4);
  });

  it("evicts the oldest unclaimed reserved connection of a host, and the oldest claimant of a validator", () => {
    const a = new InboundAdmission<string>(limits, hosts);
    // 10.0.0.1 hosts two dialers: 4 unclaimed reserved slots
    for (const k of ["a", "b", "c", "d"]) expect(admitHold(a, k, "10.0.0.1")).toBe("reserved");
    expect(admitHold(a, "e", "10.0.0.1")).toBe("evict a");
    // claiming validator 0 moves b out of the unclaimed allowance, so f needs no eviction
    expect(a.claim("b", 0)).toBeNull();
    expect(admitHold(a, "f", "10.0.0.1")).toBe("reserved");
    // a claim of a validator not configured at that address stays unclaimed
    expect(a.claim("c", 2)).toBeNull();
    expect(admitHold(a, "g", "10.0.0.1")).toBe("evict c");
    expect(a.claim("d", 0)).toBeNull();
    expect(a.claim("e", 0)).toBe("b"); // a third claimant of validator 0 evicts the oldest
    expect(a.connections().sort()).toEqual(["d", "e", "f", "g"]);
    a.release("d");
    a.release("e");
    expect(a.claim("f", 0)).toBeNull();
  });
});

describe("RateLimitedLog", () => {
  it("logs the first event at once and at most one summary line per interval after it", () => {
    vi.useFakeTimers();
    const log = new CapturingLogger();
    const r = new RateLimitedLog(log, 1_000);
    for (let k = 0; k < 50; k++) r.note("refused", "warn", "refused", { k });
    r.note("other", "info", "other");
    expect(log.entries.map((e) => e.msg)).toEqual(["refused", "other"]);
    vi.advanceTimersByTime(1_000);
    expect(log.entries).toHaveLength(3);
    expect(log.entries[2]!.fields).toMatchObject({ k: 49, suppressed: 49 });
    for (let k = 0; k < 10; k++) {
      r.note("refused", "warn", "refused", { k });
      vi.advanceTimersByTime(150);
    }
    expect(log.entries).toHaveLength(4);
    expect(log.entries[3]!.fields).toMatchObject({ suppressed: 7 });
    r.close();
    expect(log.entries).toHaveLength(5);
    expect(log.entries[4]!.fields).toMatchObject({ suppressed: 3 });
    vi.advanceTimersByTime(5_000);
    r.note("refused", "warn", "refused");
    expect(log.entries).toHaveLength(6);
  });
});
