// KangarooTwelve (KT128, RFC 9861) in AssemblyScript, compiled to node/crypto/k12/kt128-wasm.ts by
// `npm run build:k12`. The file is AssemblyScript, not TypeScript (hence .as): tsc never sees it, asc does.
//
// Wasm has native 64-bit integers, so a Keccak lane is one i64 here instead of the two 32-bit halves a
// JavaScript implementation juggles; that is the whole reason this module exists.
//
// Memory is fixed at two pages and nothing is allocated: page 0 holds the constants and two states, page 1
// is the input window JavaScript writes into. Calls:
//   hash(len)      K12 of the `len` bytes at INPUT, digest at OUTPUT (32 bytes).
//   begin(), update(len) with len a multiple of 8192, finish(len): the same in pieces, for inputs longer
//                  than the window.
// The caller hands over S = M || C || length_encode(|C|) (RFC 9861 section 3.2): the customization suffix
// is framing the JavaScript side caches per domain, so the tree logic here sees only S.

const RATE: i32 = 168; // TurboSHAKE128 rate in bytes (21 lanes)
const CHUNK: i32 = 8192; // K12 chunk size

const SINGLE_NODE: u8 = 0x07;
const FINAL_NODE: u8 = 0x06;
const LEAF_NODE: u8 = 0x0b;

// Keccak-f[1600] round constants 12..23: Keccak-p[1600, 12] runs the last twelve rounds.
const RC: usize = memory.data<u64>([
  0x000000008000808b, 0x800000000000008b, 0x8000000000008089, 0x8000000000008003,
  0x8000000000008002, 0x8000000000000080, 0x000000000000800a, 0x800000008000000a,
  0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
], 8);

// A block of zeros: permuting a state alone is absorbing this block (one copy of the round code).
const ZERO_BLOCK: usize = memory.data(RATE, 8);
// The final node's state persists across update calls; leaves are hashed start to finish in one call.
const FINAL: usize = memory.data(200, 8);
const LEAF: usize = memory.data(200, 8);

export const INPUT: usize = 65536;
export const INPUT_SIZE: i32 = 65536;
export const OUTPUT: usize = FINAL;

// Streaming position: bytes pending in FINAL's current block, and chunks of S consumed so far.
let finalPos: i32 = 0;
let chunks: u64 = 0;

