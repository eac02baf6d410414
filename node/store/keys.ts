// Key layout of a validator's database, every table of it (README.md lists them too). One byte of table
// prefix, then fixed-width big-endian numbers so that the engine's byte order is numeric order (ranges and
// "latest" are plain iterations).
//
//   'B' ++ blockHash(32)                     -> encode(Block)             every block we were given, by hash
//   'H' ++ u64be(height)                     -> blockHash(32)             committed chain index
//   'Q' ++ u64be(height)                     -> encode(QuorumCertificate) the QC certifying that committed block
//   'T' ++ u64be(height)                     -> stateRoot(32)             root(B) after applying block B at height
//   'R' ++ u64be(height) ++ u32be(index)     -> encode(Receipt)           receipts in block order
//   'I' ++ invocationId(32)                  -> u64be(height) ++ u32be(index)  the id's run (else first rejection)
//   'N' ++ invoker(32) ++ u64be(nonce)       -> invocationId(32)          an account's accepted invocations
//   'S' ++ stateKey                          -> value                     committed world state
//   'M' ++ name                              -> meta values (see META)
//   'Z'                                      -> consensus safety state (opaque bytes)
//   'P' ++ u64be(height) ++ blockHash(32)    -> (empty)                   uncommitted block (bytes under 'B')
//   'E' ++ u64be(view) ++ u16be(validator) ++ kind(1) -> encode(Evidence)  equivocation evidence

export const TABLE = {
  block: 0x42, // B
  height: 0x48, // H
  qc: 0x51, // Q
  root: 0x54, // T
  receipt: 0x52, // R
  receiptById: 0x49, // I
  nonceIndex: 0x4e, // N
  state: 0x53, // S
  meta: 0x4d, // M
  safety: 0x5a, // Z
  pending: 0x50, // P
  evidence: 0x45, // E
} as const;

export const META = {
  /** u64be(height) ++ stateRoot(32): the last block whose execution results are in the state. */
  applied: "applied",
  /** genesisHash(32): which chain this database belongs to. */
  genesis: "genesis",
  /** u32be: layout version of this file, bumped on incompatible changes. */
  format: "format",
} as const;

export const STORE_FORMAT = 1;

// Keys are short typed arrays: a DataView over one would make V8 move it out of its heap first (see
// node/offheap.ts), so numbers go through one long-lived view and bytes are read by hand.
const scratch = new Uint8Array(8);
const scratchView = new DataView(scratch.buffer);

function be32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

export function u64be(v: bigint): Uint8Array {
  scratchView.setBigUint64(0, v, false);
  return scratch.slice();
}

export function readU64be(b: Uint8Array, offset = 0): bigint {
  if (offset < 0 || offset + 8 > b.length) throw new RangeError(`no u64 at offset ${offset} of ${b.length} bytes`);
  return (BigInt(be32(b, offset)) << 32n) | BigInt(be32(b, offset + 4));
}

export function u32be(v: number): Uint8Array {
  scratchView.setUint32(0, v, false);
  return scratch.slice(0, 4);
}

export function u16be(v: number): Uint8Array {
  scratchView.setUint16(0, v, false);
  return scratch.slice(0, 2);
}

export function readU32be(b: Uint8Array, offset = 0): number {
  if (offset < 0 || offset + 4 > b.length) throw new RangeError(`no u32 at offset ${offset} of ${b.length} bytes`);
  return be32(b, offset);
}

function key(table: number, ...parts: Uint8Array[]): Uint8Array {
  let len = 1;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  out[0] = table;
  let off = 1;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export const keys = {
  block: (hash: Uint8Array) => key(TABLE.block, hash),
  height: (h: bigint) => key(TABLE.height, u64be(h)),
  qc: (h: bigint) => key(TABLE.qc, u64be(h)),
  root: (h: bigint) => key(TABLE.root, u64be(h)),
  receipt: (h: bigint, index: number) => key(TABLE.receipt, u64be(h), u32be(index)),
  receiptsOf: (h: bigint) => key(TABLE.receipt, u64be(h)),
  receiptById: (id: Uint8Array) => key(TABLE.receiptById, id),
  nonce: (invoker: Uint8Array, nonce: bigint) => key(TABLE.nonceIndex, invoker, u64be(nonce)),
  nonceOf: (invoker: Uint8Array) => key(TABLE.nonceIndex, invoker),
  state: (stateKey: Uint8Array) => key(TABLE.state, stateKey),
  meta: (name: string) => key(TABLE.meta, new TextEncoder().encode(name)),
  safety: () => key(TABLE.safety),
  pending: (height: bigint, hash: Uint8Array) => key(TABLE.pending, u64be(height), hash),
  /** `kind` is the evidence kind's position in EVIDENCE_KINDS. */
  evidence: (view: bigint, validator: number, kind: number) => key(TABLE.evidence, u64be(view), u16be(validator), new Uint8Array([kind])),
  table: (t: number) => key(t),
};

/** The smallest key greater than every key starting with `prefix` (exclusive upper bound of a prefix range). */
export function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  const out = prefix.slice();
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! < 0xff) {
      out[i] = out[i]! + 1;
      return out.subarray(0, i + 1);
    }
  }
  return undefined; // all 0xff: the range runs to the end of the keyspace
}
