/**
 * Bounds-checked byte reading and growable byte writing for the Wasm binary format, with LEB128.
 *
 * The reader is the only code that touches untrusted bytes directly: every read checks bounds and canonical
 * LEB128 limits and throws VmError('invalid_wasm') naming the absolute byte offset, never a RangeError.
 */

import { VmError } from "../errors.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

export class ByteReader {
  readonly buf: Uint8Array;
  pos: number;
  end: number;
  /** Prefix for error messages naming the section or function being read. */
  context: string;

  constructor(buf: Uint8Array, pos = 0, end = buf.length, context = "") {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.context = context;
  }

  fail(message: string, at = this.pos): VmError {
    const prefix = this.context ? `${this.context}: ` : "";
    return new VmError("invalid_wasm", `${prefix}${message} (at byte ${at})`);
  }

  atEnd(): boolean {
    return this.pos >= this.end;
  }

  remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos >= this.end) throw this.fail("unexpected end of data");
    return this.buf[this.pos++]!;
  }

  /** Unsigned LEB128 of at most 32 bits (5 bytes, unused bits of the last byte zero). */
  u32(): number {
    const start = this.pos;
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.u8();
      if (i === 4) {
        if (b & 0xf0) throw this.fail("invalid u32 LEB128 (too long or out of range)", start);
        return (result + b * 0x1000_0000) >>> 0;
      }
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
    throw this.fail("invalid u32 LEB128", start);
  }

  /** Signed LEB128 of at most 32 bits. */
  s32(): number {
    const start = this.pos;
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.u8();
      if (i === 4) {
        // bits 3..6 of the last byte must all equal the sign bit (bit 3), continuation bit clear
        const high = b & 0xf8;
        if (high !== 0 && high !== 0x78) throw this.fail("invalid s32 LEB128 (too long or out of range)", start);
        return (result | (b << 28)) | 0;
      }
      result |= (b & 0x7f) << shift;
      shift += 7;
      if ((b & 0x80) === 0) {
        if (shift < 32 && b & 0x40) result |= -1 << shift;
        return result | 0;
      }
    }
    throw this.fail("invalid s32 LEB128", start);
  }

  /** Signed LEB128 of at most 33 bits (block types). Returns a JS number in [-2^32, 2^32). */
  s33(): number {
    const start = this.pos;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 5; i++) {
      const b = this.u8();
      if (i === 4) {
        const high = b & 0xf0;
        if (high !== 0 && high !== 0x70) throw this.fail("invalid s33 LEB128 (too long or out of range)", start);
        result += (b & 0x7f) * mul;
        // sign bit is bit 32 of the value (bit 4 of this byte)
        return b & 0x10 ? result - 2 ** 35 : result;
      }
      result += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) {
        return b & 0x40 ? result - mul : result;
      }
    }
    throw this.fail("invalid s33 LEB128", start);
  }

  /** Signed LEB128 of at most 64 bits, validated but not materialized (we copy instruction bytes verbatim). */
  skipS64(): void {
    const start = this.pos;
    for (let i = 0; i < 10; i++) {
      const b = this.u8();
      if (i === 9) {
        if (b !== 0x00 && b !== 0x7f) throw this.fail("invalid s64 LEB128 (too long or out of range)", start);
        return;
      }
      if ((b & 0x80) === 0) return;
    }
  }

  /** Signed LEB128 of at most 64 bits as a bigint (only used for constant expressions). */
  s64(): bigint {
    const start = this.pos;
    this.skipS64();
    let result = 0n;
    let shift = 0n;
    let b = 0;
    for (let p = start; p < this.pos; p++) {
      b = this.buf[p]!;
      result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
    }
    if (shift < 64n && b & 0x40) result -= 1n << shift;
    return BigInt.asIntN(64, result);
  }

  bytes(n: number): Uint8Array {
    if (n > this.end - this.pos) throw this.fail(`length ${n} runs past the end of its section`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(n: number): void {
    if (n > this.end - this.pos) throw this.fail(`length ${n} runs past the end of its section`);
    this.pos += n;
  }

  /** A length-prefixed UTF-8 name (the spec requires valid UTF-8). */
  name(): string {
    const start = this.pos;
    const len = this.u32();
    const raw = this.bytes(len);
    try {
      return utf8.decode(raw);
    } catch {
      throw this.fail("name is not valid UTF-8", start);
    }
  }
}

export class ByteWriter {
  private buf: Uint8Array;
  len = 0;

  constructor(initialCapacity = 1024) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity));
  }

  private ensure(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  u8(b: number): this {
    this.ensure(1);
    this.buf[this.len++] = b;
    return this;
  }

  u32(v: number): this {
    this.ensure(5);
    v >>>= 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.buf[this.len++] = b;
    } while (v !== 0);
    return this;
  }

  s32(v: number): this {
    this.ensure(5);
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        this.buf[this.len++] = b;
        return this;
      }
      this.buf[this.len++] = b | 0x80;
    }
  }

  s64(value: bigint): this {
    this.ensure(10);
    let v = BigInt.asIntN(64, value);
    for (;;) {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
        this.buf[this.len++] = b;
        return this;
      }
      this.buf[this.len++] = b | 0x80;
    }
  }

  bytes(data: Uint8Array): this {
    this.ensure(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
    return this;
  }

  name(s: string): this {
    const raw = utf8Encoder.encode(s);
    return this.u32(raw.length).bytes(raw);
  }

  /** Append `inner` prefixed by its u32 byte length (sections, function bodies). */
  sized(inner: ByteWriter): this {
    return this.u32(inner.len).bytes(inner.finish());
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}
