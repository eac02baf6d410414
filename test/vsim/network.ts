// The simulated links between validators: every message is encoded and decoded with the real wire codec and
// delivered after a seeded delay, or lost, duplicated or reordered (independent delays), or not at all across a
// partition. Block requests go to the peer's real sync provider and come back checked as the real network
// checks them. After GST the network is timely and reliable.

import { decode, encode } from "../../node/codec/codec.ts";
import { NetMessage } from "../../node/codec/net.ts";
import { NetError } from "../../node/net/errors.ts";
import { checkBlocksAnswer, checkCommittedRange, type FetchedBlock, type SyncProvider, type VerifiedRange } from "../../node/net/sync.ts";
import type { AppMessage, NetMetrics } from "../../node/net/index.ts";
import type { ValidatorLinks } from "../../node/validator/ports.ts";
import type { Rng } from "../sim/prng.ts";
import type { Scheduler } from "./scheduler.ts";

export interface NetFaults {
  minDelay: number;
  maxDelay: number;
  drop: number;
  dup: number;
}

/** One validator incarnation's end of the network. */
export class SimLinks implements ValidatorLinks {
  private readonly messageHandlers: Array<(from: number, msg: AppMessage) => void> = [];
  private readonly connectedHandlers: Array<(peer: number) => void> = [];
  provider: SyncProvider | null = null;
  started = false;
  /** Copies of this validator's consensus messages with flipped bits (Byzantine twins). */
  garbageRate = 0;

  constructor(
    private readonly net: SimNetwork,
    readonly index: number,
    readonly alive: () => boolean,
  ) {}

  async start(): Promise<unknown> {
    this.started = true;
    this.net.joined(this);
    return undefined;
  }

  async stop(): Promise<void> {
    this.started = false;
  }

  get up(): boolean {
    return this.started && this.alive();
  }

  send(peer: number, msg: AppMessage): boolean {
    if (!this.up) return false;
    this.net.send(this, [peer], msg);
    return true;
  }

  broadcast(msg: AppMessage): number {
    if (!this.up) return 0;
    const peers: number[] = [];
    for (let p = 0; p < this.net.n; p++) if (p !== this.index) peers.push(p);
    this.net.send(this, peers, msg);
    return peers.length;
  }

  isConnected(peer: number): boolean {
    return this.up && this.net.reachable(this.index, peer);
  }

  onMessage(handler: (from: number, msg: AppMessage) => void): () => void {
    this.messageHandlers.push(handler);
    return () => undefined;
  }

  onPeerConnected(handler: (peer: number) => void): () => void {
    this.connectedHandlers.push(handler);
    return () => undefined;
  }

  setSyncProvider(provider: SyncProvider | null): void {
    this.provider = provider;
  }

  requestBlocks(peer: number, hashes: Uint8Array[], opts: { timeoutMs?: number } = {}): Promise<FetchedBlock[]> {
    return this.net.request(this, peer, opts.timeoutMs ?? 3000, async (p) => checkBlocksAnswer(hashes, await p.getBlocksByHash(hashes)));
  }

  requestCommitted(peer: number, fromHeight: bigint, maxCount: number, opts: { timeoutMs?: number } = {}): Promise<VerifiedRange> {
    return this.net.request(this, peer, opts.timeoutMs ?? 10_000, async (p) => checkCommittedRange(this.net.chainId, fromHeight, maxCount, await p.getCommitted(fromHeight, maxCount)));
  }

  metrics(): NetMetrics {
    return { connectedPeers: 0, framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, peers: [] } as unknown as NetMetrics;
  }

  private readonly downHandlers: Array<() => void> = [];

  /** @internal runs `fn` when this incarnation goes down (its links close, failing requests to it). */
  onDown(fn: () => void): void {
    this.downHandlers.push(fn);
  }

  /** The incarnation ended (crash or halt): its links close. */
  down(): void {
    this.started = false;
    for (const fn of this.downHandlers.splice(0)) this.net.soon(fn);
  }

  /** @internal */
  deliver(from: number, msg: AppMessage): void {
    for (const h of this.messageHandlers) h(from, msg);
  }

  /** @internal */
  connected(peer: number): void {
    for (const h of this.connectedHandlers) h(peer);
  }
}

export class SimNetwork {
  private readonly endpoints: SimLinks[] = [];
  /** Partition component of each validator index; equal components reach each other. */
  private component: number[];
  faults: NetFaults;
  messages = 0;
  /** Sim time of the last partition or heal. */
  changedAt = 0;

  constructor(
    readonly n: number,
    readonly chainId: string,
    private readonly s: Scheduler,
    private readonly rng: Rng,
    faults: NetFaults,
  ) {
    this.component = new Array<number>(n).fill(0);
    this.faults = faults;
  }

  links(index: number, alive: () => boolean): SimLinks {
    const l = new SimLinks(this, index, alive);
    this.endpoints.push(l);
    return l;
  }

