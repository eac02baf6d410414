// Small codecs contracts need to read text inputs without floating point (parseInt returns f64).

const HEX_DIGITS = "0123456789abcdef";

function hexValue(c: i32): i32 {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  if (c >= 65 && c <= 70) return c - 55; // A-F
  return -1;
}

export namespace util {
  /** Lower-case hex of `bytes`. */
  export function toHex(bytes: Uint8Array): string {
    let out = "";
    for (let i = 0; i < bytes.length; i++) {
      const b = <i32>bytes[i];
      out += HEX_DIGITS.charAt(b >> 4) + HEX_DIGITS.charAt(b & 15);
    }
    return out;
  }

  /** Bytes of an even-length hex string, or null when `s` is not hex. */
  export function fromHex(s: string): Uint8Array | null {
    if (s.length & 1) return null;
    const out = new Uint8Array(s.length >> 1);
    for (let i = 0; i < out.length; i++) {
      const hi = hexValue(s.charCodeAt(2 * i));
      const lo = hexValue(s.charCodeAt(2 * i + 1));
      if (hi < 0 || lo < 0) return null;
      out[i] = <u8>((hi << 4) | lo);
    }
    return out;
  }

  /** Parses a plain decimal u64 ("0".."18446744073709551615"); reverts on anything else. */
  export function parseU64(s: string): u64 {
    if (s.length == 0 || s.length > 20) abort("not a decimal u64: '" + s + "'");
    let value: u64 = 0;
    for (let i = 0; i < s.length; i++) {
      const d = s.charCodeAt(i) - 48;
      if (d < 0 || d > 9) abort("not a decimal u64: '" + s + "'");
      if (value > (U64.MAX_VALUE - <u64>d) / 10) abort("decimal u64 out of range: '" + s + "'");
      value = value * 10 + <u64>d;
    }
    return value;
  }

  /** True when both byte arrays have the same length and contents. */
  export function bytesEqual(a: Uint8Array, b: Uint8Array): bool {
    if (a.length != b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] != b[i]) return false;
    return true;
  }
}
