// The canonical binary codec: one encoding for everything Cairn hashes, signs, stores or sends.
//
// Rules that make every value have exactly one encoding (so hashes and signatures are unambiguous):
// integers are fixed-width little-endian, lengths are u32 prefixes, booleans and option tags are
// exactly 0 or 1, text is strict UTF-8, and a decode that leaves bytes over is an error.
// Each codec also knows its JSON form (bytes as hex, 64-bit integers as decimal strings) and the JSON
// schema of that form, so REST validation is derived from the same definitions as the wire format.

import { fromUtf8, toHex, tryFromHex, utf8 } from "./hex.ts";
import { memoOf, peekMemo } from "./memo.ts";

export type JsonSchema = Record<string, unknown>;

export class CodecError extends Error {
  constructor(
    readonly code: "malformed_encoding" | "malformed_json",
    message: string,
  ) {
    super(message);
    this.name = "CodecError";
  }
}

export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  private grow(n: number): void {
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    if (this.pos + 1 > this.buf.length) this.grow(1);
    this.buf[this.pos++] = v;
  }
  u16(v: number): void {
    if (this.pos + 2 > this.buf.length) this.grow(2);
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
  }
  u32(v: number): void {
    if (this.pos + 4 > this.buf.length) this.grow(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }
  u64(v: bigint): void {
    if (this.pos + 8 > this.buf.length) this.grow(8);
    this.view.setBigUint64(this.pos, v, true);
    this.pos += 8;
  }
  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    if (this.pos + n > this.buf.length) this.grow(n);
    if (n <= 32) {
      // Short copies (keys, hashes) are cheaper by hand than through TypedArray.set.
      const buf = this.buf;
      const pos = this.pos;
      for (let i = 0; i < n; i++) buf[pos + i] = bytes[i]!;
    } else this.buf.set(bytes, this.pos);
    this.pos += n;
  }
  /** u32 byte length, then `s` as UTF-8; CodecError when that is more than maxBytes. */
  text(s: string, maxBytes: number): void {
    const n = s.length;
    if (n <= maxBytes) {
      // ASCII (names, ids, most sources) is its own UTF-8: copy it by hand, no TextEncoder and no temporary.
      if (this.pos + 4 + n > this.buf.length) this.grow(4 + n);
      const buf = this.buf;
      const start = this.pos + 4;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + i] = c;
      }
      if (i === n) {
        this.view.setUint32(this.pos, n, true);
        this.pos = start + n;
        return;
      }
    }
    const b = utf8(s);
    if (b.length > maxBytes) throw new CodecError("malformed_encoding", `text of ${b.length} bytes exceeds ${maxBytes}`);
    this.u32(b.length);
    this.raw(b);
  }
  /** A copy of the bytes written. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
  /** The bytes written, as a view of the writer's buffer: valid only until the next write or reset. */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
  /** Starts over (keeps the buffer), so one writer can encode many values in turn. */
  reset(): void {
    this.pos = 0;
  }
  /** Capacity of the buffer (to drop an oversized one). */
  get capacity(): number {
    return this.buf.length;
  }
}

// u64s are read through one DataView over a scratch copy of their 8 bytes: no DataView per Reader.
const u64Scratch = new Uint8Array(8);
const u64View = new DataView(u64Scratch.buffer);

/**
 * Hands back a value already held for the exact encoding `raw` of `codec` (the mempool's copy of an
 * invocation a proposal carries again), or undefined. Byte-identical encodings decode to equal values, so the
 * reader may return the held one instead of building a copy; `raw` is a view into the input, only valid
 * during the call.
 */
export type Interner = <T>(codec: Codec<T>, raw: Uint8Array) => T | undefined;

/** An Interner for values of one codec only (the one the codec module's identity check lets through). */
export function internerFor<V>(codec: Codec<V>, held: (raw: Uint8Array) => V | undefined): Interner {
  return <T>(asked: Codec<T>, raw: Uint8Array): T | undefined => ((asked as unknown) === codec ? (held(raw) as unknown as T | undefined) : undefined);
}

export class Reader {
  pos = 0;
  /** The copy of the input that byte fields are views into while a remembering codec decodes, and its offset. */
  private copy: Uint8Array | null = null;
  private copyStart = 0;

