// One validator, wired: network <-> consensus core <-> store/executor <-> mempool <-> REST API.
//
// The consensus core is a pure state machine; this file is where its actions meet the world. It owns the
// timers, carries actions out in order (a vote never leaves before the safety state that guards it is
// durable), executes blocks speculatively when the core asks, commits them, gossips invocations, catches up
// from peers, and answers the REST layer through NodeServices.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { decode, encode, internerFor, toJson } from "./codec/codec.ts";
import { ConsensusMessage, Evidence as EvidenceCodec, SafetyState } from "./codec/consensus.ts";
import { bytesEqual, toHex } from "./codec/hex.ts";
import { SignedInvocation as SignedInvocationCodec, type Block, type ContractVersionInfo, type Receipt, type SignedInvocation, type SourceFile } from "./codec/types.ts";
import { createApiServer } from "./api/server.ts";
import { submitResult, type NodeServices, type NodeStatus, type QueryRequest, type QueryResult, type SubmitResult } from "./api/services.ts";
import type { LoadedConfig } from "./config.ts";
import {
  ConsensusCore,
  type CommittedBlock,
  type ConsensusAction,
  type ConsensusEvent,
} from "./consensus/index.ts";
import { invocationId, invocationIdHex } from "./crypto/digests.ts";
import { SodiumSigner, verifyStrict } from "./crypto/sodium.ts";
import { CairnError } from "./errors.ts";
import { Executor, RealContractVm, type ExecutedBlock } from "./exec/index.ts";
import { Mempool, createVerifier, type PoolEntry } from "./mempool/index.ts";
import { PeerNetwork, type AppMessage, type Logger } from "./net/index.ts";
import { Store } from "./store/index.ts";
import { ConsensusLog } from "./store/consensus-log.ts";
import { NodeMetrics } from "./metrics.ts";
import { ReceiptWaiters } from "./receipt-waiters.ts";
import { ReleasingMap } from "./releasing-map.ts";

export interface ValidatorOptions {
  logger?: Logger;
  /** Interval of status announcements to peers (ms). */
  statusIntervalMs?: number;
}

const DEBUG = process.env.CAIRN_DEBUG === "1";
const GOSSIP_BATCH = 512;
/** Committed blocks requested per sync round trip. */
const SYNC_BATCH = 64;

export class Validator implements NodeServices {
  readonly chainId: string;
  readonly metricsRegistry = new NodeMetrics();
  private readonly log: Logger;
  private readonly events: ConsensusEvent[] = [];
  private pumping = false;
  /** Events handed to the pump so far, and those it has finished (stepped and applied): FIFO, so a mark works. */
  private eventsIn = 0;
  private eventsDone = 0;
  /** Waits for the pump to reach a mark (see eventsStepped), in mark order. */
  private readonly markWaiters: Array<{ mark: number; resolve: () => void }> = [];
  private timer: NodeJS.Timeout | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private payloadTimer: NodeJS.Timeout | null = null;
  private proposeNow: (() => void) | null = null;
  private readonly waiters: ReceiptWaiters;
  private readonly executedResults = new ReleasingMap<string, ExecutedBlock>();
  private readonly fetching = new Set<string>();
  private readonly pendingHeights = new Map<string, bigint>();
  /** Blocks the core committed whose invocations the mempool has not dropped yet (insertion = height order). */
  private readonly committing = new ReleasingMap<string, Block>();
  private gossipQueue: SignedInvocation[] = [];
  private gossipScheduled = false;
  private commitChain: Promise<void> = Promise.resolve();
  /** Execution requests reach the executor in the order the core made them, whatever their checks take. */
  private executionOrder: Promise<void> = Promise.resolve();
  /** Pending-block writes in flight (not awaited before voting; see persistBlock). */
  private blockWrites: Promise<void> = Promise.resolve();
  private syncing = false;
  private stopped = false;
  private fatal: Error | null = null;
  private api: Awaited<ReturnType<typeof createApiServer>> | null = null;

