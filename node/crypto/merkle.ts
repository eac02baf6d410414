// Binary Merkle root over 32-byte leaf hashes. An odd node is promoted unchanged rather than paired with
// itself, so no two different leaf lists share a root (the duplicated-last-leaf ambiguity of Bitcoin's tree).

import { k12, k12Pair } from "./hash.ts";

export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return k12("cairn.merkle.empty", new Uint8Array(0));
  let level = leaves.map((l) => k12("cairn.merkle.leaf", l));
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(k12Pair("cairn.merkle.node", level[i]!, level[i + 1]!));
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    level = next;
  }
  return level[0]!;
}
