// Helpers for the consensus unit tests: a chain builder that forges correctly signed blocks, proposals,
// votes and certificates (the fake scheme lets a test sign as any validator), and a small synchronous
// cluster that runs real cores over a FIFO network with instant execution.

import { encode } from "../../node/codec/codec.ts";
import { concatBytes, toHex } from "../../node/codec/hex.ts";
import { BLOCK_FORMAT_VERSION, type Block, type QuorumCertificate, type SignedInvocation } from "../../node/codec/types.ts";
import { ConsensusMessage, type Proposal, type Timeout, type TimeoutCertificate, type Vote } from "../../node/codec/consensus.ts";
import { blockHash, consensusDigest, invocationsRoot, k12 } from "../../node/crypto/index.ts";
import { ConsensusCore } from "../../node/consensus/core.ts";
import { genesisBlockQc, leaderIndex } from "../../node/consensus/quorum.ts";
import type { ConsensusAction, ConsensusConfig, ConsensusCrypto, ConsensusEvent, InitialState } from "../../node/consensus/types.ts";
import { fakeCrypto } from "./fake-crypto.ts";
import { SIM_CHAIN, genesisFor } from "./simulator.ts";

export function simRoot(parentRoot: Uint8Array, hash: Uint8Array): Uint8Array {
  return k12("cairn.state", concatBytes(parentRoot, hash));
}

export interface Built {
  block: Block;
  hash: Uint8Array;
  root: Uint8Array;
}

/** Builds valid (or deliberately broken) consensus objects for an n-validator sim chain. */
export class ChainBuilder {
  readonly g: ReturnType<typeof genesisFor>;
  readonly genesis: Built;
  private readonly byHash = new Map<string, Built>();
  private nonce = 0n;

  constructor(
    readonly n: number,
    validators?: Uint8Array[],
  ) {
    this.g = genesisFor(n, validators);
    this.genesis = { block: this.g.block, hash: this.g.hash, root: this.g.root };
    this.byHash.set(toHex(this.g.hash), this.genesis);
  }

  get validators(): Uint8Array[] {
    return this.g.validators;
  }

  config(self: number | null, overrides: Partial<ConsensusConfig> = {}): ConsensusConfig {
    return {
      chainId: SIM_CHAIN,
      validators: this.g.validators,
      self,
      genesisBlockHash: this.g.hash,
      baseTimeoutMs: 1000,
      maxTimeoutMs: 8000,
      maxBlockBytes: 1 << 20,
      ...overrides,
    };
  }

  initial(): InitialState {
    return { committed: { block: this.g.block, stateRoot: this.g.root }, safety: null, blocks: [] };
  }

  core(self: number | null, overrides: Partial<ConsensusConfig> = {}): ConsensusCore {
    return new ConsensusCore(this.config(self, overrides), this.initial(), fakeCrypto(self));
  }

  sign(index: number, digest: Uint8Array): Uint8Array {
    return fakeCrypto(index).sign(digest);
  }

  invocation(): SignedInvocation {
    return {
      chainId: SIM_CHAIN,
      contract: "bank",
      version: 1,
      method: "transfer",
      input: new Uint8Array([1]),
      invoker: this.g.validators[0]!,
      nonce: this.nonce++,
      gasLimit: 1000n,
      gasPrice: 1n,
      signature: new Uint8Array(64),
    };
  }

  qc(view: bigint, hash: Uint8Array, signers?: number[]): QuorumCertificate {
    if (view === 0n) return genesisBlockQc(hash);
    const who = signers ?? Array.from({ length: this.n - Math.floor((this.n - 1) / 3) }, (_, i) => i);
    const digest = consensusDigest("cairn.vote", SIM_CHAIN, view, hash);
    return { view, blockHash: hash, signatures: who.map((signer) => ({ signer, signature: this.sign(signer, digest) })) };
  }

  qcFor(b: Built, signers?: number[]): QuorumCertificate {
    return this.qc(b.block.header.view, b.hash, signers);
  }

