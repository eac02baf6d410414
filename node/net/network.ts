// PeerNetwork: the authenticated links from this validator to every other one, message dispatch,
// reconnection, and the block-sync client and server. Independent of store and consensus: consensus
// messages are opaque bytes, sync is answered by whatever SyncProvider the node installs.
//
// Link rule: validator i dials validator j only when i < j; j accepts only from lower indexes. A pair
// therefore never races two dials, and a newer authenticated inbound link from the same peer (it
// restarted) replaces the older one. The dialing side redials with exponential backoff and jitter.

import { lookup } from "node:dns/promises";
import { createServer, connect, isIP, type Server, type Socket } from "node:net";
import { encode } from "../codec/codec.ts";
import { bytesEqual } from "../codec/hex.ts";
import { APP_MESSAGE_TYPES, NetMessage, type AppMessage, type NetMessage as NetMessageT, type PeerStatus } from "../codec/net.ts";
import { chainIdText } from "../codec/types.ts";
import type { Block } from "../codec/types.ts";
import { InboundAdmission } from "./admission.ts";
import { Backoff } from "./backoff.ts";
import { SEAL_OVERHEAD } from "./cipher.ts";
import { Connection, type ConnectionEvents, type ConnectionStats } from "./connection.ts";
import { NetError, type CloseReason } from "./errors.ts";
import type { HandshakeSigner } from "./handshake.ts";
import { resolveLimits, type NetLimits } from "./limits.ts";
import { stderrLogger, type Logger } from "./logger.ts";
import { RateLimitedLog } from "./ratelog.ts";
import {
  SyncRequests,
  checkBlocksAnswer,
  checkCommittedRange,
  fitAnswer,
  type CommittedRange,
  type FetchedBlock,
  type SyncProvider,
  type VerifiedRange,
} from "./sync.ts";

export interface ValidatorAddress {
  publicKey: Uint8Array;
  host: string;
  /** 0 = not known yet (see setPeerAddress); such a peer is not dialed. */
  port: number;
}

export interface PeerNetworkOptions {
  chainId: string;
  self: { index: number; signer: HandshakeSigner };
  /** Every validator, in genesis order (index = position); our own entry's address is not used. */
  validators: readonly ValidatorAddress[];
  /** Port 0 picks a free port; start() returns the bound address. */
  listen: { host: string; port: number };
  logger?: Logger;
  limits?: Partial<NetLimits>;
}

export type MessageHandler = (from: number, msg: AppMessage) => void | Promise<void>;

export interface PeerMetrics extends ConnectionStats {
  index: number;
  connected: boolean;
  queuedFrames: number;
  queuedBytes: number;
  rttMs: number | null;
  /** Authenticated links established with this peer so far. */
  connects: number;
  lastDisconnect: CloseReason | null;
  status: PeerStatus | null;
}

export interface NetMetrics {
  connectedPeers: number;
  handshakesOk: number;
  handshakesFailed: number;
  /** Unauthenticated inbound connections held now, on either path. */
  pendingHandshakes: number;
  /** Inbound connections closed on accept because too many handshakes were pending. */
  inboundRejected: number;
  /** Inbound connections from a validator's address admitted on the reserved path (see admission.ts). */
  inboundReserved: number;
  /** Unauthenticated reserved-path connections closed to make room for a newer one. */
  inboundEvicted: number;
  disconnects: Partial<Record<CloseReason, number>>;
  /** Totals over all links, past and present, including unauthenticated ones. */
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  framesDropped: number;
  sync: {
    requestsSent: number;
    answered: number;
    timeouts: number;
    failed: number;
    served: number;
    refusedToPeers: number;
    unsolicited: number;
  };
  peers: PeerMetrics[];
}

interface PeerSlot {
  readonly index: number;
  readonly publicKey: Uint8Array;
  host: string;
  port: number;
  /** Source addresses its host resolves to: inbound connections from them take the reserved path. */
  addrs: ReadonlySet<string>;
  /** Bumped on every address change, so a slow lookup of an old host cannot overwrite a newer one. */
  addrGeneration: number;
  conn: Connection | null;
  dialing: Connection | null;
  redialTimer: NodeJS.Timeout | null;
  readonly backoff: Backoff;
  status: PeerStatus | null;
  /** Traffic of this peer's closed links. */
  readonly past: ConnectionStats;
  connects: number;
  lastDisconnect: CloseReason | null;
  serving: number;
}

