// The Wasm KangarooTwelve against RFC 9861's vectors and against @noble/hashes' kt128 (the implementation it
// replaced, whose output every stored hash was made with), plus the build check that keeps the embedded
// module identical to what the pinned compiler makes of kt128.as.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { kt128 } from "@noble/hashes/sha3-addons.js";
import { toHex, utf8 } from "../node/codec/hex.ts";
import { k12, k12Backend, k12Pair, type HashDomain } from "../node/crypto/hash.ts";
import { customization, nobleKt128, wasmBytes, wasmKt128, type Kt128 } from "../node/crypto/k12/engine.ts";
import { MODULE_URL, compileKt128, renderModule } from "../node/crypto/k12/build.ts";
import { Rng } from "./sim/prng.ts";

// Every domain, checked by the compiler: adding one to HashDomain without listing it here is a type error.
const DOMAIN_SET = {
  "cairn.invocation.id": true,
  "cairn.invocation.sig": true,
  "cairn.block": true,
  "cairn.merkle.leaf": true,
  "cairn.merkle.node": true,
  "cairn.merkle.empty": true,
  "cairn.state": true,
  "cairn.state.delta": true,
  "cairn.genesis": true,
  "cairn.vote": true,
  "cairn.timeout": true,
  "cairn.proposal": true,
  "cairn.handshake": true,
  "cairn.code": true,
  "cairn.sources": true,
} as const satisfies Record<HashDomain, true>;
const DOMAINS = Object.keys(DOMAIN_SET) as HashDomain[];

/** RFC 9861's pattern: ptn(n) = 00 01 .. FA repeated, truncated to n bytes. */
function ptn(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = i % 251;
  return out;
}

function ff(n: number): Uint8Array {
  return new Uint8Array(n).fill(0xff);
}

/** Seeded bytes (the simulator's generator), so a failure names a reproducible case. */
function randomBytes(next: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = next.u32() & 0xff;
  return out;
}

const noble = (data: Uint8Array, c: Uint8Array): string => toHex(kt128(data, { personalization: c }));

// RFC 9861 section 5, KT128 with 32-byte output: [message, customization, digest].
const RFC_VECTORS: ReadonlyArray<readonly [string, () => Uint8Array, () => Uint8Array, string]> = [
  ["M=empty C=empty", () => ptn(0), () => ptn(0), "1ac2d450fc3b4205d19da7bfca1b37513c0803577ac7167f06fe2ce1f0ef39e5"],
  ["M=ptn(1)", () => ptn(1), () => ptn(0), "2bda92450e8b147f8a7cb629e784a058efca7cf7d8218e02d345dfaa65244a1f"],
  ["M=ptn(17)", () => ptn(17), () => ptn(0), "6bf75fa2239198db4772e36478f8e19b0f371205f6a9a93a273f51df37122888"],
  ["M=ptn(17^2)", () => ptn(289), () => ptn(0), "0c315ebcdedbf61426de7dcf8fb725d1e74675d7f5327a5067f367b108ecb67c"],
  ["M=ptn(17^3)", () => ptn(4913), () => ptn(0), "cb552e2ec77d9910701d578b457ddf772c12e322e4ee7fe417f92c758f0d59d0"],
  ["M=ptn(17^4)", () => ptn(83521), () => ptn(0), "8701045e22205345ff4dda05555cbb5c3af1a771c2b89baef37db43d9998b9fe"],
  ["M=ptn(17^5)", () => ptn(1419857), () => ptn(0), "844d610933b1b9963cbdeb5ae3b6b05cc7cbd67ceedf883eb678a0a8e0371682"],
  ["M=ptn(17^6)", () => ptn(24137569), () => ptn(0), "3c390782a8a4e89fa6367f72feaaf13255c8d95878481d3cd8ce85f58e880af8"],
  ["M=empty C=ptn(1)", () => ptn(0), () => ptn(1), "fab658db63e94a246188bf7af69a133045f46ee984c56e3c3328caaf1aa1a583"],
  ["M=FF C=ptn(41)", () => ff(1), () => ptn(41), "d848c5068ced736f4462159b9867fd4c20b808acc3d5bc48e0b06ba0a3762ec4"],
  ["M=FF*3 C=ptn(41^2)", () => ff(3), () => ptn(1681), "c389e5009ae57120854c2e8c64670ac01358cf4c1baf89447a724234dc7ced74"],
  ["M=FF*7 C=ptn(41^3)", () => ff(7), () => ptn(68921), "75d2f86a2e644566726b4fbcfc5657b9dbcf070c7b0dca06450ab291d7443bcf"],
  ["M=ptn(8191)", () => ptn(8191), () => ptn(0), "1b577636f723643e990cc7d6a659837436fd6a103626600eb8301cd1dbe553d6"],
  ["M=ptn(8192)", () => ptn(8192), () => ptn(0), "48f256f6772f9edfb6a8b661ec92dc93b95ebd05a08a17b39ae3490870c926c3"],
];

