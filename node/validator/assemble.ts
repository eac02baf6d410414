// Builds one validator's parts from what the world gives it (store, executor, mempool, links, clock) and
// connects them: the same code in the node (node/validator/index.ts) and in the whole-validator simulator.

import { decode, internerFor } from "../codec/codec.ts";
import { SafetyState } from "../codec/consensus.ts";
import { SignedInvocation as SignedInvocationCodec } from "../codec/types.ts";
import { ConsensusCore, type ConsensusCrypto } from "../consensus/index.ts";
import { CairnError } from "../errors.ts";
import type { Executor } from "../exec/index.ts";
import type { Mempool } from "../mempool/index.ts";
import { NodeMetrics } from "../metrics.ts";
import { ReceiptWaiters } from "../receipt-waiters.ts";
import type { Store } from "../store/index.ts";
import { ConsensusLog } from "../store/consensus-log.ts";
import { ActionInterpreter } from "./action-interpreter.ts";
import { Admission } from "./admission.ts";
import { BlockExecution } from "./block-execution.ts";
import { CatchUp } from "./catch-up.ts";
import { CommitPipeline } from "./commit-pipeline.ts";
import { EventPump } from "./event-pump.ts";
import { Gossip } from "./gossip.ts";
import { Halt } from "./halt.ts";
import { PayloadBuilder, type PayloadLimits } from "./payload.ts";
import { PeerStatus } from "./peer-status.ts";
import type { Clock, Logger, Timer, ValidatorLinks } from "./ports.ts";
import { ReadModel } from "./read-model.ts";
import { UncommittedBlocks } from "./uncommitted-blocks.ts";

/** How often the mempool drops gapped invocations that outlived their expiry (well under gapExpiryMs). */
const EXPIRY_INTERVAL_MS = 1000;

export interface ConsensusSettings {
  readonly baseTimeoutMs: number;
  readonly maxTimeoutMs: number;
  readonly maxBlockBytes: number;
}

export interface CoreRestore {
  readonly store: Store;
  readonly clog: ConsensusLog;
  readonly executor: Executor;
  readonly mempool: Mempool;
  /** Validator public keys in genesis order, and this validator's index among them. */
  readonly validators: readonly Uint8Array[];
  readonly self: number;
  readonly settings: ConsensusSettings;
  readonly crypto: ConsensusCrypto;
}

/** Restores the consensus core from the store: the committed head, the safety state, the uncommitted blocks. */
export async function restoreCore({ store, clog, executor, mempool, validators, self, settings, crypto }: CoreRestore): Promise<ConsensusCore> {
  const head = executor.head();
  const headBlock = await store.blockAt(head.height);
  if (headBlock === null) throw new CairnError("internal", `committed head block ${head.height} missing`);
  const safetyBytes = await store.getSafety();
  const pending = await clog.pendingAbove(head.height);
  return new ConsensusCore(
    {
      chainId: executor.genesis.chainId,
      validators,
      self,
      genesisBlockHash: executor.genesisBlockHash,
      baseTimeoutMs: settings.baseTimeoutMs,
      maxTimeoutMs: settings.maxTimeoutMs,
      maxBlockBytes: settings.maxBlockBytes,
      interner: internerFor(SignedInvocationCodec, (raw) => mempool.heldEncoding(raw)),
    },
    {
      // At genesis the core derives the genesis certificate itself (the store's is the zero-hash placeholder).
      committed: { block: headBlock, stateRoot: head.stateRoot, qc: head.height === 0n ? null : await store.qcAt(head.height) },
      safety: safetyBytes === null ? null : decode(SafetyState, safetyBytes, "stored safety state"),
      blocks: pending,
    },
    crypto,
  );
}

export interface ValidatorWorld {
  readonly self: number;
  readonly validators: ReadonlyArray<{ publicKey: Uint8Array; name: string }>;
  readonly store: Store;
  readonly clog: ConsensusLog;
  readonly executor: Executor;
  readonly mempool: Mempool;
  readonly core: ConsensusCore;
  readonly links: ValidatorLinks;
  readonly clock: Clock;
  readonly log: Logger;
  readonly payload: PayloadLimits;
  /** Interval of status announcements to peers (ms). */
  readonly statusIntervalMs: number;
  readonly trace?: boolean;
}

