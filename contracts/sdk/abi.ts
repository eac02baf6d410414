// The exports the host calls around a method. The compiler adds this file as a second entry file, so
// contract authors never import or re-export anything to get them. Names start with `__`, which the
// runtime never treats as contract methods.
import { setCallBuffer, outputBuffer } from "cairn/internal";

/** Allocates the buffer the host fills with invoker(32) ++ input; returns its address. */
export function __cairn_prepare(length: i32): usize {
  const buffer = new ArrayBuffer(length);
  setCallBuffer(buffer);
  return changetype<usize>(buffer);
}

/** Address of the output bytes, 0 when the method produced none. */
export function __cairn_output_ptr(): usize {
  const buffer = outputBuffer;
  return buffer === null ? 0 : changetype<usize>(buffer);
}

/** Length of the output bytes. */
export function __cairn_output_len(): i32 {
  const buffer = outputBuffer;
  return buffer === null ? 0 : buffer.byteLength;
}
