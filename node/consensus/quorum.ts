// Quorum arithmetic, leader rotation and certificate checks. Pure functions of the validator set.

import { bytesEqual, toHex } from "../codec/hex.ts";
import type { QuorumCertificate as QcT } from "../codec/types.ts";
import type { TimeoutCertificate as TcT } from "../codec/consensus.ts";
import { consensusDigest } from "../crypto/digests.ts";
import type { ConsensusCrypto } from "./types.ts";

/** Byzantine validators tolerated by n validators: f = floor((n - 1) / 3). */
export function maxFaulty(n: number): number {
  return Math.floor((n - 1) / 3);
}

/** Distinct signatures a certificate needs: n - f (2f + 1 when n = 3f + 1; never "2n/3 + 1" rounded). */
export function quorumSize(n: number): number {
  return n - maxFaulty(n);
}

export function leaderIndex(view: bigint, n: number): number {
  return Number(view % BigInt(n));
}

/**
 * The certificate for the genesis block, the one block nobody votes on: view 0, no signatures. It is the
 * justify of block 1 and the starting lockedQc/highQc. (The genesis block's own justify is the zero-hash QC.)
 */
export function genesisBlockQc(genesisBlockHash: Uint8Array): QcT {
  return { view: 0n, blockHash: genesisBlockHash, signatures: [] };
}

export type CertCheck = { ok: true } | { ok: false; reason: string };

const OK: CertCheck = { ok: true };
const fail = (reason: string): CertCheck => ({ ok: false, reason });

/** Signers strictly increasing (so distinct and one encoding per set), each a validator index, at least a quorum. */
function checkSigners(signers: readonly number[], n: number, what: string): CertCheck {
  if (signers.length < quorumSize(n)) return fail(`${what} has ${signers.length} signatures, needs ${quorumSize(n)}`);
  if (signers.length > n) return fail(`${what} has ${signers.length} signatures for ${n} validators`);
  let prev = -1;
  for (const s of signers) {
    if (!Number.isInteger(s) || s < 0 || s >= n) return fail(`${what} signer ${s} is not a validator index`);
    if (s <= prev) return fail(`${what} signers are not strictly increasing at ${s}`);
    prev = s;
  }
  return OK;
}

export interface ValidatorSet {
  chainId: string;
  validators: readonly Uint8Array[];
  genesisBlockHash: Uint8Array;
}

/** Full check of a QC: structure, quorum of distinct signers, every signature; the genesis-block QC is special. */
export function verifyQc(qc: QcT, set: ValidatorSet, crypto: ConsensusCrypto): CertCheck {
  if (qc.view === 0n) {
    if (qc.signatures.length !== 0) return fail("view-0 certificate carries signatures");
    if (!bytesEqual(qc.blockHash, set.genesisBlockHash)) return fail("view-0 certificate is not for the genesis block");
    return OK;
  }
  const n = set.validators.length;
  const signers = checkSigners(
    qc.signatures.map((s) => s.signer),
    n,
    "QC",
  );
  if (!signers.ok) return signers;
  const digest = consensusDigest("cairn.vote", set.chainId, qc.view, qc.blockHash);
  for (const s of qc.signatures) {
    if (!crypto.verify(s.signature, digest, set.validators[s.signer]!)) return fail(`QC signature of validator ${s.signer} is invalid`);
  }
  return OK;
}

export function verifyTc(tc: TcT, set: ValidatorSet, crypto: ConsensusCrypto): CertCheck {
  if (tc.view === 0n) return fail("timeout certificate for view 0");
  const n = set.validators.length;
  const signers = checkSigners(
    tc.signatures.map((s) => s.signer),
    n,
    "TC",
  );
  if (!signers.ok) return signers;
  const digests = new Map<string, Uint8Array>();
  for (const s of tc.signatures) {
    const key = toHex(s.highQcHash);
    let d = digests.get(key);
    if (d === undefined) {
      d = consensusDigest("cairn.timeout", set.chainId, tc.view, s.highQcHash);
      digests.set(key, d);
    }
    if (!crypto.verify(s.signature, d, set.validators[s.signer]!)) return fail(`TC signature of validator ${s.signer} is invalid`);
  }
  return OK;
}

