// The chaos run's load: a few clients, each the only signer of a few funded accounts, sending bank and token
// transfers through every REST submission route, spread over all validators. Nonces are tracked here, one
// invocation in flight per account; an outcome that is unknown (timeout, reset, refusal) is resolved by reading
// the receipt and the account's nonce and, while the nonce is unused, resubmitting the same signed bytes. An
// invocation counts as acknowledged only when a route answered its committed receipt under its own id.

import { setTimeout as sleep } from "node:timers/promises";
import { Keypair } from "../../node/client/keypair.ts";
import { signInvocation } from "../../node/client/invocation.ts";
import { BANK, DEFAULT_GAS } from "../../node/client/builtins.ts";
import { decode, encode, toJson } from "../../node/codec/codec.ts";
import { toHex, utf8 } from "../../node/codec/hex.ts";
import {
  BINARY_MEDIA_TYPE,
  InvocationBatch,
  SignedInvocation,
  SubmitOutcomes,
  TransferPayload,
  type Receipt,
} from "../../node/codec/types.ts";
import { invocationId } from "../../node/crypto/digests.ts";
import type { Prng } from "./prng.ts";

export const MODES = ["single", "single-wait", "batch-json", "batch-json-wait", "batch-binary", "batch-binary-wait", "poll"] as const;
export type Mode = (typeof MODES)[number];

export interface Ack {
  id: string;
  height: string;
  status: string;
  account: string;
  nonce: bigint;
  via: Mode;
  validator: number;
}

interface Pending {
  inv: SignedInvocation;
  id: string;
  nonce: bigint;
  lastTry: number;
  lastSubmit: number;
  resubmits: number;
}

interface Account {
  key: Keypair;
  pkHex: string;
  /** The next nonce to sign with: every nonce below it belongs to one signed invocation, never two. */
  nonce: bigint;
  pending: Pending | null;
}

/** What a route told us about one submitted item. */
type ItemOutcome =
  | { kind: "receipt"; id: string; height: string; status: string }
  | { kind: "admitted"; id: string }
  | { kind: "refused"; code: string }
  | { kind: "failed"; reason: string };

export interface LoadOptions {
  urls: readonly string[];
  chainId: string;
  tokenContract: { name: string; version: number };
  /** Each inner list is one client's accounts, with their next nonces. */
  clients: Array<Array<{ key: Keypair; nonce: bigint }>>;
  /** Everyone a transfer may go to (the run's accounts). */
  recipients: readonly Uint8Array[];
  prng: Prng;
  log: (line: string) => void;
}

type SubmitMode = Exclude<Mode, "poll">;
const SUBMIT_MODES = MODES.filter((m): m is SubmitMode => m !== "poll");
const WAIT_MS = 4_000;
const REQUEST_MS = 8_000;
const RESOLVE_EVERY_MS = 400;
const RESUBMIT_AFTER_MS = 1_500;

function idOf(inv: SignedInvocation): string {
  return toHex(invocationId(inv));
}

function receiptOutcome(r: Receipt): ItemOutcome {
  return { kind: "receipt", id: toHex(r.id), height: r.height.toString(10), status: r.status };
}

/** An item of a JSON answer: a receipt, {id}, {id, status: "pending"} or {error}. */
function jsonOutcome(j: any): ItemOutcome {
  if (j?.receipt) return { kind: "receipt", id: j.receipt.id, height: j.receipt.height, status: j.receipt.status };
  if (j?.error) return { kind: "refused", code: String(j.error.code) };
  if (typeof j?.id === "string" && typeof j?.height === "string" && typeof j?.status === "string") return { kind: "receipt", id: j.id, height: j.height, status: j.status };
  if (typeof j?.id === "string") return { kind: "admitted", id: j.id };
  return { kind: "failed", reason: `unexpected answer ${JSON.stringify(j).slice(0, 100)}` };
}

export class LoadGenerator {
  readonly acks = new Map<string, Ack>();
  /** Submitted items per route (resubmissions included) and acknowledgements per route. */
  readonly submitted = new Map<Mode, number>(MODES.map((m) => [m, 0]));
  readonly acked = new Map<Mode, number>(MODES.map((m) => [m, 0]));
  /** Unknown outcomes by cause (refusal code or network failure). */
  readonly unknown = new Map<string, number>();
  /** A route answered a different id than the one submitted (a wrong answer, counted as a mismatch). */
  idMismatches = 0;
  resubmits = 0;
  /** GET /v1/invocations/:id requests made. */
  polls = 0;
  private readonly clients: Account[][];
  private submitting = true;
  private running = true;
  private loops: Promise<void>[] = [];

  constructor(private readonly opts: LoadOptions) {
    this.clients = opts.clients.map((c) => c.map(({ key, nonce }) => ({ key, pkHex: key.publicKeyHex, nonce, pending: null })));
  }

  get accounts(): Account[] {
    return this.clients.flat();
  }