// For each of `blocks` 168-byte blocks at `src`: XOR it into the state's rate, then Keccak-p[1600, 12].
// The state lives in locals for the whole run; memory is touched once per block for the input only.
function absorbBlocks(s: usize, src: usize, blocks: i32): void {
  let a0 = load<u64>(s, 0), a1 = load<u64>(s, 8), a2 = load<u64>(s, 16), a3 = load<u64>(s, 24), a4 = load<u64>(s, 32);
  let a5 = load<u64>(s, 40), a6 = load<u64>(s, 48), a7 = load<u64>(s, 56), a8 = load<u64>(s, 64), a9 = load<u64>(s, 72);
  let a10 = load<u64>(s, 80), a11 = load<u64>(s, 88), a12 = load<u64>(s, 96), a13 = load<u64>(s, 104), a14 = load<u64>(s, 112);
  let a15 = load<u64>(s, 120), a16 = load<u64>(s, 128), a17 = load<u64>(s, 136), a18 = load<u64>(s, 144), a19 = load<u64>(s, 152);
  let a20 = load<u64>(s, 160), a21 = load<u64>(s, 168), a22 = load<u64>(s, 176), a23 = load<u64>(s, 184), a24 = load<u64>(s, 192);
  let b0: u64, b1: u64, b2: u64, b3: u64, b4: u64;
  let e0: u64, e1: u64, e2: u64, e3: u64, e4: u64, e5: u64, e6: u64, e7: u64, e8: u64, e9: u64;
  let e10: u64, e11: u64, e12: u64, e13: u64, e14: u64, e15: u64, e16: u64, e17: u64, e18: u64, e19: u64;
  let e20: u64, e21: u64, e22: u64, e23: u64, e24: u64;
  for (; blocks > 0; blocks--, src += <usize>RATE) {
    a0 ^= load<u64>(src, 0); a1 ^= load<u64>(src, 8); a2 ^= load<u64>(src, 16); a3 ^= load<u64>(src, 24);
    a4 ^= load<u64>(src, 32); a5 ^= load<u64>(src, 40); a6 ^= load<u64>(src, 48); a7 ^= load<u64>(src, 56);
    a8 ^= load<u64>(src, 64); a9 ^= load<u64>(src, 72); a10 ^= load<u64>(src, 80); a11 ^= load<u64>(src, 88);
    a12 ^= load<u64>(src, 96); a13 ^= load<u64>(src, 104); a14 ^= load<u64>(src, 112); a15 ^= load<u64>(src, 120);
    a16 ^= load<u64>(src, 128); a17 ^= load<u64>(src, 136); a18 ^= load<u64>(src, 144); a19 ^= load<u64>(src, 152);
    a20 ^= load<u64>(src, 160);
    for (let rc = RC, end = RC + 96; rc < end; rc += 8) {
      // theta, with its column parities folded into rho-pi: b = the five lanes that land in one plane
    const c0 = a0 ^ a5 ^ a10 ^ a15 ^ a20;
    const c1 = a1 ^ a6 ^ a11 ^ a16 ^ a21;
    const c2 = a2 ^ a7 ^ a12 ^ a17 ^ a22;
    const c3 = a3 ^ a8 ^ a13 ^ a18 ^ a23;
    const c4 = a4 ^ a9 ^ a14 ^ a19 ^ a24;
    const d0 = c4 ^ rotl<u64>(c1, 1);
    const d1 = c0 ^ rotl<u64>(c2, 1);
    const d2 = c1 ^ rotl<u64>(c3, 1);
    const d3 = c2 ^ rotl<u64>(c4, 1);
    const d4 = c3 ^ rotl<u64>(c0, 1);
    // plane 0
    b0 = a0 ^ d0;
    b1 = rotl<u64>(a6 ^ d1, 44);
    b2 = rotl<u64>(a12 ^ d2, 43);
    b3 = rotl<u64>(a18 ^ d3, 21);
    b4 = rotl<u64>(a24 ^ d4, 14);
    e0 = b0 ^ (~b1 & b2);
    e1 = b1 ^ (~b2 & b3);
    e2 = b2 ^ (~b3 & b4);
    e3 = b3 ^ (~b4 & b0);
    e4 = b4 ^ (~b0 & b1);
    // plane 1
    b0 = rotl<u64>(a3 ^ d3, 28);
    b1 = rotl<u64>(a9 ^ d4, 20);
    b2 = rotl<u64>(a10 ^ d0, 3);
    b3 = rotl<u64>(a16 ^ d1, 45);
    b4 = rotl<u64>(a22 ^ d2, 61);
    e5 = b0 ^ (~b1 & b2);
    e6 = b1 ^ (~b2 & b3);
    e7 = b2 ^ (~b3 & b4);
    e8 = b3 ^ (~b4 & b0);
    e9 = b4 ^ (~b0 & b1);
    // plane 2
    b0 = rotl<u64>(a1 ^ d1, 1);
    b1 = rotl<u64>(a7 ^ d2, 6);
    b2 = rotl<u64>(a13 ^ d3, 25);
    b3 = rotl<u64>(a19 ^ d4, 8);
    b4 = rotl<u64>(a20 ^ d0, 18);
    e10 = b0 ^ (~b1 & b2);
    e11 = b1 ^ (~b2 & b3);
    e12 = b2 ^ (~b3 & b4);
    e13 = b3 ^ (~b4 & b0);
    e14 = b4 ^ (~b0 & b1);
    // plane 3
    b0 = rotl<u64>(a4 ^ d4, 27);
    b1 = rotl<u64>(a5 ^ d0, 36);
    b2 = rotl<u64>(a11 ^ d1, 10);
    b3 = rotl<u64>(a17 ^ d2, 15);
    b4 = rotl<u64>(a23 ^ d3, 56);
    e15 = b0 ^ (~b1 & b2);
    e16 = b1 ^ (~b2 & b3);
    e17 = b2 ^ (~b3 & b4);
    e18 = b3 ^ (~b4 & b0);
    e19 = b4 ^ (~b0 & b1);
    // plane 4
    b0 = rotl<u64>(a2 ^ d2, 62);
    b1 = rotl<u64>(a8 ^ d3, 55);
    b2 = rotl<u64>(a14 ^ d4, 39);
    b3 = rotl<u64>(a15 ^ d0, 41);
    b4 = rotl<u64>(a21 ^ d1, 2);
    e20 = b0 ^ (~b1 & b2);
    e21 = b1 ^ (~b2 & b3);
    e22 = b2 ^ (~b3 & b4);
    e23 = b3 ^ (~b4 & b0);
    e24 = b4 ^ (~b0 & b1);
      e0 ^= load<u64>(rc); // iota
      a0 = e0; a1 = e1; a2 = e2; a3 = e3; a4 = e4; a5 = e5; a6 = e6; a7 = e7; a8 = e8; a9 = e9;
      a10 = e10; a11 = e11; a12 = e12; a13 = e13; a14 = e14; a15 = e15; a16 = e16; a17 = e17; a18 = e18; a19 = e19;
      a20 = e20; a21 = e21; a22 = e22; a23 = e23; a24 = e24;
    }
  }
  store<u64>(s, a0, 0); store<u64>(s, a1, 8); store<u64>(s, a2, 16); store<u64>(s, a3, 24); store<u64>(s, a4, 32);
  store<u64>(s, a5, 40); store<u64>(s, a6, 48); store<u64>(s, a7, 56); store<u64>(s, a8, 64); store<u64>(s, a9, 72);
  store<u64>(s, a10, 80); store<u64>(s, a11, 88); store<u64>(s, a12, 96); store<u64>(s, a13, 104); store<u64>(s, a14, 112);
  store<u64>(s, a15, 120); store<u64>(s, a16, 128); store<u64>(s, a17, 136); store<u64>(s, a18, 144); store<u64>(s, a19, 152);
  store<u64>(s, a20, 160); store<u64>(s, a21, 168); store<u64>(s, a22, 176); store<u64>(s, a23, 184); store<u64>(s, a24, 192);
}

