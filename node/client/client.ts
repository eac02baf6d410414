// The Cairn TypeScript SDK: talks to one or more validators' REST APIs with fetch only, so it runs in
// browsers too. Values come back typed (bigint for u64, Uint8Array for bytes) through the same codec the node
// uses. Nonces are read only from a node that is not behind (a restarted node answers from old state for a
// while, and a nonce read there re-signs an invocation already committed); writes move to another endpoint
// while one is syncing or unreachable, sending the same signed bytes.

import { bytes, decode, encode, fromJson, toJson } from "../codec/codec.ts";
import { toHex, tryFromUtf8, utf8 } from "../codec/hex.ts";
import {
  BINARY_MEDIA_TYPE,
  Block,
  ContractVersionInfo,
  InvocationBatch,
  DeployPayload,
  Receipt,
  SignedInvocation,
  SourceFile,
  SubmitOutcomes,
  TransferPayload,
  type Block as BlockT,
  type ContractVersionInfo as ContractVersionInfoT,
  type Receipt as ReceiptT,
  type SignedInvocation as SignedInvocationT,
  type SourceFile as SourceFileT,
} from "../codec/types.ts";
import { BANK, DEFAULT_GAS, DEFAULT_TOOLCHAIN, DEPLOY } from "./builtins.ts";
import { AlreadyCommittedError, ClientError, DisplacedError, ExpiredError } from "./errors.ts";
import { invocationIdHex, signInvocation } from "./invocation.ts";
import { toKeypair, toPublicKey, type KeyLike, type Keypair } from "./keypair.ts";

export interface ClientOptions {
  /** The chain to sign for; fetched from /v1/status once when absent. */
  chainId?: string;
  /**
   * The chain's minimum gas price, which sets the default gasPrice; fetched from /v1/status once when absent
   * and an invocation gives no gasPrice.
   */
  minGasPrice?: bigint;
  /** Per-request timeout in ms (waiting for receipts has its own). Default 30 000. */
  requestTimeoutMs?: number;
  /** A fetch implementation; default the global one. */
  fetch?: typeof fetch;
  /**
   * How long a nonce read or a submission waits, with backoff (honouring Retry-After), while every endpoint
   * is syncing, before failing with code "syncing". Default 30 000.
   */
  syncWaitMs?: number;
}

export interface StatusView {
  chainId: string;
  height: bigint;
  view: bigint;
  validators: Array<{ publicKey: Uint8Array; name: string }>;
  self: number | null;
  mempool: number;
  /** True while the node knows it is behind its peers (it refuses writes then). */
  syncing: boolean;
  syncReason: string | null;
  /** The highest committed height the node has heard of from peers. */
  knownHeight: bigint | null;
  /** The chain's fee floor: the lowest gasPrice it admits (0 from a node that does not say: it has none). */
  minGasPrice: bigint;
}

export interface AccountView {
  publicKey: Uint8Array;
  balance: bigint;
  nonce: bigint;
  /** The next nonce counting the invoker's pending invocations (>= nonce). */
  pendingNonce: bigint;
  /** The committed height the node read it at; null from a node that does not say. */
  height: bigint | null;
  /** True when the node said it is syncing: these values may be old. */
  syncing: boolean;
}

export type BlockView = BlockT & { hash: Uint8Array };
export type Pending = { status: "pending" };
/** Final: a different invocation (`by`, hex) used this one's nonce first and committed at `height`. */
export type Displaced = { status: "displaced"; by: string; height: bigint };
/**
 * Final on the node that answered: its mempool dropped the invocation without running it (reason gap_timeout,
 * evicted or replaced, then by `replacedBy`). Its nonce is still free.
 */
export type Expired = { status: "expired"; reason: string; replacedBy?: string };

export interface QueryOptions {
  contract: string;
  version: number;
  method: string;
  input?: Uint8Array;
  inputString?: string;
  gasLimit?: bigint;
  invoker?: Uint8Array | string;
}

export interface QueryResultView {
  status: string;
  gasUsed: bigint;
  output: Uint8Array;
  /** The output as text when it is valid UTF-8. */
  outputString?: string;
  error: string | null;
  /** The committed height the query ran at; null from a node that does not say. */
  height: bigint | null;
}

interface SendOptions {
  gasLimit?: bigint;
  gasPrice?: bigint;
  /** Fetched (and then tracked locally) when absent. */
  nonce?: bigint;
  wait?: boolean;
  /** How long `wait` waits for the commit. Default 60 000 ms. */
  timeoutMs?: number;
}