  reachable(a: number, b: number): boolean {
    return this.component[a] === this.component[b] && this.live(b).length > 0;
  }

  private live(index: number): SimLinks[] {
    return this.endpoints.filter((e) => e.index === index && e.up);
  }

  partition(component: number[]): void {
    this.changedAt = this.s.now;
    this.component = component.slice();
  }

  heal(): void {
    this.changedAt = this.s.now;
    const before = this.component;
    this.component = new Array<number>(this.n).fill(0);
    for (let a = 0; a < this.n; a++) for (let b = 0; b < this.n; b++) if (a !== b && before[a] !== before[b]) this.introduce(a, b);
  }

  /** A new incarnation came up: it and every reachable peer learn of each other, as after a handshake. */
  joined(l: SimLinks): void {
    this.prune();
    for (let p = 0; p < this.n; p++) if (p !== l.index && this.component[p] === this.component[l.index]) this.introduce(l.index, p);
  }

  private introduce(a: number, b: number): void {
    this.s.after(this.delay(), () => {
      if (this.component[a] !== this.component[b]) return;
      const as = this.live(a);
      const bs = this.live(b);
      if (as.length === 0 || bs.length === 0) return;
      for (const x of as) x.connected(b);
      for (const y of bs) y.connected(a);
    });
  }

  /** Forgets dead incarnations. */
  private prune(): void {
    for (let i = this.endpoints.length - 1; i >= 0; i--) if (!this.endpoints[i]!.alive()) this.endpoints.splice(i, 1);
  }

  /** @internal runs `fn` after one network delay. */
  soon(fn: () => void): void {
    this.s.after(this.delay(), fn);
  }

  private delay(): number {
    return this.rng.int(this.faults.minDelay, this.faults.maxDelay);
  }

  /** Called with every consensus message a validator sends (before loss or partitions), for the checks. */
  onSent: (from: number, message: Uint8Array) => void = () => undefined;

  /** Sends one message to each of `peers` (encoded once, as the real network frames it once per link). */
  send(from: SimLinks, peers: readonly number[], msg: AppMessage): void {
    if (msg.type === "consensus") this.onSent(from.index, msg.value);
    const bytes = encode(NetMessage, msg);
    for (const to of peers) {
      if (this.component[from.index] !== this.component[to]) continue;
      const copies = this.rng.chance(this.faults.drop) ? 0 : this.rng.chance(this.faults.dup) ? 2 : 1;
      for (let c = 0; c < copies; c++) this.transmit(from.index, to, bytes);
      if (from.garbageRate > 0 && msg.type === "consensus" && this.rng.chance(from.garbageRate)) {
        this.transmit(from.index, to, encode(NetMessage, { type: "consensus", value: flipBits(msg.value, this.rng) }));
      }
    }
  }

  private transmit(from: number, to: number, bytes: Uint8Array): void {
    this.messages++;
    this.s.after(this.delay(), () => {
      if (this.component[from] !== this.component[to]) return;
      for (const e of this.live(to)) e.deliver(from, decode(NetMessage, bytes, "simulated frame") as AppMessage);
    });
  }

  /**
   * A request to one live incarnation of `peer`, answered by its sync provider. Requests ride a stream (TCP):
   * they are not lost on their own, but fail as the real network fails them when the link goes (a partition,
   * the peer down) and time out when the answer does not come.
   */
  request<T>(from: SimLinks, peer: number, timeoutMs: number, ask: (p: SyncProvider) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const finish = (f: () => void): void => {
        if (done || !from.up) return;
        done = true;
        f();
      };
      const cut = (): void => finish(() => reject(new NetError("peer_disconnected", `link to validator ${peer} closed`)));
      this.s.after(timeoutMs, () => finish(() => reject(new NetError("timeout", `request to ${peer} timed out`))));
      if (this.component[from.index] !== this.component[peer]) return void this.s.after(0, cut);
      this.s.after(this.delay(), () => {
        const targets = this.live(peer).filter((t) => t.provider !== null);
        if (targets.length === 0 || this.component[from.index] !== this.component[peer]) return cut();
        const target = targets[this.rng.int(0, targets.length - 1)]!;
        target.onDown(cut);
        ask(target.provider!).then(
          (answer) =>
            this.s.after(this.delay(), () => {
              if (!target.up || this.component[from.index] !== this.component[peer]) cut();
              else finish(() => resolve(answer));
            }),
          (e: unknown) => this.s.after(this.delay(), () => finish(() => reject(e))),
        );
      });
    });
  }
}

function flipBits(b: Uint8Array, rng: Rng): Uint8Array {
  const out = b.slice();
  const flips = rng.int(1, 3);
  for (let i = 0; i < flips && out.length > 0; i++) out[rng.int(0, out.length - 1)]! ^= 1 << rng.int(0, 7);
  return out;
}