  /**
   * `paths`: build each field's path for error messages (`block.invocations[3].nonce`). decode() reads
   * without them first, since they cost a string per field of every value, and reads again with them only to
   * report an error.
   */
  constructor(
    private readonly buf: Uint8Array,
    readonly interner: Interner | null = null,
    readonly paths = true,
  ) {}

  /** `path + suffix` when paths are built, else `path` as it is (no string made). */
  sub(path: string, suffix: string): string {
    return this.paths ? path + suffix : path;
  }

  /** The end of the encoding of `codec` that starts at the current position, or -1 when it cannot tell. */
  spanEnd(codec: Codec<unknown>): number {
    return encodingEnd(codec, this.buf, this.pos);
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.buf.length - this.pos < n) {
      throw new CodecError("malformed_encoding", `truncated: ${what} needs ${n} bytes at offset ${this.pos}, ${this.remaining} left`);
    }
  }

  u8(what = "u8"): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }
  u16(what = "u16"): number {
    this.need(2, what);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 2;
    return b[p]! | (b[p + 1]! << 8);
  }
  u32(what = "u32"): number {
    this.need(4, what);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }
  u64(what = "u64"): bigint {
    this.need(8, what);
    const b = this.buf;
    const p = this.pos;
    for (let i = 0; i < 8; i++) u64Scratch[i] = b[p + i]!;
    this.pos = p + 8;
    return u64View.getBigUint64(0, true);
  }
  /** The bytes between two offsets already read (a view, not a copy). */
  consumed(start: number, end: number): Uint8Array {
    return this.buf.subarray(start, end);
  }

  /**
   * Bytes a decoded value may keep, never a view into the input: decoded values must not alias (and pin) the
   * frame they came from. Inside a remembered copy (see `remembered`) they are views into that copy, which
   * the value keeps anyway; elsewhere a copy of their own.
   */
  raw(n: number, what = "bytes"): Uint8Array {
    this.need(n, what);
    const p = this.pos;
    this.pos = p + n;
    return this.owned(p, p + n);
  }

  /** [start, end) of the input as bytes a decoded value may keep (see raw). */
  private owned(start: number, end: number): Uint8Array {
    const copy = this.copy;
    return copy !== null ? copy.subarray(start - this.copyStart, end - this.copyStart) : this.buf.slice(start, end);
  }

  /**
   * Decodes [pos, end) with `codec`, which must consume exactly that: the bytes are copied once (or viewed in
   * an enclosing copy) and every byte field of the value is a view into that copy, returned as `raw`. One
   * allocation per value instead of one per field, and the copy is what the value remembers as its encoding.
   */
  remembered<T extends object>(codec: Codec<T>, end: number, path: string): T {
    const start = this.pos;
    const raw = this.owned(start, end);
    const outerCopy = this.copy;
    const outerStart = this.copyStart;
    this.copy = raw;
    this.copyStart = start;
    let value: T;
    try {
      value = codec.read(this, path);
    } finally {
      this.copy = outerCopy;
      this.copyStart = outerStart;
    }
    if (this.pos !== end) throw new CodecError("malformed_encoding", `${path}: decoded ${this.pos - start} bytes of an encoding spanning ${end - start}`);
    memoOf(value).raw = raw;
    return value;
  }

  /** n bytes of strict UTF-8 as a string (throws on invalid UTF-8; the caller names the field). */
  text(n: number, what = "text"): string {
    this.need(n, what);
    const b = this.buf;
    const start = this.pos;
    const end = start + n;
    let ascii = n <= ASCII_DIRECT_MAX;
    for (let i = start; ascii && i < end; i++) if (b[i]! >= 0x80) ascii = false;
    // ASCII is its own UTF-8; anything else goes through the strict decoder (no copy of the bytes either way).
    const s = ascii ? String.fromCharCode.apply(null, b.subarray(start, end) as unknown as number[]) : fromUtf8(b.subarray(start, end));
    this.pos = end;
    return s;
  }
}

/** Longest text decoded by hand (argument lists of String.fromCharCode stay small). */
const ASCII_DIRECT_MAX = 1024;

