// Shared fixtures of the net tests: validator keys, real PeerNetworks on 127.0.0.1 with ephemeral
// ports, a log-capturing logger, a raw TCP peer that speaks the handshake itself (to misbehave), and
// a chain of linked blocks for sync.

import { connect, type Socket } from "node:net";
import { decode, encode } from "../node/codec/codec.ts";
import { NetMessage, type NetMessage as NetMessageT } from "../node/codec/net.ts";
import type { Block, QuorumCertificate, SignedInvocation } from "../node/codec/types.ts";
import { blockHash, invocationsRoot } from "../node/crypto/digests.ts";
import { SodiumSigner } from "../node/crypto/sodium.ts";
import { FrameOpener, FrameSealer } from "../node/net/cipher.ts";
import { FrameReader, frame } from "../node/net/framing.ts";
import { Handshake, type HandshakeSigner } from "../node/net/handshake.ts";
import type { NetLimits } from "../node/net/limits.ts";
import type { LogFields, Logger } from "../node/net/logger.ts";
import { PeerNetwork } from "../node/net/network.ts";

export const CHAIN = "cairn-net-test";

export function signerFor(seedByte: number): SodiumSigner {
  return new SodiumSigner(new Uint8Array(32).fill(seedByte));
}

export const FAST_LIMITS: Partial<NetLimits> = {
  handshakeTimeoutMs: 1_000,
  reconnectBaseMs: 20,
  reconnectMaxMs: 200,
  pingIntervalMs: 200,
  idleTimeoutMs: 3_000,
  syncTimeoutMs: 1_000,
};

export interface LogEntry {
  level: "info" | "warn" | "error";
  msg: string;
  fields: LogFields;
}

export class CapturingLogger implements Logger {
  readonly entries: LogEntry[] = [];
  info(msg: string, fields: LogFields = {}): void {
    this.entries.push({ level: "info", msg, fields });
  }
  warn(msg: string, fields: LogFields = {}): void {
    this.entries.push({ level: "warn", msg, fields });
  }
  error(msg: string, fields: LogFields = {}): void {
    this.entries.push({ level: "error", msg, fields });
  }
  /** Entries whose close reason is `reason`. */
  dropped(reason: string): LogEntry[] {
    return this.entries.filter((e) => e.fields.reason === reason);
  }
}

export interface Cluster {
  signers: SodiumSigner[];
  nets: (PeerNetwork | null)[];
  logs: CapturingLogger[];
  ports: number[];
  /** (Re)creates and starts node i on its previous port (or a fresh one), wiring the known addresses. */
  startNode(i: number, limits?: Partial<NetLimits>): Promise<PeerNetwork>;
  stopAll(): Promise<void>;
  net(i: number): PeerNetwork;
}

/**
 * `n` validators; `running` lists the indexes backed by a PeerNetwork (the rest are keys only, for raw
 * peers to impersonate). Every running node learns every other running node's port.
 */
export async function cluster(n: number, running: number[], limits: Partial<NetLimits> = {}): Promise<Cluster> {
  const signers = Array.from({ length: n }, (_, i) => signerFor(i + 1));
  const nets: (PeerNetwork | null)[] = Array(n).fill(null);
  const logs = Array.from({ length: n }, () => new CapturingLogger());
  const ports: number[] = Array(n).fill(0);
  const c: Cluster = {
    signers,
    nets,
    logs,
    ports,
    async startNode(i, extra = {}) {
      const net = new PeerNetwork({
        chainId: CHAIN,
        self: { index: i, signer: signers[i]! },
        validators: signers.map((s, j) => ({ publicKey: s.publicKey, host: "127.0.0.1", port: ports[j]! })),
        listen: { host: "127.0.0.1", port: ports[i]! },
        logger: logs[i]!,
        limits: { ...FAST_LIMITS, ...limits, ...extra },
      });
      nets[i] = net;
      const addr = await net.start();
      ports[i] = addr.port;
      // Lower-index running nodes dial us once they know where we are.
      for (const [j, other] of nets.entries()) if (other !== null && j !== i) other.setPeerAddress(i, "127.0.0.1", addr.port);
      return net;
    },
    async stopAll() {
      await Promise.all(nets.map((x) => x?.stop()));
    },
    net(i) {
      const x = nets[i];
      if (!x) throw new Error(`node ${i} not running`);
      return x;
    },
  };
  for (const i of running) await c.startNode(i);
  return c;
}

export async function waitFor(cond: () => boolean, timeoutMs = 5_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits until every running node is linked to every other running node. */
export async function fullMesh(c: Cluster, running: number[], timeoutMs = 5_000): Promise<void> {
  await waitFor(
    () => running.every((i) => running.every((j) => i === j || c.net(i).isConnected(j))),
    timeoutMs,
    `full mesh of ${running.join(",")}`,
  );
}

/** Resolves with the next message of `type` that node `to` receives from node `from`. */
export function nextMessage(net: PeerNetwork, from: number, pred: (m: NetMessageT) => boolean, timeoutMs = 3_000): Promise<NetMessageT> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching message from ${from} within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = net.onMessage((f, m) => {
      if (f === from && pred(m)) {
        clearTimeout(timer);
        off();
        resolve(m);
      }
    });
  });
}

/** A consensus payload round trip between two running nodes: proof that a link carries traffic. */
export async function roundTrip(c: Cluster, a: number, b: number, tag: number): Promise<void> {
  const payload = new Uint8Array([tag, a, b, 0xca, 0x1e]);
  const got = nextMessage(c.net(b), a, (m) => m.type === "consensus" && m.value[0] === tag && m.value[1] === a);
  if (!c.net(a).send(b, { type: "consensus", value: payload })) throw new Error(`node ${a} could not send to ${b}`);
  await got;
}

