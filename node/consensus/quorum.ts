// Quorum arithmetic, leader rotation and certificate checks. Pure functions of the validator set.

import { encode } from "../codec/codec.ts";
import { bytesEqual, toHex } from "../codec/hex.ts";
import { QuorumCertificate, type QuorumCertificate as QcT } from "../codec/types.ts";
import { TimeoutCertificate, type TimeoutCertificate as TcT } from "../codec/consensus.ts";
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

/**
 * Remembers certificates already verified, keyed by their exact encoding (a certificate with the same view
 * and hash but other signatures is checked again). Bounded, oldest evicted first.
 */
export class CertVerifier {
  private readonly seen = new Map<string, true>();

  constructor(
    private readonly set: ValidatorSet,
    private readonly crypto: ConsensusCrypto,
    private readonly capacity: number,
  ) {}

  qc(qc: QcT): CertCheck {
    if (qc.view === 0n) return verifyQc(qc, this.set, this.crypto);
    return this.cached("q" + toHex(encode(QuorumCertificate, qc)), () => verifyQc(qc, this.set, this.crypto));
  }

  tc(tc: TcT): CertCheck {
    return this.cached("t" + toHex(encode(TimeoutCertificate, tc)), () => verifyTc(tc, this.set, this.crypto));
  }

  private cached(key: string, check: () => CertCheck): CertCheck {
    if (this.seen.has(key)) return OK;
    const r = check();
    if (r.ok) {
      if (this.seen.size >= this.capacity) this.seen.delete(this.seen.keys().next().value!);
      this.seen.set(key, true);
    }
    return r;
  }
}
