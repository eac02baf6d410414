// An in-memory NodeServices for API, client and CLI tests: a real Mempool (so admission errors are the real
// ones) in front of a toy executor that commits when told to (`commit()`), or by itself with `autoCommit`.
// Built-ins behave like the chain's: bank.transfer moves balance, deploy registers a version; any other
// contract echoes its input. Fees are gasUsed x gasPrice, nonces advance per invocation.

import { decode, fromHex, toHex, utf8 } from "../node/codec/index.ts";
import {
  BLOCK_FORMAT_VERSION,
  BUILTIN_BANK,
  BUILTIN_DEPLOY,
  DeployPayload,
  TransferPayload,
  type Block,
  type ContractVersionInfo,
  type Receipt,
  type SignedInvocation,
  type SourceFile,
} from "../node/codec/types.ts";
import { blockHash, invocationId, invocationsRoot } from "../node/crypto/digests.ts";
import { k12, ZERO_HASH } from "../node/crypto/hash.ts";
import { CairnError } from "../node/errors.ts";
import { Mempool } from "../node/mempool/mempool.ts";
import { ReceiptWaiters } from "../node/receipt-waiters.ts";
import { InlineVerifier } from "../node/mempool/verify.ts";
import type { Displaced, MempoolOptions } from "../node/mempool/types.ts";
import type { FinalOutcome } from "../node/receipt-waiters.ts";
import type { FastifyInstance } from "fastify";
import { createApiServer, type ApiServerOptions } from "../node/api/server.ts";
import { submitResult, type NodeServices, type QueryRequest, type QueryResult, type SubmitResult, type SyncState } from "../node/api/services.ts";

export const GAS_USED = 2_000n;

interface ContractEntry {
  owner: Uint8Array;
  versions: Map<number, { info: ContractVersionInfo; sources: SourceFile[] }>;
}

export class FakeNode implements NodeServices {
  readonly chainId: string;
  readonly mempool: Mempool;
  accounts = new Map<string, { balance: bigint; nonce: bigint }>();
  readonly blocks: Block[] = [];
  readonly receipts = new Map<string, Receipt>();
  readonly contracts = new Map<string, ContractEntry>();
  readonly storage = new Map<string, Uint8Array>();
  evidenceList: unknown[] = [];
  autoCommit = false;
  /** Set to make services throw a plain Error (a bug), to check that 500s leak nothing. */
  failWith: Error | null = null;
  /** What `syncState` reports; `restartFrom` and `catchUp` set it as a restarted validator would. */
  syncing: { reason: string; knownHeight: bigint | null } | null = null;
  /** The blocks (with their receipts and the accounts after them) a restarted node has yet to catch up on. */
  private behind: { blocks: Block[]; receipts: Receipt[][]; accounts: Map<string, { balance: bigint; nonce: bigint }> } | null = null;
  private readonly waiters = new ReceiptWaiters({
    isPending: (idHex) => this.mempool.isPending(idHex),
    load: async (id) => this.receipts.get(toHex(id)) ?? null,
    displaced: (idHex) => this.mempool.displacedBy(idHex),
  });
  private commitScheduled = false;

  constructor(chainId = "testnet", allocations: Array<[Uint8Array, bigint]> = [], mempool: Partial<MempoolOptions> = {}) {
    this.chainId = chainId;
    for (const [pk, balance] of allocations) this.accounts.set(toHex(pk), { balance, nonce: 0n });
    this.mempool = new Mempool({
      chainId,
      getAccount: async (pk) => this.account(pk),
      verifier: new InlineVerifier(),
      ...mempool,
    });
    // As the validator does: what the pool drops (expired, evicted, replaced) answers its waiters at once.
    this.mempool.onDropped((ds) => this.waiters.deliverDisplaced(ds));
    this.blocks.push(this.makeBlock(0n, []));
  }

  private account(pk: Uint8Array): { balance: bigint; nonce: bigint } {
    return this.accounts.get(toHex(pk)) ?? { balance: 0n, nonce: 0n };
  }

  private makeBlock(height: bigint, invocations: SignedInvocation[]): Block {
    const parent = this.blocks.at(-1);
    return {
      header: {
        formatVersion: BLOCK_FORMAT_VERSION,
        chainId: this.chainId,
        height,
        view: height,
        proposer: new Uint8Array(32),
        parentHash: parent ? blockHash(parent.header) : ZERO_HASH,
        justify: { view: 0n, blockHash: ZERO_HASH, signatures: [] },
        invocationsRoot: invocationsRoot(invocations),
        stateRoot: ZERO_HASH,
      },
      invocations,
    };
  }

  private check(): void {
    if (this.failWith) throw this.failWith;
  }