/** Close reasons that mean a handshake was attempted and failed (counted in handshakesFailed). */
const HANDSHAKE_FAILURES: ReadonlySet<CloseReason> = new Set<CloseReason>([
  "handshake_timeout",
  "stranger",
  "bad_proof",
  "wrong_chain",
  "protocol_version",
  "wrong_direction",
]);

/** How often validators' DNS names are looked up again for the reserved inbound path. */
const HOST_REFRESH_MS = 60_000;

/** A socket's remote address as the admission rules compare it: IPv4-mapped IPv6 reads as plain IPv4. */
export function sourceAddress(addr: string | undefined): string {
  if (addr === undefined) return "unknown";
  return addr.toLowerCase().startsWith("::ffff:") && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr.toLowerCase();
}

export class PeerNetwork {
  readonly chainId: string;
  readonly selfIndex: number;
  readonly limits: NetLimits;
  private readonly signer: HandshakeSigner;
  private readonly validatorKeys: Uint8Array[];
  private readonly peers: PeerSlot[];
  private readonly log: Logger;
  private readonly listen: { host: string; port: number };
  private server: Server | null = null;
  private bound: { host: string; port: number } | null = null;
  private stopped = false;
  private started = false;
  /** Unauthenticated inbound connections. */
  private readonly pendingInbound: InboundAdmission<Connection>;
  /** Refusals and pre-auth drops of inbound connections, which strangers can cause at will. */
  private readonly strangerLog: RateLimitedLog;
  private hostRefreshTimer: NodeJS.Timeout | null = null;
  /** How many lower-index validators each source address hosts; recounted when an address changes. */
  private dialersByAddr = new Map<string, number>();
  private readonly messageHandlers = new Set<MessageHandler>();
  private readonly connectedHandlers = new Set<(peer: number) => void>();
  private readonly disconnectedHandlers = new Set<(peer: number, reason: CloseReason) => void>();
  private provider: SyncProvider | null = null;
  private readonly requests = new SyncRequests();
  private readonly totals: ConnectionStats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, dropped: 0 };
  private readonly counters = {
    handshakesOk: 0,
    handshakesFailed: 0,
    inboundRejected: 0,
    inboundReserved: 0,
    inboundEvicted: 0,
    disconnects: {} as Partial<Record<CloseReason, number>>,
    sync: { requestsSent: 0, answered: 0, timeouts: 0, failed: 0, served: 0, refusedToPeers: 0, unsolicited: 0 },
  };
  private readonly events: ConnectionEvents;

  constructor(opts: PeerNetworkOptions) {
    this.limits = resolveLimits(opts.limits);
    this.log = opts.logger ?? stderrLogger("net");
    try {
      chainIdText.fromJson(opts.chainId, "chainId");
    } catch (e) {
      throw new NetError("invalid_config", (e as Error).message);
    }
    const n = opts.validators.length;
    const self = opts.self.index;
    if (n === 0 || n > 1024) throw new NetError("invalid_config", `validator count ${n} is not in 1..1024`);
    if (!Number.isInteger(self) || self < 0 || self >= n) throw new NetError("invalid_config", `self index ${self} is not in 0..${n - 1}`);
    for (const [i, v] of opts.validators.entries()) {
      if (v.publicKey.length !== 32) throw new NetError("invalid_config", `validator ${i} public key is not 32 bytes`);
    }
    if (!bytesEqual(opts.self.signer.publicKey, opts.validators[self]!.publicKey)) {
      throw new NetError("invalid_config", `our signing key is not validator ${self}'s configured key`);
    }
    this.chainId = opts.chainId;
    this.selfIndex = self;
    this.signer = opts.self.signer;
    this.listen = { ...opts.listen };
    this.validatorKeys = opts.validators.map((v) => v.publicKey);
    this.peers = opts.validators.map((v, index) => ({
      index,
      publicKey: v.publicKey,
      host: v.host,
      port: v.port,
      addrs: new Set<string>(),
      addrGeneration: 0,
      conn: null,
      dialing: null,
      redialTimer: null,
      backoff: new Backoff(this.limits.reconnectBaseMs, this.limits.reconnectMaxMs),
      status: null,
      past: { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, dropped: 0 },
      connects: 0,
      lastDisconnect: null,
      serving: 0,
    }));
    this.strangerLog = new RateLimitedLog(this.log, this.limits.strangerLogIntervalMs);
    this.pendingInbound = new InboundAdmission(this.limits, {
      dialersAt: (host) => this.dialersByAddr.get(host) ?? 0,
      isDialerAt: (index, host) => index < self && this.peers[index]!.addrs.has(host),
    });
    this.events = {
      authenticated: (c) => this.onAuthenticated(c),
      claimed: (c, index) => this.onClaimed(c, index),
      message: (c, m) => this.onFrameMessage(c, m),
      closed: (c, reason) => this.onClosed(c, reason),
    };
  }

  // ---- lifecycle ----

  /** Listens, then dials every higher-index validator whose address is known. */
  async start(): Promise<{ host: string; port: number }> {
    if (this.started) throw new NetError("invalid_config", "PeerNetwork already started");
    this.started = true;
    const server = createServer({ noDelay: true }, (s) => this.onInbound(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      server.once("error", onError);
      server.listen(this.listen.port, this.listen.host, () => {
        server.off("error", onError);
        resolve();
      });
    });
    server.on("error", (e) => this.log.error("listener error", { error: e }));
    const addr = server.address();
    this.bound = typeof addr === "object" && addr !== null ? { host: addr.address, port: addr.port } : { ...this.listen };
    this.log.info("listening", { self: this.selfIndex, ...this.bound });
    for (const p of this.peers) if (p.index < this.selfIndex) this.resolvePeerHost(p);
    // A validator's DNS name may move; its reserved path follows within this refresh interval.
    this.hostRefreshTimer = setInterval(() => {
      for (const p of this.peers) if (p.index < this.selfIndex && isIP(p.host) === 0) this.resolvePeerHost(p);
    }, HOST_REFRESH_MS);
    this.hostRefreshTimer.unref();
    for (const p of this.peers) if (p.index > this.selfIndex) this.dial(p);
    return this.bound;
  }

  /** Closes every link and the listener; outstanding sync requests reject with "stopped". */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.hostRefreshTimer !== null) clearInterval(this.hostRefreshTimer);
    this.hostRefreshTimer = null;
    for (const p of this.peers) {
      if (p.redialTimer !== null) clearTimeout(p.redialTimer);
      p.redialTimer = null;
      p.dialing?.close("stopped", "network stopping");
      p.conn?.close("stopped", "network stopping");
    }
    for (const c of this.pendingInbound.connections()) c.close("stopped", "network stopping");
    this.strangerLog.close();
    this.requests.failLink(null, () => new NetError("stopped", "network stopped"));
    const server = this.server;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The bound listen address once started. */
  address(): { host: string; port: number } | null {
    return this.bound === null ? null : { ...this.bound };
  }

  /** Sets (or changes) where a validator listens; a higher-index peer is dialed at once if not linked. */
  setPeerAddress(index: number, host: string, port: number): void {
    const p = this.peers[index];
    if (p === undefined || index === this.selfIndex) throw new NetError("invalid_config", `no peer with index ${index}`);
    p.host = host;
    p.port = port;
    if (this.started && index < this.selfIndex) this.resolvePeerHost(p);
    if (this.started && index > this.selfIndex && p.conn === null && p.dialing === null) {
      if (p.redialTimer !== null) clearTimeout(p.redialTimer);
      p.redialTimer = null;
      this.dial(p);
    }
  }

  // ---- messaging ----

  /**
   * Queues a message for one peer. Returns false when the peer is not linked or its queue would not take
   * the message (a consensus message that overflows the queue also closes the link as a slow consumer).
   * Throws NetError "too_large" for a message that could never fit in a frame.
   */
  send(peer: number, msg: AppMessage): boolean {
    const p = this.peers[peer];
    if (p === undefined || peer === this.selfIndex || p.conn === null) return false;
    return p.conn.send(this.encodeApp(msg), msg.type === "consensus");
  }

  /** Queues a message for every linked peer (encoded once); returns how many took it. */
  broadcast(msg: AppMessage): number {
    const bytes = this.encodeApp(msg);
    let n = 0;
    for (const p of this.peers) if (p.conn !== null && p.conn.send(bytes, msg.type === "consensus")) n++;
    return n;
  }

  onMessage(h: MessageHandler): () => void {
    this.messageHandlers.add(h);
    return () => this.messageHandlers.delete(h);
  }
  onPeerConnected(h: (peer: number) => void): () => void {
    this.connectedHandlers.add(h);
    return () => this.connectedHandlers.delete(h);
  }
  onPeerDisconnected(h: (peer: number, reason: CloseReason) => void): () => void {
    this.disconnectedHandlers.add(h);
    return () => this.disconnectedHandlers.delete(h);
  }

  connectedPeers(): number[] {
    return this.peers.filter((p) => p.conn !== null).map((p) => p.index);
  }
  isConnected(peer: number): boolean {
    return this.peers[peer]?.conn != null;
  }
  /** Frames and bytes waiting for the peer's socket (null when not linked): the sender's backpressure signal. */
  outboundQueue(peer: number): { frames: number; bytes: number } | null {
    const c = this.peers[peer]?.conn;
    return c == null ? null : { frames: c.queuedFrames, bytes: c.queuedBytes };
  }
  /** The last status message the peer sent, if any. */
  peerStatus(peer: number): PeerStatus | null {
    return this.peers[peer]?.status ?? null;
  }

  // ---- sync ----

  setSyncProvider(provider: SyncProvider | null): void {
    this.provider = provider;
  }

  /** Blocks by header hash from one peer, checked against the hashes asked for; missing ones are absent. */
  requestBlocks(peer: number, hashes: Uint8Array[], opts: { timeoutMs?: number } = {}): Promise<FetchedBlock[]> {
    const asked = hashes.map((h) => h.slice());
    return this.request(
      peer,
      opts.timeoutMs,
      (r) => checkBlocksAnswer(asked, r.blocks),
      (requestId) => ({ type: "getBlocks", value: { requestId, hashes: asked } }),
    );
  }

  /**
   * Committed blocks from `fromHeight` on (at most maxCount, possibly fewer), with the certificate of the
   * last one; heights, hash links and bodies are checked, certificate signatures are the caller's to verify.
   */
  requestCommitted(peer: number, fromHeight: bigint, maxCount: number, opts: { timeoutMs?: number } = {}): Promise<VerifiedRange> {
    return this.request(
      peer,
      opts.timeoutMs,
      (r) => checkCommittedRange(this.chainId, fromHeight, maxCount, r),
      (requestId) => ({ type: "getCommitted", value: { requestId, fromHeight, maxCount } }),
    );
  }

  metrics(): NetMetrics {
    const peers: PeerMetrics[] = [];
    const live: ConnectionStats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, dropped: 0 };
    const addLive = (c: Connection | null): void => {
      if (c !== null) for (const k of Object.keys(live) as (keyof ConnectionStats)[]) live[k] += c.stats[k];
    };
    for (const p of this.peers) {
      if (p.index === this.selfIndex) continue;
      const c = p.conn;
      addLive(c);
      addLive(p.dialing);
      const s = { ...p.past };
      if (c !== null) for (const k of Object.keys(s) as (keyof ConnectionStats)[]) s[k] += c.stats[k];
      peers.push({
        index: p.index,
        connected: c !== null,
        queuedFrames: c?.queuedFrames ?? 0,
        queuedBytes: c?.queuedBytes ?? 0,
        rttMs: c?.rttMs ?? null,
        connects: p.connects,
        lastDisconnect: p.lastDisconnect,
        status: p.status,
        ...s,
      });
    }
    for (const c of this.pendingInbound.connections()) addLive(c);
    const t = this.totals;
    return {
      connectedPeers: peers.filter((p) => p.connected).length,
      handshakesOk: this.counters.handshakesOk,
      handshakesFailed: this.counters.handshakesFailed,
      pendingHandshakes: this.pendingInbound.size,
      inboundRejected: this.counters.inboundRejected,
      inboundReserved: this.counters.inboundReserved,
      inboundEvicted: this.counters.inboundEvicted,
      disconnects: { ...this.counters.disconnects },
      framesIn: t.framesIn + live.framesIn,
      framesOut: t.framesOut + live.framesOut,
      bytesIn: t.bytesIn + live.bytesIn,
      bytesOut: t.bytesOut + live.bytesOut,
      framesDropped: t.dropped + live.dropped,
      sync: { ...this.counters.sync },
      peers,
    };
  }

  // ---- internals: links ----

  private dial(p: PeerSlot): void {
    if (this.stopped || p.conn !== null || p.dialing !== null || p.redialTimer !== null || p.port === 0) return;
    let socket: Socket;
    try {
      socket = connect({ host: p.host, port: p.port });
    } catch (e) {
      // Only synchronous argument errors land here (a bad host string); treat like a failed dial.
      this.log.warn("dial failed", { peer: p.index, host: p.host, port: p.port, error: e });
      this.scheduleRedial(p);
      return;
    }
    p.dialing = this.newConnection(socket, "dialer", p.index, `out validator ${p.index}`);
  }

  private scheduleRedial(p: PeerSlot): void {
    if (this.stopped || p.conn !== null || p.dialing !== null || p.redialTimer !== null || p.index < this.selfIndex) return;
    const delay = p.backoff.next();
    p.redialTimer = setTimeout(() => {
      p.redialTimer = null;
      this.dial(p);
    }, delay);
    p.redialTimer.unref();
  }

  private onInbound(socket: Socket): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    socket.on("error", () => {}); // the Connection takes over error handling; this covers an early destroy
    const host = sourceAddress(socket.remoteAddress);
    const a = this.pendingInbound.admit(host);
    if (a.kind === "refused") {
      this.counters.inboundRejected++;
      this.counters.disconnects[a.reason] = (this.counters.disconnects[a.reason] ?? 0) + 1;
      this.strangerLog.note(`refused:${a.reason}`, "warn", "inbound connection refused", {
        reason: a.reason,
        remote: `${host}:${socket.remotePort}`,
      });
      socket.destroy();
      return;
    }
    if (a.kind === "reserved") {
      this.counters.inboundReserved++;
      if (a.evict !== null) this.evict(a.evict, `a newer connection from ${host} took its reserved slot`);
    }
    const c = this.newConnection(socket, "listener", undefined, `in ${host}:${socket.remotePort}`);
    this.pendingInbound.hold(c, host, a.kind);
  }

  private onClaimed(c: Connection, index: number): void {
    const old = this.pendingInbound.claim(c, index);
    if (old !== null) this.evict(old, `a newer connection claiming validator ${index} took its reserved slot`);
  }

  private evict(c: Connection, detail: string): void {
    this.counters.inboundEvicted++;
    c.close("evicted", detail);
  }

  /** The connection is no longer an unauthenticated inbound one (it authenticated, or it closed). */
  private leavePending(c: Connection): void {
    this.pendingInbound.release(c);
  }

  private resolvePeerHost(p: PeerSlot): void {
    const generation = ++p.addrGeneration;
    const set = (addrs: string[]): void => {
      p.addrs = new Set(addrs.map(sourceAddress));
      const counts = new Map<string, number>();
      for (const q of this.peers) if (q.index < this.selfIndex) for (const a of q.addrs) counts.set(a, (counts.get(a) ?? 0) + 1);
      this.dialersByAddr = counts;
    };
    if (isIP(p.host) !== 0) {
      set([p.host]);
      return;
    }
    lookup(p.host, { all: true }).then(
      (found) => {
        if (generation === p.addrGeneration) set(found.map((f) => f.address));
      },
      (e: unknown) => {
        // Keep the last known addresses: a transient DNS failure must not drop a validator's reservation.
        this.log.warn("could not resolve a validator's host; its inbound connections compete with strangers", {
          peer: p.index,
          host: p.host,
          error: e,
        });
      },
    );
  }

  private newConnection(socket: Socket, role: "dialer" | "listener", expectedPeer: number | undefined, label: string): Connection {
    return new Connection({
      socket,
      handshake: {
        role,
        chainId: this.chainId,
        selfIndex: this.selfIndex,
        signer: this.signer,
        validatorKeys: this.validatorKeys,
        ...(expectedPeer !== undefined ? { expectedPeer } : {}),
      },
      limits: this.limits,
      events: this.events,
      logger: this.log,
      label,
      ...(role === "listener" ? { strangerLog: this.strangerLog } : {}),
    });
  }

  private onAuthenticated(c: Connection): void {
    this.leavePending(c);
    const p = this.peers[c.peerIndex]!;
    if (p.dialing === c) p.dialing = null;
    if (this.stopped) {
      c.close("stopped", "network stopping");
      return;
    }
    this.counters.handshakesOk++;
    const old = p.conn;
    p.conn = c;
    p.connects++;
    this.log.info("peer linked", { peer: p.index, role: c.role, remote: c.remote, connects: p.connects });
    if (old !== null) {
      // The peer reconnected (e.g. restarted); the old link is stale. Its close reports a disconnect first.
      old.close("replaced", "a newer authenticated link to the same peer took over");
    }
    this.emit(this.connectedHandlers, (h) => h(p.index));
  }

  private onClosed(c: Connection, reason: CloseReason): void {
    this.counters.disconnects[reason] = (this.counters.disconnects[reason] ?? 0) + 1;
    for (const k of Object.keys(this.totals) as (keyof ConnectionStats)[]) this.totals[k] += c.stats[k];
    this.leavePending(c);
    const authenticated = c.peerIndex >= 0;
    if (!authenticated && HANDSHAKE_FAILURES.has(reason)) this.counters.handshakesFailed++;
    for (const p of this.peers) {
      if (p.dialing === c) {
        p.dialing = null;
        this.scheduleRedial(p);
      }
    }
    if (!authenticated) return;
    const p = this.peers[c.peerIndex]!;
    for (const k of Object.keys(p.past) as (keyof ConnectionStats)[]) p.past[k] += c.stats[k];
    p.lastDisconnect = reason;
    // Only after a link that stayed up a while is the peer retried quickly again; a peer that
    // accepts and drops at once keeps backing off.
    if (c.openForMs >= this.limits.reconnectMaxMs) p.backoff.reset();
    const wasCurrent = p.conn === c;
    if (wasCurrent) p.conn = null;
    this.requests.failLink(c, () => new NetError("peer_disconnected", `link to validator ${p.index} closed (${reason})`));
    if (!wasCurrent) {
      if (reason === "replaced") this.emit(this.disconnectedHandlers, (h) => h(p.index, reason));
      return;
    }
    this.emit(this.disconnectedHandlers, (h) => h(p.index, reason));
    this.scheduleRedial(p);
  }

  // ---- internals: messages ----

  private encodeApp(msg: AppMessage): Uint8Array {
    if (!APP_MESSAGE_TYPES.has(msg.type)) throw new NetError("invalid_request", `message type ${String(msg.type)} is not sendable by the application`);
    const bytes = encode(NetMessage, msg);
    if (bytes.length + SEAL_OVERHEAD > this.limits.maxFrameBytes) {
      throw new NetError("too_large", `${msg.type} message of ${bytes.length} bytes exceeds the frame limit of ${this.limits.maxFrameBytes}`);
    }
    return bytes;
  }

  private onFrameMessage(c: Connection, msg: NetMessageT): void {
    const from = c.peerIndex;
    const p = this.peers[from]!;
    switch (msg.type) {
      case "status":
        p.status = msg.value;
        this.deliver(from, msg);
        return;
      case "consensus":
      case "invocations":
        this.deliver(from, msg);
        return;
      case "getBlocks":
      case "getCommitted":
        void this.serve(c, p, msg);
        return;
      case "blocks":
        this.onAnswer(from, msg.value.requestId, { ok: true, range: { blocks: msg.value.blocks, certificate: msg.value.certificate } });
        return;
      case "syncRefused":
        this.onAnswer(from, msg.value.requestId, { ok: false, reason: msg.value.reason });
        return;
      default:
        // hello/auth/ping/pong never reach here (the connection handles them).
        this.log.warn("unexpected message type from peer", { peer: from, type: msg.type });
    }
  }

  private deliver(from: number, msg: AppMessage): void {
    for (const h of this.messageHandlers) {
      try {
        const r = h(from, msg);
        if (r !== undefined && typeof (r as Promise<void>).catch === "function") {
          (r as Promise<void>).catch((e: unknown) => this.log.error("message handler rejected", { peer: from, type: msg.type, error: e }));
        }
      } catch (e) {
        this.log.error("message handler threw", { peer: from, type: msg.type, error: e, stack: (e as Error)?.stack });
      }
    }
  }

  private emit<H>(handlers: Set<H>, call: (h: H) => void): void {
    for (const h of handlers) {
      try {
        call(h);
      } catch (e) {
        this.log.error("peer event handler threw", { error: e });
      }
    }
  }

  private onAnswer(from: number, requestId: number, result: { ok: true; range: CommittedRange } | { ok: false; reason: string }): void {
    if (!this.requests.answer(from, requestId, result)) {
      this.counters.sync.unsolicited++;
      this.log.warn("unsolicited sync answer", { peer: from, requestId });
    }
  }

  private request<T>(
    peer: number,
    timeoutMs: number | undefined,
    check: (r: CommittedRange) => T,
    build: (requestId: number) => NetMessageT,
  ): Promise<T> {
    if (this.stopped) return Promise.reject(new NetError("stopped", "network stopped"));
    const p = this.peers[peer];
    if (p === undefined || peer === this.selfIndex || p.conn === null) {
      return Promise.reject(new NetError("not_connected", `no link to validator ${peer}`));
    }
    const conn = p.conn;
    try {
      encode(NetMessage, build(0)); // argument check (hash count, u32/u64 ranges) before anything is registered
    } catch (e) {
      return Promise.reject(new NetError("invalid_request", (e as Error).message));
    }
    const wrapped = (r: CommittedRange): T => {
      try {
        const v = check(r);
        this.counters.sync.answered++;
        return v;
      } catch (e) {
        this.counters.sync.failed++;
        this.log.warn("bad sync answer", { peer, error: e });
        throw e;
      }
    };
    const { id, promise } = this.requests.open(peer, conn, timeoutMs ?? this.limits.syncTimeoutMs, wrapped, () => this.counters.sync.timeouts++);
    this.counters.sync.requestsSent++;
    if (!conn.send(encode(NetMessage, build(id)), true)) {
      this.requests.fail(id, new NetError("queue_full", `could not queue the request to validator ${peer}`));
    }
    return promise;
  }

  private async serve(c: Connection, p: PeerSlot, msg: Extract<NetMessageT, { type: "getBlocks" | "getCommitted" }>): Promise<void> {
    const requestId = msg.value.requestId;
    const refuse = (reason: string): void => {
      this.counters.sync.refusedToPeers++;
      c.send(encode(NetMessage, { type: "syncRefused", value: { requestId, reason } }), true);
    };
    const provider = this.provider;
    if (provider === null) return refuse("no sync provider");
    if (p.serving >= this.limits.maxConcurrentServePerPeer) return refuse("busy");
    p.serving++;
    try {
      let range: CommittedRange;
      if (msg.type === "getBlocks") {
        range = { blocks: await provider.getBlocksByHash(msg.value.hashes), certificate: null };
      } else {
        const count = Math.min(msg.value.maxCount, this.limits.maxBlocksPerResponse);
        range = count === 0 ? { blocks: [], certificate: null } : await provider.getCommitted(msg.value.fromHeight, count);
        if (range.blocks.length > count) range = { blocks: range.blocks.slice(0, count), certificate: range.blocks[count]!.header.justify };
      }
      const fitted = fitAnswer(range.blocks, range.certificate, this.limits.maxFrameBytes - SEAL_OVERHEAD);
      if (fitted.blocks.length < range.blocks.length) {
        this.log.info("sync answer cut to fit the frame limit", { peer: p.index, asked: range.blocks.length, sent: fitted.blocks.length });
      }
      if (c.isClosed) return;
      this.counters.sync.served++;
      c.send(encode(NetMessage, { type: "blocks", value: { requestId, blocks: fitted.blocks, certificate: fitted.certificate } }), true);
    } catch (e) {
      this.log.warn("sync provider failed", { peer: p.index, type: msg.type, error: e });
      if (!c.isClosed) refuse("provider error");
    } finally {
      p.serving--;
    }
  }
}
