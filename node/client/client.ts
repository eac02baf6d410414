// The Cairn TypeScript SDK: talks to one node's REST API with fetch only, so it runs in browsers too.
// Values come back typed (bigint for u64, Uint8Array for bytes) through the same codec the node uses.

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
import { ClientError } from "./errors.ts";
import { signInvocation } from "./invocation.ts";
import { toKeypair, toPublicKey, type KeyLike, type Keypair } from "./keypair.ts";

export interface ClientOptions {
  /** The chain to sign for; fetched from /v1/status once when absent. */
  chainId?: string;
  /** Per-request timeout in ms (waiting for receipts has its own). Default 30 000. */
  requestTimeoutMs?: number;
  /** A fetch implementation; default the global one. */
  fetch?: typeof fetch;
}

export interface StatusView {
  chainId: string;
  height: bigint;
  view: bigint;
  validators: Array<{ publicKey: Uint8Array; name: string }>;
  self: number | null;
  mempool: number;
}

export interface AccountView {
  publicKey: Uint8Array;
  balance: bigint;
  nonce: bigint;
  /** The next nonce counting the invoker's pending invocations (>= nonce). */
  pendingNonce: bigint;
}

export type BlockView = BlockT & { hash: Uint8Array };
export type Pending = { status: "pending" };

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
  | { error: { code: string; message: string } };

type Waited<O extends { wait?: boolean }, R> = O extends { wait: true } ? R : string;

const DEFAULT_WAIT_MS = 60_000;
const POLL_MS = 250;

function inputOf(o: { input?: Uint8Array; inputString?: string }): Uint8Array {
  if (o.input !== undefined && o.inputString !== undefined) throw new ClientError(0, "malformed", "give input or inputString, not both");
  return o.inputString !== undefined ? utf8(o.inputString) : (o.input ?? new Uint8Array(0));
}

/** Hex from the node, whatever its length (the node enforces the limits). */
const anyBytes = bytes(Number.MAX_SAFE_INTEGER);

function decodeOrThrow<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new ClientError(0, "malformed", `the node sent an unexpected ${what}: ${(e as Error).message}`);
  }
}

export class Client {
  readonly url: string;
  private chainIdCache: string | undefined;
  private readonly requestTimeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  /** Next nonce per invoker (hex) as this client last used it; serialised per key by `nonceLocks`. */
  private readonly nonces = new Map<string, bigint>();
  private readonly nonceLocks = new Map<string, Promise<unknown>>();