// ---- a raw peer that does the handshake by hand ----

export interface RawPeerOptions {
  port: number;
  index: number;
  signer: HandshakeSigner;
  validatorKeys: Uint8Array[];
  chainId?: string;
  /** Validator the raw peer believes it dialed. */
  expectedPeer: number;
}

export class RawPeer {
  readonly socket: Socket;
  readonly received: NetMessageT[] = [];
  readonly closed: Promise<void>;
  readonly hs: Handshake;
  private readonly reader = new FrameReader(64 * 1024 * 1024);
  private sealer: FrameSealer | null = null;
  private opener: FrameOpener | null = null;
  private authed: (() => void) | null = null;
  private failed: ((e: Error) => void) | null = null;
  isClosed = false;

  constructor(private readonly opts: RawPeerOptions) {
    this.socket = connect({ host: "127.0.0.1", port: opts.port });
    this.socket.on("error", () => {});
    this.closed = new Promise((resolve) =>
      this.socket.on("close", () => {
        this.isClosed = true;
        this.failed?.(new Error("closed during handshake"));
        resolve();
      }),
    );
    this.hs = new Handshake({
      role: "dialer",
      chainId: opts.chainId ?? CHAIN,
      selfIndex: opts.index,
      signer: opts.signer,
      validatorKeys: opts.validatorKeys,
      expectedPeer: opts.expectedPeer,
    });
    this.socket.on("data", (chunk: Buffer) => this.onData(chunk));
  }

  /** Sends the hello and completes the handshake (rejects if the node closes first). */
  handshake(): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      this.authed = resolve;
      this.failed = reject;
    });
    this.sendPlain({ type: "hello", value: this.hs.hello });
    return done;
  }

  sendPlain(msg: NetMessageT): void {
    this.socket.write(frame(encode(NetMessage, msg)));
  }
  /** A sealed frame carrying arbitrary plaintext (need not decode). */
  sendSealedBytes(plain: Uint8Array): void {
    this.socket.write(this.sealer!.sealFrame(plain));
  }
  send(msg: NetMessageT): void {
    this.sendSealedBytes(encode(NetMessage, msg));
  }
  sendRaw(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }
  destroy(): void {
    this.socket.destroy();
  }

  /** A protocol error the raw peer hit while reading (it then drops the socket). */
  error: Error | null = null;

  private onData(chunk: Buffer): void {
    try {
      this.readFrames(chunk);
    } catch (e) {
      this.error = e as Error;
      this.socket.destroy();
    }
  }

  private readFrames(chunk: Buffer): void {
    this.reader.push(chunk);
    for (;;) {
      const body = this.reader.next();
      if (body === null) return;
      if (this.opener !== null) {
        const plain = this.opener.open(body);
        if (plain === null) throw new Error("raw peer: node sent an unauthentic frame");
        this.received.push(decode(NetMessage, plain));
        continue;
      }
      const msg = decode(NetMessage, body);
      if (msg.type === "hello") {
        const r = this.hs.onHello(msg.value);
        if (!r.ok) throw new Error(`raw peer: ${r.detail}`);
        this.sendPlain({ type: "auth", value: r.auth });
      } else if (msg.type === "auth") {
        const r = this.hs.onAuth(msg.value);
        if (!r.ok) throw new Error(`raw peer: ${r.detail}`);
        this.sealer = new FrameSealer(r.keys.tx);
        this.opener = new FrameOpener(r.keys.rx);
        this.authed?.();
      }
    }
  }
}

// ---- blocks ----

export function invocation(nonce: bigint, inputBytes = 3): SignedInvocation {
  return {
    chainId: CHAIN,
    contract: "token",
    version: 1,
    method: "transfer",
    input: new Uint8Array(inputBytes).fill(Number(nonce % 251n)),
    invoker: new Uint8Array(32).fill(9),
    nonce,
    gasLimit: 1_000_000n,
    gasPrice: 1n,
    signature: new Uint8Array(64).fill(4),
  };
}

function qc(view: bigint, hash: Uint8Array): QuorumCertificate {
  return { view, blockHash: hash, signatures: [{ signer: 0, signature: new Uint8Array(64).fill(7) }] };
}

/** Blocks at heights 1..count, hash-linked, each justify certifying the parent; plus the QC of the last. */
export function chainOfBlocks(count: number, invocationsPerBlock = 2, inputBytes = 3): { blocks: Block[]; hashes: Uint8Array[]; lastQc: QuorumCertificate } {
  const blocks: Block[] = [];
  const hashes: Uint8Array[] = [];
  let parent: Uint8Array = new Uint8Array(32).fill(1);
  for (let h = 1; h <= count; h++) {
    const invocations = Array.from({ length: invocationsPerBlock }, (_, k) => invocation(BigInt(h * 1000 + k), inputBytes));
    const block: Block = {
      header: {
        formatVersion: 1,
        chainId: CHAIN,
        height: BigInt(h),
        view: BigInt(h),
        proposer: new Uint8Array(32).fill(3),
        parentHash: parent,
        justify: qc(BigInt(h - 1), parent),
        invocationsRoot: invocationsRoot(invocations),
        stateRoot: new Uint8Array(32).fill(5),
      },
      invocations,
    };
    const hash = blockHash(block.header);
    blocks.push(block);
    hashes.push(hash);
    parent = hash;
  }
  return { blocks, hashes, lastQc: qc(BigInt(count), hashes[count - 1]!) };
}