export interface InvokeOptions extends SendOptions {
  key: KeyLike;
  contract: string;
  version: number;
  method: string;
  input?: Uint8Array;
  inputString?: string;
}

export interface DeployOptions extends SendOptions {
  key: KeyLike;
  name: string;
  /** Default: the latest deployed version + 1, or 1 for a new name. */
  version?: number;
  sources: SourceFileT[] | Record<string, string>;
  /** Path of the entry file among the sources. */
  entry: string;
  toolchain?: string;
}

export interface TransferOptions extends SendOptions {
  key: KeyLike;
  to: Uint8Array | string;
  amount: bigint;
}

/** One batch item's outcome: admitted (and with wait: committed with its receipt, or still pending), or refused. */
export type SubmitItemResult =
  | { id: string }
  | { id: string; status: "pending" }
  | { id: string; receipt: ReceiptT }
  | { id: string; status: "displaced"; by: string; height: bigint }
  | ({ id: string } & Expired)
  | { error: { code: string; message: string } };

type Waited<O extends { wait?: boolean }, R> = O extends { wait: true } ? R : string;

const DEFAULT_WAIT_MS = 60_000;
const POLL_MS = 250;
const DEFAULT_SYNC_WAIT_MS = 30_000;
/** Backoff while every endpoint is syncing: from the first step, doubling, capped. */
const SYNC_BACKOFF_MS = { first: 250, max: 2_000 };

/** One HTTP answer: status, parsed JSON or binary bytes, and the headers the SDK reads. */
interface Answer {
  status: number;
  body: unknown;
  /** X-Cairn-Height, when sent. */
  height: bigint | null;
  syncing: boolean;
}

/** A displacement as the API sends it ({"status":"displaced","by","height"}), or null. */
function displacedOf(j: unknown): Displaced | null {
  const d = j as { status?: unknown; by?: unknown; height?: unknown };
  if (d?.status !== "displaced" || typeof d.by !== "string" || typeof d.height !== "string") return null;
  return { status: "displaced", by: d.by, height: BigInt(d.height) };
}

/** The binary batch answer's displaced item: a refusal whose message the node writes as "displaced by <id> at height <h>". */
const DISPLACED_MESSAGE = /^displaced by ([0-9a-f]{64}) at height ([0-9]+)$/;

/** An expiry as the API sends it ({"status":"expired","reason"[,"replacedBy"]}), or null. */
function expiredOf(j: unknown): Expired | null {
  const d = j as { status?: unknown; reason?: unknown; replacedBy?: unknown };
  if (d?.status !== "expired" || typeof d.reason !== "string") return null;
  if (d.replacedBy !== undefined && typeof d.replacedBy !== "string") return null;
  return d.replacedBy === undefined ? { status: "expired", reason: d.reason } : { status: "expired", reason: d.reason, replacedBy: d.replacedBy };
}

/** The binary batch answer's expired item: a refusal whose message the node writes as "expired: <reason>[ by <id>]". */
const EXPIRED_MESSAGE = /^expired: ([a-z_]+)(?: by ([0-9a-f]{64}))?$/;

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

function inputOf(o: { input?: Uint8Array; inputString?: string }): Uint8Array {
  if (o.input !== undefined && o.inputString !== undefined) throw new ClientError(0, "malformed", "give input or inputString, not both");
  return o.inputString !== undefined ? utf8(o.inputString) : (o.input ?? new Uint8Array(0));
}

/** Hex from the node, whatever its length (the node enforces the limits). */
const anyBytes = bytes(Number.MAX_SAFE_INTEGER);

/** A receipt for another id than the one submitted is never reported as this invocation's outcome. */
function sameId(r: ReceiptT, idHex: string): ReceiptT {
  if (toHex(r.id) !== idHex) throw new ClientError(0, "malformed", `the node answered with the receipt of ${toHex(r.id)} for invocation ${idHex}`);
  return r;
}

function sameIdHex(got: string, idHex: string): string {
  if (got !== idHex) throw new ClientError(0, "malformed", `the node admitted ${got} for invocation ${idHex}`);
  return got;
}

function decodeOrThrow<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new ClientError(0, "malformed", `the node sent an unexpected ${what}: ${(e as Error).message}`);
  }
}

