// AssemblyScript source (extension .as keeps it out of the TypeScript project); compiled by
// test/vm-instrument.test.ts to check that instrumentation keeps the behaviour of real compiler output.
@external("cairn", "get") declare function host_get(kp: usize, kl: i32, bp: usize, bc: i32): i32;

let seed: u32 = 12345;
const table = new StaticArray<i32>(256);
for (let i = 0; i < 256; i++) unchecked(table[i] = i * i - 100); // top-level code -> start function

export function getSeed(): u32 { return seed; }

export function sumTo(n: i32): i64 {
  let s: i64 = 0;
  for (let i = 0; i < n; i++) s += <i64>i * <i64>unchecked(table[i & 255]);
  return s;
}

export function sortChecksum(n: i32): u32 {
  const a = new Array<u32>(n);
  let x = seed;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >> 17; x ^= x << 5; a[i] = x % 1000; }
  a.sort((p, q) => <i32>p - <i32>q);
  let h: u32 = 0;
  for (let i = 0; i < n; i++) h = h * 31 + a[i];
  return h;
}

export function fib(n: i32): i32 { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

export function classify(n: i32): i32 {
  switch (n) {
    case 0: return 10;
    case 1: return 20;
    case 2: return 35;
    case 3: return 47;
    case 4: return 51;
    case 5: return 68;
    default: return -1;
  }
}

function twice(x: i32): i32 { return x * 2; }
function thrice(x: i32): i32 { return x * 3; }
export function viaPointer(which: i32, x: i32): i32 {
  const f = which ? twice : thrice;
  return f(x);
}

export function floats(x: f64): f64 {
  return Math.sqrt(x) * 1.5 + Math.floor(x / 7.0) - <f64>(<f32>x * <f32>0.1);
}

export function text(n: i32): i32 {
  let s = "";
  for (let i = 0; i < n; i++) s += i.toString();
  return s.length;
}

export function hostLoop(n: i32): i32 {
  const key = new StaticArray<u8>(4);
  let misses = 0;
  for (let i = 0; i < n; i++) {
    unchecked(key[0] = <u8>i);
    if (host_get(changetype<usize>(key), 4, 0, 0) < 0) misses++;
  }
  return misses;
}

export function bulk(n: i32): i32 {
  const buf = new StaticArray<u8>(n * 2);
  memory.fill(changetype<usize>(buf), 7, n);
  memory.copy(changetype<usize>(buf) + n, changetype<usize>(buf), n);
  return unchecked(buf[n * 2 - 1]);
}
