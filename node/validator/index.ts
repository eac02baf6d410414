// One validator process: opens its RocksDB (refusing a corrupt chain), the executor, the mempool and the
// consensus core restored from disk, connects the parts (assemble.ts) to real TCP links and Node.js timers, and
// serves the REST API. A fatal error stops it (onFatal); the next start recovers from the store.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { bytesEqual } from "../codec/hex.ts";
import { createApiServer } from "../api/server.ts";
import type { LoadedConfig } from "../config.ts";
import { SodiumSigner, verifyStrict } from "../crypto/sodium.ts";
import { CairnError } from "../errors.ts";
import { Executor, RealContractVm } from "../exec/index.ts";
import { Mempool, createVerifier } from "../mempool/index.ts";
import { PeerNetwork, type Logger } from "../net/index.ts";
import { Store } from "../store/index.ts";
import { ConsensusLog } from "../store/consensus-log.ts";
import { ValidatorRuntime, restoreCore } from "./assemble.ts";
import { deployGate } from "./admission.ts";
import { systemClock } from "./ports.ts";

export { ValidatorRuntime, restoreCore } from "./assemble.ts";
export type { ValidatorWorld } from "./assemble.ts";
export type { Clock, Timer, ValidatorLinks } from "./ports.ts";
export type { SyncState } from "../api/services.ts";

export interface ValidatorOptions {
  logger?: Logger;
  /** Interval of status announcements to peers (ms). */
  statusIntervalMs?: number;
}

const DEBUG = process.env.CAIRN_DEBUG === "1";

export class Validator {
  private api: Awaited<ReturnType<typeof createApiServer>> | null = null;
  private stopped = false;

  private constructor(
    readonly loaded: LoadedConfig,
    readonly runtime: ValidatorRuntime,
  ) {}

  get chainId(): string {
    return this.loaded.genesis.chainId;
  }

  /** Called once with the error that stopped this validator. */
  set onFatal(fn: (e: Error) => void) {
    this.runtime.halt.onFatal(fn);
  }

  static async start(loaded: LoadedConfig, opts: ValidatorOptions = {}): Promise<Validator> {
    const { config, genesis } = loaded;
    const log = opts.logger ?? consoleLogger(`node${config.index}`);
    const signer = new SodiumSigner(loaded.secretKey);
    const me = genesis.validators[config.index];
    if (!me || !bytesEqual(me.publicKey, signer.publicKey)) {
      throw new CairnError("malformed", `secretKey does not belong to validator ${config.index} of the genesis`);
    }
    mkdirSync(config.dataDir, { recursive: true });
    // Commits get no fsync of their own: RocksDB has one write-ahead log, so the next synced write (the
    // safety state of the next vote, at most a view later) makes them durable too. A commit lost to a power
    // failure before that is one the quorum decided and this validator's other stored blocks can re-derive:
    // on restart it is committed again from the pending blocks and certificates, or fetched from peers.
    const store = await Store.open(join(config.dataDir, "db"), { syncCommits: false, syncSafety: config.syncWrites });
    let executor: Executor;
    try {
      const vm = new RealContractVm({ compileCacheDir: join(config.dataDir, "compiled") });
      executor = await Executor.open(store, { genesis, vm, openLog: log });
    } catch (e) {
      await store.close().catch(() => undefined);
      throw e;
    }
    const mempool = new Mempool({
      chainId: genesis.chainId,
      minGasPrice: genesis.minGasPrice,
      getAccount: (pk) => executor.getAccount(pk),
      maxTotal: config.mempool.capacity,
      maxPerInvoker: config.mempool.perInvokerLimit,
      now: () => systemClock.now(),
      verifier: createVerifier(config.verifyWorkers === 0 ? { workerThreshold: Infinity } : { workers: config.verifyWorkers }),
      gate: deployGate(executor),
    });
    const clog = new ConsensusLog(store);
    const core = await restoreCore({
      store,
      clog,
      executor,
      mempool,
      validators: genesis.validators.map((v) => v.publicKey),
      self: config.index,
      settings: config.consensus,
      crypto: { sign: (digest) => signer.sign(digest), verify: (sig, digest, pk) => verifyStrict(sig, digest, pk) },
    });
    const links = new PeerNetwork({
      chainId: genesis.chainId,
      self: { index: config.index, signer },
      validators: config.peers.map((p, i) => ({ publicKey: genesis.validators[i]!.publicKey, host: p.host, port: p.port })),
      listen: config.listen,
      logger: opts.logger,
    });
    const runtime = new ValidatorRuntime({
      self: config.index,
      validators: genesis.validators,
      store,
      clog,
      executor,
      mempool,
      core,
      links,
      clock: systemClock,
      log,
      payload: config.consensus,
      statusIntervalMs: opts.statusIntervalMs ?? 2000,
      trace: DEBUG,
    });
    const v = new Validator(loaded, runtime);
    await runtime.start();
    v.api = await createApiServer(runtime.services, {});
    await v.api.listen({ host: config.rest.host, port: config.rest.port });
    log.info("validator started", {
      index: config.index,
      chainId: genesis.chainId,
      height: executor.head().height.toString(),
      rest: `http://${config.rest.host}:${config.rest.port}`,
      p2p: `${config.listen.host}:${config.listen.port}`,
    });
    return v;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const w = this.runtime.world;
    await this.api?.close().catch(() => undefined);
    await this.runtime.stop();
    await w.mempool.close().catch(() => undefined);
    await w.executor.close().catch(() => undefined);
    await w.store.close().catch(() => undefined);
  }
}

function consoleLogger(name: string): Logger {
  const line = (level: string, msg: string, fields?: Record<string, unknown>): void => {
    // Wall-clock milliseconds (mod 1e6), so the traces of several processes line up.
    const t = DEBUG ? `${((performance.timeOrigin + performance.now()) % 1e6).toFixed(1)} ` : "";
    process.stderr.write(`${t}${level} [${name}] ${msg}${fields ? " " + JSON.stringify(fields, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)) : ""}\n`);
  };
  return {
    info: (m, f) => line("info", m, f),
    warn: (m, f) => line("warn", m, f),
    error: (m, f) => line("error", m, f),
  } as Logger;
}
