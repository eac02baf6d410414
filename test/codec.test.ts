import { describe, expect, it } from "vitest";
import {
  Block,
  CodecError,
  Receipt,
  SignedInvocation,
  bool,
  bytes,
  decode,
  encode,
  fromHex,
  fromJson,
  list,
  struct,
  text,
  toHex,
  toJson,
  u16,
  u32,
  u64,
  type Codec,
  type SignedInvocation as SignedInvocationT,
  bytesEqual,
  encodingOf,
  internerFor,
  Genesis,
  minGasPriceOf,
  type Genesis as GenesisT,
} from "../node/codec/index.ts";
import { genesisHash } from "../node/crypto/digests.ts";
import { blockHash, invocationId, invocationsRoot, merkleRoot, ZERO_HASH } from "../node/crypto/index.ts";
import { ON_HEAP_MAX_BYTES, OffHeapScratch } from "../node/offheap.ts";

function sampleInvocation(nonce = 7n): SignedInvocationT {
  return {
    chainId: "cairn-test",
    contract: "token",
    version: 1,
    method: "transfer",
    input: new Uint8Array([1, 2, 3]),
    invoker: new Uint8Array(32).fill(9),
    nonce,
    gasLimit: 1_000_000n,
    gasPrice: 1n,
    signature: new Uint8Array(64).fill(4),
  };
}

function sampleBlock() {
  const invocations = [sampleInvocation(1n), sampleInvocation(2n)];
  return {
    header: {
      formatVersion: 1,
      chainId: "cairn-test",
      height: 5n,
      view: 9n,
      proposer: new Uint8Array(32).fill(1),
      parentHash: new Uint8Array(32).fill(2),
      justify: { view: 8n, blockHash: new Uint8Array(32).fill(2), signatures: [{ signer: 0, signature: new Uint8Array(64).fill(3) }] },
      invocationsRoot: invocationsRoot(invocations),
      stateRoot: ZERO_HASH,
    },
    invocations,
  };
}

describe("canonical codec", () => {
  it("round-trips a block through bytes and JSON", () => {
    const block = sampleBlock();
    const bytesOut = encode(Block, block);
    expect(decode(Block, bytesOut)).toEqual(block);
    const json = JSON.parse(JSON.stringify(toJson(Block, block)));
    expect(json.header.height).toBe("5");
    expect(json.invocations[0].invoker).toBe("09".repeat(32));
    expect(fromJson(Block, json)).toEqual(block);
    expect(encode(Block, fromJson(Block, json))).toEqual(bytesOut);
  });

  it("decoding errors name the exact field, down through lists and nested structs", () => {
    const blk = sampleBlock();
    // The encoder does not check text patterns, so a block can carry a contract name the decoder refuses.
    blk.invocations[1] = { ...blk.invocations[1]!, contract: "Not-A-Name" };
    const bad = encode(Block, blk);
    expect(() => decode(Block, bad, "block")).toThrow('block.invocations[1].contract: "Not-A-Name" does not match');
    const good = encode(Block, sampleBlock());
    const second = encode(SignedInvocation, sampleInvocation(2n));
    // Cut inside the second invocation's input length prefix (chain id, contract, version, method come first).
    const cut = good.length - second.length + (4 + 10) + (4 + 5) + 4 + (4 + 8) + 2;
    expect(() => decode(Block, good.subarray(0, cut), "block")).toThrow(
      `truncated: block.invocations[1].input length needs 4 bytes at offset ${cut - 2}, 2 left`,
    );
  });

  it("rejects trailing bytes, truncation and non-canonical booleans", () => {
    const enc = encode(SignedInvocation, sampleInvocation());
    const trailing = new Uint8Array([...enc, 0]);
    expect(() => decode(SignedInvocation, trailing)).toThrow(/trailing/);
    expect(() => decode(SignedInvocation, enc.subarray(0, enc.length - 1))).toThrow(/truncated/);
    expect(decode(bool, new Uint8Array([1]))).toBe(true);
    expect(() => decode(bool, new Uint8Array([2]))).toThrow(CodecError);
  });

  it("refuses hostile lengths before allocating", () => {
    const huge = new Uint8Array([0xff, 0xff, 0xff, 0x7f]);
    expect(() => decode(bytes(1024), huge)).toThrow(/exceeds/);
    expect(() => decode(list(u64, 1_000_000), new Uint8Array([0x40, 0x42, 0x0f, 0x00]))).toThrow(/does not fit/);
  });

  it("rejects invalid UTF-8 and names outside the grammar", () => {
    const inv = sampleInvocation();
    const enc = encode(SignedInvocation, inv);
    // chainId text starts after its 4-byte length; corrupt the first character into a lone continuation byte.
    const bad = enc.slice();
    bad[4] = 0x80;
    expect(() => decode(SignedInvocation, bad)).toThrow(CodecError);
    expect(() => fromJson(SignedInvocation, { ...toJson(SignedInvocation, inv) as object, contract: "Bad Name" })).toThrow(/does not match/);
  });

  it("JSON: u64 as decimal strings, unknown and missing fields refused", () => {
    expect(toJson(u64, 2n ** 64n - 1n)).toBe("18446744073709551615");
    expect(() => fromJson(u64, "18446744073709551616")).toThrow(CodecError);
    expect(() => fromJson(u64, "01")).toThrow(CodecError);
    expect(() => fromJson(u64, -1)).toThrow(CodecError);
    const j = toJson(SignedInvocation, sampleInvocation()) as Record<string, unknown>;
    expect(() => fromJson(SignedInvocation, { ...j, extra: 1 })).toThrow(/unknown field/);
    const { nonce: _n, ...missing } = j;
    expect(() => fromJson(SignedInvocation, missing)).toThrow(/missing field/);
  });

  it("receipts with optional errors round-trip", () => {
    const r = {
      id: new Uint8Array(32).fill(7),
      status: "reverted" as const,
      gasUsed: 10n,
      fee: 10n,
      output: new Uint8Array(0),
      error: "insufficient balance",
      height: 3n,
      index: 0,
      reads: [new Uint8Array([1])],
      writes: [],
    };
    expect(decode(Receipt, encode(Receipt, r))).toEqual(r);
    const j = toJson(Receipt, { ...r, error: null }) as Record<string, unknown>;
    delete j.error;
    expect(fromJson(Receipt, j).error).toBeNull();
  });
});

