// Hex helpers that run in browsers too (the client SDK shares the codec), so no Buffer.

const HEX = "0123456789abcdef";
const LOOKUP: Int8Array = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < 16; i++) {
    t[HEX.charCodeAt(i)] = i;
    t[HEX.toUpperCase().charCodeAt(i)] = i;
  }
  return t;
})();

interface NodeBufferLike {
  set(bytes: Uint8Array): void;
  toString(enc?: "hex", start?: number, end?: number): string;
}
/** Node's Buffer when present: its hex encoder builds one flat string, the loop below a chain of pieces. */
const NodeBuffer = (
  globalThis as { Buffer?: { from(ab: ArrayBufferLike, offset: number, length: number): NodeBufferLike; allocUnsafeSlow(n: number): NodeBufferLike } }
).Buffer;
/**
 * Short arrays (ids, keys: up to 64 bytes) are hex-encoded from a copy in this off-heap scratch. Viewing one
 * through `.buffer` instead would make V8 move it out of its heap first: 1.4 us against 0.15 us per 32-byte id.
 */
// V8's in-heap typed array limit, as node/offheap.ts's ON_HEAP_MAX_BYTES (not imported: the SDK imports this
// file and must stay free of Node's Buffer).
const SCRATCH_BYTES = 64;
const scratch = NodeBuffer?.allocUnsafeSlow(SCRATCH_BYTES);

export function toHex(bytes: Uint8Array): string {
  if (scratch !== undefined && bytes.length <= SCRATCH_BYTES) {
    scratch.set(bytes);
    return scratch.toString("hex", 0, bytes.length);
  }
  if (NodeBuffer !== undefined) return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    out += HEX[b >> 4]! + HEX[b & 15]!;
  }
  return out;
}

/** Parses hex (an optional 0x prefix allowed); returns null when the text is not hex. */
export function tryFromHex(text: string): Uint8Array | null {
  let s = text;
  if (s.startsWith("0x") || s.startsWith("0X")) s = s.slice(2);
  if (s.length % 2 !== 0) return null;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = s.charCodeAt(2 * i);
    const lo = s.charCodeAt(2 * i + 1);
    const h = hi < 128 ? LOOKUP[hi]! : -1;
    const l = lo < 128 ? LOOKUP[lo]! : -1;
    if (h < 0 || l < 0) return null;
    out[i] = (h << 4) | l;
  }
  return out;
}

export function fromHex(text: string): Uint8Array {
  const out = tryFromHex(text);
  if (out === null) throw new TypeError(`not a hex string: ${JSON.stringify(text.slice(0, 40))}`);
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lexicographic byte order: the one order used wherever keys are sorted for hashing. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Strict UTF-8 decoding: invalid sequences throw instead of turning into U+FFFD. */
export function fromUtf8(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

/** Strict UTF-8 decoding that answers null instead of throwing (output shown as text only when it is text). */
export function tryFromUtf8(bytes: Uint8Array): string | null {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    return null;
  }
}