  start(): void {
    this.loops = this.clients.map((accounts) => this.clientLoop(accounts));
  }

  /** No new invocations from now on; unknown outcomes keep being resolved. */
  stopSubmitting(): void {
    this.submitting = false;
  }

  get pendingCount(): number {
    return this.accounts.filter((a) => a.pending !== null).length;
  }

  /** Resolves once every outcome is known or deadlineMs has passed; answers how many are still unknown. */
  async drain(deadlineMs: number): Promise<number> {
    this.stopSubmitting();
    const until = performance.now() + deadlineMs;
    while (this.pendingCount > 0 && performance.now() < until) await sleep(200);
    this.running = false;
    await Promise.all(this.loops);
    return this.pendingCount;
  }

  /** The accounts still unresolved, for the report. */
  unresolved(): Array<{ account: string; id: string; nonce: bigint; resubmits: number }> {
    return this.accounts.flatMap((a) => (a.pending ? [{ account: a.pkHex, id: a.pending.id, nonce: a.pending.nonce, resubmits: a.pending.resubmits }] : []));
  }

  /** The next nonce of every account as this generator knows it (every nonce below was committed). */
  expectedNonces(): Map<string, bigint> {
    return new Map(this.accounts.map((a) => [a.pkHex, a.nonce]));
  }

  private count<K>(map: Map<K, number>, key: K, by = 1): void {
    map.set(key, (map.get(key) ?? 0) + by);
  }

  private async clientLoop(accounts: Account[]): Promise<void> {
    const prng = this.opts.prng;
    while (this.running) {
      const now = performance.now();
      const tasks: Promise<void>[] = [];
      const idle = accounts.filter((a) => a.pending === null);
      if (this.submitting && idle.length > 0) tasks.push(this.submitNew(idle, prng.pick(SUBMIT_MODES), prng.int(0, this.opts.urls.length - 1)));
      for (const a of accounts) if (a.pending && now - a.pending.lastTry >= RESOLVE_EVERY_MS) tasks.push(this.resolve(a));
      await Promise.all(tasks);
      await sleep(tasks.length === 0 ? 100 : 30);
    }
  }

  private sign(a: Account): SignedInvocation {
    const prng = this.opts.prng;
    let to = prng.pick(this.opts.recipients);
    if (toHex(to) === a.pkHex) to = this.opts.recipients[(this.opts.recipients.indexOf(to) + 1) % this.opts.recipients.length]!;
    const nonce = a.nonce;
    const common = { chainId: this.opts.chainId, nonce, gasPrice: 1n };
    if (prng.chance(0.5)) {
      return signInvocation(a.key, {
        ...common,
        contract: BANK.contract,
        version: BANK.version,
        method: BANK.transfer,
        input: encode(TransferPayload, { to, amount: BigInt(prng.int(1, 1000)) }),
        gasLimit: DEFAULT_GAS.transfer,
      });
    }
    return signInvocation(a.key, {
      ...common,
      contract: this.opts.tokenContract.name,
      version: this.opts.tokenContract.version,
      method: "transfer",
      input: utf8(`${toHex(to)} ${prng.int(1, 100)}`),
      gasLimit: DEFAULT_GAS.invoke,
    });
  }

  private async submitNew(idle: Account[], mode: SubmitMode, v: number): Promise<void> {
    const now = performance.now();
    for (const a of idle) {
      const inv = this.sign(a);
      a.pending = { inv, id: idOf(inv), nonce: a.nonce, lastTry: now, lastSubmit: now, resubmits: 0 };
      a.nonce += 1n;
    }
    if (mode === "single" || mode === "single-wait") {
      // One request per invocation, all in flight together.
      await Promise.all(
        idle.map(async (a) => {
          const [o] = await this.post(mode, v, [a.pending!.inv]);
          this.settle(a, o!, mode, v);
        }),
      );
      return;
    }
    const outcomes = await this.post(mode, v, idle.map((a) => a.pending!.inv));
    idle.forEach((a, k) => this.settle(a, outcomes[k]!, mode, v));
  }