describe("codec internals", () => {
  const le32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];

  it("writes text as a u32 length and UTF-8, ASCII or not, and reads it back", () => {
    const t = text(64);
    expect([...encode(t, "abc")]).toEqual([...le32(3), 0x61, 0x62, 0x63]);
    for (const s of ["", "é", "a€b", "😀 ok", "\u0000\u007f\u0080", "x".repeat(64)]) {
      const utf = new TextEncoder().encode(s);
      expect([...encode(t, s)]).toEqual([...le32(utf.length), ...utf]);
      expect(decode(t, encode(t, s))).toBe(s);
    }
    // A lone surrogate encodes as U+FFFD, as TextEncoder does.
    expect([...encode(t, "\ud800")]).toEqual([...le32(3), 0xef, 0xbf, 0xbd]);
    // The limit is in bytes, not characters.
    expect(() => encode(text(8), "€€€")).toThrow(/9 bytes exceeds 8/);
    expect(() => encode(text(8), "x".repeat(9))).toThrow(/9 bytes exceeds 8/);
    const long = "sources ".repeat(2000) + "é";
    expect(decode(text(1 << 20), encode(text(1 << 20), long))).toBe(long);
    expect(decode(text(1 << 20), encode(text(1 << 20), "a".repeat(5000)))).toBe("a".repeat(5000));
    expect(() => decode(t, new Uint8Array([...le32(2), 0xc3, 0x28]))).toThrow(/invalid UTF-8/);
    expect(() => decode(t, new Uint8Array([...le32(3), 0x61]))).toThrow(CodecError);
  });

  it("reads integers little-endian at their extremes and at any offset", () => {
    const c = struct({ a: u16, b: u32, c: u64, d: u32 });
    const v = { a: 0xffff, b: 0xffffffff, c: 2n ** 64n - 1n, d: 0x80000001 };
    const bytesOut = encode(c, v);
    expect([...bytesOut]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ...new Array(8).fill(0xff), 0x01, 0, 0, 0x80]);
    expect(decode(c, bytesOut)).toEqual(v);
    expect(decode(u64, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]))).toBe(0x0807060504030201n);
    expect(decode(c, encode(c, { a: 1, b: 2, c: 3n, d: 4 }))).toEqual({ a: 1, b: 2, c: 3n, d: 4 });
  });

  it("an encode nested inside another encode gets its own buffer", () => {
    // A codec whose write encodes something else first must not clobber the outer value's bytes.
    const nested: Codec<bigint> = { ...u64, write: (w, v) => w.raw(encode(bytes(64), encode(u64, v))) };
    const pair = struct({ x: u32, y: nested, z: u32 });
    expect([...encode(pair, { x: 1, y: 2n, z: 3 })]).toEqual([...le32(1), ...le32(8), 2, 0, 0, 0, 0, 0, 0, 0, ...le32(3)]);
    // Large values grow the shared buffer; later small ones still come out exact.
    const big = new Uint8Array(5 * 1024 * 1024).fill(7);
    expect(encode(bytes(big.length), big).length).toBe(big.length + 4);
    expect([...encode(u32, 258)]).toEqual(le32(258));
  });
});

