// The tree of known uncommitted blocks, rooted at the last committed block. Every block in it has its
// parent in it (or is the root), so ancestry walks never leave the tree above the committed head.

import { toHex } from "../codec/hex.ts";
import type { Block } from "../codec/types.ts";
import { ConsensusInvariantError } from "./types.ts";
import { ReleasingMap } from "../releasing-map.ts";

export interface TreeNode {
  readonly block: Block;
  readonly hash: Uint8Array;
  readonly key: string;
  readonly parentKey: string;
  readonly height: bigint;
  readonly view: bigint;
  readonly children: Set<string>;
  /** root(block) once executed here. */
  stateRoot: Uint8Array | null;
  executeRequested: boolean;
}

export class BlockTree {
  private readonly nodes = new ReleasingMap<string, TreeNode>();
  private rootKey: string;

  constructor(root: Block, rootHash: Uint8Array, rootStateRoot: Uint8Array) {
    const node = makeNode(root, rootHash);
    node.stateRoot = rootStateRoot;
    node.executeRequested = true;
    this.nodes.set(node.key, node);
    this.rootKey = node.key;
  }

  get root(): TreeNode {
    return this.nodes.get(this.rootKey)!;
  }

  get size(): number {
    return this.nodes.size;
  }

  get(key: string): TreeNode | undefined {
    return this.nodes.get(key);
  }

  getByHash(hash: Uint8Array): TreeNode | undefined {
    return this.nodes.get(toHex(hash));
  }

  has(key: string): boolean {
    return this.nodes.has(key);
  }

  parent(node: TreeNode): TreeNode | undefined {
    return node.key === this.rootKey ? undefined : this.nodes.get(node.parentKey);
  }

  /** Adds a block whose parent is in the tree (callers check); returns the existing node if already present. */
  add(block: Block, hash: Uint8Array): TreeNode {
    const node = makeNode(block, hash);
    const existing = this.nodes.get(node.key);
    if (existing) return existing;
    const parent = this.nodes.get(node.parentKey);
    if (!parent) throw new ConsensusInvariantError(`block ${node.key} added without its parent ${node.parentKey}`);
    if (node.height !== parent.height + 1n) throw new ConsensusInvariantError(`block ${node.key} height does not follow its parent`);
    parent.children.add(node.key);
    this.nodes.set(node.key, node);
    return node;
  }

  /** True when `node` is `ancestorKey` or descends from it. */
  extends(node: TreeNode, ancestorKey: string): boolean {
    const anc = this.nodes.get(ancestorKey);
    if (!anc) return false;
    let cur: TreeNode | undefined = node;
    while (cur && cur.height > anc.height) cur = this.parent(cur);
    return cur !== undefined && cur.key === anc.key;
  }

  /** Blocks strictly above the root up to and including `node`, oldest first. */
  pathFromRoot(node: TreeNode): TreeNode[] {
    const out: TreeNode[] = [];
    let cur: TreeNode | undefined = node;
    while (cur && cur.key !== this.rootKey) {
      out.push(cur);
      cur = this.parent(cur);
    }
    if (!cur) throw new ConsensusInvariantError(`block ${node.key} is not connected to the committed head`);
    return out.reverse();
  }

  /**
   * Makes `newRootKey` (a descendant of the root) the root and drops everything not descending from it.
   * Returns the dropped blocks other than the path from the old root (those were committed).
   */
  reroot(newRootKey: string): { committedPath: TreeNode[]; dropped: TreeNode[] } {
    const newRoot = this.nodes.get(newRootKey);
    if (!newRoot) throw new ConsensusInvariantError(`new root ${newRootKey} is not in the tree`);
    const committedPath = this.pathFromRoot(newRoot);
    const keep = new Set<string>();
    const stack = [newRootKey];
    while (stack.length > 0) {
      const k = stack.pop()!;
      keep.add(k);
      for (const c of this.nodes.get(k)!.children) stack.push(c);
    }
    const onPath = new Set(committedPath.map((n) => n.key));
    onPath.add(this.rootKey);
    const dropped: TreeNode[] = [];
    for (const [k, n] of this.nodes) {
      if (keep.has(k)) continue;
      this.nodes.delete(k);
      if (!onPath.has(k)) dropped.push(n);
    }
    this.rootKey = newRootKey;
    return { committedPath, dropped };
  }

  *all(): IterableIterator<TreeNode> {
    yield* this.nodes.values();
  }
}

function makeNode(block: Block, hash: Uint8Array): TreeNode {
  return {
    block,
    hash,
    key: toHex(hash),
    parentKey: toHex(block.header.parentHash),
    height: block.header.height,
    view: block.header.view,
    children: new Set(),
    stateRoot: null,
    executeRequested: false,
  };
}