  /** Commits one block of whatever is ready; returns its receipts. */
  async commit(): Promise<Receipt[]> {
    const entries = this.mempool.select({ maxCount: 1000, maxBytes: 64 * 1024 * 1024 });
    return this.commitBlock(entries.map((e) => ({ inv: e.inv, id: e.id })));
  }

  /**
   * Commits a block of exactly these invocations, as if another validator's mempool had proposed them (two
   * endpoints taking the same nonce before gossip met). Returns their receipts.
   */
  commitForeign(invs: SignedInvocation[]): Promise<Receipt[]> {
    return this.commitBlock(invs.map((inv) => ({ inv, id: invocationId(inv) })));
  }

  private async commitBlock(items: Array<{ inv: SignedInvocation; id: Uint8Array }>): Promise<Receipt[]> {
    const height = BigInt(this.blocks.length);
    const receipts = items.map((e, index) => this.execute(e.inv, e.id, height, index));
    this.blocks.push(this.makeBlock(height, items.map((e) => e.inv)));
    await this.applyCommitted(items, receipts, height);
    return receipts;
  }

  /** The validator's commit path: receipts stored and delivered, the mempool cleaned, the displaced delivered. */
  private async applyCommitted(items: Array<{ inv: SignedInvocation; id: Uint8Array }>, receipts: Receipt[], height: bigint): Promise<Displaced[]> {
    for (const r of receipts) this.receipts.set(toHex(r.id), r);
    const cleanup = this.mempool.onCommitted(items, { height });
    for (const r of receipts) this.waiters.deliver(r);
    const { displaced } = await cleanup;
    this.waiters.deliverDisplaced(displaced);
    return displaced;
  }

  /** The state now, to restart from later (`restartFrom`). */
  snapshot(): { height: number; accounts: Map<string, { balance: bigint; nonce: bigint }> } {
    return { height: this.blocks.length - 1, accounts: new Map([...this.accounts].map(([k, v]) => [k, { ...v }])) };
  }

  /**
   * A validator restarted on old state: reads answer from the snapshot, the later blocks are "still to fetch",
   * and it says it is syncing (unless `quiet`, the node of the original bug, which did not know it was behind).
   */
  restartFrom(snap: { height: number; accounts: Map<string, { balance: bigint; nonce: bigint }> }, quiet = false): void {
    const later = this.blocks.splice(snap.height + 1);
    const receipts = later.map((b) => b.invocations.map((inv) => this.receipts.get(toHex(invocationId(inv)))!));
    for (const rs of receipts) for (const r of rs) this.receipts.delete(toHex(r.id));
    this.behind = { blocks: later, receipts, accounts: this.accounts };
    this.accounts = new Map(snap.accounts);
    this.syncing = quiet ? null : { reason: "starting: heard from 0 of 1 peers needed", knownHeight: null };
  }

  /** Applies the blocks `restartFrom` set aside, through the commit path, and stops syncing. */
  async catchUp(): Promise<void> {
    const b = this.behind;
    if (b === null) return;
    this.behind = null;
    this.accounts = b.accounts;
    for (let i = 0; i < b.blocks.length; i++) {
      const block = b.blocks[i]!;
      this.blocks.push(block);
      await this.applyCommitted(block.invocations.map((inv) => ({ inv, id: invocationId(inv) })), b.receipts[i]!, block.header.height);
    }
    this.syncing = null;
  }

  private execute(inv: SignedInvocation, id: Uint8Array, height: bigint, index: number): Receipt {
    const acc = this.account(inv.invoker);
    const fee = GAS_USED * inv.gasPrice;
    let status: Receipt["status"] = "ok";
    let error: string | null = null;
    let output: Uint8Array = inv.input;
    const pkHex = toHex(inv.invoker);
    this.accounts.set(pkHex, { balance: acc.balance - fee, nonce: acc.nonce + 1n });
    if (inv.contract === BUILTIN_BANK) {
      const t = decode(TransferPayload, inv.input, "transfer");
      const from = this.account(inv.invoker);
      if (from.balance < t.amount) {
        status = "reverted";
        error = "insufficient funds";
      } else {
        this.accounts.set(pkHex, { ...from, balance: from.balance - t.amount });
        const to = this.account(t.to);
        this.accounts.set(toHex(t.to), { ...to, balance: to.balance + t.amount });
      }
      output = new Uint8Array(0);
    } else if (inv.contract === BUILTIN_DEPLOY) {
      const d = decode(DeployPayload, inv.input, "deploy");
      const c = this.contracts.get(d.name) ?? { owner: inv.invoker, versions: new Map() };
      const latest = Math.max(0, ...c.versions.keys());
      if (d.version !== latest + 1) {
        status = "reverted";
        error = `next version is ${latest + 1}`;
      } else {
        c.versions.set(d.version, {
          info: {
            name: d.name,
            version: d.version,
            owner: c.owner,
            toolchain: d.toolchain,
            entry: d.entry,
            codeHash: k12("cairn.code", utf8(d.sources.map((s) => s.content).join("\n"))),
            sourcesHash: k12("cairn.sources", utf8(d.sources.map((s) => s.path).join("\n"))),
            deployedAt: height,
          },
          sources: d.sources,
        });
        this.contracts.set(d.name, c);
      }
      output = new Uint8Array(0);
    } else {
      this.storage.set(`${inv.contract}/${toHex(utf8("last"))}`, inv.input);
    }
    return { id, status, gasUsed: GAS_USED, fee, output, error, height, index, reads: [], writes: [] };
  }