describe("hashes", () => {
  it("ids and block hashes change with any field and are domain separated", () => {
    const a = sampleInvocation(1n);
    const b = sampleInvocation(2n);
    expect(toHex(invocationId(a))).not.toBe(toHex(invocationId(b)));
    const blk = sampleBlock();
    const h1 = blockHash(blk.header);
    const h2 = blockHash({ ...blk.header, view: 10n });
    expect(h1).not.toEqual(h2);
    expect(h1.length).toBe(32);
  });

  it("memoized encodings and ids stay invisible and never follow a changed copy", () => {
    const decoded = decode(SignedInvocation, encode(SignedInvocation, sampleInvocation(3n)));
    const id = invocationId(decoded); // memoizes the id next to the remembered encoding
    expect(decoded).toEqual(sampleInvocation(3n));
    expect(Object.keys(decoded)).toEqual(Object.keys(sampleInvocation(3n)));
    expect(JSON.stringify(toJson(SignedInvocation, decoded))).toBe(JSON.stringify(toJson(SignedInvocation, sampleInvocation(3n))));
    // A spread copy with another nonce is a new value: its encoding and id are its own, not the memo's.
    const changed = { ...decoded, nonce: 4n };
    expect(encode(SignedInvocation, changed)).toEqual(encode(SignedInvocation, sampleInvocation(4n)));
    expect(toHex(invocationId(changed))).toBe(toHex(invocationId(sampleInvocation(4n))));
    expect(toHex(invocationId(changed))).not.toBe(toHex(id));
    // Re-encoding the decoded value reuses its remembered bytes, which are exactly its canonical encoding.
    expect(encode(SignedInvocation, decoded)).toEqual(encode(SignedInvocation, sampleInvocation(3n)));
  });

  it("a remembered value's byte fields live in its one remembered copy, never in the input", () => {
    const blk = sampleBlock();
    const input = encode(Block, blk);
    const out = decode(Block, input);
    const raw = encodingOf(Block, out);
    // One copy per decoded block: header hashes and every invocation's bytes are views into it.
    for (const field of [out.header.parentHash, out.header.proposer, ...out.invocations.flatMap((i) => [i.invoker, i.input, i.signature])]) {
      expect(field.buffer).toBe(raw.buffer);
    }
    expect(encodingOf(SignedInvocation, out.invocations[1]!).buffer).toBe(raw.buffer);
    // Scribbling over the input afterwards changes nothing decoded or remembered.
    input.fill(0xee);
    expect(out).toEqual(decode(Block, encode(Block, blk)));
    expect(raw).toEqual(encode(Block, blk));
    expect(encodingOf(SignedInvocation, out.invocations[0]!)).toEqual(encode(SignedInvocation, blk.invocations[0]!));
  });

  it("an interner hands back held values for byte-identical encodings only, and changes no outcome", () => {
    const blk = sampleBlock();
    const bytes = encode(Block, blk);
    const held = decode(SignedInvocation, encode(SignedInvocation, blk.invocations[1]!));
    const asked: number[] = [];
    const interner = internerFor(SignedInvocation, (raw) => {
      asked.push(raw.length);
      return bytesEqual(raw, encodingOf(SignedInvocation, held)) ? held : undefined;
    });
    const out = decode(Block, bytes, "block", interner);
    expect(out.invocations[1]).toBe(held);
    expect(out.invocations[0]).not.toBe(held);
    expect(out).toEqual(decode(Block, bytes));
    expect(asked).toEqual(blk.invocations.map((inv) => encode(SignedInvocation, inv).length));
    expect(encode(Block, out)).toEqual(bytes);
    // Truncated or over-long input fails exactly as it does without an interner, which is never asked then.
    for (const bad of [bytes.subarray(0, bytes.length - 10), new Uint8Array([...bytes, 0])]) {
      asked.length = 0;
      let plain = "";
      try {
        decode(Block, bad, "block");
      } catch (e) {
        plain = (e as Error).message;
      }
      expect(plain).not.toBe("");
      expect(() => decode(Block, bad, "block", interner)).toThrow(plain);
    }
    // An interner for another codec is never consulted for invocations.
    const other = internerFor(Receipt, () => {
      throw new Error("asked for a receipt");
    });
    expect(decode(Block, bytes, "block", other)).toEqual(out);
  });

  it("merkle roots distinguish order, count and the odd-leaf case", () => {
    const l = [1, 2, 3].map((i) => new Uint8Array(32).fill(i));
    const r3 = merkleRoot(l);
    expect(merkleRoot([l[0]!, l[1]!, l[2]!, l[2]!])).not.toEqual(r3);
    expect(merkleRoot([l[1]!, l[0]!, l[2]!])).not.toEqual(r3);
    expect(merkleRoot([])).not.toEqual(merkleRoot([new Uint8Array(32)]));
    expect(fromHex(toHex(r3))).toEqual(r3);
  });
});