export interface Codec<T> {
  /** Encoded size when it never varies; lets lists pre-check lengths before allocating. */
  readonly fixedSize: number | undefined;
  write(w: Writer, v: T): void;
  read(r: Reader, path: string): T;
  /**
   * Where the encoding starting at `pos` ends, found without decoding it, or -1 when `buf` is too short or a
   * length is over its bound (reading then fails with the precise error). Absent on codecs that cannot tell.
   */
  span?(buf: Uint8Array, pos: number): number;
  toJson(v: T): unknown;
  fromJson(j: unknown, path: string): T;
  schema(): JsonSchema;
}

export type Infer<C> = C extends Codec<infer T> ? T : never;

// encode() writes into one shared writer and copies out the result: one allocation per value instead of a
// fresh buffer, its DataView and the copy. A nested encode (none today) falls back to a writer of its own.
const SHARED_WRITER_BYTES = 64 * 1024;
const SHARED_WRITER_MAX_KEPT = 4 * 1024 * 1024;
let shared = new Writer(SHARED_WRITER_BYTES);
let sharedBusy = false;

export function encode<T>(codec: Codec<T>, value: T): Uint8Array {
  if (sharedBusy) {
    const w = new Writer(codec.fixedSize ?? 256);
    codec.write(w, value);
    return w.finish();
  }
  sharedBusy = true;
  const w = shared;
  try {
    w.reset();
    codec.write(w, value);
    return w.finish();
  } finally {
    // A huge value (a block full of deploys) must not pin its buffer for the life of the process.
    if (w.capacity > SHARED_WRITER_MAX_KEPT) shared = new Writer(SHARED_WRITER_BYTES);
    sharedBusy = false;
  }
}

/** Where `codec`'s encoding starting at `pos` ends: by its fixed size or its span; -1 when out of `buf` or unknown. */
function encodingEnd(codec: Codec<unknown>, buf: Uint8Array, pos: number): number {
  const end = codec.fixedSize !== undefined ? pos + codec.fixedSize : codec.span ? codec.span(buf, pos) : -1;
  return end > buf.length ? -1 : end;
}