  constructor(url: string, opts: ClientOptions = {}) {
    this.url = url.replace(/\/+$/, "");
    this.chainIdCache = opts.chainId;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.fetchImpl = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  // ---- HTTP ----------------------------------------------------------------------------------------

  /**
   * One request; resolves to [status, parsed JSON], or to [status, bytes] for a binary answer. A Uint8Array
   * body is sent as the codec's binary form and asks for a binary answer. Non-2xx answers (always JSON)
   * throw ClientError with the API's code.
   */
  private async request(method: "GET" | "POST", path: string, body?: unknown, timeoutMs = this.requestTimeoutMs): Promise<[number, unknown]> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const binary = body instanceof Uint8Array;
    let res: Response;
    try {
      res = await this.fetchImpl(this.url + path, {
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
    if (res.ok && (res.headers.get("content-type") ?? "").startsWith(BINARY_MEDIA_TYPE)) return [res.status, raw];
    const text = new TextDecoder().decode(raw);
    let json: unknown = undefined;
    try {
      json = text === "" ? undefined : JSON.parse(text);
    } catch {
      /* handled below */
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      if (err && typeof err.code === "string" && typeof err.message === "string") throw new ClientError(res.status, err.code, err.message);
      throw new ClientError(res.status, "http_error", `${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`);
    }
    if (json === undefined) throw new ClientError(res.status, "malformed", `${method} ${path}: the answer is not JSON`);
    return [res.status, json];
  }

  private async get(path: string): Promise<unknown> {
    return (await this.request("GET", path))[1];
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

  // ---- reads ---------------------------------------------------------------------------------------

  async status(): Promise<StatusView> {
    const j = (await this.get("/v1/status")) as {
      chainId: string;
      height: string;
      view: string;
      validators: Array<{ publicKey: string; name: string }>;
      self: number | null;
      mempool: number;
    };
    return decodeOrThrow("status", () => ({
      chainId: j.chainId,
      height: BigInt(j.height),
      view: BigInt(j.view),
      validators: j.validators.map((v) => ({ publicKey: toPublicKey(v.publicKey), name: v.name })),
      self: j.self,
      mempool: j.mempool,
    }));
  }

  async chainId(): Promise<string> {
    this.chainIdCache ??= (await this.status()).chainId;
    return this.chainIdCache;
  }

  async account(publicKey: Uint8Array | string): Promise<AccountView> {
    const pk = toPublicKey(publicKey);
    const j = (await this.get(`/v1/accounts/${toHex(pk)}`)) as { balance: string; nonce: string; pendingNonce?: string };
    return decodeOrThrow("account", () => {
      const nonce = BigInt(j.nonce);
      return { publicKey: pk, balance: BigInt(j.balance), nonce, pendingNonce: j.pendingNonce === undefined ? nonce : BigInt(j.pendingNonce) };
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

  /** The receipt; {status:"pending"} while in the mempool; null when the node does not know the id. */
  async receipt(id: Uint8Array | string): Promise<ReceiptT | Pending | null> {
    const idHex = typeof id === "string" ? id : toHex(id);
    const j = await this.getOrNull(`/v1/invocations/${idHex}`);
    if (j === null) return null;
    if ((j as { status?: unknown }).status === "pending" && !("id" in (j as object))) return { status: "pending" };
    return decodeOrThrow("receipt", () => fromJson(Receipt, j, "receipt"));
  }

  /** Polls until the invocation commits; throws ClientError "timeout" after timeoutMs, "not_found" if the node forgets it. */
  async waitForReceipt(id: Uint8Array | string, timeoutMs = DEFAULT_WAIT_MS): Promise<ReceiptT> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.receipt(id);
      if (r === null) throw new ClientError(404, "not_found", `invocation ${typeof id === "string" ? id : toHex(id)} is neither pending nor committed`);
      if (r.status !== "pending") return r as ReceiptT;
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
    const [, j] = await this.request("POST", "/v1/query", body);
    const r = j as { status: string; gasUsed: string; output: string; error: string | null };
    return decodeOrThrow("query result", () => {
      const output = fromJson(anyBytes, r.output, "output");
      const outputString = tryFromUtf8(output);
      return { status: r.status, gasUsed: BigInt(r.gasUsed), output, ...(outputString !== null ? { outputString } : {}), error: r.error };
    });
  }

  // ---- writes --------------------------------------------------------------------------------------

  /**
   * Submits a signed invocation. Without wait: its id (hex). With wait: the receipt once committed
   * (the node waits first, then this polls until timeoutMs).
   */
  async submit(inv: SignedInvocationT, opts: { wait?: boolean; timeoutMs?: number } = {}): Promise<string | ReceiptT> {
    const body = toJson(SignedInvocation, inv);
    if (!opts.wait) {
      const [, j] = await this.request("POST", "/v1/invocations", body);
      return (j as { id: string }).id;
    }
    const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_MS;
    const started = Date.now();
    const serverWait = Math.min(timeoutMs, 120_000);
    const [status, j] = await this.request("POST", `/v1/invocations?wait=true&timeoutMs=${serverWait}`, body, serverWait + this.requestTimeoutMs);
    if (status === 200) return decodeOrThrow("receipt", () => fromJson(Receipt, j, "receipt"));
    return this.waitForReceipt((j as { id: string }).id, Math.max(0, timeoutMs - (Date.now() - started)));
  }

  /**
   * Submits up to the node's batch limit (1,000 by default) of signed invocations in one request, in the
   * codec's binary form (no hex or JSON on either side). One result per item, in order. With wait, the node
   * holds the answer until every admitted item has committed or timeoutMs (at most 120 000) has passed.
   */
  async submitBatch(invs: SignedInvocationT[], opts: { wait?: boolean; timeoutMs?: number } = {}): Promise<SubmitItemResult[]> {
    const serverWait = Math.min(opts.timeoutMs ?? DEFAULT_WAIT_MS, 120_000);
    const path = opts.wait ? `/v1/invocations/batch?wait=true&timeoutMs=${serverWait}` : "/v1/invocations/batch";
    const [, raw] = await this.request("POST", path, encode(InvocationBatch, invs), (opts.wait ? serverWait : 0) + this.requestTimeoutMs);
    if (!(raw instanceof Uint8Array)) throw new ClientError(0, "malformed", "the node answered a binary batch in JSON");
    const outcomes = decodeOrThrow("batch answer", () => decode(SubmitOutcomes, raw, "answer"));
    if (outcomes.length !== invs.length) throw new ClientError(0, "malformed", `the node answered ${outcomes.length} results for ${invs.length} items`);
    return outcomes.map((o): SubmitItemResult => {
      switch (o.type) {
        case "refused":
          return { error: o.value };
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
   * nonce is dropped so the next call re-reads it from the node.
   */
  private async send<O extends SendOptions>(
    keyLike: KeyLike,
    fields: { contract: string; version: number; method: string; input: Uint8Array },
    o: O,
    defaultGas: bigint,
  ): Promise<string | ReceiptT> {
    const key = toKeypair(keyLike);
    const chainId = await this.chainId();
    return this.withNonce(key, o.nonce, async (nonce) => {
      const inv = signInvocation(key, {
        chainId,
        ...fields,
        nonce,
        gasLimit: o.gasLimit ?? defaultGas,
        gasPrice: o.gasPrice ?? 1n,
      });
      return this.submit(inv, { wait: o.wait, timeoutMs: o.timeoutMs });
    });
  }

  private async withNonce<T>(key: Keypair, given: bigint | undefined, run: (nonce: bigint) => Promise<T>): Promise<T> {
    const pk = key.publicKeyHex;
    const previous = this.nonceLocks.get(pk) ?? Promise.resolve();
    const task = previous.catch(() => undefined).then(async () => {
      let nonce = given;
      if (nonce === undefined) {
        const remote = (await this.account(key.publicKey)).pendingNonce;
        const local = this.nonces.get(pk);
        nonce = local !== undefined && local > remote ? local : remote;
      }
      this.nonces.set(pk, nonce + 1n);
      return nonce;
    });
    this.nonceLocks.set(pk, task);
    const nonce = await task;
    try {
      return await run(nonce);
    } catch (e) {
      // A refused invocation did not use its nonce (or the node knows better): re-read next time.
      if (e instanceof ClientError && e.status >= 400 && e.status < 500) this.nonces.delete(pk);
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
