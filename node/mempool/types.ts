// The mempool's public shapes. The node supplies account reads; the mempool never touches storage itself.

import type { SignedInvocation } from "../codec/types.ts";
import type { CairnError } from "../errors.ts";

/** What admission needs to know about an account: its committed balance and next expected nonce. */
export interface AccountView {
  balance: bigint;
  nonce: bigint;
}

/** Reads the committed account (async: the node may go to RocksDB). Unknown accounts read as zero/zero. */
export type AccountLookup = (publicKey: Uint8Array) => Promise<AccountView>;

/** One admitted invocation with everything computed once at admission. */
export interface PoolEntry {
  readonly inv: SignedInvocation;
  readonly id: Uint8Array;
  readonly idHex: string;
  readonly invokerHex: string;
  /** Canonical encoded size, counted against block and pool byte limits. */
  readonly size: number;
  /** gasLimit x gasPrice: the most this invocation can cost its invoker. */
  readonly maxFee: bigint;
  /** Arrival order in this pool; the fairness order of `select`. */
  readonly seq: number;
  /** The pool's clock (`MempoolOptions.now`) at admission; a gapped entry expires `gapExpiryMs` after it. */
  readonly arrivedAt: number;
}

export type AdmitOutcome = { ok: true; id: Uint8Array; idHex: string } | { ok: false; error: CairnError };

export type AdmittedListener = (entries: readonly PoolEntry[]) => void;

export interface SelectOptions {
  maxCount: number;
  maxBytes: number;
  /**
   * Most deploys in the selection (default: no limit). A validator that did not compile a deploy at admission
   * compiles it when the block runs, so fewer deploys per block bound that wait.
   */
  maxDeploys?: number;
  /** Ids (hex) already in uncommitted ancestor blocks: never selected, but count as ahead for readiness. */
  exclude?: ReadonlySet<string>;
  /**
   * Invocations in uncommitted ancestor blocks, including ones this pool never saw (a peer's proposal):
   * their nonces count as ahead, so the invoker's next nonces are ready now rather than after commit.
   */
  ahead?: Iterable<SignedInvocation>;
}

/** Checks signatures for a batch; `encoded` is the canonical signed encoding (unsigned bytes ++ signature). */
export interface SignatureVerifier {
  verify(items: ReadonlyArray<{ encoded: Uint8Array; publicKey: Uint8Array }>): Promise<boolean[]>;
  close(): Promise<void>;
}

export interface MempoolOptions {
  chainId: string;
  getAccount: AccountLookup;
  /** Total invocations held. Default 50 000. */
  maxTotal?: number;
  /** Total encoded bytes held. Default 256 MiB. */
  maxTotalBytes?: number;
  /** Invocations held per invoker (else `too_many_pending`). Default 16. */
  maxPerInvoker?: number;
  /**
   * How many nonces may be missing below an admitted one: its nonce minus the next nonce after the invoker's
   * contiguous pooled run from the committed nonce (else `nonce_gap`). Default 16.
   */
  maxNonceGap?: number;
  /** How long a gapped invocation (a lower nonce missing) may wait for it before it expires. Default 60 000 ms. */
  gapExpiryMs?: number;
  /** The pool's clock in ms, read at admission and by `expire`; default `performance.now()`. */
  now?: () => number;
  /** Largest encoded invocation admitted. Default: the codec's input limit plus the fixed fields. */
  maxInvocationBytes?: number;
  /**
   * The chain's fee floor (the genesis's minGasPrice): a lower gas price is refused, as execution would reject
   * it. Default 0.
   */
  minGasPrice?: bigint;
  /** Largest gas limit admitted (a block's gas budget, say). Default: no limit beyond u64. */
  maxGasLimit?: bigint;
  /**
   * Most verified ids remembered (pooled ones, and those a proposal brought that are not committed yet; committed
   * ids are dropped at once). A bound for blocks that never commit. Default 4 x maxTotal.
   */
  verifiedCacheSize?: number;
  /** Most displaced and expired invocations remembered (see Mempool.displacedBy). Default 100 000. */
  displacedMemory?: number;
  /** Signature checking; default `createVerifier({})` (inline below the worker threshold, workers above). */
  verifier?: SignatureVerifier;
  /**
   * A costly last check (compiling a deploy), run only for invocations that passed every cheap one: signed,
   * nonce not used, maximum fee covered by the balance. So a stranger cannot make the node do it for free.
   */
  gate?: AdmissionGate;
}

/** The refusal of an invocation, or null to admit it; null (not a promise) when there is nothing to check. */
export type AdmissionGate = (inv: SignedInvocation) => Promise<CairnError | null> | null;

/**
 * A pending invocation dropped because a different invocation with its (invoker, nonce) committed first (two
 * endpoints took the same nonce before gossip met). Final: the displaced one can never execute.
 */
export interface NonceDisplaced {
  readonly id: Uint8Array;
  readonly idHex: string;
  /** The committed invocation that used the nonce. */
  readonly by: Uint8Array;
  /** The height of the block that committed `by`. */
  readonly height: bigint;
}

/**
 * Why an invocation left this pool without running although its nonce is still free: `gap_timeout` (a lower
 * nonce did not arrive within gapExpiryMs), `evicted` (the pool was full and a better-paying invocation took
 * its room), `replaced` (its invoker re-signed the same nonce at a high enough gas price: `by`).
 */
export type ExpiryReason = "gap_timeout" | "evicted" | "replaced";

/**
 * An invocation this pool dropped for good. It will not run from this pool; it could still commit if another
 * validator holds it or it is submitted again, in which case its receipt is what counts.
 */
export interface Expired {
  readonly id: Uint8Array;
  readonly idHex: string;
  readonly reason: ExpiryReason;
  /** For `replaced`: the invocation that took its (invoker, nonce). */
  readonly replacedBy?: Uint8Array;
}

/** An invocation that left the pool without running: its nonce used by another, or dropped (expired). */
export type Displaced = NonceDisplaced | Expired;

/** True for a drop that is not a nonce displacement. */
export function isExpired(d: Displaced): d is Expired {
  return "reason" in d;
}

export type DroppedListener = (dropped: readonly Expired[]) => void;

export interface CommitCleanup {
  /** Entries removed because they were included in the committed blocks. */
  included: number;
  /** Entries evicted because their nonce is now used (by an earlier block) or their invoker can no longer pay for them. */
  evicted: number;
  /** Entries dropped because an invocation of these blocks used their nonce; also recorded (see Mempool.displacedBy). */
  displaced: NonceDisplaced[];
}

/** Where the committed invocations of `Mempool.onCommitted` come from. */
export interface CommitContext {
  /** Height of the committed block (displacement records name it). */
  height: bigint;
  /** Account reads after the commit; default the pool's own lookup. */
  getAccount?: AccountLookup;
}