/** Length-prefixed span: u32 length (at most `max`), then that many bytes. */
function prefixedSpan(buf: Uint8Array, pos: number, max: number): number {
  if (pos + 4 > buf.length) return -1;
  const n = (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0;
  const end = pos + 4 + n;
  return n > max || end > buf.length ? -1 : end;
}

/** `interner`: see Interner; values it hands back are shared with whoever held them. */
export function decode<T>(codec: Codec<T>, bytes: Uint8Array, what = "value", interner: Interner | null = null): T {
  try {
    return decodeAll(codec, new Reader(bytes, interner, false), what);
  } catch (e) {
    if (!(e instanceof CodecError)) throw e;
    // Decoding is deterministic: the same bytes fail again at the same place, now with the field's path.
    decodeAll(codec, new Reader(bytes, interner, true), what);
    throw e;
  }
}

function decodeAll<T>(codec: Codec<T>, r: Reader, what: string): T {
  const v = codec.read(r, what);
  if (r.remaining !== 0) {
    throw new CodecError("malformed_encoding", `${what}: ${r.remaining} trailing bytes after offset ${r.pos}`);
  }
  return v;
}

export function toJson<T>(codec: Codec<T>, value: T): unknown {
  return codec.toJson(value);
}

export function fromJson<T>(codec: Codec<T>, json: unknown, what = "value"): T {
  return codec.fromJson(json, what);
}

function jsonError(path: string, expected: string, got: unknown): CodecError {
  const shown = typeof got === "string" ? JSON.stringify(got.length > 40 ? got.slice(0, 40) + "…" : got) : typeof got;
  return new CodecError("malformed_json", `${path}: expected ${expected}, got ${shown}`);
}

function uint(bits: 8 | 16 | 32): Codec<number> {
  const max = 2 ** bits - 1;
  const size = bits / 8;
  return {
    fixedSize: size,
    write: (w, v) => {
      if (!Number.isInteger(v) || v < 0 || v > max) throw new CodecError("malformed_encoding", `u${bits} out of range: ${v}`);
      if (bits === 8) w.u8(v);
      else if (bits === 16) w.u16(v);
      else w.u32(v);
    },
    read: (r, path) => (bits === 8 ? r.u8(path) : bits === 16 ? r.u16(path) : r.u32(path)),
    toJson: (v) => v,
    fromJson: (j, path) => {
      if (typeof j !== "number" || !Number.isInteger(j) || j < 0 || j > max) throw jsonError(path, `an integer 0..${max}`, j);
      return j;
    },
    schema: () => ({ type: "integer", minimum: 0, maximum: max }),
  };
}

export const u8 = uint(8);
export const u16 = uint(16);
export const u32 = uint(32);

const U64_MAX = (1n << 64n) - 1n;
const DECIMAL = /^(0|[1-9][0-9]{0,19})$/;

/** 64-bit unsigned; bigint in TypeScript, a decimal string in JSON (JSON numbers lose precision past 2^53). */
export const u64: Codec<bigint> = {
  fixedSize: 8,
  write: (w, v) => {
    if (typeof v !== "bigint" || v < 0n || v > U64_MAX) throw new CodecError("malformed_encoding", `u64 out of range: ${String(v)}`);
    w.u64(v);
  },
  read: (r, path) => r.u64(path),
  toJson: (v) => v.toString(10),
  fromJson: (j, path) => {
    // Integers given as JSON numbers are accepted when exact, since clients often write small amounts that way.
    if (typeof j === "number" && Number.isSafeInteger(j) && j >= 0) return BigInt(j);
    if (typeof j !== "string" || !DECIMAL.test(j)) throw jsonError(path, "a decimal u64 string", j);
    const v = BigInt(j);
    if (v > U64_MAX) throw jsonError(path, "a value below 2^64", j);
    return v;
  },
  schema: () => ({ anyOf: [{ type: "string", pattern: "^(0|[1-9][0-9]{0,19})$" }, { type: "integer", minimum: 0 }] }),
};

export const bool: Codec<boolean> = {
  fixedSize: 1,
  write: (w, v) => w.u8(v ? 1 : 0),
  read: (r, path) => {
    const b = r.u8(path);
    if (b > 1) throw new CodecError("malformed_encoding", `${path}: boolean byte ${b} is not 0 or 1`);
    return b === 1;
  },
  toJson: (v) => v,
  fromJson: (j, path) => {
    if (typeof j !== "boolean") throw jsonError(path, "a boolean", j);
    return j;
  },
  schema: () => ({ type: "boolean" }),
};

function hexJson(path: string, j: unknown, min: number, max: number): Uint8Array {
  if (typeof j !== "string") throw jsonError(path, "a hex string", j);
  if (j.length > 2 * max + 2) throw jsonError(path, `at most ${max} bytes of hex`, j);
  const bytes = tryFromHex(j);
  if (bytes === null) throw jsonError(path, "a hex string", j);
  if (bytes.length < min || bytes.length > max) {
    throw jsonError(path, min === max ? `${min} bytes of hex` : `${min}..${max} bytes of hex`, j);
  }
  return bytes;
}

/** Exactly n bytes, no length prefix (keys, hashes, signatures). */
export function fixedBytes(n: number): Codec<Uint8Array> {
  return {
    fixedSize: n,
    write: (w, v) => {
      if (v.length !== n) throw new CodecError("malformed_encoding", `expected ${n} bytes, got ${v.length}`);
      w.raw(v);
    },
    read: (r, path) => r.raw(n, path),
    toJson: (v) => toHex(v),
    fromJson: (j, path) => hexJson(path, j, n, n),
    schema: () => ({ type: "string", pattern: `^(0x)?[0-9a-fA-F]{${2 * n}}$` }),
  };
}

/** Up to max bytes behind a u32 length. */
export function bytes(max: number): Codec<Uint8Array> {
  return {
    fixedSize: undefined,
    write: (w, v) => {
      if (v.length > max) throw new CodecError("malformed_encoding", `byte string of ${v.length} exceeds ${max}`);
      w.u32(v.length);
      w.raw(v);
    },
    span: (buf, pos) => prefixedSpan(buf, pos, max),
    read: (r, path) => {
      const len = r.u32(r.sub(path, " length"));
      if (len > max) throw new CodecError("malformed_encoding", `${path}: length ${len} exceeds ${max}`);
      return r.raw(len, path);
    },
    toJson: (v) => toHex(v),
    fromJson: (j, path) => hexJson(path, j, 0, max),
    schema: () => ({ type: "string", pattern: "^(0x)?([0-9a-fA-F]{2})*$", maxLength: 2 * max + 2 }),
  };
}

/** Strict UTF-8 text of at most maxBytes encoded bytes. */
export function text(maxBytes: number, pattern?: RegExp): Codec<string> {
  const check = (s: string, path: string, code: "malformed_encoding" | "malformed_json"): void => {
    if (pattern && !pattern.test(s)) throw new CodecError(code, `${path}: ${JSON.stringify(s.slice(0, 40))} does not match ${pattern.source}`);
  };
  return {
    fixedSize: undefined,
    write: (w, v) => w.text(v, maxBytes),
    span: (buf, pos) => prefixedSpan(buf, pos, maxBytes),
    read: (r, path) => {
      const len = r.u32(r.sub(path, " length"));
      if (len > maxBytes) throw new CodecError("malformed_encoding", `${path}: text length ${len} exceeds ${maxBytes}`);
      let s: string;
      try {
        s = r.text(len, path);
      } catch {
        throw new CodecError("malformed_encoding", `${path}: invalid UTF-8`);
      }
      check(s, path, "malformed_encoding");
      return s;
    },
    toJson: (v) => v,
    fromJson: (j, path) => {
      if (typeof j !== "string") throw jsonError(path, "a string", j);
      if (utf8(j).length > maxBytes) throw jsonError(path, `at most ${maxBytes} bytes of text`, j);
      check(j, path, "malformed_json");
      return j;
    },
    schema: () => ({ type: "string", ...(pattern ? { pattern: pattern.source } : {}) }),
  };
}

export function list<T>(item: Codec<T>, max: number): Codec<T[]> {
  // u32 count, then the items: spannable when the items are.
  const span = (buf: Uint8Array, pos: number): number => {
    if (pos + 4 > buf.length) return -1;
    const len = (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0;
    if (len > max) return -1;
    pos += 4;
    if (item.fixedSize !== undefined) return pos + len * item.fixedSize;
    for (let i = 0; i < len; i++) if ((pos = encodingEnd(item, buf, pos)) < 0) return -1;
    return pos;
  };
  return {
    fixedSize: undefined,
    ...(item.fixedSize !== undefined || item.span !== undefined ? { span } : {}),
    write: (w, v) => {
      if (v.length > max) throw new CodecError("malformed_encoding", `list of ${v.length} exceeds ${max}`);
      w.u32(v.length);
      for (const x of v) item.write(w, x);
    },
    read: (r, path) => {
      const len = r.u32(r.sub(path, " length"));
      if (len > max) throw new CodecError("malformed_encoding", `${path}: list length ${len} exceeds ${max}`);
      // A hostile length cannot make us allocate more than the frame could possibly hold.
      if (item.fixedSize !== undefined && len * item.fixedSize > r.remaining) {
        throw new CodecError("malformed_encoding", `${path}: list of ${len} items does not fit in ${r.remaining} bytes`);
      }
      const out: T[] = [];
      for (let i = 0; i < len; i++) out.push(item.read(r, r.paths ? `${path}[${i}]` : path));
      return out;
    },
    toJson: (v) => v.map((x) => item.toJson(x)),
    fromJson: (j, path) => {
      if (!Array.isArray(j)) throw jsonError(path, "an array", j);
      if (j.length > max) throw jsonError(path, `at most ${max} items`, `array of ${j.length}`);
      return j.map((x, i) => item.fromJson(x, `${path}[${i}]`));
    },
    schema: () => ({ type: "array", maxItems: max, items: item.schema() }),
  };
}

export function option<T>(inner: Codec<T>): Codec<T | null> {
  return {
    fixedSize: undefined,
    write: (w, v) => {
      if (v === null) w.u8(0);
      else {
        w.u8(1);
        inner.write(w, v);
      }
    },
    read: (r, path) => {
      const tag = r.u8(path);
      if (tag === 0) return null;
      if (tag !== 1) throw new CodecError("malformed_encoding", `${path}: option tag ${tag} is not 0 or 1`);
      return inner.read(r, path);
    },
    toJson: (v) => (v === null ? null : inner.toJson(v)),
    fromJson: (j, path) => (j === null || j === undefined ? null : inner.fromJson(j, path)),
    schema: () => ({ anyOf: [{ type: "null" }, inner.schema()] }),
  };
}

/** A closed set of names, encoded as the u8 index into `names`. */
export function enumeration<const N extends string>(names: readonly N[]): Codec<N> {
  const index = new Map<string, number>(names.map((n, i) => [n, i]));
  return {
    fixedSize: 1,
    write: (w, v) => {
      const i = index.get(v);
      if (i === undefined) throw new CodecError("malformed_encoding", `unknown enum value ${JSON.stringify(v)}`);
      w.u8(i);
    },
    read: (r, path) => {
      const i = r.u8(path);
      const n = names[i];
      if (n === undefined) throw new CodecError("malformed_encoding", `${path}: enum index ${i} out of range`);
      return n;
    },
    toJson: (v) => v,
    fromJson: (j, path) => {
      if (typeof j !== "string" || !index.has(j)) throw jsonError(path, `one of ${names.join(", ")}`, j);
      return j as N;
    },
    schema: () => ({ type: "string", enum: [...names] }),
  };
}

type Fields = Record<string, Codec<any>>;
export type StructOf<F extends Fields> = { [K in keyof F]: Infer<F[K]> };

/** Fields are encoded in declaration order; JSON objects must have exactly these keys. */
export function struct<F extends Fields>(fields: F): Codec<StructOf<F>> {
  const entries = Object.entries(fields);
  let fixed: number | undefined = 0;
  for (const [, c] of entries) fixed = fixed !== undefined && c.fixedSize !== undefined ? fixed + c.fixedSize : undefined;
  const required = entries.filter(([, c]) => !isOptional(c)).map(([k]) => k);
  const codecs = entries.map(([, c]) => c);
  const names = entries.map(([k]) => k);
  const suffixes = names.map((k) => `.${k}`);
  const spannable = codecs.every((c) => c.fixedSize !== undefined || c.span !== undefined);
  const span = (buf: Uint8Array, pos: number): number => {
    for (const c of codecs) if ((pos = encodingEnd(c, buf, pos)) < 0) return -1;
    return pos;
  };
  return {
    fixedSize: fixed,
    ...(spannable && fixed === undefined ? { span } : {}),
    write: (w, v) => {
      for (const [k, c] of entries) c.write(w, (v as Record<string, unknown>)[k]);
    },
    read: (r, path) => {
      const out: Record<string, unknown> = {};
      for (let i = 0; i < codecs.length; i++) out[names[i]!] = codecs[i]!.read(r, r.sub(path, suffixes[i]!));
      return out as StructOf<F>;
    },
    toJson: (v) => {
      const out: Record<string, unknown> = {};
      for (const [k, c] of entries) out[k] = c.toJson((v as Record<string, unknown>)[k]);
      return out;
    },
    fromJson: (j, path) => {
      if (typeof j !== "object" || j === null || Array.isArray(j)) throw jsonError(path, "an object", j);
      const obj = j as Record<string, unknown>;
      for (const k of Object.keys(obj)) {
        if (!(k in fields)) throw new CodecError("malformed_json", `${path}: unknown field ${JSON.stringify(k)}`);
      }
      const out: Record<string, unknown> = {};
      for (const [k, c] of entries) {
        if (!(k in obj) && !isOptional(c)) throw new CodecError("malformed_json", `${path}: missing field ${JSON.stringify(k)}`);
        out[k] = c.fromJson(obj[k], `${path}.${k}`);
      }
      return out as StructOf<F>;
    },
    schema: () => ({
      type: "object",
      additionalProperties: false,
      required,
      properties: Object.fromEntries(entries.map(([k, c]) => [k, c.schema()])),
    }),
  };
}

const OPTIONAL = new WeakSet<object>();
function isOptional(c: Codec<unknown>): boolean {
  return OPTIONAL.has(c);
}
/** An option field that JSON may leave out. */
export function optionalField<T>(inner: Codec<T>): Codec<T | null> {
  const c = option(inner);
  OPTIONAL.add(c);
  return c;
}

type Variants = Record<string, Codec<any>>;
export type UnionOf<V extends Variants> = { [K in keyof V]: { type: K; value: Infer<V[K]> } }[keyof V];

/**
 * A tagged union: the u8 tag is the variant's position in `variants`, so variants may only be appended.
 * JSON form is `{ "type": name, "value": ... }`.
 */
export function union<V extends Variants>(variants: V): Codec<UnionOf<V>> {
  const names = Object.keys(variants);
  const tags = new Map(names.map((n, i) => [n, i]));
  return {
    fixedSize: undefined,
    write: (w, v) => {
      const tag = tags.get(v.type as string);
      if (tag === undefined) throw new CodecError("malformed_encoding", `unknown variant ${String(v.type)}`);
      w.u8(tag);
      variants[v.type]!.write(w, v.value);
    },
    read: (r, path) => {
      const tag = r.u8(r.sub(path, " tag"));
      const name = names[tag];
      if (name === undefined) throw new CodecError("malformed_encoding", `${path}: unknown variant tag ${tag}`);
      return { type: name, value: variants[name]!.read(r, r.paths ? `${path}.${name}` : path) } as UnionOf<V>;
    },
    toJson: (v) => ({ type: v.type, value: variants[v.type]!.toJson(v.value) }),
    fromJson: (j, path) => {
      if (typeof j !== "object" || j === null) throw jsonError(path, "an object", j);
      const o = j as Record<string, unknown>;
      const name = o.type;
      if (typeof name !== "string" || !tags.has(name)) throw jsonError(path + ".type", `one of ${names.join(", ")}`, name);
      return { type: name, value: variants[name]!.fromJson(o.value, `${path}.value`) } as UnionOf<V>;
    },
    schema: () => ({
      oneOf: names.map((n) => ({
        type: "object",
        required: ["type", "value"],
        properties: { type: { const: n }, value: variants[n]!.schema() },
      })),
    }),
  };
}


/**
 * The same codec, remembering for each value it decodes the exact bytes it came from (a copy). Hashing or
 * storing such a value later reuses those bytes instead of encoding it again: blocks and invocations arrive as
 * bytes and are hashed and stored several times on a validator's hot path. Decoding is canonical, so the
 * remembered bytes are exactly what encoding the value would give.
 */
export function rememberingEncoding<T extends object>(codec: Codec<T>): Codec<T> {
  // Interners are asked by codec identity (which held values are of this type), so this is the one they see.
  const remembering: Codec<T> = {
    ...codec,
    // Encoding is canonical, so remembered bytes are the encoding: copying them is all writing needs.
    write: (w, v) => {
      const raw = peekMemo(v)?.raw;
      if (raw !== undefined) w.raw(raw);
      else codec.write(w, v);
    },
    read: (r, path) => {
      const start = r.pos;
      const end = r.spanEnd(codec);
      if (end < 0) {
        // Truncated or over a bound: decoding fails with the precise error (or, for a codec without span,
        // succeeds and is remembered from a copy of what it consumed).
        const v = codec.read(r, path);
        memoOf(v).raw = r.consumed(start, r.pos).slice();
        return v;
      }
      if (r.interner !== null) {
        const held = r.interner(remembering, r.consumed(start, end));
        if (held !== undefined) {
          r.pos = end;
          return held;
        }
      }
      return r.remembered(codec, end, path);
    },
  };
  return remembering;
}

/** Records the canonical encoding of a value built or checked elsewhere (e.g. admission encoded it already). */
export function rememberEncoding(value: object, encoding: Uint8Array): void {
  memoOf(value).raw = encoding;
}

/** The canonical encoding of a value: the remembered bytes it was decoded from, else a fresh encoding. */
export function encodingOf<T extends object>(codec: Codec<T>, value: T): Uint8Array {
  return peekMemo(value)?.raw ?? encode(codec, value);
}
