// One simulated validator: the real store (on an in-memory disk that loses unsynced writes in a crash and
// fails reads and writes on demand), the real executor and vm, the real mempool, the real consensus core and
// the node's real glue (ValidatorRuntime), wired to the simulated clock and network. A crash ends the
// incarnation (its timers, messages and storage completions vanish); a restart recovers from the disk.

import { Executor } from "../../node/exec/index.ts";
import type { Genesis } from "../../node/codec/types.ts";
import { SodiumSigner } from "../../node/crypto/sodium.ts";
import { fakeSign, fakeVerify } from "../sim/fake-crypto.ts";
import { Mempool } from "../../node/mempool/index.ts";
import { InlineVerifier } from "../../node/mempool/verify.ts";
import { MemoryDisk } from "../../node/store/memory-engine.ts";
import { Store } from "../../node/store/index.ts";
import { ConsensusLog } from "../../node/store/consensus-log.ts";
import { ValidatorRuntime, restoreCore } from "../../node/validator/assemble.ts";
import type { Logger } from "../../node/validator/ports.ts";
import { deployGate } from "../../node/validator/admission.ts";
import type { Rng } from "../sim/prng.ts";
import type { SimLinks, SimNetwork } from "./network.ts";
import { SimClock, type Scheduler } from "./scheduler.ts";
import { SimVm } from "./vm.ts";

export interface NodeSettings {
  baseTimeoutMs: number;
  maxTimeoutMs: number;
  /** Largest delay of one storage step (ms). */
  ioMaxDelay: number;
}

/** Faults injected into one validator's storage and compiles, decided per operation by the seed. */
export interface StorageFaults {
  readFail: number;
  writeFail: number;
  compileCrash: number;
}

export interface SimNodeOptions {
  readonly index: number;
  /** Which of a twin pair this is (0 or 1); 0 for an honest validator. */
  readonly twin: number;
  readonly byzantine: boolean;
  /** The validator's ed25519 seed (twins share it). */
  readonly secret: Uint8Array;
  readonly genesis: Genesis;
  readonly scheduler: Scheduler;
  readonly net: SimNetwork;
  readonly rng: Rng;
  readonly settings: NodeSettings;
  /** Told of every halt, expected (an injected fault) or not. */
  readonly onHalt: (node: SimNode, e: Error, expected: boolean) => void;
  readonly onFailure: (message: string) => void;
  readonly trace: ((line: string) => void) | null;
}

export class SimNode {
  readonly disk: MemoryDisk;
  readonly signer: SodiumSigner;
  runtime: ValidatorRuntime | null = null;
  /** Bumped by every crash or halt: callbacks of an older incarnation do nothing. */
  incarnation = 0;
  /** Sim time the current incarnation came up (its start finished: in a node, the REST port opens). */
  upAt = 0;
  starting = false;
  private links: SimLinks | null = null;
  /** Rejects when the current incarnation ends, so a client's call to it does not hang on a dead disk. */
  private death: { promise: Promise<never>; reject: (e: Error) => void } = deathOf();
  /** Told of each incarnation's runtime before it starts. */
  onRuntime: (rt: ValidatorRuntime) => void = () => undefined;
  /** An injected fault hit this incarnation (so a halt is expected, not a bug). */
  faulted = false;
  faults: StorageFaults = { readFail: 0, writeFail: 0, compileCrash: 0 };
  halts: Array<{ at: number; error: string; expected: boolean }> = [];
  crashes = 0;
  readonly log: Logger;
  /** Its own vm front (the compiled modules behind it are shared), so compile faults are this node's. */
  private readonly vm = new SimVm();

  readonly index: number;
  readonly byzantine: boolean;

  constructor(private readonly o: SimNodeOptions) {
    this.index = o.index;
    this.byzantine = o.byzantine;
    const { index, twin, byzantine, secret, trace } = o;
    this.signer = new SodiumSigner(secret);
    const name = `v${index}${byzantine ? `/${twin}` : ""}`;
    this.disk = new MemoryDisk({
      name,
      // Each storage step completes after a seeded delay; a crash may fall between any two.
      schedule: (fn) => this.o.scheduler.after(this.o.rng.int(0, this.o.settings.ioMaxDelay), fn),
      faults: {
        failRead: () => this.inject(this.faults.readFail),
        failWrite: () => this.inject(this.faults.writeFail),
      },
    });
    const line = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
      trace?.(`${this.o.scheduler.now} ${name}#${this.incarnation} ${level} ${msg} ${fields ? JSON.stringify(fields, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)) : ""}`);
    this.log = { info: line("info"), warn: line("warn"), error: line("error") } as Logger;
  }