function permute(s: usize): void {
  absorbBlocks(s, ZERO_BLOCK, 1);
}

// XOR `len` bytes at src into dst, a lane at a time while it can (wasm loads need no alignment).
function xorInto(dst: usize, src: usize, len: i32): void {
  for (; len >= 8; len -= 8, dst += 8, src += 8) store<u64>(dst, load<u64>(dst) ^ load<u64>(src));
  for (; len > 0; len--, dst++, src++) store<u8>(dst, load<u8>(dst) ^ load<u8>(src));
}

// Absorbs `len` bytes at src into state s whose current block already holds `pos` bytes; returns the new
// position. A block is permuted as soon as it is full: padding always adds a byte, so that is never early.
function absorb(s: usize, pos: i32, src: usize, len: i32): i32 {
  if (pos != 0) {
    const take = min(RATE - pos, len);
    xorInto(s + <usize>pos, src, take);
    pos += take;
    if (pos < RATE) return pos;
    permute(s);
    src += <usize>take;
    len -= take;
  }
  const blocks = len / RATE;
  absorbBlocks(s, src, blocks);
  const rest = len - blocks * RATE;
  xorInto(s, src + <usize>(blocks * RATE), rest);
  return rest;
}

function absorbByte(s: usize, pos: i32, b: u8): i32 {
  const p = s + <usize>pos;
  store<u8>(p, load<u8>(p) ^ b);
  if (++pos < RATE) return pos;
  permute(s);
  return 0;
}

// TurboSHAKE padding: the domain byte after the message, 0x80 in the last byte of the rate.
function pad(s: usize, pos: i32, domain: u8): void {
  const p = s + <usize>pos;
  store<u8>(p, load<u8>(p) ^ domain);
  const last = s + <usize>(RATE - 1);
  store<u8>(last, load<u8>(last) ^ 0x80);
  permute(s);
}

// One chunk of S (1..8192 bytes). The first goes straight into the final node; each later one is a leaf
// whose 32-byte chaining value the final node absorbs, after the 03 00.. marker that announces the tree.
function chunk(src: usize, len: i32): void {
  if (chunks == 0) {
    finalPos = absorb(FINAL, finalPos, src, len);
  } else {
    if (chunks == 1) {
      finalPos = absorbByte(FINAL, finalPos, 0x03);
      for (let i = 0; i < 7; i++) finalPos = absorbByte(FINAL, finalPos, 0);
    }
    memory.fill(LEAF, 0, 200);
    pad(LEAF, absorb(LEAF, 0, src, len), LEAF_NODE);
    finalPos = absorb(FINAL, finalPos, LEAF, 32);
  }
  chunks++;
}

export function begin(): void {
  memory.fill(FINAL, 0, 200);
  finalPos = 0;
  chunks = 0;
}

/** Feeds `len` bytes at INPUT, a multiple of the chunk size (the caller's window is 8 chunks). */
export function update(len: i32): void {
  for (let off = 0; off < len; off += CHUNK) chunk(INPUT + <usize>off, CHUNK);
}

/** Feeds the last `len` bytes at INPUT (any length) and leaves the digest at OUTPUT. */
export function finish(len: i32): void {
  for (let off = 0; off < len; off += CHUNK) chunk(INPUT + <usize>off, min(CHUNK, len - off));
  if (chunks <= 1) {
    pad(FINAL, finalPos, SINGLE_NODE);
    return;
  }
  // length_encode(n - 1): big-endian without leading zeros, then its byte count; then FF FF.
  const leaves = chunks - 1;
  let bytes = 0;
  for (let v = leaves; v != 0; v >>= 8) bytes++;
  for (let i = bytes - 1; i >= 0; i--) finalPos = absorbByte(FINAL, finalPos, <u8>(leaves >> (<u64>i * 8)));
  finalPos = absorbByte(FINAL, finalPos, <u8>bytes);
  finalPos = absorbByte(FINAL, finalPos, 0xff);
  finalPos = absorbByte(FINAL, finalPos, 0xff);
  pad(FINAL, finalPos, FINAL_NODE);
}

export function hash(len: i32): void {
  begin();
  finish(len);
}
