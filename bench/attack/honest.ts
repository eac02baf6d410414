// The honest client of the attack run and test: one native transfer at a time from a funded key, each
// signed with the next nonce and followed until it commits, with its submission-to-commit latency recorded.
// It talks to every validator, moving on from one that is down, restarting or syncing, so the latencies
// measure the chain, not one endpoint; a validator's refusal of the invocation itself counts as refused.

import { setTimeout as sleep } from "node:timers/promises";
import { toJson } from "../../node/codec/codec.ts";
import { SignedInvocation } from "../../node/codec/types.ts";
import { FastKey, invocationIdHex } from "./keys.ts";

export interface Sample {
  /** performance.now() at the first submission and when the receipt was seen. */
  sentAt: number;
  doneAt: number;
  latencyMs: number;
  height: bigint;
}

export interface Refusal {
  at: number;
  code: string;
  message: string;
}

/** Refusals that say "not now, try elsewhere" rather than "this invocation is unacceptable". */
const TRANSIENT = new Set(["syncing", "unavailable"]);
/** How long one invocation is followed before it is counted as not committed (and its nonce re-read). */
const GIVE_UP_MS = 120_000;

export class HonestClient {
  readonly samples: Sample[] = [];
  readonly refusals: Refusal[] = [];
  /** Invocations followed for GIVE_UP_MS without a receipt. */
  lost = 0;
  private running = false;
  /** After stop(): until when an invocation in flight is still followed (then abandoned, uncounted). */
  private followUntil = Infinity;
  private loop: Promise<void> | null = null;
  private nonce: bigint | null = null;
  private next = 0;
  private readonly to = FastKey.generate().publicKey;

  constructor(
    private readonly urls: readonly string[],
    private readonly chainId: string,
    private readonly key: FastKey,
    private readonly gasPrice: bigint,
    /** Pause between one commit and the next submission. */
    private readonly pauseMs = 50,
  ) {}

  start(): void {
    this.running = true;
    this.followUntil = Infinity;
    this.loop = this.run();
  }

  /** Stops sending; the invocation in flight is followed for up to graceMs more, so a pause loses no sample. */
  async stop(graceMs = 15_000): Promise<void> {
    this.running = false;
    this.followUntil = performance.now() + graceMs;
    await this.loop;
  }

  /** Samples whose invocation was sent in [from, to). */
  between(from: number, to: number): Sample[] {
    return this.samples.filter((s) => s.sentAt >= from && s.sentAt < to);
  }

  refusalsBetween(from: number, to: number): Refusal[] {
    return this.refusals.filter((r) => r.at >= from && r.at < to);
  }

  private url(): string {
    return this.urls[this.next % this.urls.length]!;
  }

  private rotate(): void {
    this.next++;
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (this.nonce === null) this.nonce = await this.readNonce();
        const inv = this.key.transfer(this.chainId, this.to, 1n, this.nonce, this.gasPrice);
        const outcome = await this.follow(inv);
        if (outcome === "committed") this.nonce++;
        else this.nonce = null; // refused or lost: the nonce may be free, ask the chain again
      } catch {
        this.rotate();
        await sleep(100);
      }
      await sleep(this.pauseMs);
    }
  }

  private async readNonce(): Promise<bigint> {
    for (;;) {
      try {
        const res = await fetch(`${this.url()}/v1/accounts/${this.key.publicKeyHex}`, { signal: AbortSignal.timeout(5_000) });
        if (res.ok && res.headers.get("x-cairn-syncing") !== "true") {
          const j = (await res.json()) as { nonce: string; pendingNonce?: string };
          return BigInt(j.pendingNonce ?? j.nonce);
        }
      } catch {
        // down or restarting
      }
      this.rotate();
      if (!this.running) throw new Error("stopped");
      await sleep(100);
    }
  }

  /** Submits and follows one invocation until it commits, is refused, or GIVE_UP_MS passes. */
  private async follow(inv: SignedInvocation): Promise<"committed" | "refused" | "lost"> {
    const id = invocationIdHex(inv);
    const body = JSON.stringify(toJson(SignedInvocation, inv));
    const sentAt = performance.now();
    let submitted = false;
    while (performance.now() - sentAt < GIVE_UP_MS) {
      if (performance.now() > this.followUntil) return "lost";
      const url = this.url();
      try {
        if (!submitted) {
          const res = await fetch(`${url}/v1/invocations?wait=true&timeoutMs=10000`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body,
            signal: AbortSignal.timeout(15_000),
          });
          const j = (await res.json()) as any;
          if (res.status === 200 && typeof j.height === "string") return this.done(sentAt, j);
          if (res.status === 202) {
            submitted = true;
            continue;
          }
          const code = String(j?.error?.code ?? res.status);
          if (code === "already_committed" || code === "duplicate") {
            submitted = true;
            continue;
          }
          if (TRANSIENT.has(code)) {
            this.rotate();
            await sleep(100);
            continue;
          }
          this.refusals.push({ at: sentAt, code, message: String(j?.error?.message ?? j?.status ?? "") });
          return "refused";
        }
        // Admitted somewhere: poll for the receipt (any validator will have it once committed).
        const res = await fetch(`${url}/v1/invocations/${id}`, { signal: AbortSignal.timeout(5_000) });
        if (res.ok) {
          const j = (await res.json()) as any;
          if (typeof j.height === "string") return this.done(sentAt, j);
          if (j.status === "expired" || j.status === "displaced") {
            this.refusals.push({ at: sentAt, code: j.status, message: j.reason ?? "" });
            return "refused";
          }
        } else if (res.status === 404 && performance.now() - sentAt > 3_000) {
          // This validator never heard of it (it was down when we submitted): send the same bytes again.
          submitted = false;
        }
        await sleep(25);
        if (!res.ok) this.rotate();
      } catch (e) {
        // Down, restarting, or our wait outlived the connection: poll another validator for it. A refused
        // connection never carried the invocation, so it is sent again elsewhere.
        if (!refusedConnection(e)) submitted = true;
        this.rotate();
        await sleep(100);
      }
    }
    this.lost++;
    return "lost";
  }

  private done(sentAt: number, receipt: { height: string; status: string; error?: string }): "committed" | "refused" {
    const doneAt = performance.now();
    if (receipt.status !== "ok") {
      this.refusals.push({ at: sentAt, code: `receipt_${receipt.status}`, message: receipt.error ?? "" });
      return "refused";
    }
    this.samples.push({ sentAt, doneAt, latencyMs: doneAt - sentAt, height: BigInt(receipt.height) });
    return "committed";
  }
}

function refusedConnection(e: unknown): boolean {
  const cause = (e as { cause?: { code?: string } })?.cause;
  return cause?.code === "ECONNREFUSED";
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
