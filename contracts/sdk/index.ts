// The Cairn contract SDK, imported by contracts as "cairn".
//
//   import { context, storage } from "cairn";
//   export function increment(): void {
//     const n = storage.getU64("count");
//     storage.setU64("count", n + 1);
//     context.outputString((n + 1).toString());
//   }
//
// Every exported function of type () => void whose name does not start with "__" is a method.
// Storage is private to the contract; writes become visible to later reads of the same invocation and
// are committed only when the method returns normally. `context.revert`, a failed `assert`, a thrown
// error or `abort` discard every write and report the message.
import { hostGet, hostSet, hostProposerAddr } from "cairn/env";
import { requireCallBuffer, setOutputBuffer, INVOKER_BYTES } from "cairn/internal";

export namespace context {
  /** The invocation's input bytes. */
  export function input(): Uint8Array {
    const buffer = requireCallBuffer();
    return Uint8Array.wrap(buffer, INVOKER_BYTES, buffer.byteLength - INVOKER_BYTES);
  }

  /** The invocation's input decoded as UTF-8 (invalid sequences become U+FFFD). */
  export function inputString(): string {
    const buffer = requireCallBuffer();
    return String.UTF8.decodeUnsafe(
      changetype<usize>(buffer) + <usize>INVOKER_BYTES,
      <usize>(buffer.byteLength - INVOKER_BYTES),
    );
  }

  /** The 32-byte ed25519 public key that signed the invocation. */
  export function invoker(): Uint8Array {
    return Uint8Array.wrap(requireCallBuffer(), 0, INVOKER_BYTES);
  }

  /** The 32-byte public key of the proposer of the block being executed. */
  export function proposer(): Uint8Array {
    const out = new Uint8Array(32);
    hostProposerAddr(out.dataStart);
    return out;
  }

  /** Sets the method's result (the last call wins). */
  export function output(data: Uint8Array): void {
    setOutputBuffer(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  }

  /** Sets the method's result to the UTF-8 bytes of `s`. */
  export function outputString(s: string): void {
    setOutputBuffer(String.UTF8.encode(s));
  }

  /** Stops the invocation: every write is discarded and `message` is reported as the error. */
  export function revert(message: string): void {
    abort(message);
  }
}

/** Smallest buffer tried on a read; larger values cost a second host call of the exact size. */
const FIRST_READ_CAPACITY: i32 = 128;

function utf8(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}

export namespace storage {
  /** The value stored at `key`, or null when absent. */
  export function get(key: Uint8Array): Uint8Array | null {
    let buf = new Uint8Array(FIRST_READ_CAPACITY);
    let len = hostGet(key.dataStart, key.length, buf.dataStart, buf.length);
    if (len < 0) return null;
    if (len > buf.length) {
      buf = new Uint8Array(len);
      len = hostGet(key.dataStart, key.length, buf.dataStart, buf.length);
    }
    return len == buf.length ? buf : buf.slice(0, len);
  }

  /** True when a value is stored at `key`. */
  export function has(key: Uint8Array): bool {
    return hostGet(key.dataStart, key.length, 0, 0) >= 0;
  }

  /** Stores `value` at `key`; an empty value deletes the key. */
  export function set(key: Uint8Array, value: Uint8Array): void {
    hostSet(key.dataStart, key.length, value.dataStart, value.length);
  }

  /** Deletes `key` (same as setting an empty value). */
  export function remove(key: Uint8Array): void {
    hostSet(key.dataStart, key.length, 0, 0);
  }

  /** The UTF-8 string stored at the UTF-8 key `key`, or null when absent. */
  export function getString(key: string): string | null {
    const value = get(utf8(key));
    if (value === null) return null;
    return String.UTF8.decodeUnsafe(value.dataStart, <usize>value.length);
  }

  /** Stores the UTF-8 bytes of `value` at the UTF-8 key `key` (an empty string deletes it). */
  export function setString(key: string, value: string): void {
    set(utf8(key), utf8(value));
  }

  /** The little-endian u64 at the UTF-8 key `key`, 0 when absent; reverts if the value is not 8 bytes. */
  export function getU64(key: string): u64 {
    const value = get(utf8(key));
    if (value === null) return 0;
    if (value.length != 8) abort("storage.getU64: value of '" + key + "' is not 8 bytes");
    return load<u64>(value.dataStart);
  }

  /** Stores `value` as 8 little-endian bytes at the UTF-8 key `key`. */
  export function setU64(key: string, value: u64): void {
    const bytes = new Uint8Array(8);
    store<u64>(bytes.dataStart, value);
    set(utf8(key), bytes);
  }

  /** Deletes the UTF-8 key `key`. */
  export function removeString(key: string): void {
    remove(utf8(key));
  }
}

export { util } from "cairn/util";
