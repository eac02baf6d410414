// A local network for development and tests: keys, genesis and one config per validator in a folder,
// then one `cairn start` process per validator so any one can be killed and restarted alone; `cairn devnet`
// restarts a validator that exits on its own.

import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { toHex } from "./codec/hex.ts";
import type { Genesis } from "./codec/types.ts";
import { DEFAULT_MEMPOOL, consensusSettings, genesisToJson, type NodeConfig } from "./config.ts";
import { generateKeyPair } from "./crypto/ed25519-noble.ts";
import { CairnError } from "./errors.ts";

export interface DevnetInfo {
  chainId: string;
  rest: string[];
  funded: { publicKey: string; secretKey: string };
}

export interface DevnetOptions {
  validators: number;
  basePort: number;
  /** P2P ports start here; defaults to basePort + 1000. */
  p2pBasePort?: number;
  host?: string;
  fundedBalance?: bigint;
  /** The chain's fee floor written into genesis (default 1, so a never-funded key can commit nothing). */
  minGasPrice?: bigint;
  consensus?: Partial<NodeConfig["consensus"]>;
  syncWrites?: boolean;
}

/** A devnet's fee floor unless told otherwise: the lowest that makes every invocation cost something. */
export const DEFAULT_DEVNET_MIN_GAS_PRICE = 1n;

export const CAIRN_BIN = fileURLToPath(new URL("../bin/cairn.mjs", import.meta.url));

export function devnetInfoPath(dir: string): string {
  return join(dir, "devnet.json");
}

export function readDevnet(dir: string): DevnetInfo | null {
  const p = devnetInfoPath(dir);
  if (!existsSync(p)) return null;
  return JSON.parse(readFileSync(p, "utf8")) as DevnetInfo;
}

/** Creates the devnet folder when new; an existing folder is left as it is so the same chain resumes. */
export function initDevnet(dirArg: string, opts: DevnetOptions): { info: DevnetInfo; created: boolean } {
  const dir = resolve(dirArg);
  const existing = readDevnet(dir);
  if (existing) return { info: existing, created: false };
  if (!Number.isInteger(opts.validators) || opts.validators < 1 || opts.validators > 64) {
    throw new CairnError("malformed", `--validators must be between 1 and 64, got ${opts.validators}`);
  }
  mkdirSync(dir, { recursive: true });
  const host = opts.host ?? "127.0.0.1";
  const p2pBase = opts.p2pBasePort ?? opts.basePort + 1000;
  const chainId = `cairn-devnet-${toHex(crypto.getRandomValues(new Uint8Array(4)))}`;
  const keys = Array.from({ length: opts.validators }, () => generateKeyPair());
  const funded = generateKeyPair();
  const genesis: Genesis = {
    chainId,
    validators: keys.map((k, i) => ({ publicKey: k.publicKey, name: `node${i}` })),
    allocations: [{ account: funded.publicKey, balance: opts.fundedBalance ?? 1_000_000_000_000_000n }],
    minGasPrice: opts.minGasPrice ?? DEFAULT_DEVNET_MIN_GAS_PRICE,
  };
  writeFileSync(join(dir, "genesis.json"), JSON.stringify(genesisToJson(genesis), null, 2) + "\n");
  const peers = keys.map((k, i) => ({ publicKey: toHex(k.publicKey), host, port: p2pBase + i }));
  keys.forEach((k, i) => {
    const config: NodeConfig = {
      index: i,
      secretKey: toHex(k.secretKey),
      dataDir: `node${i}`,
      genesisFile: "genesis.json",
      listen: { host, port: p2pBase + i },
      rest: { host, port: opts.basePort + i },
      peers,
      consensus: consensusSettings(opts.consensus ?? {}),
      mempool: { ...DEFAULT_MEMPOOL },
      syncWrites: opts.syncWrites ?? true,
      // The validators share this machine: each gets its share of the cores, the event loop taking one.
      verifyWorkers: Math.max(0, Math.floor(availableParallelism() / opts.validators) - 1),
    };
    writeFileSync(join(dir, `node${i}.json`), JSON.stringify(config, null, 2) + "\n", { mode: 0o600 });
  });
  const info: DevnetInfo = {
    chainId,
    rest: keys.map((_, i) => `http://${host}:${opts.basePort + i}`),
    funded: { publicKey: toHex(funded.publicKey), secretKey: toHex(funded.secretKey) },
  };
  writeFileSync(devnetInfoPath(dir), JSON.stringify(info, null, 2) + "\n", { mode: 0o600 });
  return { info, created: true };
}

