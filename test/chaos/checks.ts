// The end-of-run checks of a chaos run, all read from the validators' REST APIs once the network is healed:
// acknowledged invocations are present alike everywhere, supply is conserved, the validators agree on a common
// block and state commitment, and no validator logged a fatal error.

import { readFileSync } from "node:fs";
import { toHex, utf8, fromHex } from "../../node/codec/hex.ts";
import type { Ack } from "./load.ts";

async function getJson(url: string, timeoutMs = 5_000): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.json() };
}

/** Runs f over items with at most `width` calls in flight. */
async function eachLimited<T>(items: readonly T[], width: number, f: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await f(items[next++]!);
    }),
  );
}

export interface AckCheck {
  lost: number;
  mismatched: number;
  details: string[];
}

/** Every acknowledged invocation, on every validator: a receipt with the acknowledged height and status. */
export async function checkAcks(urls: readonly string[], acks: readonly Ack[]): Promise<AckCheck> {
  let lost = 0;
  let mismatched = 0;
  const details: string[] = [];
  await eachLimited(acks, 8, async (ack) => {
    let isLost = false;
    let isMismatched = false;
    for (let v = 0; v < urls.length; v++) {
      let r: { status: number; body: any } | null = null;
      for (let attempt = 0; attempt < 3 && r === null; attempt++) {
        try {
          r = await getJson(`${urls[v]}/v1/invocations/${ack.id}`);
        } catch {
          await new Promise((res) => setTimeout(res, 500));
        }
      }
      if (r === null || r.status !== 200 || typeof r.body.height !== "string") {
        isLost = true;
        details.push(`lost: ${ack.id} (acknowledged at height ${ack.height} via ${ack.via}) on validator ${v}: ${r === null ? "no answer" : `${r.status} ${JSON.stringify(r.body).slice(0, 120)}`}`);
      } else if (r.body.id !== ack.id || r.body.height !== ack.height || r.body.status !== ack.status) {
        isMismatched = true;
        details.push(`mismatched: ${ack.id} acknowledged at height ${ack.height} ${ack.status}, validator ${v} has height ${r.body.height} ${r.body.status}`);
      }
    }
    if (isLost) lost++;
    else if (isMismatched) mismatched++;
  });
  return { lost, mismatched, details };
}

/** Each account's committed nonce on every validator equals the next nonce the load generator would sign. */
export async function checkNonces(urls: readonly string[], expected: ReadonlyMap<string, bigint>): Promise<string[]> {
  const out: string[] = [];
  for (const [pk, nonce] of expected) {
    for (let v = 0; v < urls.length; v++) {
      const { body } = await getJson(`${urls[v]}/v1/accounts/${pk}`);
      if (BigInt(body.nonce) !== nonce) out.push(`nonce: account ${pk.slice(0, 16)} has nonce ${body.nonce} on validator ${v}, the load generator signed up to ${nonce - 1n}`);
    }
  }
  return out;
}

export interface SupplyCheck {
  ok: boolean;
  bankTotal: bigint;
  genesisTotal: bigint;
  tokenTotal: bigint;
  tokenSupply: bigint;
  details: string[];
}

async function tokenBalance(url: string, token: { name: string; version: number }, method: string, input: string): Promise<bigint> {
  const res = await fetch(`${url}/v1/query`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ contract: token.name, version: token.version, method, input: toHex(utf8(input)) }),
    signal: AbortSignal.timeout(5_000),
  });
  const j = (await res.json()) as { status: string; output: string; error: string | null };
  if (!res.ok || j.status !== "ok") throw new Error(`query ${method}(${input.slice(0, 16)}) on ${url}: ${JSON.stringify(j).slice(0, 200)}`);
  return BigInt(new TextDecoder().decode(fromHex(j.output)));
}

/**
 * Bank: the balances of every account the run touched (the genesis-funded one, the load's accounts, and the
 * validators, who as proposers receive every fee) add up to the genesis allocations, on every validator.
 * Token: the load accounts' balances add up to the total supply minted at setup.
 */