  private constructor(
    readonly loaded: LoadedConfig,
    readonly store: Store,
    private readonly clog: ConsensusLog,
    readonly executor: Executor,
    readonly mempool: Mempool,
    readonly core: ConsensusCore,
    readonly net: PeerNetwork,
    opts: ValidatorOptions,
  ) {
    this.chainId = loaded.genesis.chainId;
    this.log = opts.logger ?? consoleLogger(`node${loaded.config.index}`);
    this.waiters = new ReceiptWaiters({ isPending: (idHex) => mempool.isPending(idHex), load: (id) => store.receiptById(id) });
  }

  /** Opens storage (refusing a corrupt chain), restores consensus, and starts networking and the REST API. */
  static async start(loaded: LoadedConfig, opts: ValidatorOptions = {}): Promise<Validator> {
    const { config, genesis } = loaded;
    const signer = new SodiumSigner(loaded.secretKey);
    const me = genesis.validators[config.index];
    if (!me || !bytesEqual(me.publicKey, signer.publicKey)) {
      throw new CairnError("malformed", `secretKey does not belong to validator ${config.index} of the genesis`);
    }
    mkdirSync(config.dataDir, { recursive: true });
    // Commits get no fsync of their own: RocksDB has one write-ahead log, so the next synced write (the
    // safety state of the next vote, at most a view later) makes them durable too. A commit lost to a power
    // failure before that is one the quorum decided and this validator's other stored blocks can re-derive:
    // on restart it is committed again from the pending blocks and certificates (as after a SIGKILL right
    // before the commit write), or fetched from peers. Syncing it separately cost a second fsync every view.
    const store = await Store.open(join(config.dataDir, "db"), { syncCommits: false, syncSafety: config.syncWrites });
    let executor: Executor;
    try {
      const vm = new RealContractVm({ compileCacheDir: join(config.dataDir, "compiled") });
      executor = await Executor.open(store, { genesis, vm });
    } catch (e) {
      await store.close().catch(() => undefined);
      throw e;
    }
    const mempool = new Mempool({
      chainId: genesis.chainId,
      getAccount: (pk) => executor.getAccount(pk),
      maxTotal: config.mempool.capacity,
      maxPerInvoker: config.mempool.perInvokerLimit,
      verifier: createVerifier(config.verifyWorkers === 0 ? { workerThreshold: Infinity } : { workers: config.verifyWorkers }),
    });

    const head = executor.head();
    const headBlock = await store.blockAt(head.height);
    if (headBlock === null) throw new CairnError("internal", `committed head block ${head.height} missing`);
    const safetyBytes = await store.getSafety();
    const clog = new ConsensusLog(store);
    const pending = await clog.pendingAbove(head.height);
    const core = new ConsensusCore(
      {
        chainId: genesis.chainId,
        validators: genesis.validators.map((v) => v.publicKey),
        self: config.index,
        genesisBlockHash: executor.genesisBlockHash,
        baseTimeoutMs: config.consensus.baseTimeoutMs,
        maxTimeoutMs: config.consensus.maxTimeoutMs,
        maxBlockBytes: config.consensus.maxBlockBytes,
        interner: internerFor(SignedInvocationCodec, (raw) => mempool.heldEncoding(raw)),
      },
      {
        // At genesis the core derives the genesis certificate itself (the store's is the zero-hash placeholder).
        committed: { block: headBlock, stateRoot: head.stateRoot, qc: head.height === 0n ? null : await store.qcAt(head.height) },
        safety: safetyBytes === null ? null : decode(SafetyState, safetyBytes, "stored safety state"),
        blocks: pending,
      },
      { sign: (digest) => signer.sign(digest), verify: (sig, digest, pk) => verifyStrict(sig, digest, pk) },
    );
    const net = new PeerNetwork({
      chainId: genesis.chainId,
      self: { index: config.index, signer },
      validators: config.peers.map((p, i) => ({ publicKey: genesis.validators[i]!.publicKey, host: p.host, port: p.port })),
      listen: config.listen,
      logger: opts.logger,
    });
    const v = new Validator(loaded, store, clog, executor, mempool, core, net, opts);
    await v.boot(opts);
    return v;
  }