type SigningDomain = "cairn.vote" | "cairn.timeout" | "cairn.proposal";

/** The cache key of one signed consensus message (the chain is fixed per verifier). */
function messageKey(domain: SigningDomain, view: bigint, hash: Uint8Array): string {
  return `${domain}|${view}|${toHex(hash)}`;
}

/**
 * Verification with memory: remembers each (role, view, block hash, signer) signature it has checked, so a
 * QC seen again (in a proposal, a timeout, a synced block) or assembled from votes already checked costs no
 * signature verification, and memoizes the signing digests. A signature is skipped only when it is byte-for-
 * byte one already verified for the same signer and message. Bounded: oldest entries evicted first.
 */
export class CertVerifier {
  private readonly verified = new Map<string, Map<number, Uint8Array>>();
  private readonly digests = new Map<string, Uint8Array>();

  constructor(
    private readonly set: ValidatorSet,
    private readonly crypto: ConsensusCrypto,
    private readonly capacity: number,
  ) {}

  digest(domain: SigningDomain, view: bigint, hash: Uint8Array): Uint8Array {
    const key = messageKey(domain, view, hash);
    let d = this.digests.get(key);
    if (d === undefined) {
      d = consensusDigest(domain, this.set.chainId, view, hash);
      if (this.digests.size >= this.capacity) this.digests.delete(this.digests.keys().next().value!);
      this.digests.set(key, d);
    }
    return d;
  }

  /** True when `signature` is validator `signer`'s over (domain, chain, view, hash). */
  signature(domain: SigningDomain, view: bigint, hash: Uint8Array, signer: number, signature: Uint8Array): boolean {
    const pk = this.set.validators[signer];
    if (pk === undefined) return false;
    const key = messageKey(domain, view, hash);
    const known = this.verified.get(key)?.get(signer);
    if (known !== undefined && bytesEqual(known, signature)) return true;
    if (!this.crypto.verify(signature, this.digest(domain, view, hash), pk)) return false;
    this.record(key, signer, signature);
    return true;
  }

  /**
   * Remembers a signature this validator made itself, so the QC that carries our own vote back to us (in
   * three of four proposals with n = 4) costs no verification of it.
   */
  remember(domain: SigningDomain, view: bigint, hash: Uint8Array, signer: number, signature: Uint8Array): void {
    this.record(messageKey(domain, view, hash), signer, signature);
  }

  private record(key: string, signer: number, signature: Uint8Array): void {
    let m = this.verified.get(key);
    if (m === undefined) {
      if (this.verified.size >= this.capacity) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(key, (m = new Map()));
    }
    m.set(signer, signature);
  }

  qc(qc: QcT): CertCheck {
    if (qc.view === 0n) return verifyQc(qc, this.set, this.crypto);
    const signers = checkSigners(
      qc.signatures.map((s) => s.signer),
      this.set.validators.length,
      "QC",
    );
    if (!signers.ok) return signers;
    for (const s of qc.signatures) {
      if (!this.signature("cairn.vote", qc.view, qc.blockHash, s.signer, s.signature)) return fail(`QC signature of validator ${s.signer} is invalid`);
    }
    return OK;
  }

  tc(tc: TcT): CertCheck {
    if (tc.view === 0n) return fail("timeout certificate for view 0");
    const signers = checkSigners(
      tc.signatures.map((s) => s.signer),
      this.set.validators.length,
      "TC",
    );
    if (!signers.ok) return signers;
    for (const s of tc.signatures) {
      if (!this.signature("cairn.timeout", tc.view, s.highQcHash, s.signer, s.signature)) return fail(`TC signature of validator ${s.signer} is invalid`);
    }
    return OK;
  }
}