export async function checkSupply(
  urls: readonly string[],
  accounts: readonly string[],
  genesisTotal: bigint,
  token: { name: string; version: number; minted: bigint; holders: readonly string[] },
): Promise<SupplyCheck> {
  const details: string[] = [];
  const perValidator: bigint[] = [];
  const tokenPerValidator: bigint[] = [];
  let tokenSupply = -1n;
  for (let v = 0; v < urls.length; v++) {
    let sum = 0n;
    for (const pk of accounts) sum += BigInt((await getJson(`${urls[v]}/v1/accounts/${pk}`)).body.balance);
    perValidator.push(sum);
    let tokens = 0n;
    for (const pk of token.holders) tokens += await tokenBalance(urls[v]!, token, "balanceOf", pk);
    tokenPerValidator.push(tokens);
    const supply = await tokenBalance(urls[v]!, token, "totalSupply", "");
    if (v === 0) tokenSupply = supply;
    if (sum !== genesisTotal) details.push(`supply: validator ${v} sums the run's ${accounts.length} accounts to ${sum}, genesis allocated ${genesisTotal}`);
    if (tokens !== token.minted || supply !== token.minted) details.push(`supply: validator ${v} has token balances summing to ${tokens}, totalSupply ${supply}, minted ${token.minted}`);
  }
  return { ok: details.length === 0, bankTotal: perValidator[0]!, genesisTotal, tokenTotal: tokenPerValidator[0]!, tokenSupply, details };
}

export interface CommonCheck {
  ok: boolean;
  height: bigint;
  details: string[];
}

/**
 * The validators agree at a common height: the same block hash at the height below the lowest all four have
 * committed, and the same state commitment after it (block h + 1, which all four have, carries it in its
 * header; an idle chain may never write another); /v1/status shows it when the four are caught at one height.
 */
export async function checkCommonHeight(urls: readonly string[]): Promise<CommonCheck> {
  const details: string[] = [];
  const statuses = await Promise.all(urls.map(async (u) => (await getJson(`${u}/v1/status`)).body));
  const lowest = statuses.reduce<bigint>((m, s) => (BigInt(s.height) < m ? BigInt(s.height) : m), BigInt(statuses[0].height));
  const h = lowest > 0n ? lowest - 1n : 0n;
  const blockAt = async (v: number, height: bigint): Promise<any> => {
    for (let attempt = 0; attempt < 100; attempt++) {
      const r = await getJson(`${urls[v]}/v1/blocks/${height}`);
      if (r.status === 200) return r.body;
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error(`validator ${v} has no block ${height} after 20 s`);
  };
  const atH = await Promise.all(urls.map((_, v) => blockAt(v, h)));
  const next = await Promise.all(urls.map((_, v) => blockAt(v, h + 1n)));
  for (let v = 1; v < urls.length; v++) {
    if (atH[v].hash !== atH[0].hash) details.push(`diverged: block ${h} is ${atH[0].hash} on validator 0, ${atH[v].hash} on validator ${v}`);
    if (next[v].header.stateRoot !== next[0].header.stateRoot) details.push(`diverged: state after ${h} is ${next[0].header.stateRoot} on validator 0, ${next[v].header.stateRoot} on validator ${v}`);
  }
  // /v1/status at a moment when all four report one height: the same head hash and state commitment.
  for (let attempt = 0; attempt < 50; attempt++) {
    const s = await Promise.all(urls.map(async (u) => (await getJson(`${u}/v1/status`)).body));
    if (s.every((x) => x.height === s[0].height)) {
      for (let v = 1; v < s.length; v++) {
        if (s[v].headHash !== s[0].headHash || s[v].stateRoot !== s[0].stateRoot) {
          details.push(`diverged: at height ${s[0].height} validator ${v} reports head ${s[v].headHash} state ${s[v].stateRoot}, validator 0 ${s[0].headHash} ${s[0].stateRoot}`);
        }
      }
      break;
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  return { ok: details.length === 0, height: h, details };
}

/** Lines of the validators' logs that report a fatal error. */
export function fatalLines(logPaths: readonly string[]): string[] {
  const out: string[] = [];
  logPaths.forEach((p, v) => {
    let text = "";
    try {
      text = readFileSync(p, "utf8");
    } catch {
      return;
    }
    for (const line of text.split("\n")) if (/\bfatal\b|halted:/.test(line)) out.push(`validator ${v}: ${line.slice(0, 300)}`);
  });
  return out;
}
