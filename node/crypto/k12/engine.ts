// KangarooTwelve (KT128, 32-byte output) two ways: the compiled kt128.as module (64-bit lanes, the fast
// path) and @noble/hashes (pure JavaScript, for hosts that cannot compile Wasm synchronously). Both return
// identical bytes; test/k12.test.ts holds them to each other and to RFC 9861's vectors.
//
// No file system and no Node globals here: the browser-safe client reaches this module through
// node/crypto/hash.ts.

import { kt128 } from "@noble/hashes/sha3-addons.js";
import { KT128_WASM_BASE64 } from "./kt128-wasm.ts";

/** A customization string C with its framing suffix C || length_encode(|C|) (RFC 9861 section 3.2). */
export interface Customization {
  readonly bytes: Uint8Array;
  readonly suffix: Uint8Array;
}

export interface Kt128 {
  readonly backend: "wasm" | "noble";
  /** KT128(data, C, 32). */
  hash(data: Uint8Array, c: Customization): Uint8Array;
  /** KT128(a || b, C, 32), without building a || b. */
  hashPair(a: Uint8Array, b: Uint8Array, c: Customization): Uint8Array;
}

/** length_encode(x): x big-endian without leading zeros, then the count of those bytes (RFC 9861 3.3). */
function lengthEncode(x: number): number[] {
  const out: number[] = [];
  for (let v = x; v > 0; v = Math.floor(v / 256)) out.unshift(v % 256);
  out.push(out.length);
  return out;
}

export function customization(bytes: Uint8Array): Customization {
  const own = Uint8Array.from(bytes);
  const tail = lengthEncode(own.length);
  const suffix = new Uint8Array(own.length + tail.length);
  suffix.set(own);
  suffix.set(tail, own.length);
  return { bytes: own, suffix };
}

// The project compiles against lib ES2022 without DOM, which declares no WebAssembly types: just what is used.
interface WasmGlobal {
  readonly value: number;
}

interface Kt128Exports {
  readonly memory: { readonly buffer: ArrayBuffer };
  readonly INPUT: WasmGlobal;
  readonly INPUT_SIZE: WasmGlobal;
  readonly OUTPUT: WasmGlobal;
  hash(len: number): void;
  begin(): void;
  update(len: number): void;
  finish(len: number): void;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: object };
}

const CHUNK = 8192;

export class K12EngineError extends Error {
  readonly code = "k12_wasm_layout";
}

export function wasmBytes(): Uint8Array {
  const binary = atob(KT128_WASM_BASE64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/**
 * Instantiates the module synchronously (it is under 4 KB, the smallest synchronous-compile limit browsers
 * have imposed on a main thread). Throws whatever the host throws when it has no WebAssembly or refuses.
 */
export function wasmKt128(): Kt128 {
  const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
  const ex = new wasm.Instance(new wasm.Module(wasmBytes()), {}).exports as Kt128Exports;
  // The module's memory is fixed at its initial size (no memory.grow anywhere), so this view never detaches.
  const heap = new Uint8Array(ex.memory.buffer);
  const input = ex.INPUT.value;
  const capacity = ex.INPUT_SIZE.value;
  const output = ex.OUTPUT.value;
  if (capacity % CHUNK !== 0 || input + capacity > heap.length) throw new K12EngineError("kt128 wasm: unexpected memory layout");

  // Inputs longer than the input window go through in window-sized pieces (whole chunks) and a last piece.
  let fill = 0;
  const feed = (part: Uint8Array): void => {
    for (let off = 0; off < part.length; ) {
      const take = Math.min(capacity - fill, part.length - off);
      heap.set(take === part.length ? part : part.subarray(off, off + take), input + fill);
      fill += take;
      off += take;
      if (fill === capacity) {
        ex.update(capacity);
        fill = 0;
      }
    }
  };
  const streamed = (a: Uint8Array, b: Uint8Array, suffix: Uint8Array): Uint8Array => {
    ex.begin();
    fill = 0;
    feed(a);
    feed(b);
    feed(suffix);
    ex.finish(fill);
    return heap.slice(output, output + 32);
  };
  const EMPTY = new Uint8Array(0);

  return {
    backend: "wasm",
    hash(data, c) {
      const n = data.length;
      const s = c.suffix;
      if (n + s.length > capacity) return streamed(data, EMPTY, s);
      heap.set(data, input);
      heap.set(s, input + n);
      ex.hash(n + s.length);
      return heap.slice(output, output + 32);
    },
    hashPair(a, b, c) {
      const s = c.suffix;
      if (a.length + b.length + s.length > capacity) return streamed(a, b, s);
      heap.set(a, input);
      heap.set(b, input + a.length);
      heap.set(s, input + a.length + b.length);
      ex.hash(a.length + b.length + s.length);
      return heap.slice(output, output + 32);
    },
  };
}

export function nobleKt128(): Kt128 {
  return {
    backend: "noble",
    hash: (data, c) => kt128(data, { personalization: c.bytes }),
    hashPair(a, b, c) {
      const ab = new Uint8Array(a.length + b.length);
      ab.set(a);
      ab.set(b, a.length);
      return kt128(ab, { personalization: c.bytes });
    },
  };
}
