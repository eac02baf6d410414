// The world state's key space. The first byte says whose key it is; contracts reach state only through the
// host, which always prepends CONTRACT_STORAGE ++ u8(nameLen) ++ name, so no contract can address a native
// account, the contract registry, code or sources, nor another contract's storage (the length byte makes
// "ab" ++ "c..." and "a" ++ "bc..." different keys).
//
//   0x01 ++ publicKey(32)                         -> encode(Account)               native account
//   0x02 ++ u8 len ++ name                        -> encode(ContractRecord)        owner and latest version
//   0x03 ++ u8 len ++ name ++ u32be(version)      -> encode(ContractVersionInfo)
//   0x04 ++ u8 len ++ name ++ u32be(version)      -> encode(list(SourceFile))      the sources as deployed
//   0x05 ++ codeHash(32)                          -> wasm                           compiled, uninstrumented code
//   0x63 ('c') ++ u8 len ++ name ++ userKey       -> value                          contract storage (shared by all
//                                                                                    versions of that name)

import { list, struct, u32, type Infer } from "../codec/codec.ts";
import { utf8 } from "../codec/hex.ts";
import { LIMITS, SourceFile, bytes32 } from "../codec/types.ts";

export const STATE_TAG = {
  account: 0x01,
  contract: 0x02,
  version: 0x03,
  sources: 0x04,
  code: 0x05,
  storage: 0x63,
} as const;

/** What the registry keeps per contract name. */
export const ContractRecord = struct({ owner: bytes32, latest: u32 });
export type ContractRecord = Infer<typeof ContractRecord>;

export const SourceList = list(SourceFile, LIMITS.maxSourceFiles);

function withName(tag: number, name: string, tailLen: number): { out: Uint8Array; off: number } {
  const n = utf8(name);
  if (n.length === 0 || n.length > 255) throw new RangeError(`contract name must be 1..255 bytes, got ${n.length}`);
  const out = new Uint8Array(2 + n.length + tailLen);
  out[0] = tag;
  out[1] = n.length;
  out.set(n, 2);
  return { out, off: 2 + n.length };
}

function nameAndVersion(tag: number, name: string, version: number): Uint8Array {
  const { out, off } = withName(tag, name, 4);
  // Big-endian by hand: a DataView over a short key would make V8 move it out of its heap (see offheap.ts).
  out[off] = version >>> 24;
  out[off + 1] = (version >>> 16) & 255;
  out[off + 2] = (version >>> 8) & 255;
  out[off + 3] = version & 255;
  return out;
}

export const stateKeys = {
  account(publicKey: Uint8Array): Uint8Array {
    const out = new Uint8Array(33);
    out[0] = STATE_TAG.account;
    out.set(publicKey, 1);
    return out;
  },
  contract: (name: string): Uint8Array => withName(STATE_TAG.contract, name, 0).out,
  version: (name: string, version: number): Uint8Array => nameAndVersion(STATE_TAG.version, name, version),
  sources: (name: string, version: number): Uint8Array => nameAndVersion(STATE_TAG.sources, name, version),
  code(codeHash: Uint8Array): Uint8Array {
    const out = new Uint8Array(33);
    out[0] = STATE_TAG.code;
    out.set(codeHash, 1);
    return out;
  },
  /** The prefix every storage key of contract `name` starts with. */
  storagePrefix: (name: string): Uint8Array => withName(STATE_TAG.storage, name, 0).out,
  storage(prefix: Uint8Array, userKey: Uint8Array): Uint8Array {
    const out = new Uint8Array(prefix.length + userKey.length);
    out.set(prefix, 0);
    out.set(userKey, prefix.length);
    return out;
  },
};

const KEY_CHUNK = 4096;

/**
 * A state key as a Map key: one UTF-16 unit per byte, so it is one-to-one with the bytes, far cheaper to build
 * than hex, and JavaScript's string order on it is exactly the byte order of the keys.
 */
export function keyString(key: Uint8Array): string {
  if (key.length <= KEY_CHUNK) return String.fromCharCode.apply(null, key as unknown as number[]);
  let s = "";
  for (let i = 0; i < key.length; i += KEY_CHUNK) s += String.fromCharCode.apply(null, key.subarray(i, i + KEY_CHUNK) as unknown as number[]);
  return s;
}
