// Invocations entering this validator's mempool, from clients and from peers' gossip: the mempool's checks (with
// the deploy gate below as their last step), then warming what their execution will read, and waking an idle
// leader.

import type { Executor } from "../exec/index.ts";
import type { AdmissionGate, Mempool } from "../mempool/index.ts";
import { BUILTIN_DEPLOY, type SignedInvocation } from "../codec/types.ts";
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
    const id = await this.mempool.admit(inv);
    this.executor.prefetch([inv]);
    return id;
  }

  async submitBatch(invs: SignedInvocation[]): Promise<SubmitResult[]> {
    const outcomes = await this.mempool.admitBatch(invs);
    this.executor.prefetch(invs.filter((_, i) => outcomes[i]!.ok));
    return outcomes.map(submitResult);
  }

  /** Gossip from a peer: the same admission as clients get; refusals are the peer's business, not ours. */
  async fromPeer(invs: SignedInvocation[]): Promise<void> {
    const outcomes = await this.mempool.admitFromPeer(invs);
    this.executor.prefetch(invs.filter((_, i) => outcomes[i]!.ok));
    this.payload.onWork();
  }
}

/**
 * The mempool's last admission check: a deploy is compiled (in the background, behind any compile a block waits
 * for) and refused when this validator cannot compile it for reasons outside the sources (a crash, a timeout, a
 * compiler busy with other deploys): such a deploy could not become a receipt here. A compile error in the
 * sources is admitted: it becomes a reverted receipt that pays for the compile.
 */
export function deployGate(executor: Executor): AdmissionGate {
  return (inv) => {
    if (inv.contract !== BUILTIN_DEPLOY) return null;
    return executor.deployAdmissionError(inv).then((refusal) => (refusal === null ? null : new CairnError("unavailable", refusal)));
  };
}
