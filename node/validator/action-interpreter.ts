// Carries out the consensus core's actions in the order it gave them. Only persistence is awaited, so a send
// never overtakes the safety state that guards it; everything else is handed to the part whose job it is.
// An action that fails throws, and the pump stops the validator: nothing after it is carried out.

import { encode } from "../codec/codec.ts";
import { ConsensusMessage, SafetyState } from "../codec/consensus.ts";
import type { Block, SignedInvocation } from "../codec/types.ts";
import type { ConsensusAction } from "../consensus/index.ts";
import { invocationIdHex } from "../crypto/digests.ts";
import type { Executor } from "../exec/index.ts";
import type { Mempool } from "../mempool/index.ts";
import type { NodeMetrics } from "../metrics.ts";
import type { ConsensusLog } from "../store/consensus-log.ts";
import type { BlockExecution } from "./block-execution.ts";
import type { CatchUp } from "./catch-up.ts";
import type { CommitPipeline } from "./commit-pipeline.ts";
import type { EventSink } from "./event-pump.ts";
import type { Halt } from "./halt.ts";
import type { PayloadBuilder } from "./payload.ts";
import type { Clock, Logger, Timer, ValidatorLinks } from "./ports.ts";
import type { UncommittedBlocks } from "./uncommitted-blocks.ts";

export interface InterpreterParts {
  readonly links: ValidatorLinks;
  readonly clock: Clock;
  readonly events: EventSink;
  readonly clog: ConsensusLog;
  readonly blocks: UncommittedBlocks;
  readonly execution: BlockExecution;
  readonly payload: PayloadBuilder;
  readonly commits: CommitPipeline;
  readonly catchUp: CatchUp;
  readonly executor: Executor;
  readonly mempool: Mempool;
  readonly metrics: NodeMetrics;
  readonly halt: Halt;
  readonly log: Logger;
  /** Logs every action (CAIRN_DEBUG=1). */
  readonly trace?: boolean;
}

export class ActionInterpreter {
  private timer: Timer | null = null;
  private stopped = false;

  constructor(private readonly p: InterpreterParts) {}

  async apply(actions: ConsensusAction[]): Promise<void> {
    const p = this.p;
    if (p.trace) for (const a of actions) p.log.info("action", describeAction(a));
    // A step that persists the safety state (a vote, a proposal) stores its blocks in that same batch (and the
    // deletions of pruned blocks, see ConsensusLog): one trip through the I/O threads and one fsync per view.
    let riding: { block: Block; hash: Uint8Array }[] | null = null;
    if (actions.some((a) => a.type === "persistSafety")) {
      riding = [];
      for (const a of actions) if (a.type === "persistBlock") riding.push({ block: a.block, hash: a.hash });
    }
    for (const a of actions) {
      if (this.stopped || p.halt.halted) return;
      switch (a.type) {
        case "persistSafety": {
          const blocks = riding ?? [];
          riding = [];
          await p.blocks.writeWithSafety(encode(SafetyState, a.state), blocks);
          break;
        }
        case "persistBlock":
          p.blocks.note(a.block, a.hash);
          this.prefetchUnseen(a.block.invocations);
          // Written with this step's safety state (above) when it has one.
          if (riding === null) p.blocks.writeAlone(a.block, a.hash);
          break;
        case "send": {
          const msg = { type: "consensus" as const, value: encode(ConsensusMessage, a.message) };
          if (a.to === "all") p.links.broadcast(msg);
          else p.links.send(a.to, msg);
          break;
        }
        case "setTimer":
          this.timer?.cancel();
          this.timer = p.clock.after(a.ms, () => p.events.enqueue({ type: "timer", view: a.view }));
          break;
        case "execute":
          p.execution.execute(a.block, a.hash);
          break;
        case "needPayload":
          p.payload.build(a.view, a.parentHash, a.pendingAncestors);
          break;
        case "commit":
          p.commits.commit(a.blocks);
          break;
        case "prune":
          p.commits.prune(a.hashes);
          break;
        case "fetch":
          p.catchUp.fetch(a.hash, a.hint);
          break;
        case "evidence":
          await p.clog.putEvidence(a.evidence);
          p.log.warn("equivocation evidence", { kind: a.evidence.kind, validator: a.evidence.validator, view: a.evidence.view.toString() });
          break;
        case "misbehaviour":
          p.metrics.inc("cairn_peer_misbehaviour_total");
          p.log.warn("peer misbehaviour", { peer: a.peer, code: a.code, message: a.message });
          break;
        case "log":
          if (a.level === "error" || a.level === "warn") p.log.warn(a.message, { code: a.code });
          // This validator's execution disagrees with what a quorum certified: continuing would serve a
          // state nobody else has. Stop, so the operator can replay and investigate.
          if (a.code === "state_divergence") p.halt.fatal("checking a certified block's state commitment", new Error(`state diverged from the quorum: ${a.message}`));
          break;
      }
    }
  }

  /**
   * Warms what a block's execution will read, for the invocations this pool never admitted: the pending ones
   * were prefetched at admission, and prefetching them again only built their state keys once more.
   */
  private prefetchUnseen(invs: readonly SignedInvocation[]): void {
    let unseen: SignedInvocation[] | null = null;
    for (const inv of invs) if (!this.p.mempool.isPending(invocationIdHex(inv))) (unseen ??= []).push(inv);
    if (unseen !== null) this.p.executor.prefetch(unseen);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }
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