/** One validator's connected parts. `start` then `stop`; a fatal error stops it by itself (see halt). */
export class ValidatorRuntime {
  readonly metrics = new NodeMetrics();
  readonly halt: Halt;
  readonly pump: EventPump;
  readonly commits: CommitPipeline;
  readonly peers: PeerStatus;
  readonly services: ReadModel;
  readonly waiters: ReceiptWaiters;
  private readonly execution: BlockExecution;
  private readonly payload: PayloadBuilder;
  private readonly catchUp: CatchUp;
  private readonly interpreter: ActionInterpreter;
  private readonly gossip: Gossip;
  private readonly admission: Admission;
  private stopping = false;
  private expiry: Timer | null = null;

  constructor(readonly world: ValidatorWorld) {
    const w = world;
    const n = w.validators.length;
    this.halt = new Halt(w.log);
    this.pump = new EventPump(w.core, this.halt);
    const blocks = new UncommittedBlocks(w.clog, w.store, this.halt);
    this.waiters = new ReceiptWaiters({
      isPending: (idHex) => w.mempool.isPending(idHex),
      load: (id) => w.store.receiptById(id),
      displaced: (idHex) => w.mempool.displacedBy(idHex),
    }, (ms, fn) => w.clock.after(ms, fn));
    // Invocations the pool lets go for good (expired gaps, evicted, replaced) are final for their waiters too.
    w.mempool.onDropped((ds) => this.waiters.deliverDisplaced(ds));
    this.execution = new BlockExecution(w.executor, w.mempool, this.pump, w.clock, this.halt, w.log);
    this.commits = new CommitPipeline({ executor: w.executor, store: w.store, mempool: w.mempool, waiters: this.waiters, execution: this.execution, blocks, metrics: this.metrics, halt: this.halt });
    this.payload = new PayloadBuilder(w.mempool, this.commits, this.pump, w.clock, w.payload);
    const shared = { links: w.links, core: w.core, executor: w.executor, metrics: this.metrics, self: w.self, validators: n };
    this.catchUp = new CatchUp({ ...shared, store: w.store, pump: this.pump, commits: this.commits, blocks, halt: this.halt, log: w.log });
    this.peers = new PeerStatus({ ...shared, clock: w.clock, catchUp: this.catchUp });
    this.gossip = new Gossip(w.links, w.clock);
    this.admission = new Admission(w.executor, w.mempool, this.payload);
    this.interpreter = new ActionInterpreter({
      links: w.links,
      clock: w.clock,
      events: this.pump,
      clog: w.clog,
      blocks,
      execution: this.execution,
      payload: this.payload,
      commits: this.commits,
      catchUp: this.catchUp,
      executor: w.executor,
      mempool: w.mempool,
      metrics: this.metrics,
      halt: this.halt,
      log: w.log,
      trace: w.trace ?? false,
    });
    this.pump.setApply((actions) => this.interpreter.apply(actions));
    this.commits.onCommitted(() => this.peers.noteCommit());
    this.services = new ReadModel({
      chainId: w.executor.genesis.chainId,
      self: w.self,
      validators: w.validators,
      store: w.store,
      clog: w.clog,
      executor: w.executor,
      mempool: w.mempool,
      core: w.core,
      links: w.links,
      admission: this.admission,
      waiters: this.waiters,
      peers: this.peers,
      blocks,
      metrics: this.metrics,
      halt: this.halt,
      stopping: () => this.stopping,
    });
    this.halt.onFatal(() => this.stopParts());
  }

  /** Connects to peers and starts consensus from the restored state. */
  async start(): Promise<void> {
    const w = this.world;
    this.catchUp.serve();
    w.links.onMessage((from, msg) => {
      switch (msg.type) {
        case "consensus":
          this.pump.enqueue({ type: "message", from, message: msg.value });
          break;
        case "invocations":
          this.admission.fromPeer(msg.value).catch(this.halt.guard("admitting gossiped invocations"));
          break;
        case "status":
          this.peers.onStatus(from, msg.value.committedHeight);
          break;
      }
    });
    w.mempool.onAdmitted((entries) => {
      this.gossip.admitted(entries);
      this.payload.onWork();
    });
    await w.links.start();
    this.peers.start(w.statusIntervalMs);
    this.expiry = w.clock.every(EXPIRY_INTERVAL_MS, () => w.mempool.expire());
    await this.pump.start();
  }

  /** Stops every timer and loop, waits for commits in flight, then closes the links (not the store). */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.stopParts();
    this.waiters.close();
    await this.world.links.stop().catch(() => undefined);
    await this.commits.settled();
  }

  private stopParts(): void {
    this.expiry?.cancel();
    this.pump.stop();
    this.interpreter.stop();
    this.execution.stop();
    this.payload.stop();
    this.catchUp.stop();
    this.peers.stop();
    this.commits.stop();
  }
}
