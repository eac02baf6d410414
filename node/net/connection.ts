// One TCP connection to (or from) another validator: framing, the handshake, sealing, the bounded
// outbound queue with socket backpressure, and liveness pings. Everything the remote side can cause
// ends in close(reason) — never in an exception escaping a socket event handler.

import type { Socket } from "node:net";
import { decode, encode } from "../codec/codec.ts";
import { NetMessage, type NetMessage as NetMessageT } from "../codec/net.ts";
import { FrameOpener, FrameSealer, SEAL_OVERHEAD } from "./cipher.ts";
import type { CloseReason } from "./errors.ts";
import { FrameError, FrameReader, frame } from "./framing.ts";
import { Handshake, type HandshakeOptions } from "./handshake.ts";
import type { NetLimits } from "./limits.ts";
import type { Logger } from "./logger.ts";
import { OutboundQueue, type PushResult } from "./queue.ts";
import type { RateLimitedLog } from "./ratelog.ts";

export interface ConnectionStats {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Frames evicted from or refused by the outbound queue. */
  dropped: number;
}

export interface ConnectionEvents {
  /** The peer proved its key; `conn.peerIndex` is now trustworthy. */
  authenticated(conn: Connection): void;
  /** An authenticated message other than the transport's own (hello, auth, ping, pong). */
  message(conn: Connection, msg: NetMessageT): void;
  /** The peer's hello passed the checks: it claims validator `index` (not yet proved). */
  claimed?(conn: Connection, index: number): void;
  /** Called exactly once, whatever the cause. */
  closed(conn: Connection, reason: CloseReason, detail: string): void;
}

export interface ConnectionOptions {
  socket: Socket;
  handshake: HandshakeOptions;
  limits: NetLimits;
  events: ConnectionEvents;
  logger: Logger;
  /** For log lines: "in 127.0.0.1:5123" / "out validator 2". */
  label: string;
  /** Where the close of a connection that never authenticated is logged, when a stranger could cause it at will. */
  strangerLog?: RateLimitedLog;
}

type State = "handshake" | "open" | "closed";

/** Reasons that point at a misbehaving or hostile peer rather than ordinary churn; logged as warnings. */
const ABUSE: ReadonlySet<CloseReason> = new Set<CloseReason>([
  "stranger",
  "bad_proof",
  "wrong_chain",
  "protocol_version",
  "wrong_direction",
  "bad_frame",
  "truncated",
  "malformed",
  "decrypt_failed",
  "unexpected_message",
  "handshake_timeout",
]);

