// AssemblyScript source (extension .as keeps it out of the TypeScript project); compiled by bench/instrument-micro.ts.
// CPU-heavy contract for the metering overhead benchmark: loops, integer arithmetic, memory traffic, small host calls.
@external("cairn", "get") declare function host_get(kp: usize, kl: i32, bp: usize, bc: i32): i32;

const N = 4096;
const data = new StaticArray<u32>(N);
const key = new StaticArray<u8>(8);
const flags = new StaticArray<u8>(20000);

function mix(x: u32): u32 {
  x ^= x >>> 16; x *= 0x7feb352d; x ^= x >>> 15; x *= 0x846ca68b; x ^= x >>> 16;
  return x;
}

function sieve(limit: i32): i32 {
  memory.fill(changetype<usize>(flags), 0, limit);
  let count = 0;
  for (let i = 2; i < limit; i++) {
    if (unchecked(flags[i]) == 0) {
      count++;
      for (let j = i * i; j < limit; j += i) unchecked(flags[j] = 1);
    }
  }
  return count;
}

function insertionSort(n: i32): void {
  for (let i = 1; i < n; i++) {
    const v = unchecked(data[i]);
    let j = i - 1;
    while (j >= 0 && unchecked(data[j]) > v) { unchecked(data[j + 1] = data[j]); j--; }
    unchecked(data[j + 1] = v);
  }
}

export function bench(rounds: i32): u32 {
  let acc: u32 = 0;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < N; i++) unchecked(data[i] = mix(<u32>(i + r * 7919)));
    insertionSort(512);
    for (let i = 0; i < N; i++) acc = acc * 31 + unchecked(data[i]);
    acc += <u32>sieve(flags.length);
    for (let i = 0; i < 50; i++) {
      unchecked(key[0] = <u8>i);
      acc += <u32>host_get(changetype<usize>(key), 8, 0, 0);
    }
  }
  return acc;
}
