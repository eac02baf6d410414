// The mempool: admits signed invocations once (checked, signature verified, deduplicated, bounded), keeps
// them in nonce order per invoker, and hands the proposer a fair, deterministic block's worth of ready ones.
//
// Policy:
// - Replacement: a different invocation for an (invoker, nonce) already pending replaces it only at a gas price
//   at least 10% higher (and at least 1 more); anything less is refused as `replacement_underpriced`, so
//   re-signing the same slot costs its invoker and cannot make validators re-verify and re-gossip it for free.
//   The replaced one is recorded as expired (`replaced`).
// - An invoker holds at most `maxPerInvoker` pending invocations (`too_many_pending`), and at most
//   `maxNonceGap` nonces may be missing below one it submits (`nonce_gap`): a stranger's share stays small.
// - A gapped invocation (a lower nonce missing) expires `gapExpiryMs` after it arrived, when `expire` runs:
//   nonces that may never be filled cannot hold room for good.
// - A gas price below the chain's floor (genesis minGasPrice) is refused: execution would only reject it.
// - The committed balance must cover the maximum fees (gasLimit x gasPrice) of all the invoker's pending
//   invocations together, so a pool of one invoker's invocations cannot outrun what it can pay.
// - A full pool evicts rather than refuses: invokers' highest nonces only (evicting a lower one would strand
//   the later ones), never an account's one next-ready invocation, gapped ones before ready ones, then the
//   lowest gas price, then the newest. The newcomer must pay strictly more than every entry it evicts, else it
//   is refused (`mempool_full`). Evicted, replaced and expired invocations are recorded (`displacedBy`) and
//   announced (`onDropped`), so a client learns their fate.
// - A pending invocation whose (invoker, nonce) a different invocation used in a committed block is dropped
//   as displaced and remembered (bounded) with the one that used it, so clients learn its fate at once.
// - `select` takes invokers round-robin, oldest first, one invocation per turn: one busy invoker cannot
//   starve the others, and the same pool always yields the same selection.

import { BUILTIN_DEPLOY, SignedInvocation, bytesEqual, encodingOf, rememberEncoding, toHex, LIMITS, CodecError } from "../codec/index.ts";
import { invocationId, invocationIdHex, invocationIdOfEncoding, invokerHex, rememberInvocationId } from "../crypto/digests.ts";
import { CairnError } from "../errors.ts";
import { InvokerQueue } from "./invoker-queue.ts";
import { createVerifier } from "./verify-pool.ts";
import type {
  AdmissionGate,
  AccountLookup,
  AccountView,
  AdmitOutcome,
  AdmittedListener,
  CommitCleanup,
  CommitContext,
  DroppedListener,
  Expired,
  ExpiryReason,
  MempoolOptions,
  NonceDisplaced,
  Displaced,
  PoolEntry,
  SelectOptions,
  SignatureVerifier,
} from "./types.ts";
import { ReleasingMap } from "../releasing-map.ts";
import { DisplacedLog } from "./displaced-log.ts";
import { MinHeap } from "../min-heap.ts";
import { evictsBefore, type TailRecord } from "./eviction-order.ts";

const U64_MAX = (1n << 64n) - 1n;
export const DEFAULT_MAX_PER_INVOKER = 16;
export const DEFAULT_MAX_NONCE_GAP = 16;
export const DEFAULT_GAP_EXPIRY_MS = 60_000;

interface VerifyItem {
  idHex: string;
  encoded: Uint8Array;
  publicKey: Uint8Array;
}

/** An admission that passed the stateless checks and waits for its signature and account checks. */
interface Candidate extends VerifyItem {
  index: number;
  inv: SignedInvocation;
  id: Uint8Array;
  invokerHex: string;
  maxFee: bigint;
}

/** A signature check in flight: the verifier's batch it is part of, and its place in that batch. */
interface InFlight {
  batch: Promise<boolean[]>;
  k: number;
}

export class Mempool {
  readonly chainId: string;
  private readonly getAccount: AccountLookup;
  private readonly maxTotal: number;
  private readonly maxTotalBytes: number;
  private readonly maxPerInvoker: number;
  private readonly maxNonceGap: number;
  private readonly gapExpiryMs: number;
  private readonly now: () => number;
  private readonly maxInvocationBytes: number;
  private readonly maxGasLimit: bigint;
  readonly minGasPrice: bigint;
  private readonly verifiedCacheSize: number;
  private readonly verifier: SignatureVerifier;

