// The mempool: admits signed invocations once (checked, signature verified, deduplicated, bounded), keeps
// them in nonce order per invoker, and hands the proposer a fair, deterministic block's worth of ready ones.
//
// Policy (see README in the report):
// - A second invocation for an (invoker, nonce) already pending is refused as `duplicate`, whatever its gas
//   price: no replace-by-fee, so a client cannot make validators re-verify and re-gossip the same slot.
// - Nonces may run ahead of the committed account nonce by less than `maxPerInvoker` (else `nonce_gap`), so
//   an invoker can pipeline; an invocation is ready once every lower nonce is committed or ahead of it.
// - A gas price below the chain's floor (genesis minGasPrice) is refused: execution would only reject it.
// - The committed balance must cover the maximum fees (gasLimit x gasPrice) of all the invoker's pending
//   invocations together, so a pool of one invoker's invocations cannot outrun what it can pay.
// - A pending invocation whose (invoker, nonce) a different invocation used in a committed block is dropped
//   as displaced and remembered (bounded) with the one that used it, so clients learn its fate at once.
// - A full pool refuses (`mempool_full`); it never evicts admitted invocations to make room.
// - `select` takes invokers round-robin, oldest first, one invocation per turn: one busy invoker cannot
//   starve the others, and the same pool always yields the same selection.

import { SignedInvocation, bytesEqual, encodingOf, rememberEncoding, toHex, LIMITS, CodecError } from "../codec/index.ts";
import { invocationId, invocationIdHex, invocationIdOfEncoding, invokerHex, rememberInvocationId } from "../crypto/digests.ts";
import { CairnError } from "../errors.ts";
import { InvokerQueue } from "./invoker-queue.ts";
import { createVerifier } from "./verify-pool.ts";
import type {
  AccountLookup,
  AccountView,
  AdmitOutcome,
  AdmittedListener,
  CommitCleanup,
  CommitContext,
  Displaced,
  MempoolOptions,
  PoolEntry,
  SelectOptions,
  SignatureVerifier,
} from "./types.ts";
import { ReleasingMap } from "../releasing-map.ts";
import { DisplacedLog } from "./displaced-log.ts";

const U64_MAX = (1n << 64n) - 1n;

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
  private readonly displaced: DisplacedLog;
  private totalBytes = 0;
  private seq = 0;

  constructor(opts: MempoolOptions) {
    this.chainId = opts.chainId;
    this.getAccount = opts.getAccount;
    this.maxTotal = opts.maxTotal ?? 50_000;
    this.maxTotalBytes = opts.maxTotalBytes ?? 256 * 1024 * 1024;
    this.maxPerInvoker = opts.maxPerInvoker ?? 1_000;
    this.maxInvocationBytes = opts.maxInvocationBytes ?? LIMITS.maxInputBytes + 1024;
    this.maxGasLimit = opts.maxGasLimit ?? U64_MAX;
    this.minGasPrice = opts.minGasPrice ?? 0n;
    this.verifiedCacheSize = opts.verifiedCacheSize ?? 4 * this.maxTotal;
    this.verifier = opts.verifier ?? createVerifier();
    this.displaced = new DisplacedLog(opts.displacedMemory);
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

    // 4. Stateful checks and insertion, synchronously so that concurrent batches cannot interleave here.
    const admitted: PoolEntry[] = [];
    for (const c of authentic) {
      const account = settled[readAt.get(c.invokerHex)!]!;
      if (account instanceof Error) {
        outcomes[c.index] = refusal(new CairnError("unavailable", `cannot read account ${c.invokerHex}: ${account.message}`));
        continue;
      }
      try {
        const entry = this.insert(c, account);
        admitted.push(entry);
        outcomes[c.index] = { ok: true, id: c.id, idHex: c.idHex };
      } catch (e) {
        outcomes[c.index] = refusal(asCairnError(e));
      }
    }

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

  private insert(c: Candidate, account: AccountView): PoolEntry {
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
    try {
      const nonce = c.inv.nonce;
      if (nonce < q.base) throw new CairnError("nonce_used", `nonce ${nonce} of ${c.invokerHex} is used; the next nonce is ${q.base}`);
      if (nonce >= q.base + BigInt(this.maxPerInvoker)) {
        throw new CairnError("nonce_gap", `nonce ${nonce} is too far ahead of the account's next nonce ${q.base} (window ${this.maxPerInvoker})`);
      }
      const same = q.at(nonce);
      if (same !== undefined) {
        throw new CairnError("duplicate", `nonce ${nonce} of ${c.invokerHex} is already taken by pending invocation ${same.idHex}`);
      }
      if (q.entries.length >= this.maxPerInvoker) {
        throw new CairnError("mempool_full", `invoker ${c.invokerHex} already has ${q.entries.length} pending invocations`);
      }
      if (this.byId.size >= this.maxTotal || this.totalBytes + c.encoded.length > this.maxTotalBytes) {
        throw new CairnError("mempool_full", `mempool is full (${this.byId.size} invocations, ${this.totalBytes} bytes); retry later`);
      }
      if (q.feeTotal + c.maxFee > q.balance) {
        throw new CairnError(
          "insufficient_balance",
          `balance ${q.balance} does not cover the maximum fee ${c.maxFee} on top of ${q.feeTotal} already pending`,
        );
      }
    } catch (e) {
      if (q.entries.length === 0) this.queues.delete(c.invokerHex);
      throw e;
    }
    const entry: PoolEntry = {
      inv: c.inv,
      id: c.id,
      idHex: c.idHex,
      invokerHex: c.invokerHex,
      size: c.encoded.length,
      maxFee: c.maxFee,
      seq: this.seq++,
    };
    q.insert(entry);
    this.byId.set(entry.idHex, entry);
    this.totalBytes += entry.size;
    return entry;
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
    const displaced: Displaced[] = [];
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
    }
    return { included, evicted, displaced };
  }

  /** The record of an invocation displaced from this pool (kept for the last `displacedMemory` of them). */
  displacedBy(id: Uint8Array | string): Displaced | undefined {
    return this.displaced.get(typeof id === "string" ? id : toHex(id));
  }

  private recordDisplaced(e: PoolEntry, by: Uint8Array, height: bigint): Displaced {
    const d: Displaced = { id: e.id, idHex: e.idHex, by, height };
    this.displaced.record(d);
    return d;
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
