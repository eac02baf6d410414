// Peers that are not validators: one that connects to a validator's P2P port and sends random bytes, and
// slow-loris ones that hold connections open, dribbling a byte every few seconds. A validator must shrug off
// both (drop them) and keep committing.

import { connect, type Socket } from "node:net";
import type { Prng } from "./prng.ts";

/** Connects, writes `size` random bytes, and resolves when the validator has closed the connection or after 5 s. */
export function garbagePeer(host: string, port: number, size: number, prng: Prng): Promise<void> {
  const payload = prng.bytes(size);
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve();
    };
    const timer = setTimeout(done, 5_000);
    s.on("connect", () => s.write(payload));
    s.on("data", () => undefined);
    s.on("error", done);
    s.on("close", done);
  });
}

/** `conns` connections that each send one random byte every intervalMs (0: nothing at all) until stop(). */
export class SlowLoris {
  private readonly sockets: Socket[] = [];
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(host: string, port: number, conns: number, intervalMs: number, prng: Prng) {
    for (let k = 0; k < conns; k++) {
      const s = connect({ host, port });
      s.on("error", () => undefined);
      s.on("data", () => undefined);
      this.sockets.push(s);
      const byte = prng.bytes(1);
      if (intervalMs === 0) continue;
      const timer = setInterval(() => {
        if (!s.destroyed) s.write(byte);
      }, intervalMs);
      this.timers.push(timer);
    }
  }

  /** How many of its connections the validator has not closed yet. */
  get open(): number {
    return this.sockets.filter((s) => !s.destroyed && !s.readableEnded).length;
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    for (const s of this.sockets) s.destroy();
  }
}
