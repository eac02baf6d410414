// Invocations entering this validator's mempool, from clients and from peers' gossip: the mempool's checks,
// plus refusing deploys this validator cannot compile (such a deploy could not become a deterministic receipt),
// then warming what their execution will read, and waking an idle leader.

import type { SignedInvocation } from "../codec/types.ts";
import type { Executor } from "../exec/index.ts";
import type { Mempool } from "../mempool/index.ts";
import { submitResult, type SubmitResult } from "../api/services.ts";
import { CairnError } from "../errors.ts";
import type { PayloadBuilder } from "./payload.ts";

export class Admission {
  constructor(
    private readonly executor: Executor,
    private readonly mempool: Mempool,
    private readonly payload: PayloadBuilder,
  ) {}

  /** One invocation from a client: its id, or the CairnError refusing it. */
  async submit(inv: SignedInvocation): Promise<Uint8Array> {
    const refusal = await this.executor.deployAdmissionError(inv);
    if (refusal !== null) throw new CairnError("unavailable", refusal);
    const id = await this.mempool.admit(inv);
    this.executor.prefetch([inv]);
    return id;
  }

  async submitBatch(invs: SignedInvocation[]): Promise<SubmitResult[]> {
    const refusals = await this.deployRefusals(invs);
    const admissible = refusals ? invs.filter((_, i) => refusals[i] === null) : invs;
    const outcomes = await this.mempool.admitBatch(admissible);
    this.executor.prefetch(admissible);
    if (refusals === null) return outcomes.map(submitResult);
    let next = 0;
    return refusals.map((refusal) => (refusal !== null ? { error: { code: "unavailable", message: refusal } } : submitResult(outcomes[next++]!)));
  }

  /** Gossip from a peer: the same admission as clients get; refusals are the peer's business, not ours. */
  async fromPeer(invs: SignedInvocation[]): Promise<void> {
    const refusals = await this.deployRefusals(invs);
    const admissible = refusals ? invs.filter((_, i) => refusals[i] === null) : invs;
    await this.mempool.admitFromPeer(admissible);
    this.executor.prefetch(admissible);
    this.payload.onWork();
  }

  /**
   * Per invocation, why this validator refuses it before admission (a deploy it cannot compile), or null.
   * Only deploys can be refused here: a batch without any gets null and costs no promise per invocation.
   */
  private async deployRefusals(invs: readonly SignedInvocation[]): Promise<(string | null)[] | null> {
    if (!invs.some((i) => i.contract === "deploy")) return null;
    return Promise.all(invs.map((inv) => this.executor.deployAdmissionError(inv)));
  }
}