  /** A child of `parent` proposed in `view` by its leader, justified by a QC for the parent. */
  child(parent: Built, view: bigint, opts: { invocations?: SignedInvocation[]; justify?: QuorumCertificate } = {}): Built {
    const invocations = opts.invocations ?? [this.invocation()];
    const block: Block = {
      header: {
        formatVersion: BLOCK_FORMAT_VERSION,
        chainId: SIM_CHAIN,
        height: parent.block.header.height + 1n,
        view,
        proposer: this.g.validators[leaderIndex(view, this.n)]!,
        parentHash: parent.hash,
        justify: opts.justify ?? this.qcFor(parent),
        invocationsRoot: invocationsRoot(invocations),
        stateRoot: parent.root,
      },
      invocations,
    };
    const hash = blockHash(block.header);
    const built = { block, hash, root: simRoot(parent.root, hash) };
    this.byHash.set(toHex(hash), built);
    return built;
  }

  /** Re-hashes a block after a test edits it (the result is not registered as a chain block). */
  rebuilt(block: Block, parentRoot: Uint8Array): Built {
    const hash = blockHash(block.header);
    return { block, hash, root: simRoot(parentRoot, hash) };
  }

  proposal(b: Built, opts: { signer?: number; highTc?: TimeoutCertificate | null } = {}): Proposal {
    const view = b.block.header.view;
    const signer = opts.signer ?? leaderIndex(view, this.n);
    return { block: b.block, signature: this.sign(signer, consensusDigest("cairn.proposal", SIM_CHAIN, view, b.hash)), highTc: opts.highTc ?? null };
  }

  proposalMsg(b: Built, opts: { signer?: number; highTc?: TimeoutCertificate | null } = {}): ConsensusMessage {
    return { type: "proposal", value: this.proposal(b, opts) };
  }

  vote(signer: number, b: Built): Vote {
    const view = b.block.header.view;
    return { view, blockHash: b.hash, signer, signature: this.sign(signer, consensusDigest("cairn.vote", SIM_CHAIN, view, b.hash)) };
  }

  timeout(signer: number, view: bigint, highQc: QuorumCertificate, highTc: TimeoutCertificate | null = null): Timeout {
    return { view, highQc, highTc, signer, signature: this.sign(signer, consensusDigest("cairn.timeout", SIM_CHAIN, view, highQc.blockHash)) };
  }

  tc(view: bigint, highQc: QuorumCertificate, signers: number[]): TimeoutCertificate {
    return { view, signatures: signers.map((s) => ({ signer: s, highQcHash: highQc.blockHash, signature: this.timeout(s, view, highQc).signature })) };
  }

  get(hash: Uint8Array): Built | undefined {
    return this.byHash.get(toHex(hash));
  }
}

/**
 * One core driven by hand: executions are answered at once (unless `execute: false`) and everything the
 * core emitted, including for those follow-up events, is returned in order.
 */
export class Driver {
  readonly roots = new Map<string, Uint8Array>();

  constructor(
    public core: ConsensusCore,
    readonly chain: ChainBuilder,
  ) {
    this.roots.set(toHex(chain.genesis.hash), chain.genesis.root);
  }

  start(opts: { execute?: boolean } = {}): ConsensusAction[] {
    return this.follow(this.core.start(), opts);
  }

  step(ev: ConsensusEvent, opts: { execute?: boolean } = {}): ConsensusAction[] {
    return this.follow(this.core.step(ev), opts);
  }

  message(from: number, m: ConsensusMessage, opts: { execute?: boolean } = {}): ConsensusAction[] {
    return this.step({ type: "message", from, message: m }, opts);
  }

  private follow(first: ConsensusAction[], opts: { execute?: boolean }): ConsensusAction[] {
    const all = [...first];
    if (opts.execute === false) return all;
    const pending = [...first];
    while (pending.length > 0) {
      const a = pending.shift()!;
      if (a.type !== "execute") continue;
      const parentRoot = this.roots.get(toHex(a.block.header.parentHash));
      if (!parentRoot) throw new Error("execute before the parent was executed");
      const root = simRoot(parentRoot, a.hash);
      this.roots.set(toHex(a.hash), root);
      const next = this.core.step({ type: "executed", blockHash: a.hash, stateRoot: root });
      all.push(...next);
      pending.push(...next);
    }
    return all;
  }
}

export function ofType<T extends ConsensusAction["type"]>(actions: ConsensusAction[], type: T): Extract<ConsensusAction, { type: T }>[] {
  return actions.filter((a): a is Extract<ConsensusAction, { type: T }> => a.type === type);
}

type MessageOf<T extends ConsensusMessage["type"]> = Extract<ConsensusMessage, { type: T }>["value"];

