// The consensus core's event loop: events in arrival order, one core step each, and the step's actions carried
// out before the next event is stepped. Everything that reaches the core (messages, timer expiries, executed
// blocks, payloads, synced blocks) comes through here.

import type { ConsensusAction, ConsensusCore, ConsensusEvent } from "../consensus/index.ts";
import type { Halt } from "./halt.ts";

/** Where the parts of a validator hand the core its inputs. */
export interface EventSink {
  enqueue(ev: ConsensusEvent): void;
}

export class EventPump implements EventSink {
  private readonly events: ConsensusEvent[] = [];
  private pumping = false;
  private stopped = false;
  /** Events handed to the pump so far, and those it has finished (stepped and applied): FIFO, so a mark works. */
  private eventsIn = 0;
  private eventsDone = 0;
  /** Waits for the pump to reach a mark (see stepped), in mark order. */
  private readonly markWaiters: Array<{ mark: number; resolve: () => void }> = [];
  private apply: (actions: ConsensusAction[]) => Promise<void> = async () => undefined;

  constructor(
    private readonly core: ConsensusCore,
    private readonly halt: Halt,
  ) {
    halt.onFatal(() => this.releaseMarks(true));
  }

  /** Sets what carries out the core's actions (the interpreter is built after the pump it feeds). */
  setApply(apply: (actions: ConsensusAction[]) => Promise<void>): void {
    this.apply = apply;
  }

  /**
   * Carries out the core's start actions (restored blocks, the first timer); events that arrive meanwhile wait.
   */
  async start(): Promise<void> {
    this.pumping = true;
    try {
      await this.apply(this.core.start());
    } finally {
      this.pumping = false;
    }
    if (this.events.length > 0) void this.pump();
  }

  stop(): void {
    this.stopped = true;
    this.releaseMarks(true);
  }

  enqueue(ev: ConsensusEvent): void {
    if (this.stopped || this.halt.halted) return;
    this.events.push(ev);
    this.eventsIn++;
    if (!this.pumping) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.events.length > 0 && !this.stopped && !this.halt.halted) {
        const ev = this.events.shift()!;
        let actions: ConsensusAction[];
        try {
          actions = this.core.step(ev);
        } catch (e) {
          // The core throws only for broken invariants and unexpected errors: its state may be half-changed.
          this.halt.fatal(`consensus step (${ev.type})`, e);
          return;
        }
        try {
          await this.apply(actions);
        } catch (e) {
          this.halt.fatal(`carrying out the actions of a ${ev.type} event`, e);
          return;
        } finally {
          this.eventsDone++;
          this.releaseMarks(false);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Resolves once the pump has finished every event enqueued so far, or the validator stops. */
  stepped(): Promise<void> {
    const mark = this.eventsIn;
    if (this.eventsDone >= mark || this.stopped || this.halt.halted) return Promise.resolve();
    return new Promise((resolve) => this.markWaiters.push({ mark, resolve }));
  }

  private releaseMarks(all: boolean): void {
    while (this.markWaiters.length > 0 && (all || this.markWaiters[0]!.mark <= this.eventsDone)) this.markWaiters.shift()!.resolve();
  }
}
