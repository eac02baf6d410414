// Sending many invocations from one account under the validators' per-invoker limit (16 pending, at most 16
// nonces missing): in waves, each committed before the next is sent. Funding thousands of accounts goes
// through a tree of intermediate accounts, so every level is one wave of every parent at once.

import type { Client } from "../../node/client/index.ts";
import type { Receipt, SignedInvocation } from "../../node/codec/types.ts";
import { FastKey, invocationIdHex } from "./keys.ts";

/** The mempool's per-invoker default (DEFAULT_MAX_PER_INVOKER): what one account may have pending. */
export const WAVE = 16;
/** Items per batch request: the API's limit. */
const MAX_BATCH = 1000;

/**
 * Submits invocations and waits for every one to commit `ok`; throws naming the first that did not. Each
 * invoker's items must be in nonce order with at most WAVE of them per invoker in this call (one wave).
 */
export async function commitAll(client: Client, invs: readonly SignedInvocation[], timeoutMs = 60_000): Promise<Receipt[]> {
  const receipts: Receipt[] = [];
  for (let from = 0; from < invs.length; from += MAX_BATCH) {
    const chunk = invs.slice(from, from + MAX_BATCH);
    const results = await client.submitBatch(chunk, { wait: true, timeoutMs });
    for (const [k, r] of results.entries()) {
      if ("error" in r) throw new Error(`invocation ${invocationIdHex(chunk[k]!)} refused: ${r.error.code} ${r.error.message}`);
      const receipt = "receipt" in r ? r.receipt : await client.waitForReceipt(r.id, timeoutMs);
      if (receipt.status !== "ok") throw new Error(`invocation ${r.id}: ${receipt.status} ${receipt.error ?? ""}`);
      receipts.push(receipt);
    }
  }
  return receipts;
}

/**
 * Sends one invoker's invocations (consecutive nonces, in order) in waves of WAVE, each committed before the
 * next goes out. `sign(nonce)` builds the k-th one from the nonce it gets.
 */
export async function sendInWaves<T>(
  client: Client,
  items: readonly T[],
  firstNonce: bigint,
  sign: (item: T, nonce: bigint) => SignedInvocation,
  timeoutMs = 60_000,
): Promise<Receipt[]> {
  const receipts: Receipt[] = [];
  let nonce = firstNonce;
  for (let from = 0; from < items.length; from += WAVE) {
    const wave = items.slice(from, from + WAVE).map((item) => sign(item, nonce++));
    receipts.push(...(await commitAll(client, wave, timeoutMs)));
  }
  return receipts;
}

/**
 * Funds `count` new accounts with `amount` each from `root` (whose next nonce is `rootNonce`), through
 * levels of intermediate accounts so that no account ever has more than WAVE invocations pending: 16 in one
 * wave, then 256, then 4,096. Answers the funded keys and root's next nonce.
 */
export async function fundMany(
  client: Client,
  chainId: string,
  root: FastKey,
  rootNonce: bigint,
  count: number,
  amount: bigint,
  gasPrice: bigint,
): Promise<{ keys: FastKey[]; rootNonce: bigint }> {
  const targets = Array.from({ length: count }, () => FastKey.generate());
  // Levels of parents: the root alone, then as many intermediates as needed so each gives to at most WAVE.
  const levels: number[] = [];
  for (let n = count; n > WAVE; n = Math.ceil(n / WAVE)) levels.unshift(Math.ceil(n / WAVE));
  // Each intermediate passes on what its children need (amount each, or their own subtree) plus fees.
  const fee = 10_000n * gasPrice;
  let parents: Array<{ key: FastKey; nonce: bigint }> = [{ key: root, nonce: rootNonce }];
  let perChildBelow = amount;
  const perLevelAmount: bigint[] = [];
  for (let l = levels.length - 1; l >= 0; l--) {
    perChildBelow = perChildBelow * BigInt(WAVE) + fee * BigInt(WAVE);
    perLevelAmount.unshift(perChildBelow);
  }
  for (const [l, size] of levels.entries()) {
    const children = Array.from({ length: size }, () => FastKey.generate());
    await commitAll(client, giveOut(chainId, parents, children, perLevelAmount[l]!, gasPrice));
    if (l === 0) rootNonce = parents[0]!.nonce;
    parents = children.map((key) => ({ key, nonce: 0n }));
  }
  await commitAll(client, giveOut(chainId, parents, targets, amount, gasPrice));
  if (levels.length === 0) rootNonce = parents[0]!.nonce;
  return { keys: targets, rootNonce };
}

/** One wave: parent p pays children [p x WAVE, (p + 1) x WAVE); parents' nonces advance. */
function giveOut(chainId: string, parents: Array<{ key: FastKey; nonce: bigint }>, children: FastKey[], amount: bigint, gasPrice: bigint): SignedInvocation[] {
  const out: SignedInvocation[] = [];
  children.forEach((child, k) => {
    const parent = parents[Math.floor(k / WAVE)];
    if (parent === undefined) throw new Error(`${children.length} children need more than ${parents.length} parents`);
    out.push(parent.key.transfer(chainId, child.publicKey, amount, parent.nonce++, gasPrice));
  });
  return out;
}