  /** Pending entries by id hex (a ReleasingMap: a removed entry and its invocation are not kept alive). */
  private readonly byId = new ReleasingMap<string, PoolEntry>();
  private readonly queues = new Map<string, InvokerQueue>();
  /** Ids whose signature checked out and that have not committed, in insertion order so the oldest are forgotten first. */
  private readonly verified = new Set<string>();
  /**
   * Signature checks in flight, by id: an invocation reaching this validator twice at once (a peer's gossip
   * and a proposal carrying it) is checked once, and a block waits for the check its gossip started.
   */
  private readonly verifying = new Map<string, InFlight>();
  private readonly listeners = new Set<AdmittedListener>();
  private readonly droppedListeners = new Set<DroppedListener>();
  private readonly displaced: DisplacedLog;
  /** Invokers' evictable tails in eviction order (with stale records; see noteTail). */
  private readonly evictOrder = new MinHeap<TailRecord>(evictsBefore);
  private totalBytes = 0;
  private seq = 0;
  private readonly gate: AdmissionGate | undefined;

  constructor(opts: MempoolOptions) {
    this.chainId = opts.chainId;
    this.getAccount = opts.getAccount;
    this.maxTotal = opts.maxTotal ?? 50_000;
    this.maxTotalBytes = opts.maxTotalBytes ?? 256 * 1024 * 1024;
    this.maxPerInvoker = positiveInt("maxPerInvoker", opts.maxPerInvoker ?? DEFAULT_MAX_PER_INVOKER);
    this.maxNonceGap = nonNegativeInt("maxNonceGap", opts.maxNonceGap ?? DEFAULT_MAX_NONCE_GAP);
    this.gapExpiryMs = nonNegativeInt("gapExpiryMs", opts.gapExpiryMs ?? DEFAULT_GAP_EXPIRY_MS);
    this.now = opts.now ?? (() => performance.now());
    this.maxInvocationBytes = opts.maxInvocationBytes ?? LIMITS.maxInputBytes + 1024;
    this.maxGasLimit = opts.maxGasLimit ?? U64_MAX;
    this.minGasPrice = opts.minGasPrice ?? 0n;
    this.verifiedCacheSize = opts.verifiedCacheSize ?? 4 * this.maxTotal;
    this.verifier = opts.verifier ?? createVerifier();
    this.displaced = new DisplacedLog(opts.displacedMemory);
    this.gate = opts.gate;
  }