export class Connection {
  readonly stats: ConnectionStats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, dropped: 0 };
  readonly role: "dialer" | "listener";
  readonly createdAt = Date.now();
  /** Round-trip time of the last answered ping, ms. */
  rttMs: number | null = null;

  private state: State = "handshake";
  private readonly socket: Socket;
  private readonly hs: Handshake;
  private readonly reader: FrameReader;
  private readonly queue: OutboundQueue;
  private sealer: FrameSealer | null = null;
  private opener: FrameOpener | null = null;
  /** Index the peer claimed in its hello (for logs), then the authenticated one. */
  private peer = -1;
  private authenticatedPeer = -1;
  private openedAt = 0;
  private closedAt = 0;
  private blocked = false;
  private remoteAddr: string;
  private flushScheduled = false;
  private lastFrameAt = Date.now();
  private pingSeq = 0n;
  private pingSentAt = new Map<bigint, number>();
  private handshakeTimer: NodeJS.Timeout | null;
  private pingTimer: NodeJS.Timeout | null = null;
  private stallTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: ConnectionOptions) {
    this.socket = opts.socket;
    this.role = opts.handshake.role;
    this.hs = new Handshake(opts.handshake);
    this.reader = new FrameReader(opts.limits.maxHandshakeFrameBytes);
    this.queue = new OutboundQueue(opts.limits.maxQueueFrames, opts.limits.maxQueueBytes);
    this.handshakeTimer = setTimeout(
      () => this.guard(() => this.close("handshake_timeout", `not authenticated within ${opts.limits.handshakeTimeoutMs} ms`)),
      opts.limits.handshakeTimeoutMs,
    );
    this.handshakeTimer.unref();

    const s = this.socket;
    // Remembered while known: a destroyed socket no longer reports its address for the closing log line.
    this.remoteAddr = s.remoteAddress !== undefined ? `${s.remoteAddress}:${s.remotePort}` : "?";
    s.once("connect", () => (this.remoteAddr = `${s.remoteAddress}:${s.remotePort}`));
    s.setNoDelay(true);
    s.setKeepAlive(true, 10_000);
    s.on("data", (chunk: Buffer) => this.guard(() => this.onData(chunk)));
    s.on("drain", () => this.guard(() => this.onDrain()));
    s.on("error", (err: Error) => this.guard(() => this.close("socket_error", err.message)));
    s.on("close", () =>
      this.guard(() => {
        if (this.reader.pendingBytes > 0) this.close("truncated", `stream ended inside a frame (${this.reader.pendingBytes} bytes pending)`);
        else this.close("remote_closed", "connection closed");
      }),
    );
    // Node buffers writes made before 'connect', so the hello can go out at once on both roles.
    this.writePlain({ type: "hello", value: this.hs.hello });
  }

  /** Authenticated peer index, or -1 before the handshake completes. */
  get peerIndex(): number {
    return this.authenticatedPeer;
  }
  /** How long the link has been authenticated (0 if it never was). */
  get openForMs(): number {
    return this.openedAt === 0 ? 0 : (this.closedAt || Date.now()) - this.openedAt;
  }
  get isOpen(): boolean {
    return this.state === "open";
  }
  get isClosed(): boolean {
    return this.state === "closed";
  }
  get queuedFrames(): number {
    return this.queue.frames;
  }
  get queuedBytes(): number {
    return this.queue.bytes;
  }
  get remote(): string {
    return this.remoteAddr;
  }

  /**
   * Queues an encoded NetMessage. An essential frame that cannot be queued closes the link
   * (slow consumer); a bulk one is dropped. Returns whether the frame was queued.
   */
  send(plain: Uint8Array, essential: boolean): boolean {
    if (this.state !== "open") return false;
    const r: PushResult = this.queue.push(plain, essential);
    if (r.kind === "queued") {
      this.stats.dropped += r.evicted;
      this.scheduleFlush();
      return true;
    }
    this.stats.dropped++;
    if (r.kind === "overflow") {
      this.close("slow_consumer", `outbound queue full (${this.queue.frames} frames, ${this.queue.bytes} bytes) of essential messages`);
    }
    return false;
  }

  close(reason: CloseReason, detail: string): void {
    if (this.state === "closed") return;
    const wasOpen = this.state === "open";
    this.state = "closed";
    this.closedAt = Date.now();
    for (const t of [this.handshakeTimer, this.pingTimer, this.stallTimer]) if (t !== null) clearTimeout(t);
    this.handshakeTimer = this.pingTimer = this.stallTimer = null;
    this.queue.clear();
    this.socket.destroy();
    const fields = { conn: this.opts.label, remote: this.remote, peer: this.peer, reason, detail, wasOpen };
    const level = ABUSE.has(reason) ? "warn" : "info";
    const msg = ABUSE.has(reason) ? "peer connection dropped" : "peer connection closed";
    if (!wasOpen && this.opts.strangerLog !== undefined) this.opts.strangerLog.note(`closed:${reason}`, level, msg, fields);
    else this.opts.logger[level](msg, fields);
    try {
      this.opts.events.closed(this, reason, detail);
    } catch (e) {
      this.opts.logger.error("closed handler threw", { error: e });
    }
  }

  /** Runs a socket event handler so that nothing escapes it. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.opts.logger.error("internal error in connection handler", { conn: this.opts.label, error: e, stack: (e as Error)?.stack });
      this.close("internal", String((e as Error)?.message ?? e));
    }
  }

  private onData(chunk: Buffer): void {
    if (this.isClosed) return;
    this.reader.push(chunk);
    // close() may run inside the loop (a handler); re-read the state through the getter each time.
    while (!this.isClosed) {
      let body: Uint8Array | null;
      try {
        body = this.reader.next();
      } catch (e) {
        if (e instanceof FrameError) return this.close("bad_frame", e.message);
        throw e;
      }
      if (body === null) return;
      this.lastFrameAt = Date.now();
      this.stats.framesIn++;
      this.stats.bytesIn += body.length + 4;
      if (this.state === "handshake") this.onHandshakeFrame(body);
      else this.onSealedFrame(body);
    }
  }

  private onHandshakeFrame(body: Uint8Array): void {
    const msg = this.decodeOrClose(body);
    if (msg === null) return;
    if (msg.type === "hello") {
      const r = this.hs.onHello(msg.value);
      if (!r.ok) return this.close(r.reason, r.detail);
      this.peer = this.hs.claimedPeer;
      this.writePlain({ type: "auth", value: r.auth });
      this.opts.events.claimed?.(this, this.peer);
      return;
    }
    if (msg.type === "auth") {
      const r = this.hs.onAuth(msg.value);
      if (!r.ok) return this.close(r.reason, r.detail);
      this.sealer = new FrameSealer(r.keys.tx);
      this.opener = new FrameOpener(r.keys.rx);
      this.peer = this.authenticatedPeer = r.peerIndex;
      this.openedAt = Date.now();
      this.state = "open";
      this.reader.maxFrameBytes = this.opts.limits.maxFrameBytes;
      if (this.handshakeTimer !== null) clearTimeout(this.handshakeTimer);
      this.handshakeTimer = null;
      this.lastFrameAt = Date.now();
      this.pingTimer = setInterval(() => this.guard(() => this.onPingTimer()), this.opts.limits.pingIntervalMs);
      this.pingTimer.unref();
      this.opts.events.authenticated(this);
      return;
    }
    this.close("unexpected_message", `${msg.type} before the handshake completed`);
  }

  private onSealedFrame(body: Uint8Array): void {
    const plain = this.opener!.open(body);
    if (plain === null) return this.close("decrypt_failed", "frame failed authentication");
    const msg = this.decodeOrClose(plain);
    if (msg === null) return;
    switch (msg.type) {
      case "hello":
      case "auth":
        return this.close("unexpected_message", `${msg.type} after the handshake`);
      case "ping":
        this.send(encode(NetMessage, { type: "pong", value: msg.value }), true);
        return;
      case "pong": {
        const sent = this.pingSentAt.get(msg.value.nonce);
        if (sent !== undefined) {
          this.rttMs = Date.now() - sent;
          this.pingSentAt.delete(msg.value.nonce);
        }
        return;
      }
      default:
        try {
          this.opts.events.message(this, msg);
        } catch (e) {
          // A bug in our own dispatch must not cost the link; it is logged loudly instead.
          this.opts.logger.error("message handler threw", { peer: this.peer, type: msg.type, error: e, stack: (e as Error)?.stack });
        }
    }
  }

  private decodeOrClose(body: Uint8Array): NetMessageT | null {
    try {
      return decode(NetMessage, body, "frame");
    } catch (e) {
      this.close("malformed", (e as Error).message);
      return null;
    }
  }

  private onPingTimer(): void {
    if (this.state !== "open") return;
    const silent = Date.now() - this.lastFrameAt;
    if (silent > this.opts.limits.idleTimeoutMs) return this.close("idle_timeout", `nothing received for ${silent} ms`);
    const nonce = this.pingSeq++;
    // Only a handful of pings can be unanswered before the idle timeout; keep the map from growing.
    if (this.pingSentAt.size > 16) this.pingSentAt.clear();
    this.pingSentAt.set(nonce, Date.now());
    this.send(encode(NetMessage, { type: "ping", value: { nonce } }), true);
  }

  private writePlain(msg: NetMessageT): void {
    const f = frame(encode(NetMessage, msg));
    this.stats.framesOut++;
    this.stats.bytesOut += f.length;
    this.socket.write(f);
  }

  /** Sends made in one tick (a broadcast, a batch of votes) leave together at the end of it. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(() => {
      this.flushScheduled = false;
      this.guard(() => this.flush());
    });
  }

  private flush(): void {
    if (this.blocked || this.queue.frames === 0) return;
    // Corked, a run of small frames leaves as one writev instead of one syscall each.
    this.socket.cork();
    try {
      this.drainQueue();
    } finally {
      this.socket.uncork();
    }
  }

  private drainQueue(): void {
    while (!this.blocked && this.state === "open") {
      const plain = this.queue.shift();
      if (plain === undefined) return;
      const f = this.sealer!.sealFrame(plain);
      this.stats.framesOut++;
      this.stats.bytesOut += f.length;
      if (!this.socket.write(f)) {
        this.blocked = true;
        this.stallTimer = setTimeout(
          () => this.close("write_stall", `socket accepted nothing for ${this.opts.limits.writeStallTimeoutMs} ms`),
          this.opts.limits.writeStallTimeoutMs,
        );
        this.stallTimer.unref();
      }
    }
  }

  private onDrain(): void {
    if (this.stallTimer !== null) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    this.blocked = false;
    this.flush();
  }
}

/** Bytes a message of `plainBytes` occupies on the wire once sealed and framed. */
export function sealedFrameBytes(plainBytes: number): number {
  return plainBytes + SEAL_OVERHEAD;
}
