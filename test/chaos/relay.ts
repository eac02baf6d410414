// A fault-injecting TCP relay for one directed validator link: node i's config names peer j at this relay's
// port, and the relay forwards to j's real listen port. Validators authenticate each other by key in the
// handshake, so the relay is invisible to them until it cuts the link (partition) or delays it.

import { createConnection, createServer, type Server, type Socket } from "node:net";

export class LinkRelay {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private cutNow = false;
  private delayMs = 0;
  port = 0;

  constructor(
    readonly from: number,
    readonly to: number,
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  /** Listens on a free loopback port (read `port` after). */
  async start(): Promise<void> {
    const server = createServer((inbound) => this.accept(inbound));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
  }

  get isCut(): boolean {
    return this.cutNow;
  }

  /** Drops every live connection and refuses new ones until heal(). */
  cut(): void {
    this.cutNow = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  heal(): void {
    this.cutNow = false;
    this.delayMs = 0;
  }

  /** Holds every chunk this long before forwarding it, in order (0: forward at once). */
  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  async close(): Promise<void> {
    this.cut();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  private accept(inbound: Socket): void {
    if (this.cutNow) {
      inbound.destroy();
      return;
    }
    const outbound = createConnection({ host: this.targetHost, port: this.targetPort });
    this.sockets.add(inbound);
    this.sockets.add(outbound);
    const closeBoth = (): void => {
      inbound.destroy();
      outbound.destroy();
      this.sockets.delete(inbound);
      this.sockets.delete(outbound);
    };
    for (const s of [inbound, outbound]) {
      s.on("error", closeBoth);
      s.on("close", closeBoth);
    }
    this.forward(inbound, outbound);
    this.forward(outbound, inbound);
  }

  /** Copies src to dst, each chunk held for the current delay; a chain of timers keeps the chunks in order. */
  private forward(src: Socket, dst: Socket): void {
    let chain = Promise.resolve();
    src.on("data", (chunk: Buffer) => {
      const delay = this.delayMs;
      if (delay === 0) {
        chain = chain.then(() => {
          if (!dst.destroyed) dst.write(chunk);
        });
        return;
      }
      const due = performance.now() + delay;
      chain = chain.then(
        () =>
          new Promise<void>((resolve) =>
            setTimeout(() => {
              if (!dst.destroyed) dst.write(chunk);
              resolve();
            }, Math.max(0, due - performance.now())),
          ),
      );
    });
  }
}

/** One relay per ordered pair (i, j), i != j. */
export class RelayMesh {
  private constructor(readonly relays: Map<string, LinkRelay>) {}

  static async create(n: number, host: string, listenPorts: readonly number[]): Promise<RelayMesh> {
    const relays = new Map<string, LinkRelay>();
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (i === j) continue;
        const r = new LinkRelay(i, j, host, listenPorts[j]!);
        await r.start();
        relays.set(`${i}>${j}`, r);
      }
    }
    return new RelayMesh(relays);
  }

  link(from: number, to: number): LinkRelay {
    const r = this.relays.get(`${from}>${to}`);
    if (!r) throw new RangeError(`no relay ${from}>${to}`);
    return r;
  }

  /** Cuts both directions between every member of a and every member of b. */
  partition(a: readonly number[], b: readonly number[]): void {
    for (const i of a) for (const j of b) {
      this.link(i, j).cut();
      this.link(j, i).cut();
    }
  }

  /** Whether i and j can reach each other (neither direction cut). */
  connected(i: number, j: number): boolean {
    return i === j || (!this.link(i, j).isCut && !this.link(j, i).isCut);
  }

  healAll(): void {
    for (const r of this.relays.values()) r.heal();
  }

  async close(): Promise<void> {
    await Promise.all([...this.relays.values()].map((r) => r.close()));
  }
}