describe("short arrays at native calls", () => {
  it("toHex agrees with Buffer's hex for every length and offset, short (scratch) or long", () => {
    const backing = new Uint8Array(200).map((_, i) => (i * 37 + 11) & 255);
    for (let len = 0; len <= 130; len++) {
      for (const off of [0, 1, 7]) {
        const view = backing.subarray(off, off + len);
        expect(toHex(view)).toBe(Buffer.from(view).toString("hex"));
        // A fresh short array (inside V8's heap) too; and the input is left as it was.
        const fresh = view.slice();
        expect(toHex(fresh)).toBe(Buffer.from(view).toString("hex"));
        expect(fresh).toEqual(view);
      }
    }
  });

  it("OffHeapScratch hands over the same bytes at the same length, and leaves long arrays alone", () => {
    const s = new OffHeapScratch();
    for (let len = 0; len <= ON_HEAP_MAX_BYTES; len++) {
      const a = new Uint8Array(len).map((_, i) => 255 - i);
      const v = s.view(a);
      expect(v.length).toBe(len);
      expect(Buffer.isBuffer(v)).toBe(true);
      expect(new Uint8Array(v)).toEqual(a);
    }
    const long = new Uint8Array(ON_HEAP_MAX_BYTES + 1);
    expect(s.view(long)).toBe(long);
    // Each call overwrites the one area: a view is good until the next call, which is how callers use it.
    const first = s.view(new Uint8Array([1, 2, 3]));
    s.view(new Uint8Array([9, 9, 9]));
    expect([...first]).toEqual([9, 9, 9]);
  });
});

describe("genesis and its fee floor", () => {
  const OLD: GenesisT = {
    chainId: "cairn-golden",
    validators: [{ publicKey: new Uint8Array(32).fill(1), name: "v0" }],
    allocations: [{ account: new Uint8Array(32).fill(2), balance: 1000n }],
  };
  // genesisHash of OLD under the codec before minGasPrice existed (three fields, nothing after).
  const OLD_HASH = "8e9584f4c735755531e4fa243bd8e1e7e525ea0565a55ae6971565d9e7ad4d83";

  it("keeps the hash and JSON of a genesis without a floor, and reads it as floor 0", () => {
    expect(toHex(genesisHash(OLD))).toBe(OLD_HASH);
    const json = toJson(Genesis, OLD) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(["chainId", "validators", "allocations"]);
    const back = fromJson(Genesis, JSON.parse(JSON.stringify(json)));
    expect(back).toEqual(OLD);
    expect(minGasPriceOf(back)).toBe(0n);
    expect(toHex(genesisHash(back))).toBe(OLD_HASH);
    // A floor written as 0 is the same chain as no floor at all.
    expect(toHex(genesisHash({ ...OLD, minGasPrice: 0n }))).toBe(OLD_HASH);
    expect(decode(Genesis, encode(Genesis, OLD))).toEqual(OLD);
  });

  it("round-trips a floor through JSON and bytes, and a floor changes the hash", () => {
    const floored: GenesisT = { ...OLD, minGasPrice: 7n };
    const json = JSON.parse(JSON.stringify(toJson(Genesis, floored)));
    expect(json.minGasPrice).toBe("7");
    expect(fromJson(Genesis, json)).toEqual(floored);
    const bytes = encode(Genesis, floored);
    expect(bytes.length).toBe(encode(Genesis, OLD).length + 8);
    expect(decode(Genesis, bytes)).toEqual(floored);
    expect(toHex(genesisHash(floored))).not.toBe(OLD_HASH);
    expect(genesisHash({ ...OLD, minGasPrice: 8n })).not.toEqual(genesisHash(floored));
  });

  it("refuses a non-canonical or malformed floor", () => {
    const zeroTail = new Uint8Array([...encode(Genesis, OLD), ...new Uint8Array(8)]);
    expect(() => decode(Genesis, zeroTail)).toThrow(/minGasPrice: a floor of 0 is encoded by leaving it out/);
    expect(() => decode(Genesis, new Uint8Array([...encode(Genesis, OLD), 1, 0, 0]))).toThrow(CodecError);
    expect(() => fromJson(Genesis, { ...(toJson(Genesis, OLD) as object), minGasPrice: "-1" })).toThrow(/minGasPrice/);
    expect(() => fromJson(Genesis, { ...(toJson(Genesis, OLD) as object), extra: 1 })).toThrow(/unknown field "extra"/);
  });
});