describe("KT128 engines against RFC 9861", () => {
  const engines: Array<[string, Kt128, number]> = [
    ["wasm", wasmKt128(), Infinity],
    // noble is ~100x slower on long inputs; its megabyte vectors would cost seconds and prove nothing new.
    ["noble", nobleKt128(), 100_000],
  ];
  for (const [name, engine, maxLen] of engines) {
    it(`${name}: every RFC vector with a 32-byte output`, () => {
      let checked = 0;
      for (const [label, m, c, digest] of RFC_VECTORS) {
        const msg = m();
        if (msg.length > maxLen) continue;
        expect(toHex(engine.hash(msg, customization(c()))), label).toBe(digest);
        checked++;
      }
      expect(checked).toBeGreaterThanOrEqual(12);
    });
  }
});

describe("k12 equals noble kt128", () => {
  it("runs on the wasm engine in Node", () => {
    expect(k12Backend).toBe("wasm");
  });

  it("every message length 0..600, for every domain in turn", () => {
    const next = new Rng(600);
    for (let n = 0; n <= 600; n++) {
      const domain = DOMAINS[n % DOMAINS.length]!;
      const data = randomBytes(next, n);
      expect(toHex(k12(domain, data)), `length ${n}`).toBe(noble(data, utf8(domain)));
    }
  });

  it("tree-mode and window boundaries, and random lengths up to 40,000", () => {
    const next = new Rng(40_000);
    // The domain suffix of "cairn.block" is 12 bytes: S = M || C || 0B 01, 13 bytes longer than M.
    const suffix = utf8("cairn.block").length + 2;
    const lengths = new Set<number>([8191, 8192, 8193, 16383, 16384, 16385, 24576, 24577]);
    for (const s of [8192, 16384, 65536, 131072]) for (const d of [-1, 0, 1]) lengths.add(s - suffix + d);
    for (let k = 1; k <= 48; k += 7) for (const d of [-1, 0, 1]) lengths.add(168 * k + d);
    lengths.add(8192 + 168 * 3 - suffix);
    lengths.add(200_000);
    for (let i = 0; i < 120; i++) lengths.add(next.u32() % 40_001);
    for (const n of lengths) {
      const data = randomBytes(next, n);
      expect(toHex(k12("cairn.block", data)), `length ${n}`).toBe(noble(data, utf8("cairn.block")));
    }
  });

  it("empty, long and window-crossing customization strings", () => {
    const wasm = wasmKt128();
    const next = new Rng(7);
    for (const cLen of [0, 1, 255, 256, 300, 8190, 8191, 8192, 70_000]) {
      const c = randomBytes(next, cLen);
      for (const mLen of [0, 1, 100, 8192, 9000]) {
        const m = randomBytes(next, mLen);
        expect(toHex(wasm.hash(m, customization(c))), `|C|=${cLen} |M|=${mLen}`).toBe(noble(m, c));
      }
    }
  });

  it("hashes a view by its own bytes, not its buffer's, and leaves the input untouched", () => {
    const backing = randomBytes(new Rng(3), 5000);
    const copy = Uint8Array.from(backing);
    const view = backing.subarray(17, 4017);
    expect(toHex(k12("cairn.invocation.sig", view))).toBe(noble(Uint8Array.from(view), utf8("cairn.invocation.sig")));
    expect(backing).toEqual(copy);
  });

  it("k12Pair is k12 of the concatenation, short and streamed", () => {
    const next = new Rng(2);
    for (const [la, lb] of [[32, 32], [0, 0], [0, 32], [32, 0], [40_000, 30_000], [70_000, 5], [3, 70_000]] as const) {
      const a = randomBytes(next, la);
      const b = randomBytes(next, lb);
      const ab = new Uint8Array(la + lb);
      ab.set(a);
      ab.set(b, la);
      expect(toHex(k12Pair("cairn.merkle.node", a, b)), `${la}+${lb}`).toBe(noble(ab, utf8("cairn.merkle.node")));
      expect(toHex(nobleKt128().hashPair(a, b, customization(utf8("cairn.merkle.node"))))).toBe(noble(ab, utf8("cairn.merkle.node")));
    }
  });

  it("no call is influenced by the one before it, and outputs are fresh arrays", () => {
    const next = new Rng(11);
    const short = randomBytes(next, 50);
    const expected = noble(short, utf8("cairn.vote"));
    const first = k12("cairn.vote", short);
    // A streamed input stopped mid-window, a tree-mode input, an empty one, a different domain: then again.
    for (const n of [150_000, 20_000, 0, 8192, 1]) {
      k12("cairn.code", randomBytes(next, n));
      expect(toHex(k12("cairn.vote", short)), `after ${n}`).toBe(expected);
    }
    first.fill(0);
    expect(toHex(k12("cairn.vote", short))).toBe(expected);
    expect(k12("cairn.vote", short)).not.toBe(k12("cairn.vote", short));
    expect(k12("cairn.vote", short).buffer.byteLength).toBe(32);
  });

  it("different domains give different hashes of the same bytes", () => {
    const data = utf8("same bytes");
    expect(new Set(DOMAINS.map((d) => toHex(k12(d, data)))).size).toBe(DOMAINS.length);
  });
});

describe("the embedded module is the build of kt128.as", () => {
  it("recompiling with the pinned asc gives the same bytes and the same generated file", async () => {
    const compiled = await compileKt128();
    expect(toHex(compiled)).toBe(toHex(wasmBytes()));
    expect(renderModule(compiled)).toBe(readFileSync(MODULE_URL, "utf8"));
    // Small enough for browsers that refuse synchronous compiles above 4 KB on the main thread.
    expect(compiled.length).toBeLessThan(4096);
  }, 60_000);
});
