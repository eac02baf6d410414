// JSON forms for values the codec has no definition for (evidence records are free-form): bigints become
// decimal strings and bytes become hex, as everywhere else in the API.

import { toHex } from "../codec/hex.ts";

export function jsonSafe(v: unknown, depth = 0): unknown {
  if (depth > 32) return null;
  if (typeof v === "bigint") return v.toString(10);
  if (v instanceof Uint8Array) return toHex(v);
  if (Array.isArray(v)) return v.map((x) => jsonSafe(x, depth + 1));
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), jsonSafe(x, depth + 1)]));
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x, depth + 1)]));
  }
  if (typeof v === "function" || typeof v === "symbol") return null;
  return v;
}