  private async boot(opts: ValidatorOptions): Promise<void> {
    const { config } = this.loaded;
    // Events that arrive while booting wait until the core's start actions (restored blocks, first timer) are done.
    this.pumping = true;
    this.net.setSyncProvider({
      getBlocksByHash: async (hashes) => {
        await this.blockWrites;
        const out: Block[] = [];
        for (const h of hashes) {
          const b = await this.store.getBlock(h);
          if (b) out.push(b);
        }
        return out;
      },
      getCommitted: async (from, max) => {
        const head = this.executor.head().height;
        const blocks: Block[] = [];
        for (let h = from; h <= head && blocks.length < max; h++) {
          const b = await this.store.blockAt(h);
          if (!b) break;
          blocks.push(b);
        }
        const certificate = blocks.length === 0 ? null : await this.store.qcAt(blocks[blocks.length - 1]!.header.height);
        return { blocks, certificate };
      },
    });
    this.net.onMessage((from, msg) => this.onNetMessage(from, msg));
    this.net.onPeerConnected((peer) => this.sendStatus(peer));
    this.mempool.onAdmitted((entries) => {
      this.queueGossip(entries);
      this.onWork();
    });
    await this.net.start();

    this.api = await createApiServer(this, {});
    await this.api.listen({ host: config.rest.host, port: config.rest.port });

    this.statusTimer = setInterval(() => this.sendStatus(null), opts.statusIntervalMs ?? 2000);
    this.statusTimer.unref();
    await this.applyAsync(this.core.start());
    this.pumping = false;
    if (this.events.length > 0) void this.pump();
    this.log.info("validator started", {
      index: config.index,
      chainId: this.chainId,
      height: this.executor.head().height.toString(),
      rest: `http://${config.rest.host}:${config.rest.port}`,
      p2p: `${config.listen.host}:${config.listen.port}`,
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.releaseMarks(true);
    for (const t of [this.timer, this.statusTimer, this.payloadTimer]) if (t) clearTimeout(t);
    this.waiters.close();
    await this.api?.close().catch(() => undefined);
    await this.net.stop().catch(() => undefined);
    await this.commitChain.catch(() => undefined);
    await this.blockWrites;
    await this.mempool.close().catch(() => undefined);
    await this.executor.close().catch(() => undefined);
    await this.store.close().catch(() => undefined);
  }

  /** A fatal error (a broken invariant or diverged state) stops the node instead of letting it continue. */
  onFatal: (e: Error) => void = () => undefined;

  private die(e: Error): void {
    if (this.fatal) return;
    this.fatal = e;
    this.releaseMarks(true);
    this.log.error("fatal", { error: e.message });
    this.onFatal(e);
  }

  // ---- consensus event pump ------------------------------------------------------------------------------

  private enqueue(ev: ConsensusEvent): void {
    if (this.stopped || this.fatal) return;
    this.events.push(ev);
    this.eventsIn++;
    if (!this.pumping) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.events.length > 0 && !this.stopped && !this.fatal) {
        const ev = this.events.shift()!;
        let actions: ConsensusAction[];
        try {
          actions = this.core.step(ev);
        } catch (e) {
          this.die(e as Error);
          return;
        }
        try {
          await this.applyAsync(actions);
        } finally {
          this.eventsDone++;
          this.releaseMarks(false);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Resolves once the pump has finished every event enqueued so far, or the node stops. */
  private eventsStepped(): Promise<void> {
    const mark = this.eventsIn;
    if (this.eventsDone >= mark || this.stopped || this.fatal) return Promise.resolve();
    return new Promise((resolve) => this.markWaiters.push({ mark, resolve }));
  }

  private releaseMarks(all: boolean): void {
    while (this.markWaiters.length > 0 && (all || this.markWaiters[0]!.mark <= this.eventsDone)) this.markWaiters.shift()!.resolve();
  }

  /** Carries out actions in order; only persistence is awaited, so sends never overtake what guards them. */
  private async applyAsync(actions: ConsensusAction[]): Promise<void> {
    if (DEBUG) for (const a of actions) this.log.info("action", describeAction(a));
    // A step that persists the safety state (a vote, a proposal) stores its blocks in that same batch (and the
    // deletions of pruned blocks, see ConsensusLog): one trip through the I/O threads and one fsync per view.
    let riding: { block: Block; hash: Uint8Array }[] | null = null;
    if (actions.some((a) => a.type === "persistSafety")) {
      riding = [];
      for (const a of actions) if (a.type === "persistBlock") riding.push({ block: a.block, hash: a.hash });
    }
    for (const a of actions) {
      if (this.stopped) return;
      try {
        switch (a.type) {
          case "persistSafety": {
            const blocks = riding ?? [];
            riding = [];
            const write = this.clog.putSafety(encode(SafetyState, a.state), blocks);
            if (blocks.length > 0) this.blockWrites = this.blockWrites.then(() => write.catch(() => undefined));
            await write;
            break;
          }
          case "persistBlock": {
            this.pendingHeights.set(toHex(a.hash), a.block.header.height);
            this.prefetchUnseen(a.block.invocations);
            // Written with this step's safety state (above) when it has one.
            if (riding !== null) break;
            // Not awaited: safety rests on the safety state alone, and a block lost in a crash is fetched
            // again from peers; waiting for this write only delayed every vote. Pruning waits for it.
            const write = this.clog.putPending(a.block, a.hash).then(
              () => undefined,
              (e: unknown) => this.log.warn("storing a pending block failed", { error: String(e) }),
            );
            this.blockWrites = this.blockWrites.then(() => write);
            break;
          }
          case "send": {
            const msg: AppMessage = { type: "consensus", value: encode(ConsensusMessage, a.message) };
            if (a.to === "all") this.net.broadcast(msg);
            else this.net.send(a.to, msg);
            break;
          }
          case "setTimer":
            if (this.timer) clearTimeout(this.timer);
            this.timer = setTimeout(() => this.enqueue({ type: "timer", view: a.view }), a.ms);
            break;
          case "execute":
            this.execute(a.block, a.hash);
            break;
          case "needPayload":
            this.buildPayload(a.view, a.parentHash, a.pendingAncestors);
            break;
          case "commit":
            this.commit(a.blocks);
            break;
          case "prune":
            this.prune(a.hashes);
            break;
          case "fetch":
            this.fetch(a.hash, a.hint);
            break;
          case "evidence":
            await this.clog.putEvidence(a.evidence);
            this.log.warn("equivocation evidence", { kind: a.evidence.kind, validator: a.evidence.validator, view: a.evidence.view.toString() });
            break;
          case "misbehaviour":
            this.metricsRegistry.inc("cairn_peer_misbehaviour_total");
            this.log.warn("peer misbehaviour", { peer: a.peer, code: a.code, message: a.message });
            break;
          case "log":
            if (a.level === "error" || a.level === "warn") this.log.warn(a.message, { code: a.code });
            // This validator's execution disagrees with what a quorum certified: continuing would serve a
            // state nobody else has. Stop, so the operator can replay and investigate.
            if (a.code === "state_divergence") this.die(new Error(`state diverged from the quorum: ${a.message}`));
            break;
        }
      } catch (e) {
        this.log.error("action failed", { action: a.type, error: (e as Error).message });
        if (a.type === "persistSafety") {
          // Continuing would risk sending a vote whose guard was not stored.
          this.die(e as Error);
          return;
        }
      }
    }
  }

  /**
   * Warms what a block's execution will read, for the invocations this pool never admitted: the pending ones
   * were prefetched at admission (their accounts sit in the committed-state cache), and prefetching them again
   * only built their state keys once more.
   */
  private prefetchUnseen(invs: readonly SignedInvocation[]): void {
    let unseen: SignedInvocation[] | null = null;
    for (const inv of invs) if (!this.mempool.isPending(invocationIdHex(inv))) (unseen ??= []).push(inv);
    if (unseen !== null) this.executor.prefetch(unseen);
  }

  private execute(block: Block, hash: Uint8Array): void {
    const t0 = performance.now();
    // Invocations whose gossip has not reached us (or is still being checked) get their signatures checked
    // on the verifier's workers first; execution would otherwise check each one inline on the event loop.
    const verified = this.mempool.verifyForBlock(block.invocations);
    const run = this.executionOrder.then(() => verified).then(() => this.executor.executeBlock(block, { has: (idHex) => this.mempool.isVerified(idHex) }));
    this.executionOrder = run.then(
      () => undefined,
      () => undefined,
    );
    run
      .then((r) => {
        if (DEBUG) this.log.info("executed", { height: block.header.height.toString(), n: block.invocations.length, ms: +(performance.now() - t0).toFixed(1) });
        this.executedResults.set(toHex(hash), r);
        this.enqueue({ type: "executed", blockHash: hash, stateRoot: r.stateRoot });
      })
      .catch((e: Error) => {
        if (this.stopped) return;
        this.log.warn("execution failed", { height: block.header.height.toString(), error: e.message });
      });
  }

  private buildPayload(view: bigint, parentHash: Uint8Array, ancestors: Block[]): void {
    if (this.payloadTimer) clearTimeout(this.payloadTimer);
    const { maxBlockInvocations, maxBlockBytes } = this.loaded.config.consensus;
    const ahead: SignedInvocation[] = [];
    for (const b of this.committing.values()) for (const inv of b.invocations) ahead.push(inv);
    for (const b of ancestors) for (const inv of b.invocations) ahead.push(inv);
    const propose = (): void => {
      if (this.payloadTimer) clearTimeout(this.payloadTimer);
      this.payloadTimer = null;
      this.proposeNow = null;
      const entries = this.mempool.select({ maxCount: maxBlockInvocations, maxBytes: maxBlockBytes - 64 * 1024, ahead });
      this.enqueue({ type: "payload", view, parentHash, invocations: entries.map((e) => e.inv) });
    };
    // No `exclude` set of the ahead ids (it was rebuilt from every pending ancestor each view): a pooled
    // invocation that an ancestor carries has that ancestor's (invoker, nonce), which `ahead` already puts
    // below the invoker's next ready nonce, so select skips it either way.
    // With work in the pool, or invocations in uncommitted ancestors that need the next links of their
    // 3-chain, propose at once. Idle, an empty block every maxBlockWaitMs keeps the chain (and everyone's
    // view timers) alive without writing blocks as fast as the network allows; an arriving invocation
    // (onWork) cuts the wait short.
    if (this.mempool.size > 0 || ahead.length > 0) return propose();
    this.proposeNow = propose;
    this.payloadTimer = setTimeout(propose, this.loaded.config.consensus.maxBlockWaitMs);
  }

  /** Called when invocations arrive: a leader idling before an empty block proposes them now. */
  private onWork(): void {
    if (this.proposeNow) setImmediate(() => this.proposeNow?.());
  }

  private commit(blocks: CommittedBlock[]): void {
    // The core no longer lists these blocks as pending ancestors, but their invocations stay in the mempool
    // until the commit below has run: until then, payloads must still leave them out.
    for (const cb of blocks) this.committing.set(toHex(cb.hash), cb.block);
    this.commitChain = this.commitChain.then(async () => {
      for (const cb of blocks) {
        if (this.stopped) return;
        try {
          // One batch records the block as committed together with its execution results.
          await this.executor.commitBlock(cb.hash, cb.qc);
        } catch (e) {
          this.die(e as Error);
          return;
        }
        const hex = toHex(cb.hash);
        const executed = this.executedResults.get(hex);
        this.executedResults.delete(hex);
        const receipts = executed?.receipts ?? (await this.store.receiptsOfBlock(cb.block.header.height));
        this.metricsRegistry.inc("cairn_blocks_committed_total");
        this.metricsRegistry.inc("cairn_invocations_committed_total", cb.block.invocations.length);
        this.metricsRegistry.set("cairn_height", Number(cb.block.header.height));
        const invs = cb.block.invocations;
        // The block's ids stop being pending synchronously inside onCommitted, and their receipts are delivered
        // in the same run: a waiter either registered before and is answered here, or registers after and finds
        // the receipt stored (the ordering ReceiptWaiters relies on to keep no receipts of its own).
        // The ids are memoized on these objects (execution computed them), so no {inv, id} pairs are needed.
        const cleanup = this.mempool.onCommitted(invs);
        for (let i = 0; i < receipts.length; i++) {
          const r = receipts[i]!;
          const inv = invs[i];
          // Receipts come in block order; the invocation's memoized id hex saves encoding it again.
          this.waiters.deliver(r, inv !== undefined && bytesEqual(r.id, invocationId(inv)) ? invocationIdHex(inv) : undefined);
        }
        await cleanup.catch((e) => this.log.warn("mempool cleanup failed", { error: String(e) }));
        this.committing.delete(hex);
        this.forgetPending(cb.block.header.height, cb.hash, hex);
      }
    });
  }

  /**
   * A committed block leaves the uncommitted-block index (its bytes stay: the chain names them). Committed
   * blocks never come back in a prune (that lists forked-off blocks only), so without this the index and
   * `pendingHeights` grew by one entry per block until the next restart.
   */
  private forgetPending(height: bigint, hash: Uint8Array, hex: string): void {
    if (!this.pendingHeights.delete(hex)) return;
    // After the block's own write (a sync-fetched block is stored without waiting), then with the next safety write.
    void this.blockWrites.then(() => this.clog.dropPending([{ height, hash, committed: true }]).catch((e) => this.log.warn("dropping a committed block's index entry failed", { error: String(e) })));
  }

  private prune(hashes: Uint8Array[]): void {
    const drop: Array<{ height: bigint; hash: Uint8Array; committed: boolean }> = [];
    for (const h of hashes) {
      const hex = toHex(h);
      this.executedResults.delete(hex);
      const height = this.pendingHeights.get(hex);
      this.pendingHeights.delete(hex);
      if (height !== undefined) drop.push({ height, hash: h, committed: false });
    }
    // Wait for commits in flight: a pruned block below the head may be committed, and must keep its bytes.
    const written = this.blockWrites;
    this.commitChain = this.commitChain.then(async () => {
      await written;
      for (const d of drop) {
        const at = await this.store.blockHashAt(d.height);
        d.committed = at !== null && bytesEqual(at, d.hash);
      }
      await this.clog.dropPending(drop).catch((e) => this.log.warn("prune failed", { error: String(e) }));
    });
  }

  private fetch(hash: Uint8Array, hint: number[]): void {
    // While committed ranges are coming in, every new proposal points at ancestors those ranges are about to
    // deliver: asking for them by hash as well fetched the same blocks about ten times over (1,000 blocks behind:
    // 10,614 blocks by hash beside 641 in ranges). The core asks again in a later view for what is still missing.
    if (this.syncing) return;
    const hex = toHex(hash);
    if (this.fetching.has(hex)) return;
    this.fetching.add(hex);
    const n = this.loaded.genesis.validators.length;
    const me = this.loaded.config.index;
    const order = [...hint, ...Array.from({ length: n }, (_, i) => i)].filter((p, i, a) => p !== me && a.indexOf(p) === i);
    void (async () => {
      try {
        for (const peer of order) {
          if (!this.net.isConnected(peer)) continue;
          try {
            const got = await this.net.requestBlocks(peer, [hash], { timeoutMs: 3000 });
            if (got.length > 0) {
              this.metricsRegistry.inc("cairn_sync_hash_blocks_total", got.length);
              for (const g of got) this.enqueue({ type: "blockFromSync", block: g.block, from: peer });
              return;
            }
          } catch {
            // try the next peer
          }
        }
      } finally {
        this.fetching.delete(hex);
      }
    })();
  }

  // ---- network -----------------------------------------------------------------------------------------

  private onNetMessage(from: number, msg: AppMessage): void {
    switch (msg.type) {
      case "consensus":
        if (DEBUG) this.log.info("received", { from, bytes: msg.value.length });
        this.enqueue({ type: "message", from, message: msg.value });
        break;
      case "invocations":
        void this.admitGossip(from, msg.value);
        break;
      case "status":
        if (msg.value.committedHeight > this.executor.head().height + 2n) void this.catchUp(from);
        break;
    }
  }

  /** Gossip from a peer: the same admission as clients get, minus deploys this validator cannot compile. */
  private async admitGossip(from: number, invs: SignedInvocation[]): Promise<void> {
    try {
      const refusals = await this.deployRefusals(invs);
      const admissible = refusals ? invs.filter((_, i) => refusals[i] === null) : invs;
      await this.mempool.admitFromPeer(admissible);
      this.executor.prefetch(admissible);
      this.onWork();
    } catch (e) {
      this.log.warn("gossip admission failed", { peer: from, error: String(e) });
    }
  }

  private sendStatus(peer: number | null): void {
    const msg: AppMessage = {
      type: "status",
      value: { committedHeight: this.executor.head().height, highQcView: this.core.highestQc.view },
    };
    if (peer === null) this.net.broadcast(msg);
    else this.net.send(peer, msg);
  }

  private queueGossip(entries: readonly PoolEntry[]): void {
    for (const e of entries) this.gossipQueue.push(e.inv);
    if (this.gossipScheduled) return;
    this.gossipScheduled = true;
    setImmediate(() => {
      this.gossipScheduled = false;
      const all = this.gossipQueue;
      this.gossipQueue = [];
      for (let i = 0; i < all.length; i += GOSSIP_BATCH) this.net.broadcast({ type: "invocations", value: all.slice(i, i + GOSSIP_BATCH) });
    });
  }

  /** Pulls committed blocks from a peer that is ahead, feeding them to the core, which checks and commits. */
  private async catchUp(peer: number): Promise<void> {
    if (this.syncing || this.stopped) return;
    this.syncing = true;
    try {
      for (let round = 0; round < 10_000 && !this.stopped; round++) {
        await this.commitChain;
        const from = this.core.committedHeight + 1n;
        const range = await this.net.requestCommitted(peer, from, SYNC_BATCH, { timeoutMs: 10_000 });
        if (range.blocks.length === 0) break;
        this.metricsRegistry.inc("cairn_sync_range_blocks_total", range.blocks.length);
        // Each block goes in with the certificate its child carries (a child's justify certifies its parent), the
        // last with the range's certificate: the core takes only certified (or wanted) synced blocks, and without
        // these all but the last block of a range were dropped unless a by-hash fetch happened to want them.
        const last = range.blocks.length - 1;
        range.blocks.forEach((block, i) =>
          this.enqueue({ type: "blockFromSync", block, qc: i === last ? range.certificate : range.blocks[i + 1]!.header.justify, from: peer }),
        );
        // Let the core take the whole range before asking for the next: the next one starts above what the core
        // then holds committed (its commits are applied when the loop comes round to `commitChain`). Waiting for
        // the executor to reach the range's end instead stalled 5 s per range whenever the last consecutive-view
        // 3-chain ended more than three blocks below it, as it does wherever a leader was down. The mark is this
        // range's last event, not an idle pump: under load the pump is rarely idle.
        await this.eventsStepped();
        if (this.stopped || this.fatal) break;
        if (range.blocks.length < SYNC_BATCH) break;
      }
    } catch (e) {
      this.log.warn("catch-up failed", { peer, error: (e as Error).message });
    } finally {
      this.syncing = false;
    }
  }

  // ---- NodeServices ------------------------------------------------------------------------------------

  async submit(inv: SignedInvocation): Promise<Uint8Array> {
    this.checkUp();
    const refusal = await this.executor.deployAdmissionError(inv);
    if (refusal !== null) throw new CairnError("unavailable", refusal);
    const id = await this.mempool.admit(inv);
    this.executor.prefetch([inv]);
    return id;
  }

  async submitBatch(invs: SignedInvocation[]): Promise<SubmitResult[]> {
    this.checkUp();
    const refusals = await this.deployRefusals(invs);
    const admissible = refusals ? invs.filter((_, i) => refusals[i] === null) : invs;
    const outcomes = await this.mempool.admitBatch(admissible);
    this.executor.prefetch(admissible);
    if (refusals === null) return outcomes.map(submitResult);
    let next = 0;
    return refusals.map((refusal) => (refusal !== null ? { error: { code: "unavailable", message: refusal } } : submitResult(outcomes[next++]!)));
  }

  /**
   * Per invocation, why this validator refuses it before admission (a deploy it cannot compile), or null.
   * Only deploys can be refused here: a batch without any gets null and costs no promise per invocation.
   */
  private async deployRefusals(invs: readonly SignedInvocation[]): Promise<(string | null)[] | null> {
    if (!invs.some((i) => i.contract === "deploy")) return null;
    return Promise.all(invs.map((inv) => this.executor.deployAdmissionError(inv)));
  }

  waitForReceipts(ids: Uint8Array[], timeoutMs: number): Promise<(Receipt | null)[]> {
    return this.waiters.wait(ids, timeoutMs);
  }

  getReceipt(id: Uint8Array): Promise<Receipt | null> {
    return this.store.receiptById(id);
  }

  isPending(id: Uint8Array): boolean {
    return this.mempool.isPending(id);
  }

  query(q: QueryRequest): Promise<QueryResult> {
    return this.executor.query(q);
  }

  getBlock(height: bigint | "latest"): Promise<Block | null> {
    return this.executor.getBlock(height);
  }

  getAccount(pk: Uint8Array): Promise<{ balance: bigint; nonce: bigint }> {
    return this.executor.getAccount(pk);
  }

  getContract(name: string): Promise<{ name: string; owner: Uint8Array; versions: ContractVersionInfo[] } | null> {
    return this.executor.getContract(name);
  }

  getContractVersion(name: string, version: number): Promise<{ info: ContractVersionInfo; sources: SourceFile[] } | null> {
    return this.executor.getContractVersion(name, version);
  }

  getState(contract: string, key: Uint8Array): Promise<Uint8Array | null> {
    return this.executor.getState(contract, key);
  }

  pendingNonce(pk: Uint8Array): bigint | null {
    return this.mempool.nextNonce(pk);
  }

  status(): NodeStatus {
    const head = this.executor.head();
    return {
      chainId: this.chainId,
      height: head.height,
      headHash: head.hash,
      stateRoot: head.stateRoot,
      view: this.core.view,
      validators: this.loaded.genesis.validators.map((v) => ({ publicKey: v.publicKey, name: v.name })),
      self: this.loaded.config.index,
      mempool: this.mempool.size,
    };
  }

  async evidence(): Promise<unknown[]> {
    const stored = await this.clog.listEvidence();
    return stored.map((e) => toJson(EvidenceCodec, e));
  }

  metrics(): string {
    const net = this.net.metrics();
    const m = this.metricsRegistry;
    m.set("cairn_view", Number(this.core.view));
    m.set("cairn_height", Number(this.executor.head().height));
    m.set("cairn_mempool_size", this.mempool.size);
    m.set("cairn_pending_blocks", this.core.pendingBlocks);
    m.set("cairn_stored_uncommitted_blocks", this.pendingHeights.size);
    m.set("cairn_peers_connected", net.connectedPeers);
    m.set("cairn_net_frames_in_total", net.framesIn);
    m.set("cairn_net_frames_out_total", net.framesOut);
    m.set("cairn_net_bytes_in_total", net.bytesIn);
    m.set("cairn_net_bytes_out_total", net.bytesOut);
    m.set("cairn_state_retries_total", this.executor.stats.stateRetries);
    return m.render();
  }

  private checkUp(): void {
    if (this.fatal) throw new CairnError("unavailable", `node halted: ${this.fatal.message}`);
    if (this.stopped) throw new CairnError("unavailable", "node is stopping");
  }
}

function consoleLogger(name: string): Logger {
  const line = (level: string, msg: string, fields?: Record<string, unknown>): void => {
    // Wall-clock milliseconds (mod 1e6), so the traces of several processes line up.
    const t = DEBUG ? `${((performance.timeOrigin + performance.now()) % 1e6).toFixed(1)} ` : "";
    process.stderr.write(`${t}${level} [${name}] ${msg}${fields ? " " + JSON.stringify(fields) : ""}\n`);
  };
  return {
    info: (m, f) => line("info", m, f),
    warn: (m, f) => line("warn", m, f),
    error: (m, f) => line("error", m, f),
  } as Logger;
}

function describeAction(a: ConsensusAction): Record<string, unknown> {
  switch (a.type) {
    case "send":
      return { type: a.type, to: a.to, message: a.message.type };
    case "setTimer":
      return { type: a.type, view: a.view.toString(), ms: a.ms };
    case "execute":
    case "persistBlock":
      return { type: a.type, height: a.block.header.height.toString(), view: a.block.header.view.toString() };
    case "needPayload":
      return { type: a.type, view: a.view.toString(), height: a.height.toString() };
    case "commit":
      return { type: a.type, heights: a.blocks.map((b) => b.block.header.height.toString()) };
    case "log":
    case "misbehaviour":
      return { type: a.type, code: a.code, message: a.message };
    default:
      return { type: a.type };
  }
}
