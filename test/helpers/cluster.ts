// Real validator processes for integration tests: a devnet folder, one `cairn start` process per validator,
// and the means to kill (SIGKILL), restart and poll them over real HTTP.

import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initDevnet, spawnValidator, type DevnetInfo, type DevnetOptions } from "../../node/devnet.ts";

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** A base port P such that P..P+n-1 and P+1000..P+1000+n-1 are all free right now. */
export async function freePortBase(n: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    let ok = true;
    for (let i = 0; i < n && ok; i++) ok = (await portFree(base + i)) && (await portFree(base + 1000 + i));
    if (ok) return base;
  }
  throw new Error("no free port range found");
}

/** One validator process exit; `requested` when kill() or stopAll() asked for it. */
export interface ValidatorExit {
  index: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  requested: boolean;
}

/** One entry of a node config's `peers` list, as initDevnet writes it. */
export interface PeerEntry {
  publicKey: string;
  host: string;
  port: number;
}

export class TestCluster {
  readonly procs: (ChildProcess | null)[];
  /** Every exit so far, in order: a chaos run tells the exits it caused from the ones it did not. */
  readonly exits: ValidatorExit[] = [];
  /** Called on every exit as it happens. */
  onExit: (exit: ValidatorExit) => void = () => undefined;
  private readonly killRequested = new Set<ChildProcess>();

  private constructor(
    readonly dir: string,
    readonly info: DevnetInfo,
  ) {
    this.procs = info.rest.map(() => null);
  }

  static async create(validators: number, opts: Partial<DevnetOptions> = {}): Promise<TestCluster> {
    const dir = mkdtempSync(join(tmpdir(), "cairn-cluster-"));
    const basePort = await freePortBase(validators);
    const { info } = initDevnet(dir, { validators, basePort, syncWrites: false, ...opts });
    return new TestCluster(dir, info);
  }

  /** A new cluster with every validator started and answering. */
  static async running(validators: number, opts: Partial<DevnetOptions> = {}): Promise<TestCluster> {
    const cluster = await TestCluster.create(validators, opts);
    cluster.startAll();
    await Promise.all(cluster.info.rest.map((_, i) => cluster.waitReady(i)));
    return cluster;
  }

  start(i: number): void {
    if (this.procs[i] && this.procs[i]!.exitCode === null) throw new Error(`validator ${i} already running`);
    const child = spawnValidator(this.dir, i);
    this.procs[i] = child;
    child.once("exit", (code, signal) => {
      const exit = { index: i, code, signal, requested: this.killRequested.delete(child) };
      this.exits.push(exit);
      this.onExit(exit);
    });
  }

  /** Whether validator i's process is alive (started and not yet exited). */
  running(i: number): boolean {
    const p = this.procs[i];
    return !!p && p.exitCode === null && p.signalCode === null;
  }

  pid(i: number): number | undefined {
    return this.running(i) ? this.procs[i]!.pid : undefined;
  }

  configPath(i: number): string {
    return join(this.dir, `node${i}.json`);
  }

  /** Rewrites the peer addresses in validator i's config (read at its next start); keys stay as they are. */
  rewritePeers(i: number, address: (j: number, peer: PeerEntry) => { host: string; port: number }): void {
    const config = JSON.parse(readFileSync(this.configPath(i), "utf8")) as { peers: PeerEntry[]; listen: { host: string; port: number } };
    config.peers = config.peers.map((p, j) => ({ ...p, ...address(j, p) }));
    writeFileSync(this.configPath(i), JSON.stringify(config, null, 2) + "\n", { mode: 0o600 });
  }

  /** The P2P port validator i listens on (its own config's `listen`). */
  listenPort(i: number): number {
    return (JSON.parse(readFileSync(this.configPath(i), "utf8")) as { listen: { port: number } }).listen.port;
  }

  startAll(): void {
    this.info.rest.forEach((_, i) => this.start(i));
  }

  async kill(i: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const p = this.procs[i];
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once("exit", () => r()));
    this.killRequested.add(p);
    p.kill(signal);
    await exited;
    this.procs[i] = null;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.procs.map((_, i) => this.kill(i, "SIGTERM")));
  }

  log(i: number): string {
    try {
      return readFileSync(join(this.dir, `node${i}.log`), "utf8");
    } catch {
      return "";
    }
  }

  /** GET on validator i's REST API; throws on a connection error or when no answer comes within timeoutMs. */
  async getJson(i: number, path: string, timeoutMs = 30_000): Promise<any> {
    const res = await fetch(this.info.rest[i] + path, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.json() };
  }

  /** Resolves once validator i answers /v1/status, or throws with its log after timeoutMs. */
  async waitReady(i: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const r = await fetch(this.info.rest[i] + "/v1/status");
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      if (this.procs[i] && this.procs[i]!.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`validator ${i} not ready after ${timeoutMs} ms; log:\n${this.log(i).slice(-4000)}`);
  }

  /** The hash of the block validator i has committed at height h (throws naming both when it has none). */
  async blockHash(i: number, h: bigint): Promise<string> {
    const { status, body } = await this.getJson(i, `/v1/blocks/${h}`);
    if (status !== 200) throw new Error(`validator ${i} answered ${status} for block ${h}: ${JSON.stringify(body)}`);
    return body.hash;
  }

  async height(i: number): Promise<bigint> {
    const { body } = await this.getJson(i, "/v1/status");
    return BigInt(body.height);
  }

  async waitHeight(i: number, atLeast: bigint, timeoutMs = 30_000): Promise<bigint> {
    const deadline = Date.now() + timeoutMs;
    let h = -1n;
    while (Date.now() < deadline) {
      try {
        h = await this.height(i);
        if (h >= atLeast) return h;
      } catch {
        // restarting
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`validator ${i} stuck at height ${h} < ${atLeast}; log:\n${this.log(i).slice(-4000)}`);
  }

  async destroy(): Promise<void> {
    await this.stopAll();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
