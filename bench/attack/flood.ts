// The flood of the attack run and test: gapped and underpriced invocations from many keys, sent through the
// binary batch route to every validator at once, with every item's outcome counted by refusal code.
//
// What an attacker can send, and what each kind should meet:
// - gapped (nonce 0 never sent) at the fee floor from funded keys: admitted up to 16 per key, then
//   too_many_pending or nonce_gap; they can never run, and expire after the gap timeout.
// - underpriced (gasPrice 0) from those keys: gas_price_too_low before any signature is checked.
// - gapped at the floor from keys that were never funded: insufficient_balance.

import { decode, encode } from "../../node/codec/codec.ts";
import { BINARY_MEDIA_TYPE, InvocationBatch, SubmitOutcomes, type SignedInvocation } from "../../node/codec/types.ts";
import { FastKey } from "./keys.ts";

export interface FloodPlan {
  /** Invocations in all. */
  total: number;
  /** Share of `total` at gasPrice 0, and share from never-funded keys; the rest are gapped from funded keys. */
  underpricedShare: number;
  unfundedShare: number;
  /** How many never-funded keys send the unfunded share. */
  unfundedKeys: number;
}

export const DEFAULT_FLOOD: FloodPlan = { total: 50_000, underpricedShare: 0.1, unfundedShare: 0.1, unfundedKeys: 500 };

export type FloodKind = "gapped" | "underpriced" | "unfunded";

export interface Flood {
  invocations: SignedInvocation[];
  /** What each invocation is, by position. */
  kindOf: FloodKind[];
  /** Every key that signed part of the flood: none of them may ever have a committed invocation. */
  keys: FastKey[];
  kinds: { gapped: number; underpriced: number; unfunded: number };
}

/**
 * Signs the flood. Funded keys (next nonce 0) send nonces 1, 2, ... so nonce 0 stays missing; each gets an
 * equal part of the gapped share, interleaved so every batch mixes keys and kinds.
 */
export function buildFlood(chainId: string, fundedKeys: readonly FastKey[], gasPrice: bigint, plan: FloodPlan = DEFAULT_FLOOD): Flood {
  if (fundedKeys.length === 0) throw new Error("the flood needs at least one funded key");
  const underpriced = Math.round(plan.total * plan.underpricedShare);
  const unfunded = Math.round(plan.total * plan.unfundedShare);
  const gapped = plan.total - underpriced - unfunded;
  const strangers = Array.from({ length: Math.max(1, plan.unfundedKeys) }, () => FastKey.generate());
  const sink = FastKey.generate().publicKey;
  const nextNonce = new Map<FastKey, bigint>();
  const take = (k: FastKey): bigint => {
    const n = nextNonce.get(k) ?? 1n;
    nextNonce.set(k, n + 1n);
    return n;
  };
  const streams: SignedInvocation[][] = [[], [], []];
  for (let i = 0; i < gapped; i++) {
    const k = fundedKeys[i % fundedKeys.length]!;
    streams[0]!.push(k.transfer(chainId, sink, 1n, take(k), gasPrice));
  }
  for (let i = 0; i < underpriced; i++) {
    const k = fundedKeys[i % fundedKeys.length]!;
    streams[1]!.push(k.transfer(chainId, sink, 1n, take(k), 0n));
  }
  for (let i = 0; i < unfunded; i++) {
    const k = strangers[i % strangers.length]!;
    streams[2]!.push(k.transfer(chainId, sink, 1n, take(k), gasPrice));
  }
  // Interleave the three kinds in proportion.
  const invocations: SignedInvocation[] = [];
  const kindOf: FloodKind[] = [];
  const names: FloodKind[] = ["gapped", "underpriced", "unfunded"];
  const pos = [0, 0, 0];
  const total = gapped + underpriced + unfunded;
  for (let i = 0; i < total; i++) {
    let best = 0;
    let lag = -Infinity;
    for (let s = 0; s < 3; s++) {
      const len = streams[s]!.length;
      if (pos[s]! >= len) continue;
      const behind = ((i + 1) * len) / total - pos[s]!;
      if (behind > lag) {
        lag = behind;
        best = s;
      }
    }
    invocations.push(streams[best]![pos[best]!++]!);
    kindOf.push(names[best]!);
  }
  return { invocations, kindOf, keys: [...fundedKeys, ...strangers], kinds: { gapped, underpriced, unfunded } };
}