export class Client {
  /** The endpoints, in the order given. */
  readonly urls: readonly string[];
  private chainIdCache: string | undefined;
  private minGasPriceCache: bigint | undefined;
  private readonly requestTimeoutMs: number;
  private readonly syncWaitMs: number;
  private readonly fetchImpl: typeof fetch;
  /** Index of the endpoint in use: the last one that answered a nonce read or admitted a submission. */
  private current = 0;
  /** The highest committed height any endpoint has reported: an endpoint answering below it is behind. */
  private seenHeight = -1n;
  /** Next nonce per invoker (hex) as this client last used it; serialised per key by `nonceLocks`. */
  private readonly nonces = new Map<string, bigint>();
  private readonly nonceLocks = new Map<string, Promise<unknown>>();

  /** One REST URL, or several validators of the same chain (used in order, moving on when one is behind or down). */
  constructor(url: string | readonly string[], opts: ClientOptions = {}) {
    const urls = (typeof url === "string" ? [url] : [...url]).map((u) => u.replace(/\/+$/, ""));
    if (urls.length === 0 || urls.some((u) => u === "")) throw new ClientError(0, "malformed", "give at least one node URL");
    this.urls = urls;
    this.chainIdCache = opts.chainId;
    this.minGasPriceCache = opts.minGasPrice;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.syncWaitMs = opts.syncWaitMs ?? DEFAULT_SYNC_WAIT_MS;
    this.fetchImpl = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** The endpoint in use. */
  get url(): string {
    return this.urls[this.current]!;
  }

  // ---- HTTP ----------------------------------------------------------------------------------------

  /**
   * One request to endpoint `at`; resolves to its answer (parsed JSON, or bytes for a binary answer). A
   * Uint8Array body is sent as the codec's binary form and asks for a binary answer. Non-2xx answers (always
   * JSON) throw ClientError with the API's code, extra error fields and Retry-After.
   */
  private async requestAt(at: number, method: "GET" | "POST", path: string, body?: unknown, timeoutMs = this.requestTimeoutMs): Promise<Answer> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const binary = body instanceof Uint8Array;
    let res: Response;
    try {
      res = await this.fetchImpl(this.urls[at]! + path, {
        method,
        headers: body === undefined ? {} : binary ? { "content-type": BINARY_MEDIA_TYPE, accept: BINARY_MEDIA_TYPE } : { "content-type": "application/json" },
        body: body === undefined ? undefined : binary ? body : JSON.stringify(body),
        signal: controller.signal,
      });
    } catch (e) {
      clearTimeout(timer);
      const aborted = (e as Error).name === "AbortError";
      throw new ClientError(0, aborted ? "timeout" : "unavailable", aborted ? `${method} ${path}: no answer within ${timeoutMs} ms` : `${method} ${path}: ${(e as Error).message}`);
    }
    let raw: Uint8Array;
    try {
      raw = new Uint8Array(await res.arrayBuffer());
    } finally {
      clearTimeout(timer);
    }
    const heightText = res.headers.get("x-cairn-height");
    const height = heightText !== null && /^[0-9]{1,20}$/.test(heightText) ? BigInt(heightText) : null;
    if (height !== null && height > this.seenHeight) this.seenHeight = height;
    const syncing = res.headers.get("x-cairn-syncing") === "true";
    if (res.ok && (res.headers.get("content-type") ?? "").startsWith(BINARY_MEDIA_TYPE)) return { status: res.status, body: raw, height, syncing };
    const text = new TextDecoder().decode(raw);
    let json: unknown = undefined;
    try {
      json = text === "" ? undefined : JSON.parse(text);
    } catch {
      /* handled below */
    }
    if (!res.ok) {
      const err = (json as { error?: Record<string, unknown> } | undefined)?.error;
      const retry = Number(res.headers.get("retry-after"));
      const retryAfterMs = Number.isFinite(retry) && retry > 0 ? Math.min(retry, 60) * 1000 : undefined;
      if (err && typeof err.code === "string" && typeof err.message === "string") {
        const fields = Object.fromEntries(Object.entries(err).filter((kv): kv is [string, string] => kv[0] !== "code" && kv[0] !== "message" && typeof kv[1] === "string"));
        if (err.code === "already_committed" && typeof fields.id === "string" && /^[0-9]+$/.test(fields.height ?? "")) {
          throw new AlreadyCommittedError(fields.id, BigInt(fields.height!), err.message);
        }
        throw new ClientError(res.status, err.code, err.message, { fields, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
      }
      throw new ClientError(res.status, "http_error", `${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`);
    }
    if (json === undefined) throw new ClientError(res.status, "malformed", `${method} ${path}: the answer is not JSON`);
    return { status: res.status, body: json, height, syncing };
  }

  /** Notes a committed height seen in a receipt (a node answering below it later is behind). */
  private saw(r: ReceiptT): ReceiptT {
    if (r.height > this.seenHeight) this.seenHeight = r.height;
    return r;
  }

  /** A request to the endpoint in use, moving on to the next ones when it cannot be reached. */
  private async request(method: "GET" | "POST", path: string, body?: unknown, timeoutMs = this.requestTimeoutMs): Promise<Answer> {
    let last: unknown;
    for (let k = 0; k < this.urls.length; k++) {
      const at = (this.current + k) % this.urls.length;
      try {
        const answer = await this.requestAt(at, method, path, body, timeoutMs);
        this.current = at;
        return answer;
      } catch (e) {
        if (!(e instanceof ClientError && e.code === "unavailable")) throw e;
        last = e;
      }
    }
    throw last;
  }

  private async get(path: string): Promise<unknown> {
    return (await this.request("GET", path)).body;
  }

  /** GET that answers null on 404. */
  private async getOrNull(path: string): Promise<unknown | null> {
    try {
      return await this.get(path);
    } catch (e) {
      if (e instanceof ClientError && e.status === 404) return null;
      throw e;
    }
  }

  /**
   * Runs `attempt` against each endpoint in turn, starting with the one in use, until one is neither syncing
   * nor unreachable; while every endpoint is syncing (or behind), waits with backoff, honouring Retry-After,
   * for up to syncWaitMs. `attempt` throws ClientError "syncing" to pass on an endpoint.
   */
  private async onLevelEndpoint<T>(what: string, attempt: (at: number) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.syncWaitMs;
    let backoff = SYNC_BACKOFF_MS.first;
    for (;;) {
      let syncing: ClientError | null = null;
      let last: unknown;
      for (let k = 0; k < this.urls.length; k++) {
        const at = (this.current + k) % this.urls.length;
        try {
          const out = await attempt(at);
          this.current = at;
          return out;
        } catch (e) {
          if (!(e instanceof ClientError) || (e.code !== "syncing" && e.code !== "unavailable")) throw e;
          if (e.code === "syncing") syncing = e;
          last = e;
        }
      }
      // Every endpoint unreachable: nothing is catching up, so there is nothing to wait for.
      if (syncing === null) throw last;
      const wait = Math.max(backoff, syncing.retryAfterMs ?? 0);
      if (Date.now() + wait > deadline) {
        throw new ClientError(503, "syncing", `${what}: every node is syncing (waited ${this.syncWaitMs} ms): ${syncing.message}`, { fields: syncing.fields });
      }
      await sleep(wait);
      backoff = Math.min(backoff * 2, SYNC_BACKOFF_MS.max);
    }
  }

  // ---- reads ---------------------------------------------------------------------------------------

  async status(): Promise<StatusView> {
    const j = (await this.get("/v1/status")) as {
      chainId: string;
      height: string;
      view: string;
      validators: Array<{ publicKey: string; name: string }>;
      self: number | null;
      mempool: number;
      syncing?: boolean;
      syncReason?: string | null;
      knownHeight?: string | null;
      minGasPrice?: string;
    };
    const s = decodeOrThrow("status", () => ({
      chainId: j.chainId,
      height: BigInt(j.height),
      view: BigInt(j.view),
      validators: j.validators.map((v) => ({ publicKey: toPublicKey(v.publicKey), name: v.name })),
      self: j.self,
      mempool: j.mempool,
      syncing: j.syncing === true,
      syncReason: j.syncReason ?? null,
      knownHeight: j.knownHeight === undefined || j.knownHeight === null ? null : BigInt(j.knownHeight),
      minGasPrice: j.minGasPrice === undefined ? 0n : BigInt(j.minGasPrice),
    }));
    // Genesis parameters: the same on every validator and for the chain's life, so any answer may be kept.
    this.chainIdCache ??= s.chainId;
    this.minGasPriceCache ??= s.minGasPrice;
    return s;
  }

  async chainId(): Promise<string> {
    this.chainIdCache ??= (await this.status()).chainId;
    return this.chainIdCache;
  }

  /**
   * The gas price an invocation gets when it names none: the chain's floor, and at least 1 (the SDK's price
   * before floors existed), so a default-priced invocation is admitted on any chain and never runs for free.
   */
  async defaultGasPrice(): Promise<bigint> {
    this.minGasPriceCache ??= (await this.status()).minGasPrice;
    return this.minGasPriceCache > 1n ? this.minGasPriceCache : 1n;
  }

  /** The account as the endpoint in use answers it (`syncing` says when that node knows it is behind). */
  async account(publicKey: Uint8Array | string): Promise<AccountView> {
    const pk = toPublicKey(publicKey);
    return this.accountFrom(await this.request("GET", `/v1/accounts/${toHex(pk)}`), pk);
  }

  private accountFrom(a: Answer, pk: Uint8Array): AccountView {
    const j = a.body as { balance: string; nonce: string; pendingNonce?: string; height?: string };
    return decodeOrThrow("account", () => {
      const nonce = BigInt(j.nonce);
      const height = j.height !== undefined ? BigInt(j.height) : a.height;
      return { publicKey: pk, balance: BigInt(j.balance), nonce, pendingNonce: j.pendingNonce === undefined ? nonce : BigInt(j.pendingNonce), height, syncing: a.syncing };
    });
  }

  /**
   * The account from an endpoint that is level with the chain: one that says it is syncing, or answers below
   * a height this client has already seen, is passed over (the next endpoint, or a wait while all are behind).
   * This is the only read nonces are taken from.
   */
  async levelAccount(publicKey: Uint8Array | string): Promise<AccountView> {
    const pk = toPublicKey(publicKey);
    return this.onLevelEndpoint("reading the nonce", async (at) => {
      const seen = this.seenHeight;
      const a = await this.requestAt(at, "GET", `/v1/accounts/${toHex(pk)}`);
      const view = this.accountFrom(a, pk);
      if (view.syncing) throw new ClientError(503, "syncing", `${this.urls[at]} is syncing`);
      if (view.height !== null && view.height < seen) {
        throw new ClientError(503, "syncing", `${this.urls[at]} answered at height ${view.height}, below height ${seen} already seen`);
      }
      return view;
    });
  }

  /** A block by height, or the latest; null when there is no such block. */
  async block(height: bigint | number | "latest" = "latest"): Promise<BlockView | null> {
    const j = (await this.getOrNull(`/v1/blocks/${height === "latest" ? "latest" : BigInt(height).toString(10)}`)) as
      | ({ hash: string } & Record<string, unknown>)
      | null;
    if (j === null) return null;
    return decodeOrThrow("block", () => {
      const { hash, ...rest } = j;
      return { ...fromJson(Block, rest, "block"), hash: toPublicKey(hash) };
    });
  }

  /**
   * The receipt; {status:"pending"} while in the mempool; {status:"displaced", by, height} (final) when a
   * different invocation used its nonce first; null when the node does not know the id.
   */
  async receipt(id: Uint8Array | string): Promise<ReceiptT | Pending | Displaced | Expired | null> {
    const idHex = typeof id === "string" ? id : toHex(id);
    const j = await this.getOrNull(`/v1/invocations/${idHex}`);
    if (j === null) return null;
    if ((j as { status?: unknown }).status === "pending" && !("id" in (j as object))) return { status: "pending" };
    const displaced = decodeOrThrow("displacement", () => displacedOf(j));
    if (displaced !== null) return displaced;
    const expired = expiredOf(j);
    if (expired !== null) return expired;
    return decodeOrThrow("receipt", () => fromJson(Receipt, j, "receipt"));
  }

  /**
   * Polls until the invocation commits; throws DisplacedError at once when another invocation used its nonce,
   * ClientError "timeout" after timeoutMs, "not_found" if the node forgets it.
   */
  async waitForReceipt(id: Uint8Array | string, timeoutMs = DEFAULT_WAIT_MS): Promise<ReceiptT> {
    const deadline = Date.now() + timeoutMs;
    const idHex = typeof id === "string" ? id : toHex(id);
    for (;;) {
      const r = await this.receipt(idHex);
      if (r === null) throw new ClientError(404, "not_found", `invocation ${idHex} is neither pending nor committed`);
      if (r.status === "displaced") throw new DisplacedError(idHex, (r as Displaced).by, (r as Displaced).height);
      if (r.status === "expired") throw new ExpiredError(idHex, (r as Expired).reason, (r as Expired).replacedBy);
      if (r.status !== "pending") return this.saw(sameId(r as ReceiptT, idHex));
      if (Date.now() >= deadline) throw new ClientError(0, "timeout", `invocation not committed within ${timeoutMs} ms`);
      await new Promise((res) => setTimeout(res, Math.min(POLL_MS, Math.max(1, deadline - Date.now()))));
    }
  }

  async contract(name: string): Promise<{ name: string; owner: Uint8Array; versions: ContractVersionInfoT[] } | null> {
    const j = (await this.getOrNull(`/v1/contracts/${encodeURIComponent(name)}`)) as { name: string; owner: string; versions: unknown[] } | null;
    if (j === null) return null;
    return decodeOrThrow("contract", () => ({
      name: j.name,
      owner: toPublicKey(j.owner),
      versions: j.versions.map((v) => fromJson(ContractVersionInfo, v, "version")),
    }));
  }

  async contractVersion(name: string, version: number): Promise<{ info: ContractVersionInfoT; sources: SourceFileT[] } | null> {
    const j = (await this.getOrNull(`/v1/contracts/${encodeURIComponent(name)}/${version}`)) as ({ sources: unknown[] } & Record<string, unknown>) | null;
    if (j === null) return null;
    return decodeOrThrow("contract version", () => {
      const { sources, ...info } = j;
      return { info: fromJson(ContractVersionInfo, info, "info"), sources: sources.map((s) => fromJson(SourceFile, s, "source")) };
    });
  }

  /** A contract storage value, or null when absent. */
  async state(contract: string, key: Uint8Array): Promise<Uint8Array | null> {
    const j = (await this.getOrNull(`/v1/state/${encodeURIComponent(contract)}/${toHex(key)}`)) as { value: string } | null;
    if (j === null) return null;
    return decodeOrThrow("state value", () => fromJson(anyBytes, j.value, "value"));
  }

  async evidence(): Promise<unknown[]> {
    return ((await this.get("/v1/evidence")) as { evidence: unknown[] }).evidence;
  }

  async query(o: QueryOptions): Promise<QueryResultView> {
    const body: Record<string, unknown> = { contract: o.contract, version: o.version, method: o.method, input: toHex(inputOf(o)) };
    if (o.gasLimit !== undefined) body.gasLimit = o.gasLimit.toString(10);
    if (o.invoker !== undefined) body.invoker = toHex(toPublicKey(o.invoker));
    const a = await this.request("POST", "/v1/query", body);
    const r = a.body as { status: string; gasUsed: string; output: string; error: string | null; height?: string };
    return decodeOrThrow("query result", () => {
      const output = fromJson(anyBytes, r.output, "output");
      const outputString = tryFromUtf8(output);
      const height = r.height !== undefined ? BigInt(r.height) : a.height;
      return { status: r.status, gasUsed: BigInt(r.gasUsed), output, ...(outputString !== null ? { outputString } : {}), error: r.error, height };
    });
  }

  // ---- writes --------------------------------------------------------------------------------------

  /**
   * POSTs a write to the endpoints in turn: one that answers 503 syncing, or cannot be reached, passes it on
   * with the same bytes (safe: one signed invocation commits at most once, whichever node admits it). A node
   * that calls it a duplicate after an earlier endpoint failed mid-request may hold the first copy: `held`
   * decides whether that counts as admitted.
   */
  private async postWrite(what: string, path: string, body: unknown, timeoutMs: number, held?: (at: number) => Promise<boolean>): Promise<Answer> {
    let tried = false;
    return this.onLevelEndpoint(what, async (at) => {
      try {
        return await this.requestAt(at, "POST", path, body, timeoutMs);
      } catch (e) {
        if (tried && held !== undefined && e instanceof ClientError && e.code === "duplicate" && (await held(at))) {
          return { status: 202, body: { held: true }, height: null, syncing: false };
        }
        tried = true;
        throw e;
      }
    });
  }

  /**
   * Submits a signed invocation. Without wait: its id (hex). With wait: the receipt once committed (the node
   * waits first, then this polls until timeoutMs). Throws AlreadyCommittedError when these very bytes are
   * already committed (nothing new ran) and DisplacedError when another invocation used the nonce first.
   */
  async submit(inv: SignedInvocationT, opts: { wait?: boolean; timeoutMs?: number } = {}): Promise<string | ReceiptT> {
    const body = toJson(SignedInvocation, inv);
    const idHex = invocationIdHex(inv);
    const held = async (at: number): Promise<boolean> => {
      const r = await this.requestAt(at, "GET", `/v1/invocations/${idHex}`).catch(() => null);
      return r !== null;
    };
    if (!opts.wait) {
      const a = await this.postWrite("submitting", "/v1/invocations", body, this.requestTimeoutMs, held);
      const id = (a.body as { id?: string; held?: true }).held ? idHex : (a.body as { id: string }).id;
      return sameIdHex(id, idHex);
    }
    const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_MS;
    const started = Date.now();
    const serverWait = Math.min(timeoutMs, 120_000);
    const a = await this.postWrite("submitting", `/v1/invocations?wait=true&timeoutMs=${serverWait}`, body, serverWait + this.requestTimeoutMs, held);
    const displaced = decodeOrThrow("displacement", () => displacedOf(a.body));
    if (displaced !== null) throw new DisplacedError(idHex, displaced.by, displaced.height);
    const expired = expiredOf(a.body);
    if (expired !== null) throw new ExpiredError(idHex, expired.reason, expired.replacedBy);
    if (a.status === 200) return this.saw(sameId(decodeOrThrow("receipt", () => fromJson(Receipt, a.body, "receipt")), idHex));
    return this.waitForReceipt(idHex, Math.max(0, timeoutMs - (Date.now() - started)));
  }

  /**
   * Submits up to the node's batch limit (1,000 by default) of signed invocations in one request, in the
   * codec's binary form (no hex or JSON on either side). One result per item, in order; an item displaced by
   * another invocation that used its nonce comes back as {id, status: "displaced", by, height}. With wait,
   * the node holds the answer until every admitted item has a final outcome or timeoutMs (at most 120 000)
   * has passed. A syncing or unreachable endpoint passes the batch on to the next.
   */
  async submitBatch(invs: SignedInvocationT[], opts: { wait?: boolean; timeoutMs?: number } = {}): Promise<SubmitItemResult[]> {
    const serverWait = Math.min(opts.timeoutMs ?? DEFAULT_WAIT_MS, 120_000);
    const path = opts.wait ? `/v1/invocations/batch?wait=true&timeoutMs=${serverWait}` : "/v1/invocations/batch";
    const a = await this.postWrite("submitting a batch", path, encode(InvocationBatch, invs), (opts.wait ? serverWait : 0) + this.requestTimeoutMs);
    const raw = a.body;
    if (!(raw instanceof Uint8Array)) throw new ClientError(0, "malformed", "the node answered a binary batch in JSON");
    const outcomes = decodeOrThrow("batch answer", () => decode(SubmitOutcomes, raw, "answer"));
    if (outcomes.length !== invs.length) throw new ClientError(0, "malformed", `the node answered ${outcomes.length} results for ${invs.length} items`);
    return outcomes.map((o, i): SubmitItemResult => {
      switch (o.type) {
        case "refused": {
          const d = o.value.code === "displaced" ? DISPLACED_MESSAGE.exec(o.value.message) : null;
          if (d !== null) return { id: invocationIdHex(invs[i]!), status: "displaced", by: d[1]!, height: BigInt(d[2]!) };
          const x = o.value.code === "expired" ? EXPIRED_MESSAGE.exec(o.value.message) : null;
          if (x !== null) {
            const id = invocationIdHex(invs[i]!);
            return x[2] === undefined ? { id, status: "expired", reason: x[1]! } : { id, status: "expired", reason: x[1]!, replacedBy: x[2] };
          }
          return { error: o.value };
        }
        case "admitted":
          return { id: toHex(o.value.id) };
        case "pending":
          return { id: toHex(o.value.id), status: "pending" };
        case "committed":
          return { id: toHex(o.value.id), receipt: o.value };
      }
    });
  }

  /**
   * Signs with the next nonce of the key and submits. When the node refuses the invocation, the local
   * nonce is dropped so the next call re-reads it from the node. A receipt from no later than the height the
   * nonce was read at cannot be this call's (the nonce was unused there): it is reported as already committed.
   */
  private async send<O extends SendOptions>(
    keyLike: KeyLike,
    fields: { contract: string; version: number; method: string; input: Uint8Array },
    o: O,
    defaultGas: bigint,
  ): Promise<string | ReceiptT> {
    const key = toKeypair(keyLike);
    const chainId = await this.chainId();
    const gasPrice = o.gasPrice ?? (await this.defaultGasPrice());
    return this.withNonce(key, o.nonce, async (nonce, readAt) => {
      const inv = signInvocation(key, {
        chainId,
        ...fields,
        nonce,
        gasLimit: o.gasLimit ?? defaultGas,
        gasPrice,
      });
      const r = await this.submit(inv, { wait: o.wait, timeoutMs: o.timeoutMs });
      if (typeof r !== "string" && readAt !== null && r.height <= readAt) {
        throw new AlreadyCommittedError(toHex(r.id), r.height, `invocation ${toHex(r.id)} committed at height ${r.height}, before its nonce ${nonce} was read at height ${readAt}: the node answered from old state, and nothing new ran`);
      }
      return r;
    });
  }

  /** Runs `run` with the key's next nonce and the height it was read at (null when given or not known). */
  private async withNonce<T>(key: Keypair, given: bigint | undefined, run: (nonce: bigint, readAt: bigint | null) => Promise<T>): Promise<T> {
    const pk = key.publicKeyHex;
    const previous = this.nonceLocks.get(pk) ?? Promise.resolve();
    const task = previous.catch(() => undefined).then(async (): Promise<[bigint, bigint | null]> => {
      if (given !== undefined) {
        this.nonces.set(pk, given + 1n);
        return [given, null];
      }
      const remote = await this.levelAccount(key.publicKey);
      const local = this.nonces.get(pk);
      const nonce = local !== undefined && local > remote.pendingNonce ? local : remote.pendingNonce;
      this.nonces.set(pk, nonce + 1n);
      return [nonce, remote.height];
    });
    this.nonceLocks.set(pk, task);
    const [nonce, readAt] = await task;
    try {
      return await run(nonce, readAt);
    } catch (e) {
      // A refused invocation did not use its nonce (or the node knows better): re-read next time.
      if (e instanceof ClientError && (e.status >= 400 && e.status < 500 || e.code === "syncing")) this.nonces.delete(pk);
      throw e;
    }
  }

  invoke<O extends InvokeOptions>(o: O): Promise<Waited<O, ReceiptT>>;
  async invoke(o: InvokeOptions): Promise<string | ReceiptT> {
    return this.send(o.key, { contract: o.contract, version: o.version, method: o.method, input: inputOf(o) }, o, DEFAULT_GAS.invoke);
  }

  transfer<O extends TransferOptions>(o: O): Promise<Waited<O, ReceiptT>>;
  async transfer(o: TransferOptions): Promise<string | ReceiptT> {
    if (o.amount < 0n) throw new ClientError(0, "malformed", "amount must not be negative");
    const input = encode(TransferPayload, { to: toPublicKey(o.to), amount: o.amount });
    return this.send(o.key, { contract: BANK.contract, version: BANK.version, method: BANK.transfer, input }, o, DEFAULT_GAS.transfer);
  }

  /** Deploys sources as `name` (version: latest + 1 unless given). Resolves to the version and the id or receipt. */
  deploy<O extends DeployOptions>(o: O): Promise<{ name: string; version: number } & (O extends { wait: true } ? { receipt: ReceiptT } : { id: string })>;
  async deploy(o: DeployOptions): Promise<{ name: string; version: number; id?: string; receipt?: ReceiptT }> {
    const sources = Array.isArray(o.sources) ? o.sources : Object.entries(o.sources).map(([path, content]) => ({ path, content }));
    let version = o.version;
    if (version === undefined) {
      const existing = await this.contract(o.name);
      version = existing === null ? 1 : Math.max(0, ...existing.versions.map((v) => v.version)) + 1;
    }
    let input: Uint8Array;
    try {
      input = encode(DeployPayload, { name: o.name, version, toolchain: o.toolchain ?? DEFAULT_TOOLCHAIN, entry: o.entry, sources });
    } catch (e) {
      throw new ClientError(0, "malformed", `deploy payload: ${(e as Error).message}`);
    }
    const gas = DEFAULT_GAS.deployBase + DEFAULT_GAS.deployPerByte * BigInt(input.length);
    const r = await this.send(o.key, { contract: DEPLOY.contract, version: DEPLOY.version, method: DEPLOY.method, input }, o, gas);
    return typeof r === "string" ? { name: o.name, version, id: r } : { name: o.name, version, receipt: r };
  }
}