  get up(): boolean {
    return this.runtime !== null && !this.starting;
  }

  private inject(p: number): boolean {
    if (!this.o.rng.chance(p)) return false;
    this.faulted = true;
    return true;
  }

  /** Starts a new incarnation from the disk (asynchronously: storage steps go through the scheduler). */
  start(): void {
    if (this.runtime !== null || this.starting) return;
    const life = ++this.incarnation;
    this.starting = true;
    this.faulted = false;
    const alive = (): boolean => this.incarnation === life;
    this.vm.crashCompile = () => alive() && this.inject(this.faults.compileCrash);
    void this.boot(life, alive).then(
      (rt) => {
        if (!alive()) return;
        this.runtime = rt;
        this.starting = false;
        this.upAt = this.o.scheduler.now;
      },
      (e: unknown) => {
        if (!alive()) return;
        this.starting = false;
        // A start can fail only through an injected storage fault; anything else is a bug.
        this.halted(e instanceof Error ? e : new Error(String(e)));
      },
    );
  }

  private async boot(life: number, alive: () => boolean): Promise<ValidatorRuntime> {
    const store = await Store.openOn(this.disk.open(), { syncCommits: false, syncSafety: true });
    const executor = await Executor.open(store, { genesis: this.o.genesis, vm: this.vm });
    const mempool = new Mempool({ now: () => this.o.scheduler.now, chainId: this.o.genesis.chainId, minGasPrice: this.o.genesis.minGasPrice, getAccount: (pk) => executor.getAccount(pk), maxPerInvoker: 64, gapExpiryMs: 1500, verifier: new InlineVerifier(), gate: deployGate(executor) });
    const clog = new ConsensusLog(store);
    const core = await restoreCore({
      store,
      clog,
      executor,
      mempool,
      validators: this.o.genesis.validators.map((v) => v.publicKey),
      self: this.index,
      settings: { baseTimeoutMs: this.o.settings.baseTimeoutMs, maxTimeoutMs: this.o.settings.maxTimeoutMs, maxBlockBytes: 1 << 22 },
      // Consensus signatures through the simulator's fast stand-in for ed25519 (the same core code runs;
      // invocations keep their real signatures, checked by the real mempool and executor).
      crypto: { sign: (d) => fakeSign(d, this.signer.publicKey), verify: fakeVerify },
    });
    const links = this.o.net.links(this.index, alive);
    this.links = links;
    if (this.byzantine) links.garbageRate = 0.05;
    const rt = new ValidatorRuntime({
      self: this.index,
      validators: this.o.genesis.validators,
      store,
      clog,
      executor,
      mempool,
      core,
      links,
      clock: new SimClock(this.o.scheduler, alive),
      log: this.log,
      payload: { maxBlockInvocations: 200, maxBlockBytes: 1 << 22 },
      statusIntervalMs: 500,
      // TRACE=1 shows every consensus action as well as the validators' own log lines.
      trace: this.o.trace !== null,
    });
    this.onRuntime(rt);
    rt.halt.onFatal((e) => {
      if (this.incarnation === life) this.halted(e);
    });
    await rt.start();
    if (this.incarnation !== life) throw new Error("superseded");
    return rt;
  }

  private halted(e: Error): void {
    const expected = this.faulted;
    this.halts.push({ at: this.o.scheduler.now, error: e.message, expected });
    // The process exits: every landed write stays (power is on), the incarnation ends.
    this.end();
    this.disk.kill();
    this.o.onHalt(this, e, expected);
    if (!expected && !this.byzantine) this.o.onFailure(`validator ${this.index} halted without an injected fault: ${e.message}`);
  }

  /** A power failure: writes not yet synced are lost. */
  crash(): void {
    if (this.runtime === null && !this.starting) return;
    this.crashes++;
    this.end();
    this.disk.crash({ keepUnsynced: this.o.rng.chance(0.3) ? this.o.rng.int(0, 3) : 0 });
  }

  /** A call into this incarnation, as a client makes it: it fails, as a dropped connection would, if the incarnation ends first. */
  call<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.death.promise]);
  }

  private end(): void {
    this.death.reject(new Error(`validator ${this.index} went down`));
    this.death = deathOf();
    this.links?.down();
    this.links = null;
    this.incarnation++;
    this.runtime = null;
    this.starting = false;
  }
}

function deathOf(): { promise: Promise<never>; reject: (e: Error) => void } {
  let reject!: (e: Error) => void;
  const promise = new Promise<never>((_, r) => (reject = r));
  promise.catch(() => undefined);
  return { promise, reject };
}