export interface FloodResult {
  sent: number;
  admitted: number;
  /** Refusals by code (a whole request refused as `request:<code>`, transport failures as `transport:<reason>`). */
  refused: Map<string, number>;
  /** Per invocation, by position: "admitted" or what refused it. */
  outcomes: string[];
  seconds: number;
}

/**
 * Sends invocations in binary batches of `batch`, `parallel` requests in flight, each to the next validator in
 * turn. Never throws: a failed request counts its items under `transport:`.
 */
export async function sendFlood(urls: readonly string[], invs: readonly SignedInvocation[], opts: { batch?: number; parallel?: number } = {}): Promise<FloodResult> {
  const batch = opts.batch ?? 1000;
  const parallel = opts.parallel ?? urls.length;
  const refused = new Map<string, number>();
  const outcomes: string[] = new Array(invs.length).fill("unsent");
  const count = (code: string, from: number, n = 1): void => {
    refused.set(code, (refused.get(code) ?? 0) + n);
    outcomes.fill(code, from, from + n);
  };
  let admitted = 0;
  let next = 0;
  let turn = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    for (;;) {
      const from = next;
      if (from >= invs.length) return;
      next += batch;
      const items = invs.slice(from, from + batch);
      const url = urls[turn++ % urls.length]!;
      try {
        const res = await fetch(`${url}/v1/invocations/batch`, {
          method: "POST",
          headers: { "content-type": BINARY_MEDIA_TYPE, accept: BINARY_MEDIA_TYPE },
          body: encode(InvocationBatch, items),
          signal: AbortSignal.timeout(60_000),
        });
        const raw = new Uint8Array(await res.arrayBuffer());
        if (!res.ok) {
          let code = String(res.status);
          try {
            code = String((JSON.parse(new TextDecoder().decode(raw)) as any)?.error?.code ?? code);
          } catch {
            // not JSON
          }
          count(`request:${code}`, from, items.length);
          continue;
        }
        for (const [k, o] of decode(SubmitOutcomes, raw, "answer").entries()) {
          if (o.type === "refused") count(o.value.code, from + k);
          else {
            admitted++;
            outcomes[from + k] = "admitted";
          }
        }
      } catch (e) {
        count(`transport:${(e as Error).name === "TimeoutError" ? "timeout" : "error"}`, from, items.length);
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return { sent: invs.length, admitted, refused, outcomes, seconds: (performance.now() - t0) / 1000 };
}

/** "code n, code n" in descending count. */
export function formatCounts(m: ReadonlyMap<string, number>): string {
  return [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
}

/**
 * Reads every key's committed nonce (from the first validator that answers) and answers how many keys have
 * one above 0, i.e. committed anything. `parallel` reads at once; keys not read within deadlineMs count as unread.
 */
export async function keysThatCommitted(urls: readonly string[], keys: readonly FastKey[], parallel = 16, deadlineMs = 60_000): Promise<{ committed: number; unread: number }> {
  let committed = 0;
  let unread = 0;
  let next = 0;
  const until = performance.now() + deadlineMs;
  const worker = async (): Promise<void> => {
    while (next < keys.length) {
      const k = keys[next++]!;
      if (performance.now() > until) {
        unread++;
        continue;
      }
      let read = false;
      for (let attempt = 0; attempt < urls.length * 2 && !read; attempt++) {
        try {
          const res = await fetch(`${urls[(next + attempt) % urls.length]}/v1/accounts/${k.publicKeyHex}`, { signal: AbortSignal.timeout(5_000) });
          if (!res.ok) continue;
          const j = (await res.json()) as { nonce: string };
          if (BigInt(j.nonce) > 0n) committed++;
          read = true;
        } catch {
          // try another validator
        }
      }
      if (!read) unread++;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return { committed, unread };
}