  private scheduleCommit(): void {
    if (!this.autoCommit || this.commitScheduled) return;
    this.commitScheduled = true;
    setTimeout(() => {
      this.commitScheduled = false;
      void this.commit();
    }, 5);
  }

  // ---- NodeServices ----

  async submit(inv: SignedInvocation): Promise<Uint8Array> {
    this.check();
    const id = await this.mempool.admit(inv);
    this.scheduleCommit();
    return id;
  }

  async submitBatch(invs: SignedInvocation[]): Promise<SubmitResult[]> {
    this.check();
    const out = await this.mempool.admitBatch(invs);
    this.scheduleCommit();
    return out.map(submitResult);
  }

  waitForReceipts(ids: Uint8Array[], timeoutMs: number): Promise<(FinalOutcome | null)[]> {
    return this.waiters.wait(ids, timeoutMs);
  }

  displaced(id: Uint8Array): Displaced | null {
    return this.mempool.displacedBy(id) ?? null;
  }

  syncState(): SyncState {
    const height = BigInt(this.blocks.length - 1);
    if (this.syncing === null) return { syncing: false, reason: null, height, knownHeight: height };
    return { syncing: true, reason: this.syncing.reason, height, knownHeight: this.syncing.knownHeight };
  }

  async getReceipt(id: Uint8Array): Promise<Receipt | null> {
    this.check();
    return this.receipts.get(toHex(id)) ?? null;
  }

  isPending(id: Uint8Array): boolean {
    return this.mempool.isPending(id);
  }

  async query(q: QueryRequest): Promise<QueryResult> {
    this.check();
    if (q.contract !== "echo") throw new CairnError("not_found", `unknown contract ${q.contract} version ${q.version}`);
    if (q.method === "binary") return { status: "ok", gasUsed: 7n, output: new Uint8Array([0xff, 0xfe]), error: null };
    if (q.method === "fail") return { status: "reverted", gasUsed: 9n, output: new Uint8Array(0), error: "nope" };
    return { status: "ok", gasUsed: 42n, output: new Uint8Array([...utf8(`${q.method}:`), ...q.input]), error: null };
  }

  async getBlock(height: bigint | "latest"): Promise<Block | null> {
    this.check();
    if (height === "latest") return this.blocks.at(-1) ?? null;
    return height < BigInt(this.blocks.length) ? this.blocks[Number(height)]! : null;
  }

  async getAccount(pk: Uint8Array): Promise<{ balance: bigint; nonce: bigint }> {
    this.check();
    return this.account(pk);
  }

  pendingNonce(pk: Uint8Array): bigint | null {
    return this.mempool.nextNonce(pk);
  }

  async getContract(name: string) {
    this.check();
    const c = this.contracts.get(name);
    if (!c) return null;
    return { name, owner: c.owner, versions: [...c.versions.values()].map((v) => v.info) };
  }

  async getContractVersion(name: string, version: number) {
    this.check();
    return this.contracts.get(name)?.versions.get(version) ?? null;
  }

  async getState(contract: string, key: Uint8Array): Promise<Uint8Array | null> {
    this.check();
    return this.storage.get(`${contract}/${toHex(key)}`) ?? null;
  }

  status() {
    return {
      chainId: this.chainId,
      height: BigInt(this.blocks.length - 1),
      headHash: blockHash(this.blocks[this.blocks.length - 1]!.header),
      stateRoot: new Uint8Array(32).fill(this.blocks.length % 256),
      view: BigInt(this.blocks.length - 1),
      validators: [{ publicKey: fromHex("11".repeat(32)), name: "v0" }],
      self: 0,
      mempool: this.mempool.size,
      minGasPrice: this.mempool.minGasPrice,
    };
  }

  async evidence(): Promise<unknown[]> {
    return this.evidenceList;
  }

  metrics(): string {
    return "# TYPE cairn_fake_height gauge\ncairn_fake_height " + (this.blocks.length - 1) + "\n";
  }
}

/** Serves a node's REST API over real HTTP on a free loopback port. */
export async function serveOverHttp(node: NodeServices, options: ApiServerOptions = {}): Promise<{ app: FastifyInstance; url: string }> {
  const app = createApiServer(node, options);
  await app.listen({ port: 0, host: "127.0.0.1" });
  return { app, url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` };
}