  get size(): number {
    return this.byId.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  isPending(id: Uint8Array | string): boolean {
    return this.byId.has(typeof id === "string" ? id : toHex(id));
  }

  get(id: Uint8Array | string): PoolEntry | undefined {
    return this.byId.get(typeof id === "string" ? id : toHex(id));
  }

  /**
   * The pooled invocation whose canonical encoding is exactly `raw`, if any. A proposal carries invocations
   * that most validators pooled from gossip already; decoding it can take these objects (verified, their id
   * and encoding memoized) instead of building copies (see the codec's Interner).
   */
  heldEncoding(raw: Uint8Array): SignedInvocation | undefined {
    const e = this.byId.get(toHex(invocationIdOfEncoding(raw)));
    return e !== undefined && bytesEqual(encodingOf(SignedInvocation, e.inv), raw) ? e.inv : undefined;
  }

  /** Every pending entry in arrival order (e.g. to offer a reconnecting peer). */
  entries(): PoolEntry[] {
    return [...this.byId.values()];
  }

  /** True when this exact invocation's signature was checked here, so execution may skip the check. */
  isVerified(id: Uint8Array | string): boolean {
    return this.verified.has(typeof id === "string" ? id : toHex(id));
  }

  /** The nonce an invoker should sign next given what is pooled, or null when nothing of theirs is pooled. */
  nextNonce(invoker: Uint8Array): bigint | null {
    return this.queues.get(toHex(invoker))?.nextNonce() ?? null;
  }

  /** Called with each batch of locally submitted invocations once admitted (the node gossips them). */
  onAdmitted(listener: AdmittedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Called with invocations this pool dropped without running (expired, evicted, replaced), synchronously once
   * they are no longer pending and their records are readable through `displacedBy` (the node answers their
   * receipt waiters with them).
   */
  onDropped(listener: DroppedListener): () => void {
    this.droppedListeners.add(listener);
    return () => this.droppedListeners.delete(listener);
  }

  /** Admits one invocation from a client; returns its id or throws the CairnError refusing it. */
  async admit(inv: SignedInvocation): Promise<Uint8Array> {
    const [outcome] = await this.admitBatch([inv]);
    if (!outcome!.ok) throw outcome!.error;
    return outcome!.id;
  }

  /** Same checks as `admitBatch`, but admitted entries are not announced to `onAdmitted` (no re-gossip). */
  admitFromPeer(invs: readonly SignedInvocation[]): Promise<AdmitOutcome[]> {
    return this.admitBatch(invs, { fromPeer: true });
  }

  /**
   * Admits a batch, one outcome per item in order. Signatures of the whole batch are checked together
   * (on worker threads when the batch is large); account reads run concurrently, one per invoker.
   */
  async admitBatch(invs: readonly SignedInvocation[], opts: { fromPeer?: boolean } = {}): Promise<AdmitOutcome[]> {
    const outcomes: AdmitOutcome[] = new Array(invs.length);

    // 1. Stateless checks and dedup (cheap; nothing unauthenticated reaches the costlier steps).
    const candidates: Candidate[] = [];
    const seenInBatch = new Set<string>();
    for (let index = 0; index < invs.length; index++) {
      try {
        const c = this.precheck(invs[index]!, index);
        if (seenInBatch.has(c.idHex)) throw new CairnError("duplicate", `invocation ${c.idHex} appears twice in the batch`);
        seenInBatch.add(c.idHex);
        candidates.push(c);
      } catch (e) {
        outcomes[index] = refusal(asCairnError(e));
      }
    }

    // 2. Signatures, skipping ids already verified (or being verified) here.
    const results = await this.verifyOnce(candidates);
    const authentic: Candidate[] = [];
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i]!;
      if (results[i]) authentic.push(c);
      else outcomes[c.index] = refusal(new CairnError("bad_signature", `signature of invocation ${c.idHex} does not verify for invoker ${c.invokerHex}`));
    }

    // 3. Committed accounts, one read per invoker, all at once.
    const readAt = new Map<string, number>();
    const reads: Promise<AccountView | Error>[] = [];
    for (const c of authentic) {
      if (readAt.has(c.invokerHex)) continue;
      readAt.set(c.invokerHex, reads.length);
      reads.push(readAccount(this.getAccount, c.inv.invoker));
    }
    const settled = await Promise.all(reads);

    // 3b. The costly gate (a deploy's compile), only for what the cheap checks would admit.
    const passed = this.gate === undefined ? authentic : await this.passGate(authentic, settled, readAt, outcomes);

    // 4. Stateful checks and insertion, synchronously so that concurrent batches cannot interleave here.
    const admitted: PoolEntry[] = [];
    const dropped: Expired[] = [];
    for (const c of passed) {
      const account = settled[readAt.get(c.invokerHex)!]!;
      if (account instanceof Error) {
        outcomes[c.index] = refusal(new CairnError("unavailable", `cannot read account ${c.invokerHex}: ${account.message}`));
        continue;
      }
      try {
        const entry = this.insert(c, account, dropped);
        admitted.push(entry);
        outcomes[c.index] = { ok: true, id: c.id, idHex: c.idHex };
      } catch (e) {
        outcomes[c.index] = refusal(asCairnError(e));
      }
    }

    this.announceDropped(dropped);
    if (!opts.fromPeer && admitted.length > 0) {
      for (const l of this.listeners) {
        try {
          l(admitted);
        } catch (e) {
          // A failing listener (gossip) must not undo or fail an admission that already happened.
          process.emitWarning(`mempool onAdmitted listener threw: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    }
    return outcomes;
  }

  /** The candidates the gate lets through; refusals go to `outcomes`. */
  private async passGate(
    authentic: readonly Candidate[],
    settled: readonly (AccountView | Error)[],
    readAt: ReadonlyMap<string, number>,
    outcomes: AdmitOutcome[],
  ): Promise<Candidate[]> {
    const checks: (Promise<CairnError | null> | null)[] = authentic.map((c) => {
      const account = settled[readAt.get(c.invokerHex)!]!;
      // Left for the insertion step to refuse, without the costly check.
      if (account instanceof Error || c.inv.nonce < account.nonce || c.maxFee > account.balance) return null;
      return this.gate!(c.inv);
    });
    if (checks.every((p) => p === null)) return [...authentic];
    const refusals = await Promise.all(checks);
    const passed: Candidate[] = [];
    authentic.forEach((c, i) => {
      const r = refusals[i];
      if (r) outcomes[c.index] = refusal(r);
      else passed.push(c);
    });
    return passed;
  }

  private precheck(inv: SignedInvocation, index: number): Candidate {
    let encoded: Uint8Array;
    try {
      // A decoded invocation (gossip) already carries its bytes; a client's is encoded once here.
      encoded = encodingOf(SignedInvocation, inv);
      rememberEncoding(inv, encoded);
    } catch (e) {
      throw new CairnError("malformed", `invocation is not encodable: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (encoded.length > this.maxInvocationBytes) {
      throw new CairnError("too_large", `invocation of ${encoded.length} bytes exceeds ${this.maxInvocationBytes}`);
    }
    if (inv.chainId !== this.chainId) {
      throw new CairnError("wrong_chain", `invocation is for chain ${JSON.stringify(inv.chainId)}, this is ${JSON.stringify(this.chainId)}`);
    }
    if (inv.gasLimit === 0n) throw new CairnError("invalid_invocation", "gasLimit must be at least 1");
    if (inv.gasLimit > this.maxGasLimit) {
      throw new CairnError("invalid_invocation", `gasLimit ${inv.gasLimit} exceeds the maximum ${this.maxGasLimit}`);
    }
    if (inv.gasPrice < this.minGasPrice) {
      throw new CairnError("gas_price_too_low", `gasPrice ${inv.gasPrice} is below the chain's minimum gas price ${this.minGasPrice}`);
    }
    const maxFee = inv.gasLimit * inv.gasPrice;
    if (maxFee > U64_MAX) throw new CairnError("invalid_invocation", "gasLimit x gasPrice does not fit in 64 bits");
    const id = invocationIdOfEncoding(encoded);
    const idHex = toHex(id);
    rememberInvocationId(inv, id, idHex);
    if (this.byId.has(idHex)) throw new CairnError("duplicate", `invocation ${idHex} is already pending`);
    return { index, inv, encoded, publicKey: inv.invoker, id, idHex, invokerHex: invokerHex(inv), maxFee };
  }

  private insert(c: Candidate, account: AccountView, dropped: Expired[]): PoolEntry {
    // Re-checked here: another batch may have admitted the same id while this one awaited.
    if (this.byId.has(c.idHex)) throw new CairnError("duplicate", `invocation ${c.idHex} is already pending`);
    let q = this.queues.get(c.invokerHex);
    if (q === undefined) {
      q = new InvokerQueue(account.nonce, account.balance);
      this.queues.set(c.invokerHex, q);
    } else {
      q.observe(account);
      for (const stale of q.dropStale()) this.forget(stale);
    }
    let victims: PoolEntry[];
    const same = q.at(c.inv.nonce);
    try {
      victims = same !== undefined ? this.checkReplacement(c, q, same) : this.checkNewSlot(c, q);
    } catch (e) {
      this.noteTail(q);
      if (q.entries.length === 0) this.queues.delete(c.invokerHex);
      throw e;
    }
    if (same !== undefined) {
      this.remove(same);
      dropped.push(this.recordExpired(same, "replaced", c.id));
    }
    for (const v of victims) {
      this.remove(v);
      dropped.push(this.recordExpired(v, "evicted"));
    }
    const entry: PoolEntry = {
      inv: c.inv,
      id: c.id,
      idHex: c.idHex,
      invokerHex: c.invokerHex,
      size: c.encoded.length,
      maxFee: c.maxFee,
      seq: this.seq++,
      arrivedAt: this.now(),
    };
    // The queue may have been emptied (a replaced or evicted last entry) and deleted meanwhile.
    if (!this.queues.has(c.invokerHex)) this.queues.set(c.invokerHex, q);
    q.insert(entry);
    this.byId.set(entry.idHex, entry);
    this.totalBytes += entry.size;
    this.noteTail(q);
    return entry;
  }

  /** The checks of a nonce nobody holds here; returns what must be evicted to make room (nothing removed yet). */
  private checkNewSlot(c: Candidate, q: InvokerQueue): PoolEntry[] {
    const nonce = c.inv.nonce;
    if (nonce < q.base) throw new CairnError("nonce_used", `nonce ${nonce} of ${c.invokerHex} is used; the next nonce is ${q.base}`);
    // Only a nonce beyond base + maxNonceGap can leave more than maxNonceGap missing: skip the walk otherwise.
    if (nonce > q.base + BigInt(this.maxNonceGap)) {
      const next = q.nextNonce();
      if (nonce - next > BigInt(this.maxNonceGap)) {
        throw new CairnError(
          "nonce_gap",
          `nonce ${nonce} of ${c.invokerHex} leaves ${nonce - next} nonces missing from ${next}; at most ${this.maxNonceGap} may be`,
        );
      }
    }
    if (q.entries.length >= this.maxPerInvoker) {
      throw new CairnError("too_many_pending", `invoker ${c.invokerHex} already has ${q.entries.length} pending invocations (at most ${this.maxPerInvoker})`);
    }
    if (q.feeTotal + c.maxFee > q.balance) {
      throw new CairnError("insufficient_balance", `balance ${q.balance} does not cover the maximum fee ${c.maxFee} on top of ${q.feeTotal} already pending`);
    }
    return this.victimsFor(c, this.byId.size + 1, this.totalBytes + c.encoded.length);
  }

  /** The checks of a different invocation for a pending (invoker, nonce); the replaced one is removed by the caller. */
  private checkReplacement(c: Candidate, q: InvokerQueue, old: PoolEntry): PoolEntry[] {
    const price = c.inv.gasPrice;
    const least = minReplacementPrice(old.inv.gasPrice);
    if (price < least) {
      throw new CairnError(
        "replacement_underpriced",
        `nonce ${c.inv.nonce} of ${c.invokerHex} is taken by pending invocation ${old.idHex} at gasPrice ${old.inv.gasPrice}; a replacement must pay at least ${least}`,
      );
    }
    if (q.feeTotal - old.maxFee + c.maxFee > q.balance) {
      throw new CairnError(
        "insufficient_balance",
        `balance ${q.balance} does not cover the maximum fee ${c.maxFee} on top of ${q.feeTotal - old.maxFee} already pending`,
      );
    }
    return this.victimsFor(c, this.byId.size, this.totalBytes - old.size + c.encoded.length);
  }

  /**
   * The entries to evict so that a pool of `count` invocations and `bytes` bytes fits, each paying less than the
   * newcomer, in eviction order; throws `mempool_full` when that is not possible. The victims come back out of
   * their queues (so each one's next-lower entry could follow it) but still indexed: the caller drops them.
   */
  private victimsFor(c: Candidate, count: number, bytes: number): PoolEntry[] {
    if (count <= this.maxTotal && bytes <= this.maxTotalBytes) return [];
    const victims: PoolEntry[] = [];
    const aside: TailRecord[] = [];
    let refused: CairnError | null = null;
    while (count > this.maxTotal || bytes > this.maxTotalBytes) {
      const r = this.nextEvictable();
      if (r === undefined) {
        refused = new CairnError("mempool_full", `mempool is full (${this.byId.size} invocations, ${this.totalBytes} bytes) and nothing in it can be evicted`);
        break;
      }
      const e = r.entry;
      // Not at or below the newcomer's nonce in its own queue: the newcomer would fill the hole it leaves.
      if (e.invokerHex === c.invokerHex && e.inv.nonce <= c.inv.nonce) {
        aside.push(r);
        continue;
      }
      if (e.inv.gasPrice >= c.inv.gasPrice) {
        aside.push(r);
        refused = new CairnError(
          "mempool_full",
          `mempool is full (${this.byId.size} invocations, ${this.totalBytes} bytes): pay more than gasPrice ${e.inv.gasPrice} to take the room of the cheapest`,
        );
        break;
      }
      const q = this.queues.get(e.invokerHex)!;
      q.remove(e);
      this.noteTail(q);
      victims.push(e);
      count--;
      bytes -= e.size;
    }
    for (const r of aside) this.evictOrder.push(r);
    if (refused !== null) {
      // Nothing is evicted for a newcomer that is refused: the victims go back where they were.
      for (const v of victims) {
        const q = this.queues.get(v.invokerHex)!;
        q.insert(v);
        this.noteTail(q);
      }
      throw refused;
    }
    return victims;
  }

  /** Pops the eviction order until a record still describes its queue's evictable tail; undefined when none. */
  private nextEvictable(): TailRecord | undefined {
    for (;;) {
      const r = this.evictOrder.pop();
      if (r === undefined) return undefined;
      const e = r.entry;
      if (this.byId.get(e.idHex) !== e) continue;
      const q = this.queues.get(e.invokerHex);
      if (q !== undefined && q.evictableTail() === e && r.gapped === !q.contiguous()) return r;
    }
  }

  /**
   * Offers a queue's evictable tail to the eviction order after the queue changed (entries, or its base). Old
   * records stay until popped; the order is rebuilt when they outnumber the live ones by far.
   */
  private noteTail(q: InvokerQueue): void {
    const tail = q.evictableTail();
    if (tail !== undefined) this.evictOrder.push({ entry: tail, gapped: !q.contiguous() });
    if (this.evictOrder.size > 4 * this.queues.size + 1024) {
      this.evictOrder.clear();
      for (const other of this.queues.values()) {
        const t = other.evictableTail();
        if (t !== undefined) this.evictOrder.push({ entry: t, gapped: !other.contiguous() });
      }
    }
  }

  /**
   * Checks the signatures of a block's invocations not verified here yet (batched, off the event loop, shared
   * with admissions checking the same ids), so that execution finds them verified instead of checking each
   * one inline. A signature that fails stays unverified: execution checks it again and rejects it.
   */
  async verifyForBlock(invs: readonly SignedInvocation[]): Promise<void> {
    let items: VerifyItem[] | null = null;
    for (const inv of invs) {
      const idHex = invocationIdHex(inv);
      if (this.verified.has(idHex)) continue;
      (items ??= []).push({ idHex, encoded: encodingOf(SignedInvocation, inv), publicKey: inv.invoker });
    }
    if (items === null) return;
    await this.verifyOnce(items).catch(() => undefined);
  }

  /**
   * One outcome per item (true: the signature verifies); each id is verified at most once at a time, and
   * successes are remembered. Rejects when the verifier fails. One bookkeeping object per fresh item and one
   * handler per verifier batch (not promises and closures per item: this runs for every invocation).
   */
  private async verifyOnce(items: readonly VerifyItem[]): Promise<boolean[]> {
    const out: boolean[] = new Array<boolean>(items.length).fill(true);
    let fresh: VerifyItem[] | null = null;
    let freshAt: number[] | null = null;
    let waits: InFlight[] | null = null;
    let waitAt: number[] | null = null;
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (this.verified.has(it.idHex)) continue;
      const inFlight = this.verifying.get(it.idHex);
      if (inFlight !== undefined) {
        (waits ??= []).push(inFlight);
        (waitAt ??= []).push(i);
      } else {
        (fresh ??= []).push(it);
        (freshAt ??= []).push(i);
      }
    }
    if (fresh !== null) {
      const batch = this.verifier.verify(fresh);
      const tracked: InFlight[] = new Array(fresh.length);
      for (let k = 0; k < fresh.length; k++) {
        const f: InFlight = { batch, k };
        tracked[k] = f;
        this.verifying.set(fresh[k]!.idHex, f);
      }
      const batchItems = fresh;
      // Registered before anyone awaits `batch`, so a success is remembered before any caller sees it.
      const settle = (ok: boolean[] | null): void => {
        for (let k = 0; k < batchItems.length; k++) {
          const { idHex } = batchItems[k]!;
          if (ok !== null && ok[k] === true) this.rememberVerified(idHex);
          if (this.verifying.get(idHex) === tracked[k]) this.verifying.delete(idHex);
        }
      };
      batch.then(settle, () => settle(null));
      (waits ??= []).push(...tracked);
      (waitAt ??= []).push(...freshAt!);
    }
    if (waits === null) return out;
    for (let j = 0; j < waits.length; j++) {
      const w = waits[j]!;
      out[waitAt![j]!] = (await w.batch)[w.k] === true;
    }
    return out;
  }

  private rememberVerified(idHex: string): void {
    this.verified.add(idHex);
    if (this.verified.size > this.verifiedCacheSize) {
      const oldest = this.verified.values().next().value as string;
      this.verified.delete(oldest);
    }
  }

  /** Drops an entry from the id index and byte count (its queue has already let go of it). */
  private forget(e: PoolEntry): void {
    if (this.byId.delete(e.idHex)) this.totalBytes -= e.size;
  }

  private remove(e: PoolEntry): void {
    const q = this.queues.get(e.invokerHex);
    q?.remove(e);
    if (q !== undefined && q.entries.length === 0) this.queues.delete(e.invokerHex);
    else if (q !== undefined) this.noteTail(q);
    this.forget(e);
  }

  /** A block's worth of ready invocations: round-robin across invokers (oldest first), nonces in order. */
  select(opts: SelectOptions): PoolEntry[] {
    const exclude = opts.exclude;
    // The highest nonce ahead per invoker (not nonce + 1: a bigint sum per ahead invocation is garbage).
    let aheadMax: Map<string, bigint> | null = null;
    if (opts.ahead !== undefined) {
      for (const inv of opts.ahead) {
        const hex = invokerHex(inv);
        aheadMax ??= new Map();
        const m = aheadMax.get(hex);
        if (m === undefined || m < inv.nonce) aheadMax.set(hex, inv.nonce);
      }
    }

    const runs: PoolEntry[][] = [];
    this.queues.forEach((q, hex) => {
      let expected = q.base;
      const a = aheadMax?.get(hex);
      if (a !== undefined && a >= expected) expected = a + 1n;
      let run: PoolEntry[] | null = null;
      for (const e of q.entries) {
        const nonce = e.inv.nonce;
        if (nonce < expected) continue;
        if (nonce !== expected) break;
        expected++;
        if (exclude === undefined || !exclude.has(e.idHex)) (run ??= []).push(e);
      }
      if (run !== null) runs.push(run);
    });
    runs.sort((x, y) => x[0]!.seq - y[0]!.seq);

    // Round-robin over the runs still active, compacted in place (runs[0..active) with their next index).
    const out: PoolEntry[] = [];
    let bytes = 0;
    let deploys = 0;
    const maxDeploys = opts.maxDeploys ?? Infinity;
    const next = new Array<number>(runs.length).fill(0);
    let active = runs.length;
    while (active > 0 && out.length < opts.maxCount) {
      let kept = 0;
      for (let i = 0; i < active; i++) {
        if (out.length >= opts.maxCount) break;
        const run = runs[i]!;
        const k = next[i]!;
        const e = run[k]!;
        // An invocation that does not fit ends its invoker's turn for this block: later nonces depend on it.
        if (bytes + e.size > opts.maxBytes) continue;
        const deploy = e.inv.contract === BUILTIN_DEPLOY;
        if (deploy && deploys >= maxDeploys) continue;
        if (deploy) deploys++;
        out.push(e);
        bytes += e.size;
        if (k + 1 < run.length) {
          runs[kept] = run;
          next[kept] = k + 1;
          kept++;
        }
      }
      active = kept;
    }
    return out;
  }

  /**
   * After a block commits: removes the included invocations, drops as displaced the pending ones whose
   * (invoker, nonce) a different committed invocation used, and evicts what can no longer execute (nonces
   * used earlier, fees the new balance cannot cover). Pass each invocation's id when known (receipts have it)
   * to save recomputing it. The included and displaced ids stop being pending before this returns
   * (synchronously), and the displaced are recorded (`displacedBy`) in the same run; the promise covers the
   * evictions, which read accounts. Receipt waiters rely on that (see ReceiptSource).
   */
  async onCommitted(
    committed: ReadonlyArray<SignedInvocation | { inv: SignedInvocation; id: Uint8Array }>,
    at: CommitContext,
  ): Promise<CommitCleanup> {
    const getAccount = at.getAccount ?? this.getAccount;
    let included = 0;
    let evicted = 0;
    const displaced: NonceDisplaced[] = [];
    const touched = new Map<string, Uint8Array>();
    for (const item of committed) {
      const inv = "inv" in item ? item.inv : item;
      // A committed invocation is not executed again (a replay in a later block is refused by its nonce, after
      // an inline check), so its id leaves the verified set now instead of ageing out of it: the set then holds
      // about what is pending, not the last few minutes of traffic kept alive into the old generation.
      this.verified.delete(invocationIdHex(inv));
      const hex = invokerHex(inv);
      const q = this.queues.get(hex);
      if (q === undefined) continue;
      touched.set(hex, inv.invoker);
      const e = q.at(inv.nonce);
      if (e === undefined) continue;
      const id = "inv" in item ? item.id : invocationId(inv);
      // The same object when this pool admitted what the block carries; else the ids decide.
      if (e.inv === inv || bytesEqual(e.id, id)) {
        included++;
      } else {
        displaced.push(this.recordDisplaced(e, id, at.height));
      }
      this.remove(e);
    }
    const hexes: string[] = [];
    const reads: Promise<AccountView>[] = [];
    for (const [hex, pk] of touched) {
      hexes.push(hex);
      reads.push(getAccount(pk));
    }
    const accounts = await Promise.all(reads);
    for (let i = 0; i < hexes.length; i++) {
      const hex = hexes[i]!;
      const q = this.queues.get(hex);
      if (q === undefined) continue;
      q.observe(accounts[i]!);
      const stale = q.dropStale();
      for (const e of stale) {
        this.forget(e);
        // Admitted while this commit read accounts (its admission saw the nonce still free): displaced all the
        // same when this block is what used the nonce.
        const by = committedAt(committed, hex, e.inv.nonce);
        if (by !== undefined && !bytesEqual(by, e.id)) displaced.push(this.recordDisplaced(e, by, at.height));
        else evicted++;
      }
      const unaffordable = q.dropUnaffordable();
      for (const e of unaffordable) this.forget(e);
      evicted += unaffordable.length;
      if (q.entries.length === 0) this.queues.delete(hex);
      else this.noteTail(q);
    }
    return { included, evicted, displaced };
  }

  /** The record of an invocation displaced or dropped (expired) from this pool (kept for the last `displacedMemory` of them). */
  displacedBy(id: Uint8Array | string): Displaced | undefined {
    return this.displaced.get(typeof id === "string" ? id : toHex(id));
  }

  private recordDisplaced(e: PoolEntry, by: Uint8Array, height: bigint): NonceDisplaced {
    const d: NonceDisplaced = { id: e.id, idHex: e.idHex, by, height };
    this.displaced.record(d);
    return d;
  }

  private recordExpired(e: PoolEntry, reason: ExpiryReason, replacedBy?: Uint8Array): Expired {
    const d: Expired = replacedBy === undefined ? { id: e.id, idHex: e.idHex, reason } : { id: e.id, idHex: e.idHex, reason, replacedBy };
    this.displaced.record(d);
    return d;
  }

  private announceDropped(dropped: readonly Expired[]): void {
    if (dropped.length === 0) return;
    for (const l of this.droppedListeners) {
      try {
        l(dropped);
      } catch (e) {
        // The drops happened and are recorded; a failing listener must not turn them into an admission error.
        process.emitWarning(`mempool onDropped listener threw: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  /**
   * Drops every gapped invocation (a lower nonce of its invoker neither committed nor pooled) that arrived
   * `gapExpiryMs` or more before `now()`, records each as expired (`gap_timeout`), announces them to
   * `onDropped` and returns them. The node calls it periodically (every second, say); nothing expires between
   * calls.
   */
  expire(): Expired[] {
    const now = this.now();
    const out: Expired[] = [];
    for (const [hex, q] of [...this.queues]) {
      // Ready entries never expire: they wait only for a block.
      if (q.contiguous()) continue;
      const ready = q.readyCount();
      const old = q.entries.slice(ready).filter((e) => now - e.arrivedAt >= this.gapExpiryMs);
      for (const e of old) {
        q.remove(e);
        this.forget(e);
        out.push(this.recordExpired(e, "gap_timeout"));
      }
      if (q.entries.length === 0) this.queues.delete(hex);
      else this.noteTail(q);
    }
    this.announceDropped(out);
    return out;
  }

  /** Stops the verifier's worker threads, if any. */
  async close(): Promise<void> {
    await this.verifier.close();
  }
}

/** The id of the committed invocation of `invoker` (hex) with `nonce`, if these blocks hold one (a rare scan). */
function committedAt(
  committed: ReadonlyArray<SignedInvocation | { inv: SignedInvocation; id: Uint8Array }>,
  invoker: string,
  nonce: bigint,
): Uint8Array | undefined {
  for (const item of committed) {
    const inv = "inv" in item ? item.inv : item;
    if (inv.nonce === nonce && invokerHex(inv) === invoker) return "inv" in item ? item.id : invocationId(inv);
  }
  return undefined;
}

/**
 * The lowest gas price that may replace a pending invocation paying `price`: 10% more, rounded up, and at least
 * one more (so replacing a cheap one still costs something).
 */
export function minReplacementPrice(price: bigint): bigint {
  const tenth = (price + 9n) / 10n;
  return price + (tenth > 0n ? tenth : 1n);
}

function positiveInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`mempool ${name} must be a positive integer, got ${v}`);
  return v;
}

function nonNegativeInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`mempool ${name} must be a non-negative integer, got ${v}`);
  return v;
}

function refusal(error: CairnError): AdmitOutcome {
  return { ok: false, error };
}

/** The account, or the error reading it (a lookup that throws synchronously is still one item's failure). */
async function readAccount(getAccount: AccountLookup, publicKey: Uint8Array): Promise<AccountView | Error> {
  try {
    return await getAccount(publicKey);
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

function asCairnError(e: unknown): CairnError {
  if (e instanceof CairnError) return e;
  if (e instanceof CodecError) return new CairnError("malformed", e.message);
  return new CairnError("internal", e instanceof Error ? e.message : String(e));
}
