// Strangers holding a validator's connection slots: from several loopback source addresses (127.0.0.x, all
// of which reach this machine on Linux), each keeps `perHost` TCP connections open to the validator's P2P
// port without ever completing a handshake, and opens a new one as soon as one is closed or refused. This
// is what kept a restarted validator cut off from its peers before admission reserved room for validators.

import { connect, type Socket } from "node:net";

export class StrangerCrowd {
  /** Connections the validator accepted (connected) and refused or closed (each replaced at once). */
  accepted = 0;
  closed = 0;
  private readonly sockets = new Set<Socket>();
  private stopped = false;

  constructor(
    private readonly port: number,
    private readonly hosts: readonly string[],
    private readonly perHost: number,
    /** Pause before replacing a closed connection: keeps the crowd from spinning while the port is closed. */
    private readonly retryMs = 50,
  ) {}

  start(): void {
    for (const host of this.hosts) for (let k = 0; k < this.perHost; k++) this.connectFrom(host);
  }

  /** Connections currently open. */
  get open(): number {
    let n = 0;
    for (const s of this.sockets) if (!s.connecting && !s.destroyed) n++;
    return n;
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private openSoon(host: string): void {
    if (!this.stopped) setTimeout(() => this.connectFrom(host), this.retryMs).unref();
  }

  private connectFrom(host: string): void {
    if (this.stopped) return;
    const s = connect({ host: "127.0.0.1", port: this.port, localAddress: host });
    this.sockets.add(s);
    s.on("connect", () => this.accepted++);
    s.on("data", () => undefined);
    s.on("error", () => undefined);
    s.once("close", () => {
      this.sockets.delete(s);
      this.closed++;
      this.openSoon(host);
    });
  }
}

/** `count` loopback source addresses starting at 127.0.0.`first`. */
export function loopbackHosts(count: number, first = 2): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.0.${first + i}`);
}