/** Starts one validator process from its config, logging to DIR/node<i>.log. */
export function spawnValidator(dir: string, index: number, extraArgs: string[] = []): ChildProcess {
  const log = createWriteStream(join(dir, `node${index}.log`), { flags: "a" });
  // CAIRN_NODE_ARGS passes flags to the validators' node (e.g. --cpu-prof for profiling a devnet).
  const nodeArgs = (process.env.CAIRN_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");
  // Validators sharing this machine split its cores for V8's background threads too (GC, compilers): with
  // V8's default pool each process runs threads for every core, and they only contend.
  const validators = readDevnet(dir)?.rest.length ?? 1;
  const v8Pool = `--v8-pool-size=${Math.max(1, Math.floor(availableParallelism() / validators))}`;
  const child = spawn(process.execPath, [v8Pool, ...nodeArgs, CAIRN_BIN, "start", "--config", join(dir, `node${index}.json`), ...extraArgs], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  child.on("exit", () => log.end());
  return child;
}

/** Where runDevnet keeps the pid of validator i's running process (removed when it exits). */
export function validatorPidPath(dir: string, index: number): string {
  return join(dir, `node${index}.pid`);
}

/** First wait before restarting a validator that exited; it doubles each time one exits soon after starting. */
const RESTART_FIRST_MS = 500;
const RESTART_MAX_MS = 30_000;
/** A validator that ran this long before exiting is restarted after the first wait again. */
const RESTART_STABLE_MS = 10_000;

/**
 * Runs every validator of a devnet until SIGINT/SIGTERM, then stops them and resolves. A validator that exits
 * on its own is restarted (a crashed or halted node recovers from its store), after a wait that grows while it
 * keeps exiting quickly, so one that cannot start does not spin. Each start is printed with its pid, which is
 * also in DIR/node<i>.pid while the process runs.
 */
export async function runDevnet(dirArg: string, print: (line: string) => void): Promise<void> {
  const dir = resolve(dirArg);
  const info = readDevnet(dir);
  if (!info) throw new CairnError("not_found", `${dir} is not a devnet folder (no devnet.json)`);
  const n = info.rest.length;
  const children: (ChildProcess | null)[] = new Array(n).fill(null);
  const nextDelay: number[] = new Array(n).fill(RESTART_FIRST_MS);
  const restartTimers = new Set<NodeJS.Timeout>();
  let stopping = false;
  let allStopped!: () => void;
  const stopped = new Promise<void>((r) => (allStopped = r));
  const finishIfIdle = (): void => {
    if (stopping && children.every((c) => c === null)) allStopped();
  };

  const launch = (i: number): void => {
    const child = spawnValidator(dir, i);
    const startedAt = performance.now();
    children[i] = child;
    if (child.pid !== undefined) writeFileSync(validatorPidPath(dir, i), `${child.pid}\n`);
    print(`validator ${i} started (pid ${child.pid})`);
    child.once("exit", (code, signal) => {
      children[i] = null;
      rmSync(validatorPidPath(dir, i), { force: true });
      if (stopping) return finishIfIdle();
      const delay = performance.now() - startedAt >= RESTART_STABLE_MS ? RESTART_FIRST_MS : nextDelay[i]!;
      nextDelay[i] = Math.min(RESTART_MAX_MS, delay * 2);
      print(`validator ${i} exited (${signal ?? `code ${code}`}); restarting in ${delay} ms (see ${join(dir, `node${i}.log`)})`);
      const timer = setTimeout(() => {
        restartTimers.delete(timer);
        if (!stopping) launch(i);
      }, delay);
      restartTimers.add(timer);
    });
  };

  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    for (const t of restartTimers) clearTimeout(t);
    restartTimers.clear();
    for (const c of children) if (c && c.exitCode === null) c.kill("SIGTERM");
    finishIfIdle();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  for (let i = 0; i < n; i++) launch(i);
  await stopped;
}
