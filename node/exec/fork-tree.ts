// The executed-but-uncommitted blocks: each a node holding its write set on top of its parent's node, down to
// the committed base (parent null). Committing a node makes its children the new roots and drops every node
// that does not descend from it (the forks that lost).

import { bytesEqual } from "../codec/hex.ts";
import type { Block, Receipt } from "../codec/types.ts";
import { ReleasingMap } from "../releasing-map.ts";
import type { Overlay, OverlayWrite } from "./overlay.ts";
import type { ExecutedBlock } from "./types.ts";

export interface ExecNode {
  readonly hash: Uint8Array;
  readonly hex: string;
  readonly block: Block;
  readonly height: bigint;
  /** null: the parent is the committed base. */
  parent: ExecNode | null;
  readonly overlay: Overlay;
  /** The overlay's writes in key order (hashed into stateRoot, and what the commit stores). */
  readonly writes: readonly OverlayWrite[];
  readonly stateRoot: Uint8Array;
  readonly parentRoot: Uint8Array;
  readonly receipts: Receipt[];
}

export class ForkTree {
  private readonly nodes = new ReleasingMap<string, ExecNode>();

  get(hex: string): ExecNode | undefined {
    return this.nodes.get(hex);
  }

  has(hex: string): boolean {
    return this.nodes.has(hex);
  }

  add(node: ExecNode): void {
    this.nodes.set(node.hex, node);
  }

  hashes(): Uint8Array[] {
    return [...this.nodes.values()].map((n) => n.hash);
  }

  /** `node` (a root) was committed: it leaves the tree, its children become roots, every other node is dropped. */
  committed(node: ExecNode): void {
    this.nodes.delete(node.hex);
    // Decide what survives before re-basing anything: survivors are the descendants of the committed block.
    const doomed: string[] = [];
    for (const [k, other] of this.nodes) {
      let p: ExecNode | null = other;
      while (p !== null && p.parent !== node) p = p.parent;
      if (p === null) doomed.push(k);
    }
    for (const k of doomed) this.nodes.delete(k);
    for (const other of this.nodes.values()) if (other.parent === node) other.parent = null;
  }

  clear(): void {
    this.nodes.clear();
  }
}

/** The write layers a child of `parent` reads through, top first: the child's own `top`, then its ancestors'. */
export function layersOver(top: Overlay, parent: ExecNode | null): Overlay[] {
  const layers: Overlay[] = [top];
  for (let p = parent; p !== null; p = p.parent) layers.push(p.overlay);
  return layers;
}

/** What executeBlock reports about an executed node. */
export function summary(n: ExecNode): ExecutedBlock {
  return {
    hash: n.hash,
    height: n.height,
    stateRoot: n.stateRoot,
    parentRoot: n.parentRoot,
    headerRootMatches: bytesEqual(n.block.header.stateRoot, n.parentRoot),
    receipts: n.receipts,
  };
}
