// In-memory write sets layered over the committed state, and the state commitment computed from them.
//
// root(genesis) = k12("cairn.state", encode(genesis allocations in order))
// root(B)       = k12("cairn.state", root(parent) ++ k12("cairn.state.delta", encode(WriteSet of B)))
// where WriteSet is every state key B wrote, sorted by key bytes, an empty value meaning "deleted".

import { bytes, encode, list, struct } from "../codec/codec.ts";
import { concatBytes } from "../codec/hex.ts";
import { GenesisAllocation, type Genesis } from "../codec/types.ts";
import { k12 } from "../crypto/hash.ts";
import type { StateWrite } from "../store/store.ts";
import { keyString } from "./state-keys.ts";

/** Keys and values of the state can be larger than what receipts carry (code, sources), so wide bounds here. */
const WriteSetCodec = list(struct({ key: bytes(1 << 16), value: bytes(1 << 24) }), 1 << 24);
const AllocationsCodec = list(GenesisAllocation, 100_000);

const EMPTY = new Uint8Array(0);

/** One write of an overlay, with its key's string form (keyString) that the overlay and the cache are keyed by. */
export interface OverlayWrite extends StateWrite {
  readonly str: string;
}

/** One layer of writes: last write per key wins; a null value is a deletion. */
export class Overlay {
  private readonly entries = new Map<string, OverlayWrite>();

  get size(): number {
    return this.entries.size;
  }

  /** The layer's entry for a key (keyString), undefined when this layer did not write it. */
  lookup(str: string): OverlayWrite | undefined {
    return this.entries.get(str);
  }

  set(key: Uint8Array, value: Uint8Array | null, str = keyString(key)): void {
    this.entries.set(str, { key, value: value !== null && value.length === 0 ? null : value, str });
  }

  /** The writes sorted by key bytes: the one order used for hashing, storing and reporting. */
  sorted(): OverlayWrite[] {
    // keyString order is byte order, and comparing strings natively beats comparing bytes in a loop.
    return [...this.entries.values()].sort((a, b) => (a.str < b.str ? -1 : a.str > b.str ? 1 : 0));
  }
}

export function deltaHash(sortedWrites: readonly StateWrite[]): Uint8Array {
  const encoded = encode(
    WriteSetCodec,
    sortedWrites.map((w) => ({ key: w.key, value: w.value ?? EMPTY })),
  );
  return k12("cairn.state.delta", encoded);
}

export function nextStateRoot(parentRoot: Uint8Array, sortedWrites: readonly StateWrite[]): Uint8Array {
  return k12("cairn.state", concatBytes(parentRoot, deltaHash(sortedWrites)));
}

export function genesisStateRoot(genesis: Genesis): Uint8Array {
  return k12("cairn.state", encode(AllocationsCodec, genesis.allocations));
}
