// The transport's pure parts: framing, the bounded queue, backoff, the handshake state machine,
// the sealing cipher, the wire codec and the sync answer checks. No sockets here.

import { describe, expect, it } from "vitest";
import { decode, encode } from "../node/codec/codec.ts";
import { NetMessage, type NetMessage as NetMessageT } from "../node/codec/net.ts";
import { Backoff } from "../node/net/backoff.ts";
import { FrameOpener, FrameSealer, SEAL_OVERHEAD, ephemeralKeyPair, sessionKeys } from "../node/net/cipher.ts";
import { FrameError, FrameReader, frame } from "../node/net/framing.ts";
import { Handshake, type HandshakeSigner } from "../node/net/handshake.ts";
import { resolveLimits } from "../node/net/limits.ts";
import { OutboundQueue } from "../node/net/queue.ts";
import { checkBlocksAnswer, checkCommittedRange, fitAnswer } from "../node/net/sync.ts";
import { NetError } from "../node/net/errors.ts";
import { CHAIN, chainOfBlocks, invocation, signerFor } from "./net-harness.ts";

function framesOf(reader: FrameReader): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let f = reader.next(); f !== null; f = reader.next()) out.push(Uint8Array.from(f));
  return out;
}

describe("FrameReader", () => {
  const bodies = [new Uint8Array([1]), new Uint8Array(300).fill(7), new Uint8Array([9, 8, 7, 6, 5])];
  const stream = Buffer.concat(bodies.map((b) => frame(b)));

  it("reassembles frames however the stream is chunked", () => {
    for (const size of [1, 2, 3, 5, 64, stream.length]) {
      const r = new FrameReader(1024);
      const got: Uint8Array[] = [];
      for (let i = 0; i < stream.length; i += size) {
        r.push(stream.subarray(i, i + size));
        got.push(...framesOf(r));
      }
      expect(got, `chunk size ${size}`).toEqual(bodies);
      expect(r.pendingBytes).toBe(0);
    }
  });

  it("reports a partial frame as pending bytes", () => {
    const r = new FrameReader(1024);
    r.push(stream.subarray(0, 10));
    expect(framesOf(r)).toEqual([bodies[0]]);
    // the second frame's header (4 bytes) and 1 byte of its 300-byte body
    expect(r.pendingBytes).toBe(5);
  });

  it("rejects oversize and zero lengths as soon as the header is in", () => {
    const over = new FrameReader(100);
    over.push(Buffer.from([101, 0, 0, 0]));
    expect(() => over.next()).toThrow(FrameError);
    const zero = new FrameReader(100);
    zero.push(Buffer.from([0, 0, 0, 0, 1]));
    expect(() => zero.next()).toThrow(/zero-length/);
    const max = new FrameReader(100);
    max.push(Buffer.from([100, 0, 0, 0]));
    expect(max.next()).toBeNull();
    const huge = new FrameReader(16 * 1024 * 1024);
    huge.push(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    expect(() => huge.next()).toThrow(/4294967295 bytes exceeds/);
  });

  it("copies each byte at most once when a large frame arrives one byte at a time", () => {
    const body = new Uint8Array(200_000).map((_, i) => i & 255);
    const f = frame(body);
    const r = new FrameReader(1 << 20);
    const got: Uint8Array[] = [];
    for (let i = 0; i < f.length; i++) {
      r.push(f.subarray(i, i + 1));
      got.push(...framesOf(r));
    }
    expect(got).toEqual([body]);
    expect(r.copiedBytes).toBeLessThanOrEqual(f.length);
    expect(r.pendingBytes).toBe(0);
  });
});

describe("OutboundQueue", () => {
  const b = (n: number, fill = 0): Uint8Array => new Uint8Array(n).fill(fill);

  it("sends essential frames first, in order within each class", () => {
    const q = new OutboundQueue(10, 1000);
    q.push(b(1, 1), false);
    q.push(b(1, 2), true);
    q.push(b(1, 3), false);
    q.push(b(1, 4), true);
    expect([q.shift(), q.shift(), q.shift(), q.shift()].map((x) => x![0])).toEqual([2, 4, 1, 3]);
    expect(q.shift()).toBeUndefined();
    expect(q.bytes).toBe(0);
  });

  it("evicts the oldest bulk frames to make room, then refuses bulk and overflows on essential", () => {
    const q = new OutboundQueue(4, 100);
    for (let i = 0; i < 4; i++) expect(q.push(b(10, i), false).kind).toBe("queued");
    expect(q.push(b(10, 9), true)).toEqual({ kind: "queued", evicted: 1 });
    expect(q.frames).toBe(4);
    // bytes bound: a 75-byte essential frame needs the space of two more bulk frames
    expect(q.push(b(75, 8), true)).toEqual({ kind: "queued", evicted: 2 });
    expect(q.frames).toBe(3);
    expect(q.bytes).toBe(95);
    // no room even without bulk: refused/overflow, and the remaining bulk frame is not evicted for nothing
    expect(q.push(b(20, 1), false)).toEqual({ kind: "refused" });
    expect(q.push(b(20, 1), true)).toEqual({ kind: "overflow" });
    expect(q.frames).toBe(3);
    expect(q.bytes).toBe(95);
    expect([q.shift(), q.shift(), q.shift()].map((x) => x![0])).toEqual([9, 8, 3]);
  });

  it("never exceeds its bounds under a long mixed flood", () => {
    const q = new OutboundQueue(50, 5_000);
    let maxFrames = 0;
    let maxBytes = 0;
    for (let i = 0; i < 20_000; i++) {
      q.push(b(1 + (i % 200)), i % 7 === 0);
      if (i % 3 === 0) q.shift();
      maxFrames = Math.max(maxFrames, q.frames);
      maxBytes = Math.max(maxBytes, q.bytes);
    }
    expect(maxFrames).toBeLessThanOrEqual(50);
    expect(maxBytes).toBeLessThanOrEqual(5_000);
  });
});

describe("Backoff", () => {
  it("doubles up to the cap with jitter in [d/2, d] and resets", () => {
    const lo = new Backoff(100, 1000, () => 0);
    expect([1, 2, 3, 4, 5, 6].map(() => lo.next())).toEqual([50, 100, 200, 400, 500, 500]);
    const hi = new Backoff(100, 1000, () => 1);
    expect([1, 2, 3, 4, 5].map(() => hi.next())).toEqual([100, 200, 400, 800, 1000]);
    hi.reset();
    expect(hi.next()).toBe(100);
  });
});

describe("limits", () => {
  it("refuses unworkable limits with a typed error", () => {
    expect(() => resolveLimits({ maxQueueBytes: 10 })).toThrow(NetError);
    expect(() => resolveLimits({ maxFrameBytes: 65 * 1024 * 1024, maxQueueBytes: 128 * 1024 * 1024 })).toThrow(/codec bound/);
    expect(() => resolveLimits({ pingIntervalMs: 0 })).toThrow(/positive integer/);
  });
});

describe("frame sealing", () => {
  it("round-trips and rejects flipped, replayed and reordered frames", () => {
    const a = ephemeralKeyPair();
    const b = ephemeralKeyPair();
    const ka = sessionKeys(true, a, b.publicKey)!;
    const kb = sessionKeys(false, b, a.publicKey)!;
    const seal = new FrameSealer(ka.tx);
    const f1 = seal.sealFrame(new Uint8Array([1, 2, 3]));
    const f2 = seal.sealFrame(new Uint8Array([4]));
    expect(f1.readUInt32LE(0)).toBe(3 + SEAL_OVERHEAD);

    expect(new FrameOpener(kb.rx).open(f2.subarray(4))).toBeNull(); // out of order
    const open = new FrameOpener(kb.rx);
    expect(open.open(f1.subarray(4))).toEqual(new Uint8Array([1, 2, 3]));
    expect(open.open(f1.subarray(4))).toBeNull(); // replay
    const flipped = new FrameOpener(kb.rx);
    const bad = Buffer.from(f1);
    bad[6]! ^= 1;
    expect(flipped.open(bad.subarray(4))).toBeNull();
    // the other direction's key does not open it
    expect(new FrameOpener(kb.tx).open(f1.subarray(4))).toBeNull();
  });

  it("refuses a low-order ephemeral key", () => {
    expect(sessionKeys(true, ephemeralKeyPair(), new Uint8Array(32))).toBeNull();
  });
});

describe("Handshake", () => {
  const signers = [signerFor(1), signerFor(2), signerFor(3)];
  const keys = signers.map((s) => s.publicKey);
  const dialerOf = (i: number, expectedPeer: number, signer: HandshakeSigner = signers[i]!) =>
    new Handshake({ role: "dialer", chainId: CHAIN, selfIndex: i, signer, validatorKeys: keys, expectedPeer });
  const listenerOf = (i: number, chainId = CHAIN) => new Handshake({ role: "listener", chainId, selfIndex: i, signer: signers[i]!, validatorKeys: keys });

  it("authenticates both ends and agrees on session keys", () => {
    const d = dialerOf(0, 2);
    const l = listenerOf(2);
    const dh = d.onHello(l.hello);
    const lh = l.onHello(d.hello);
    if (!dh.ok || !lh.ok) throw new Error("hello refused");
    const da = d.onAuth(lh.auth);
    const la = l.onAuth(dh.auth);
    if (!da.ok || !la.ok) throw new Error("auth refused");
    expect(da.peerIndex).toBe(2);
    expect(la.peerIndex).toBe(0);
    expect(da.keys.tx).toEqual(la.keys.rx);
    expect(da.keys.rx).toEqual(la.keys.tx);
  });

  it("refuses strangers, impostors, other chains and the wrong direction", () => {
    const stranger = signerFor(99);
    const s = dialerOf(0, 2, stranger);
    expect(listenerOf(2).onHello(s.hello)).toMatchObject({ ok: false, reason: "stranger" });
    expect(listenerOf(2).onHello({ ...s.hello, validatorIndex: 7, publicKey: keys[0]! })).toMatchObject({ ok: false, reason: "stranger" });
    expect(listenerOf(2, "other-chain").onHello(dialerOf(0, 2).hello)).toMatchObject({ ok: false, reason: "wrong_chain" });
    expect(listenerOf(0).onHello(dialerOf(2, 0).hello)).toMatchObject({ ok: false, reason: "wrong_direction" });
    expect(listenerOf(2).onHello({ ...dialerOf(0, 2).hello, protocolVersion: 9 })).toMatchObject({ ok: false, reason: "protocol_version" });
    // the dialer checks whom it reached
    expect(dialerOf(0, 1).onHello(listenerOf(2).hello)).toMatchObject({ ok: false, reason: "wrong_direction" });
  });

  it("refuses a proof made with another key, a reflected proof, and a proof for another session", () => {
    // claims validator 0's public key but signs with a stranger's key
    const impostor = dialerOf(0, 2, { publicKey: keys[0]!, sign: (m) => signerFor(99).sign(m) });
    const l = listenerOf(2);
    const ih = impostor.onHello(l.hello);
    expect(l.onHello(impostor.hello).ok).toBe(true);
    if (!ih.ok) throw new Error("unexpected");
    expect(l.onAuth(ih.auth)).toMatchObject({ ok: false, reason: "bad_proof" });

    // the listener's own proof sent back to it (reflection) does not verify as the dialer's
    const d = dialerOf(0, 2);
    const l2 = listenerOf(2);
    const l2h = l2.onHello(d.hello);
    if (!l2h.ok) throw new Error("unexpected");
    expect(l2.onAuth(l2h.auth)).toMatchObject({ ok: false, reason: "bad_proof" });

    // a proof from an earlier session (other nonces) does not verify in a new one
    const old = dialerOf(0, 2);
    const l3 = listenerOf(2);
    const oldAuth = old.onHello(l3.hello);
    const l4 = listenerOf(2);
    expect(l4.onHello(dialerOf(0, 2).hello).ok).toBe(true);
    if (!oldAuth.ok) throw new Error("unexpected");
    expect(l4.onAuth(oldAuth.auth)).toMatchObject({ ok: false, reason: "bad_proof" });
    expect(listenerOf(2).onAuth(oldAuth.auth)).toMatchObject({ ok: false, reason: "unexpected_message" });
  });
});

describe("NetMessage codec", () => {
  it("round-trips every variant and rejects trailing bytes and unknown tags", () => {
    const { blocks, lastQc } = chainOfBlocks(2);
    const msgs: NetMessageT[] = [
      { type: "ping", value: { nonce: 5n } },
      { type: "consensus", value: new Uint8Array([1, 2, 3]) },
      { type: "invocations", value: [invocation(1n), invocation(2n)] },
      { type: "status", value: { committedHeight: 10n, highQcView: 12n } },
      { type: "getBlocks", value: { requestId: 7, hashes: [new Uint8Array(32).fill(1)] } },
      { type: "getCommitted", value: { requestId: 8, fromHeight: 3n, maxCount: 100 } },
      { type: "blocks", value: { requestId: 8, blocks, certificate: lastQc } },
      { type: "syncRefused", value: { requestId: 9, reason: "busy" } },
    ];
    for (const m of msgs) {
      const bytes = encode(NetMessage, m);
      expect(decode(NetMessage, bytes)).toEqual(m);
      expect(() => decode(NetMessage, Buffer.concat([bytes, Buffer.from([0])]))).toThrow(/trailing/);
    }
    expect(() => decode(NetMessage, new Uint8Array([200]))).toThrow(/unknown variant tag/);
  });
});

describe("sync answer checks", () => {
  const { blocks, hashes, lastQc } = chainOfBlocks(5);

  it("accepts a linked committed range and returns its hashes", () => {
    const r = checkCommittedRange(CHAIN, 2n, 3, { blocks: blocks.slice(1, 4), certificate: blocks[4]!.header.justify });
    expect(r.hashes).toEqual(hashes.slice(1, 4));
    expect(checkCommittedRange(CHAIN, 1n, 10, { blocks, certificate: lastQc }).blocks).toHaveLength(5);
    expect(checkCommittedRange(CHAIN, 9n, 10, { blocks: [], certificate: null }).blocks).toEqual([]);
  });

  it("rejects gaps, broken links, foreign chains, tampered bodies, missing or wrong certificates", () => {
    const bad = (f: () => unknown, re: RegExp) => expect(f).toThrow(re);
    bad(() => checkCommittedRange(CHAIN, 1n, 10, { blocks: [blocks[0]!, blocks[2]!], certificate: lastQc }), /height 2 was due/);
    bad(() => checkCommittedRange(CHAIN, 2n, 10, { blocks: [blocks[0]!], certificate: lastQc }), /height 2 was due/);
    bad(() => checkCommittedRange(CHAIN, 1n, 2, { blocks: blocks.slice(0, 3), certificate: lastQc }), /at most 2/);
    bad(() => checkCommittedRange("other", 1n, 10, { blocks, certificate: lastQc }), /for chain/);
    bad(() => checkCommittedRange(CHAIN, 1n, 10, { blocks, certificate: null }), /without a certificate/);
    bad(() => checkCommittedRange(CHAIN, 1n, 10, { blocks, certificate: blocks[4]!.header.justify }), /does not name the last/);
    const forged = structuredClone(blocks);
    forged[1]!.header.parentHash = new Uint8Array(32);
    bad(() => checkCommittedRange(CHAIN, 1n, 10, { blocks: forged, certificate: lastQc }), /does not link/);
    const tampered = structuredClone(blocks);
    tampered[2]!.invocations[0]!.nonce += 1n;
    bad(() => checkCommittedRange(CHAIN, 1n, 10, { blocks: tampered, certificate: lastQc }), /invocationsRoot/);
    const wrongJustify = structuredClone(blocks);
    wrongJustify[3]!.header.justify.blockHash = new Uint8Array(32);
    // a different justify changes block 4's hash too, so use the matching certificate
    bad(() => checkCommittedRange(CHAIN, 1n, 4, { blocks: wrongJustify.slice(0, 4), certificate: lastQc }), /justify does not certify/);
  });

  it("checks block-by-hash answers against what was asked", () => {
    const got = checkBlocksAnswer([hashes[3]!, hashes[0]!, new Uint8Array(32)], [blocks[0]!, blocks[3]!]);
    expect(got.map((g) => g.hash)).toEqual([hashes[3], hashes[0]]);
    expect(() => checkBlocksAnswer([hashes[0]!], [blocks[1]!])).toThrow(/unrequested/);
    expect(() => checkBlocksAnswer([hashes[0]!], [blocks[0]!, blocks[0]!])).toThrow(/twice/);
    const tampered = structuredClone(blocks[0]!);
    tampered.invocations.pop();
    expect(() => checkBlocksAnswer([hashes[0]!], [tampered])).toThrow(/invocationsRoot/);
  });

  it("cuts an answer to the frame budget and re-certifies the new last block", () => {
    const size = encode(NetMessage, { type: "blocks", value: { requestId: 1, blocks, certificate: lastQc } }).length;
    expect(fitAnswer(blocks, lastQc, size)).toEqual({ blocks, certificate: lastQc });
    const cut = fitAnswer(blocks, lastQc, size - 1);
    expect(cut.blocks).toHaveLength(4);
    expect(cut.certificate).toEqual(blocks[4]!.header.justify);
    expect(checkCommittedRange(CHAIN, 1n, 5, cut).hashes).toHaveLength(4);
    const encoded = encode(NetMessage, { type: "blocks", value: { requestId: 1, ...cut } }).length;
    expect(encoded).toBeLessThanOrEqual(size - 1);
    expect(fitAnswer(blocks, null, 50)).toEqual({ blocks: [], certificate: null });
  });
});