export function sentOfType<T extends ConsensusMessage["type"]>(actions: ConsensusAction[], type: T): Array<{ to: number | "all"; value: MessageOf<T> }> {
  const out: Array<{ to: number | "all"; value: MessageOf<T> }> = [];
  for (const a of actions) if (a.type === "send" && a.message.type === type) out.push({ to: a.to, value: a.message.value as MessageOf<T> });
  return out;
}

export interface ClusterNode {
  index: number;
  core: ConsensusCore;
  roots: Map<string, Uint8Array>;
  blocks: Map<string, Block>;
  committed: Block[];
  timer: { view: bigint; ms: number } | null;
  log: ConsensusAction[][];
  down: boolean;
}

/**
 * Real cores over a FIFO network: execution and payloads answer at once, timers fire only when the test
 * says so. `drop(from, to, message)` filters deliveries. Every action list is recorded per node.
 */
export class Cluster {
  readonly nodes: ClusterNode[] = [];
  private readonly queue: Array<{ to: number; ev: ConsensusEvent }> = [];
  drop: (from: number, to: number, m: ConsensusMessage) => boolean = () => false;
  payload: (view: bigint) => SignedInvocation[] = () => [];

  constructor(
    readonly chain: ChainBuilder,
    cryptoFor: (i: number) => ConsensusCrypto = (i) => fakeCrypto(i),
  ) {
    for (let i = 0; i < chain.n; i++) {
      const core = new ConsensusCore(chain.config(i), chain.initial(), cryptoFor(i));
      this.nodes.push({ index: i, core, roots: new Map([[toHex(chain.g.hash), chain.g.root]]), blocks: new Map(), committed: [], timer: null, log: [], down: false });
    }
  }

  start(): void {
    for (const node of this.nodes) this.apply(node, node.core.start());
  }

  deliver(to: number, ev: ConsensusEvent): ConsensusAction[] {
    const node = this.nodes[to]!;
    if (node.down) return [];
    const actions = node.core.step(ev);
    this.apply(node, actions);
    return actions;
  }

  /** Processes queued events until none are left (or `maxSteps`). */
  run(maxSteps = 100_000): void {
    for (let i = 0; i < maxSteps && this.queue.length > 0; i++) {
      const { to, ev } = this.queue.shift()!;
      this.deliver(to, ev);
    }
  }

  fireTimers(): void {
    for (const node of this.nodes) {
      if (node.timer && !node.down) this.queue.push({ to: node.index, ev: { type: "timer", view: node.timer.view } });
    }
  }

  private apply(node: ClusterNode, actions: ConsensusAction[]): void {
    node.log.push(actions);
    for (const a of actions) {
      switch (a.type) {
        case "send":
          for (const other of this.nodes) {
            if (other === node || (a.to !== "all" && a.to !== other.index)) continue;
            if (this.drop(node.index, other.index, a.message)) continue;
            // Through the codec, so nothing aliases between nodes.
            this.queue.push({ to: other.index, ev: { type: "message", from: node.index, message: encode(ConsensusMessage, a.message) } });
          }
          break;
        case "setTimer":
          node.timer = { view: a.view, ms: a.ms };
          break;
        case "persistBlock":
          node.blocks.set(toHex(a.hash), a.block);
          break;
        case "execute": {
          const parentRoot = node.roots.get(toHex(a.block.header.parentHash));
          if (!parentRoot) throw new Error("execute before the parent was executed");
          const root = simRoot(parentRoot, a.hash);
          node.roots.set(toHex(a.hash), root);
          this.queue.push({ to: node.index, ev: { type: "executed", blockHash: a.hash, stateRoot: root } });
          break;
        }
        case "needPayload":
          this.queue.push({ to: node.index, ev: { type: "payload", view: a.view, parentHash: a.parentHash, invocations: this.payload(a.view) } });
          break;
        case "commit":
          for (const b of a.blocks) node.committed.push(b.block);
          break;
        case "fetch": {
          const key = toHex(a.hash);
          const holder = this.nodes.find((o) => o !== node && o.blocks.has(key));
          if (holder) this.queue.push({ to: node.index, ev: { type: "blockFromSync", block: holder.blocks.get(key)!, from: holder.index } });
          break;
        }
        default:
          break;
      }
    }
  }
}