  /** Submits through the route `mode` names; one outcome per invocation, never throws. */
  private async post(mode: SubmitMode, v: number, invs: SignedInvocation[]): Promise<ItemOutcome[]> {
    this.count(this.submitted, mode, invs.length);
    const url = this.opts.urls[v]!;
    const waitQuery = `?wait=true&timeoutMs=${WAIT_MS}`;
    const signal = AbortSignal.timeout(REQUEST_MS + WAIT_MS);
    try {
      let res: Response;
      switch (mode) {
        case "single":
        case "single-wait": {
          // The single route takes either body form; which one is drawn like the rest of the load.
          const binary = this.opts.prng.chance(0.5);
          res = await fetch(`${url}/v1/invocations${mode === "single-wait" ? waitQuery : ""}`, {
            method: "POST",
            headers: { "content-type": binary ? BINARY_MEDIA_TYPE : "application/json" },
            body: binary ? encode(SignedInvocation, invs[0]!) : JSON.stringify(toJson(SignedInvocation, invs[0]!)),
            signal,
          });
          const j = (await res.json()) as any;
          if (!res.ok) return [{ kind: "refused", code: String(j?.error?.code ?? res.status) }];
          return [jsonOutcome(j)];
        }
        case "batch-json":
        case "batch-json-wait": {
          res = await fetch(`${url}/v1/invocations/batch${mode === "batch-json-wait" ? waitQuery : ""}`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(invs.map((inv) => toJson(SignedInvocation, inv))),
            signal,
          });
          const j = (await res.json()) as any;
          if (!res.ok) return invs.map(() => ({ kind: "refused", code: String(j?.error?.code ?? res.status) }));
          const results = (j as { results: unknown[] }).results;
          if (results.length !== invs.length) return invs.map(() => ({ kind: "failed", reason: "answer count" }));
          return results.map(jsonOutcome);
        }
        case "batch-binary":
        case "batch-binary-wait": {
          res = await fetch(`${url}/v1/invocations/batch${mode === "batch-binary-wait" ? waitQuery : ""}`, {
            method: "POST",
            headers: { "content-type": BINARY_MEDIA_TYPE, accept: BINARY_MEDIA_TYPE },
            body: encode(InvocationBatch, invs),
            signal,
          });
          const raw = new Uint8Array(await res.arrayBuffer());
          if (!res.ok) {
            const j = JSON.parse(new TextDecoder().decode(raw));
            return invs.map(() => ({ kind: "refused", code: String(j?.error?.code ?? res.status) }));
          }
          const outcomes = decode(SubmitOutcomes, raw, "answer");
          if (outcomes.length !== invs.length) return invs.map(() => ({ kind: "failed", reason: "answer count" }));
          return outcomes.map((o): ItemOutcome => {
            switch (o.type) {
              case "refused":
                return { kind: "refused", code: o.value.code };
              case "admitted":
              case "pending":
                return { kind: "admitted", id: toHex(o.value.id) };
              case "committed":
                return receiptOutcome(o.value);
            }
          });
        }
      }
    } catch (e) {
      const reason = (e as Error).name === "TimeoutError" ? "timeout" : "connection";
      return invs.map(() => ({ kind: "failed", reason }));
    }
  }

  /** Takes in what a route said about account a's pending invocation. */
  private settle(a: Account, o: ItemOutcome, via: Mode, v: number): void {
    const p = a.pending;
    if (!p) return;
    switch (o.kind) {
      case "receipt":
        if (o.id !== p.id) {
          this.idMismatches++;
          this.opts.log(`chaos: validator ${v} answered receipt ${o.id} for invocation ${p.id} (${via})`);
          return;
        }
        this.acks.set(p.id, { id: p.id, height: o.height, status: o.status, account: a.pkHex, nonce: p.nonce, via, validator: v });
        this.count(this.acked, via);
        a.pending = null;
        return;
      case "admitted":
        if (o.id !== p.id) {
          this.idMismatches++;
          this.opts.log(`chaos: validator ${v} admitted ${p.id} under id ${o.id} (${via})`);
        }
        return;
      case "refused":
        this.count(this.unknown, `refused:${o.code}`);
        return;
      case "failed":
        this.count(this.unknown, o.reason);
        return;
    }
  }

  /**
   * One step of finding out what became of a's pending invocation, on one validator: its receipt if it has
   * one; else, when that validator's view of the account says the nonce is still unused, submit the same bytes
   * again (a used nonce without a receipt there means that validator has not caught up: ask again later).
   */
  private async resolve(a: Account): Promise<void> {
    const p = a.pending!;
    p.lastTry = performance.now();
    const v = this.opts.prng.int(0, this.opts.urls.length - 1);
    const url = this.opts.urls[v]!;
    try {
      const res = await fetch(`${url}/v1/invocations/${p.id}`, { signal: AbortSignal.timeout(3_000) });
      const j = (await res.json()) as any;
      this.polls++;
      if (res.ok && typeof j.height === "string") {
        this.settle(a, jsonOutcome(j), "poll", v);
        return;
      }
      if (res.ok) return; // pending in that validator's mempool
      if (res.status !== 404) return;
      if (performance.now() - p.lastSubmit < RESUBMIT_AFTER_MS) return;
      const acc = await fetch(`${url}/v1/accounts/${a.pkHex}`, { signal: AbortSignal.timeout(3_000) });
      if (!acc.ok) return;
      const nonce = BigInt(((await acc.json()) as { nonce: string }).nonce);
      if (nonce !== p.nonce) return;
      p.lastSubmit = performance.now();
      p.resubmits++;
      this.resubmits++;
      const [o] = await this.post("single", v, [p.inv]);
      this.settle(a, o!, "single", v);
    } catch {
      // that validator is down or restarting: another one next time
    }
  }
}
