// Equivocation: one validator signing two different block hashes for the same view, as proposer, voter or
// timing-out validator (a timeout signs its highest QC's block hash).
// Detection keeps a bounded window of recent views; the evidence carries both signatures so anyone with the
// validator set can check it without trusting the reporter.

import { bytesEqual, compareBytes, toHex } from "../codec/hex.ts";
import type { Evidence, EvidenceKind } from "../codec/consensus.ts";
import { consensusDigest } from "../crypto/digests.ts";
import type { ConsensusCrypto } from "./types.ts";

/** The signing domain of each role whose equivocation is evidence. */
const EVIDENCE_DOMAIN = { proposal: "cairn.proposal", vote: "cairn.vote", timeout: "cairn.timeout" } as const satisfies Record<EvidenceKind, string>;

/** Builds the canonical record (hashes in byte order). */
export function makeEvidence(
  kind: EvidenceKind,
  chainId: string,
  view: bigint,
  validator: number,
  a: { blockHash: Uint8Array; signature: Uint8Array },
  b: { blockHash: Uint8Array; signature: Uint8Array },
): Evidence {
  const [x, y] = compareBytes(a.blockHash, b.blockHash) < 0 ? [a, b] : [b, a];
  return { kind, chainId, view, validator, blockHashA: x.blockHash, signatureA: x.signature, blockHashB: y.blockHash, signatureB: y.signature };
}

/** True when the record proves equivocation by `validator` on `chainId` under this validator set. */
export function verifyEvidence(ev: Evidence, chainId: string, validators: readonly Uint8Array[], crypto: ConsensusCrypto): boolean {
  if (ev.chainId !== chainId) return false;
  const pk = validators[ev.validator];
  if (pk === undefined) return false;
  if (compareBytes(ev.blockHashA, ev.blockHashB) >= 0) return false;
  const domain = EVIDENCE_DOMAIN[ev.kind];
  return (
    crypto.verify(ev.signatureA, consensusDigest(domain, chainId, ev.view, ev.blockHashA), pk) &&
    crypto.verify(ev.signatureB, consensusDigest(domain, chainId, ev.view, ev.blockHashB), pk)
  );
}

interface Signed {
  blockHash: Uint8Array;
  signature: Uint8Array;
}

/**
 * First signed (view, hash) seen per (role, validator, view); a second one with another hash becomes
 * evidence, reported once. Callers pass only messages whose signature they have verified.
 */
export class EquivocationDetector {
  private readonly first = new Map<string, Signed>();
  private readonly reported = new Set<string>();
  private readonly byView = new Map<bigint, string[]>();

  constructor(private readonly chainId: string) {}

  observe(kind: EvidenceKind, view: bigint, validator: number, msg: Signed): Evidence | null {
    const key = `${kind}:${validator}:${view}`;
    const prior = this.first.get(key);
    if (prior === undefined) {
      this.first.set(key, { blockHash: msg.blockHash, signature: msg.signature });
      let keys = this.byView.get(view);
      if (keys === undefined) this.byView.set(view, (keys = []));
      keys.push(key);
      return null;
    }
    if (bytesEqual(prior.blockHash, msg.blockHash) || this.reported.has(key)) return null;
    this.reported.add(key);
    return makeEvidence(kind, this.chainId, view, validator, prior, msg);
  }

  /** Forget views below `minView`. */
  prune(minView: bigint): void {
    for (const [view, keys] of this.byView) {
      if (view >= minView) continue;
      for (const k of keys) {
        this.first.delete(k);
        this.reported.delete(k);
      }
      this.byView.delete(view);
    }
  }

  /** For tests and metrics. */
  get size(): number {
    return this.first.size;
  }
}

export function evidenceKey(ev: Evidence): string {
  return `${ev.kind}:${ev.validator}:${ev.view}:${toHex(ev.blockHashA)}:${toHex(ev.blockHashB)}`;
}
