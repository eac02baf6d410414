// CPU-heavy contract for `npm run bench:vm` (and a realistic mix for gas tests).
//   run("<rounds>")  rounds (default 20) of: integer hashing, array sorting and memory traffic, string
//                    building (allocation + GC), and small storage reads/writes; outputs a checksum.
import { context, storage, util } from "cairn";

/** splitmix64 step: multiplies, shifts and xors, the bread and butter of hashing. */
function mix(x: u64): u64 {
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

function hashing(seed: u64, steps: i32): u64 {
  let h = seed;
  for (let i = 0; i < steps; i++) h = mix(h ^ <u64>i);
  return h;
}

/** Fills an array with pseudo-random values, sorts it (insertion into runs + merge) and folds it. */
function sorting(seed: u64, n: i32): u64 {
  const a = new Uint32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = mix(s);
    a[i] = <u32>s;
  }
  // Bottom-up merge sort with a scratch buffer: branchy, memory bound, no recursion.
  let src = a;
  let dst = new Uint32Array(n);
  for (let width = 1; width < n; width <<= 1) {
    for (let lo = 0; lo < n; lo += width << 1) {
      const mid = min(lo + width, n);
      const hi = min(lo + (width << 1), n);
      let i = lo;
      let j = mid;
      for (let k = lo; k < hi; k++) {
        if (i < mid && (j >= hi || unchecked(src[i]) <= unchecked(src[j]))) {
          unchecked((dst[k] = src[i++]));
        } else {
          unchecked((dst[k] = src[j++]));
        }
      }
    }
    const t = src;
    src = dst;
    dst = t;
  }
  let acc: u64 = 0;
  for (let i = 0; i < n; i++) acc = acc * 31 + <u64>unchecked(src[i]);
  return acc;
}

/** Builds and measures strings: allocation, copying and garbage for the collector. */
function strings(seed: u64, n: i32): u64 {
  let total: u64 = 0;
  let s = "";
  for (let i = 0; i < n; i++) {
    s = (seed + <u64>i).toString() + ":" + i.toString();
    total += <u64>s.length;
  }
  return total + <u64>s.charCodeAt(0);
}

/** Many small host calls: a rolling window of counters in storage. */
function hostCalls(seed: u64, n: i32): u64 {
  let acc: u64 = 0;
  for (let i = 0; i < n; i++) {
    const key = "k" + (i & 15).toString();
    const v = storage.getU64(key);
    storage.setU64(key, v + seed);
    acc += v;
  }
  return acc;
}

export function run(): void {
  const text = context.inputString();
  const rounds = text.length == 0 ? 20 : <i32>util.parseU64(text);
  let check: u64 = 0;
  for (let r = 0; r < rounds; r++) {
    const seed = check ^ <u64>r;
    check = mix(check ^ hashing(seed, 4000));
    check = mix(check ^ sorting(seed, 2048));
    check = mix(check ^ strings(seed, 200));
    check = mix(check ^ hostCalls(seed, 16));
  }
  context.outputString(check.toString());
}
