// Unit tests for the chained HotStuff core: one test per rule, with blocks, votes and certificates forged
// by ChainBuilder (the fake signature scheme lets a test sign as any validator).

import { describe, expect, it } from "vitest";
import { decode, encode } from "../node/codec/codec.ts";
import { bytesEqual, toHex } from "../node/codec/hex.ts";
import { ConsensusMessage, Evidence, SafetyState } from "../node/codec/consensus.ts";
import { BUILTIN_DEPLOY, LIMITS, type Block, type QuorumCertificate } from "../node/codec/types.ts";
import { blockHash } from "../node/crypto/index.ts";
import { SodiumSigner, verifyStrict } from "../node/crypto/sodium.ts";
import {
  ConsensusConfigError,
  ConsensusCore,
  ConsensusInvariantError,
  genesisBlockQc,
  maxFaulty,
  quorumSize,
  verifyEvidence,
  verifyQc,
  verifyTc,
  type ConsensusAction,
  type SafetyState as SafetyStateT,
} from "../node/consensus/index.ts";
import { fakeCrypto } from "./sim/fake-crypto.ts";
import { ChainBuilder, Cluster, Driver, ofType, sentOfType, simRoot } from "./sim/fixtures.ts";
import { SIM_CHAIN } from "./sim/simulator.ts";

const set = (c: ChainBuilder) => ({ chainId: SIM_CHAIN, validators: c.validators, genesisBlockHash: c.genesis.hash });

function votes(actions: ConsensusAction[]) {
  return sentOfType(actions, "vote");
}

/** Index of the first action of `type` (or -1). */
function indexOf(actions: ConsensusAction[], pred: (a: ConsensusAction) => boolean): number {
  return actions.findIndex(pred);
}

describe("quorum arithmetic", () => {
  it("f = floor((n-1)/3) and quorum = n - f", () => {
    const table: Array<[number, number, number]> = [
      [1, 0, 1],
      [2, 0, 2],
      [3, 0, 3],
      [4, 1, 3],
      [5, 1, 4],
      [6, 1, 5],
      [7, 2, 5],
      [8, 2, 6],
      [10, 3, 7],
      [100, 33, 67],
    ];
    for (const [n, f, q] of table) {
      expect(maxFaulty(n)).toBe(f);
      expect(quorumSize(n)).toBe(q);
    }
  });
});

describe("certificate validation", () => {
  const c = new ChainBuilder(4);
  const crypto = fakeCrypto(null);
  const a = c.child(c.genesis, 1n);

  it("accepts a quorum of distinct, increasing, valid signatures and the genesis-block certificate", () => {
    expect(verifyQc(c.qcFor(a), set(c), crypto)).toEqual({ ok: true });
    expect(verifyQc(c.qcFor(a, [0, 1, 2, 3]), set(c), crypto)).toEqual({ ok: true });
    expect(verifyQc(genesisBlockQc(c.genesis.hash), set(c), crypto)).toEqual({ ok: true });
  });

  it("rejects every malformed QC", () => {
    const good = c.qcFor(a, [0, 1, 3]);
    const cases: Array<[string, QuorumCertificate]> = [
      ["too few signatures", c.qcFor(a, [0, 1])],
      ["duplicate signer", { ...good, signatures: [good.signatures[0]!, good.signatures[0]!, good.signatures[1]!] }],
      ["signers not increasing", { ...good, signatures: [good.signatures[1]!, good.signatures[0]!, good.signatures[2]!] }],
      ["signer out of range", { ...good, signatures: [...good.signatures.slice(0, 2), { signer: 9, signature: good.signatures[2]!.signature }] }],
      ["signature by another key", { ...good, signatures: [...good.signatures.slice(0, 2), { signer: 2, signature: good.signatures[2]!.signature }] }],
      ["signatures for another view", { ...c.qc(2n, a.hash, [0, 1, 3]), view: 1n }],
      ["signatures for another block", { ...good, blockHash: c.genesis.hash }],
      ["view 0 with signatures", { ...c.qc(1n, c.genesis.hash), view: 0n }],
      ["view 0 for a block other than genesis", genesisBlockQc(a.hash)],
      ["too many signatures", { ...good, signatures: [0, 1, 2, 3, 3].map((s) => ({ signer: s, signature: new Uint8Array(64) })) }],
    ];
    for (const [what, qc] of cases) {
      const r = verifyQc(qc, set(c), crypto);
      expect(r.ok, what).toBe(false);
    }
  });

  it("rejects malformed timeout certificates", () => {
    const qc = c.qcFor(a);
    const good = c.tc(2n, qc, [0, 1, 2]);
    expect(verifyTc(good, set(c), crypto)).toEqual({ ok: true });
    expect(verifyTc(c.tc(2n, qc, [0, 1]), set(c), crypto).ok).toBe(false);
    expect(verifyTc({ ...good, view: 3n }, set(c), crypto).ok).toBe(false);
    expect(verifyTc({ view: 2n, signatures: [good.signatures[1]!, good.signatures[0]!, good.signatures[2]!] }, set(c), crypto).ok).toBe(false);
    const swapped = { ...good.signatures[2]!, highQcHash: c.genesis.hash };
    expect(verifyTc({ view: 2n, signatures: [good.signatures[0]!, good.signatures[1]!, swapped] }, set(c), crypto).ok).toBe(false);
    expect(verifyTc({ view: 0n, signatures: good.signatures }, set(c), crypto).ok).toBe(false);
  });
});

describe("normal operation", () => {
  it("four validators commit the same chain, in height order", () => {
    const chain = new ChainBuilder(4);
    const cluster = new Cluster(chain);
    cluster.payload = () => [chain.invocation()];
    cluster.start();
    cluster.run(3000);
    const shortest = Math.min(...cluster.nodes.map((n) => n.committed.length));
    for (let h = 0; h < shortest; h++) {
      const hashes = new Set(cluster.nodes.map((n) => toHex(blockHash(n.committed[h]!.header))));
      expect(hashes.size).toBe(1);
    }
    // Every block has the proposer of its view recorded and carries its parent's root.
    for (const b of cluster.nodes[0]!.committed) {
      expect(bytesEqual(b.header.proposer, chain.validators[Number(b.header.view % 4n)]!)).toBe(true);
    }
  });

  it("never sends a vote, timeout or proposal that its durable safety state does not cover", () => {
    const chain = new ChainBuilder(4);
    const cluster = new Cluster(chain);
    cluster.start();
    cluster.run(400);
    cluster.drop = (from) => from === Number(cluster.nodes[0]!.core.view % 4n);
    cluster.fireTimers();
    cluster.run(400);
    cluster.drop = () => false;
    cluster.fireTimers();
    cluster.run(400);
    let checked = 0;
    for (const node of cluster.nodes) {
      let durable: SafetyStateT | null = null;
      for (const list of node.log) {
        for (const a of list) {
          if (a.type === "persistSafety") durable = a.state;
          if (a.type !== "send") continue;
          const m = a.message;
          if (m.type === "vote") expect(durable!.lastVotedView).toBeGreaterThanOrEqual(m.value.view);
          if (m.type === "proposal") expect(durable!.lastProposedView).toBeGreaterThanOrEqual(m.value.block.header.view);
          if (m.type === "timeout") {
            expect(durable!.lastTimeout).not.toBeNull();
            expect(bytesEqual(durable!.lastTimeout!.signature, m.value.signature)).toBe(true);
          }
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it("the leader asks for a payload only once its parent is executed, naming the pending ancestors", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(2), c);
    d.start();
    const a = c.child(c.genesis, 1n);
    // Validator 2 leads view 2: it collects the votes for A and must not propose before A is executed.
    let out = d.message(1, c.proposalMsg(a), { execute: false });
    expect(ofType(out, "needPayload")).toHaveLength(0);
    expect(ofType(out, "execute")).toHaveLength(1);
    out = d.message(0, { type: "vote", value: c.vote(0, a) });
    out = out.concat(d.message(3, { type: "vote", value: c.vote(3, a) }));
    expect(d.core.view).toBe(2n);
    expect(ofType(out, "needPayload")).toHaveLength(0);
    const root = simRoot(c.genesis.root, a.hash);
    d.roots.set(toHex(a.hash), root);
    out = d.step({ type: "executed", blockHash: a.hash, stateRoot: root });
    const [need] = ofType(out, "needPayload");
    expect(need).toBeDefined();
    expect(need!.view).toBe(2n);
    expect(bytesEqual(need!.parentHash, a.hash)).toBe(true);
    expect(need!.pendingAncestors.map((b) => b.header.height)).toEqual([1n]);
    out = d.step({ type: "payload", view: 2n, parentHash: a.hash, invocations: [c.invocation()] });
    const [prop] = sentOfType(out, "proposal");
    expect(prop!.to).toBe("all");
    const h = prop!.value.block.header;
    expect([h.height, h.view, h.justify.view]).toEqual([2n, 2n, 1n]);
    expect(bytesEqual(h.stateRoot, root)).toBe(true);
    expect(bytesEqual(h.proposer, c.validators[2]!)).toBe(true);
    const persist = indexOf(out, (x) => x.type === "persistSafety");
    const send = indexOf(out, (x) => x.type === "send");
    expect(persist).toBeGreaterThanOrEqual(0);
    expect(persist).toBeLessThan(send);
    // Its own vote goes to the leader of view 3, after the same durable write.
    expect(votes(out)).toEqual([expect.objectContaining({ to: "all" })]);
    // A second payload for the same view is ignored: one proposal per view.
    out = d.step({ type: "payload", view: 2n, parentHash: a.hash, invocations: [] });
    expect(sentOfType(out, "proposal")).toHaveLength(0);
  });
});

describe("voting rules", () => {
  it("votes at most once per view and reports equivocating proposals with verifiable evidence", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(3), c);
    d.start();
    const x = c.child(c.genesis, 1n);
    const y = c.child(c.genesis, 1n); // same leader, same view, other payload
    let out = d.message(1, c.proposalMsg(x));
    expect(votes(out)).toEqual([expect.objectContaining({ to: "all" })]);
    out = d.message(1, c.proposalMsg(y));
    expect(votes(out)).toHaveLength(0);
    const [ev] = ofType(out, "evidence");
    expect(ev).toBeDefined();
    expect(ev!.evidence).toMatchObject({ kind: "proposal", view: 1n, validator: 1 });
    expect(verifyEvidence(ev!.evidence, SIM_CHAIN, c.validators, fakeCrypto(null))).toBe(true);
    expect(decode(Evidence, encode(Evidence, ev!.evidence))).toEqual(ev!.evidence);
    const tampered = { ...ev!.evidence, validator: 3 };
    expect(verifyEvidence(tampered, SIM_CHAIN, c.validators, fakeCrypto(null))).toBe(false);
    expect(verifyEvidence({ ...ev!.evidence, chainId: "other" }, SIM_CHAIN, c.validators, fakeCrypto(null))).toBe(false);
    // The same proposal again is neither a second vote nor new evidence.
    out = d.message(1, c.proposalMsg(x));
    expect(votes(out)).toHaveLength(0);
    expect(ofType(out, "evidence")).toHaveLength(0);
  });

  it("the next leader reports a double vote", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(2), c);
    d.start();
    const x = c.child(c.genesis, 1n);
    const y = c.child(c.genesis, 1n);
    d.message(3, { type: "vote", value: c.vote(3, x) });
    const out = d.message(3, { type: "vote", value: c.vote(3, y) });
    const [ev] = ofType(out, "evidence");
    expect(ev!.evidence).toMatchObject({ kind: "vote", view: 1n, validator: 3 });
    expect(verifyEvidence(ev!.evidence, SIM_CHAIN, c.validators, fakeCrypto(null))).toBe(true);
  });

  it("reports two different timeouts of one validator for one view, and not the same one re-sent", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(0), c);
    d.start();
    const g = genesisBlockQc(c.genesis.hash);
    const a = c.child(c.genesis, 1n);
    const first = c.timeout(2, 2n, g);
    expect(ofType(d.message(2, { type: "timeout", value: first }), "evidence")).toHaveLength(0);
    expect(ofType(d.message(2, { type: "timeout", value: first }), "evidence")).toHaveLength(0);
    const out = d.message(2, { type: "timeout", value: c.timeout(2, 2n, c.qcFor(a)) });
    const [ev] = ofType(out, "evidence");
    expect(ev!.evidence).toMatchObject({ kind: "timeout", view: 2n, validator: 2 });
    expect(verifyEvidence(ev!.evidence, SIM_CHAIN, c.validators, fakeCrypto(null))).toBe(true);
    expect(decode(Evidence, encode(Evidence, ev!.evidence))).toEqual(ev!.evidence);
    // The same pair read as votes is not a proof: the domain is part of what was signed.
    expect(verifyEvidence({ ...ev!.evidence, kind: "vote" }, SIM_CHAIN, c.validators, fakeCrypto(null))).toBe(false);
    // Reported once.
    expect(ofType(d.message(2, { type: "timeout", value: c.timeout(2, 2n, g) }), "evidence")).toHaveLength(0);
  });

  it("locks on the 2-chain and votes only for blocks extending the lock or justified above it", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(0), c);
    d.start();
    // Votes may be sent or, when this validator leads the next view, counted locally: read the safety state.
    const voted = (from: number, m: ConsensusMessage): boolean => {
      const before = d.core.safetyState().lastVotedView;
      d.message(from, m);
      return d.core.safetyState().lastVotedView > before;
    };
    const a = c.child(c.genesis, 1n);
    const b = c.child(a, 2n);
    const cc = c.child(b, 3n);
    expect(voted(1, c.proposalMsg(a))).toBe(true);
    expect(voted(2, c.proposalMsg(b))).toBe(true);
    expect(voted(3, c.proposalMsg(cc))).toBe(true);
    // Seeing QC(B) inside C locked A (the 2-chain A <- B).
    expect(bytesEqual(d.core.lockedCertificate.blockHash, a.hash)).toBe(true);
    expect(d.core.lockedCertificate.view).toBe(1n);

    // View 3 times out; view 4's leader extends A with justify QC(A): not newer than the lock, but extends it.
    const qcB = c.qcFor(b);
    const b2 = c.child(a, 4n);
    expect(voted(0, c.proposalMsg(b2, { highTc: c.tc(3n, qcB, [1, 2, 3]) }))).toBe(true);
    expect(d.core.view).toBe(4n);

    // View 5: a fork from genesis justified only by the genesis certificate: conflicts with the lock.
    const f = c.child(c.genesis, 5n);
    const before = d.core.safetyState().lastVotedView;
    const out = d.message(1, c.proposalMsg(f, { highTc: c.tc(4n, qcB, [1, 2, 3]) }));
    expect(d.core.view).toBe(5n);
    expect(d.core.safetyState().lastVotedView).toBe(before);
    expect(ofType(out, "persistBlock")).toHaveLength(1); // kept (it might still be certified), just not voted for

    // View 6: the fork is now justified by a QC from view 5, newer than the lock (view 1): safe to vote.
    const g = c.child(f, 6n);
    expect(voted(2, c.proposalMsg(g))).toBe(true);
    expect(d.core.view).toBe(6n);
  });

  it("does not vote when its own root of the parent differs from the block's stateRoot, nor after timing out", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(0), c);
    d.start();
    const a = c.child(c.genesis, 1n);
    const bad = c.rebuilt({ ...a.block, header: { ...a.block.header, stateRoot: new Uint8Array(32).fill(7) } }, c.genesis.root);
    let out = d.message(1, c.proposalMsg(bad));
    expect(votes(out)).toHaveLength(0);
    expect(ofType(out, "log").map((l) => l.code)).toContain("state_root_mismatch");

    const d2 = new Driver(c.core(0), c);
    d2.start();
    out = d2.step({ type: "timer", view: 1n });
    expect(sentOfType(out, "timeout")).toHaveLength(1);
    out = d2.message(1, c.proposalMsg(a));
    expect(votes(out)).toHaveLength(0);
  });

  it("waits for the parent's execution before voting, and votes when it completes", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(0), c);
    d.start();
    const a = c.child(c.genesis, 1n);
    const b = c.child(a, 2n);
    d.message(1, c.proposalMsg(a), { execute: false });
    let out = d.message(2, c.proposalMsg(b), { execute: false });
    expect(votes(out)).toHaveLength(0);
    out = d.step({ type: "executed", blockHash: a.hash, stateRoot: a.root }, { execute: false });
    expect(votes(out)).toEqual([expect.objectContaining({ to: "all", value: expect.objectContaining({ view: 2n }) })]);
  });
});

describe("observers and limits", () => {
  it("an observer (no validator index) follows, executes and commits, but never signs", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(null), c);
    d.start();
    const a = c.child(c.genesis, 1n);
    const b = c.child(a, 2n);
    const cc = c.child(b, 3n);
    const dd = c.child(cc, 4n);
    const out: ConsensusAction[] = [];
    for (const [from, blk] of [[1, a], [2, b], [3, cc], [0, dd]] as const) out.push(...d.message(from, c.proposalMsg(blk)));
    out.push(...d.step({ type: "timer", view: d.core.view }));
    expect(ofType(out, "send")).toHaveLength(0);
    expect(ofType(out, "persistSafety")).toHaveLength(0);
    expect(ofType(out, "commit").flatMap((x) => x.blocks.map((y) => y.block.header.height))).toEqual([1n]);
  });

  it("a leader whose payload would exceed maxBlockBytes proposes an empty block instead", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(1, { maxBlockBytes: 1200 }), c);
    const boot = d.start();
    expect(ofType(boot, "needPayload")).toHaveLength(1);
    const big = { ...c.invocation(), input: new Uint8Array(2000) };
    const out = d.step({ type: "payload", view: 1n, parentHash: c.genesis.hash, invocations: [big] });
    const [p] = sentOfType(out, "proposal");
    expect(p!.value.block.invocations).toHaveLength(0);
    expect(ofType(out, "log").map((l) => l.code)).toContain("payload_too_large");
  });
});

describe("commit rule", () => {
  it("commits only on a 3-chain of consecutive views, then everything below it at once", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(0), c);
    d.start();
    const a = c.child(c.genesis, 1n);
    const b = c.child(a, 2n);
    const cc = c.child(b, 4n); // view 3 failed
    const dd = c.child(cc, 5n);
    const e = c.child(dd, 6n);
    const f = c.child(e, 7n);
    const commits: ConsensusAction[] = [];
    commits.push(...ofType(d.message(1, c.proposalMsg(a)), "commit"));
    commits.push(...ofType(d.message(2, c.proposalMsg(b)), "commit"));
    commits.push(...ofType(d.message(0, c.proposalMsg(cc, { highTc: c.tc(3n, c.qcFor(b), [1, 2, 3]) })), "commit"));
    commits.push(...ofType(d.message(1, c.proposalMsg(dd)), "commit"));
    // QC(D) closes B(2) <- C(4) <- D(5): not consecutive, so nothing is final yet.
    commits.push(...ofType(d.message(2, c.proposalMsg(e)), "commit"));
    expect(commits).toHaveLength(0);
    expect(d.core.committedHeight).toBe(0n);
    // QC(E) closes C(4) <- D(5) <- E(6): C is final, and with it A and B.
    const out = d.message(3, c.proposalMsg(f));
    const [commit] = ofType(out, "commit");
    expect(commit!.blocks.map((x) => x.block.header.height)).toEqual([1n, 2n, 3n]);
    expect(commit!.blocks.map((x) => toHex(x.hash))).toEqual([a, b, cc].map((x) => toHex(x.hash)));
    expect(commit!.blocks.map((x) => toHex(x.stateRoot))).toEqual([a, b, cc].map((x) => toHex(x.root)));
    // Each committed block comes with the QC certifying it; the proof is the QC closing the 3-chain.
    expect(commit!.blocks.map((x) => x.qc.view)).toEqual([1n, 2n, 4n]);
    expect(commit!.proof.view).toBe(6n);
    expect(d.core.committedHeight).toBe(3n);
  });

  it("holds a decided block back until it is executed", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(0), c);
    d.start();
    const a = c.child(c.genesis, 1n);
    const b = c.child(a, 2n);
    const cc = c.child(b, 3n);
    const dd = c.child(cc, 4n);
    let out: ConsensusAction[] = [];
    for (const [from, blk] of [[1, a], [2, b], [3, cc], [0, dd]] as const) out.push(...d.message(from, c.proposalMsg(blk), { execute: false }));
    expect(ofType(out, "commit")).toHaveLength(0);
    out = d.step({ type: "executed", blockHash: a.hash, stateRoot: a.root }, { execute: false });
    expect(ofType(out, "commit")[0]!.blocks.map((x) => x.block.header.height)).toEqual([1n]);
  });

  it("throws ConsensusInvariantError when asked to commit a conflicting chain (more than f faulty)", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(0), c);
    d.start();
    const a1 = c.child(c.genesis, 1n);
    const a2 = c.child(a1, 2n);
    const a3 = c.child(a2, 3n);
    const a4 = c.child(a3, 4n);
    for (const blk of [a1, a2, a3, a4]) d.message(1, c.proposalMsg(blk), { execute: false }); // A1 decided, not yet executed
    const b1 = c.child(c.genesis, 5n, { justify: genesisBlockQc(c.genesis.hash) });
    const b2 = c.child(b1, 6n);
    const b3 = c.child(b2, 7n);
    const b4 = c.child(b3, 8n);
    d.message(1, c.proposalMsg(b1), { execute: false });
    d.message(1, c.proposalMsg(b2), { execute: false });
    d.message(1, c.proposalMsg(b3), { execute: false });
    expect(() => d.core.step({ type: "message", from: 0, message: c.proposalMsg(b4) })).toThrow(ConsensusInvariantError);
  });
});

describe("pacemaker", () => {
  it("a silent leader: timeouts form a TC and the next leader proposes with it", () => {
    const chain = new ChainBuilder(4);
    const cluster = new Cluster(chain);
    cluster.drop = (from) => from === 1; // leader of view 1 is cut off
    cluster.start();
    cluster.run();
    expect(cluster.nodes.map((n) => n.core.view)).toEqual([1n, 1n, 1n, 1n]);
    cluster.fireTimers();
    cluster.drop = (from, _to, m) => from === 1 && m.type === "proposal" && m.value.block.header.view === 1n;
    cluster.run(40);
    const proposals = cluster.nodes.flatMap((n) => n.log.flatMap((l) => sentOfType(l, "proposal")));
    const v2 = proposals.find((p) => p.value.block.header.view === 2n);
    expect(v2).toBeDefined();
    expect(v2!.value.highTc?.view).toBe(1n);
    expect(v2!.value.block.header.justify.view).toBe(0n);
    cluster.run(2000);
    for (const node of cluster.nodes) expect(node.committed.length).toBeGreaterThan(3);
  });

  it("backs off while no block commits, and returns to the base timeout once commits resume", () => {
    const chain = new ChainBuilder(4);
    const cluster = new Cluster(chain);
    cluster.drop = (_from, _to, m) => m.type === "proposal"; // no block can be certified
    cluster.start();
    for (let round = 0; round < 5; round++) {
      cluster.fireTimers();
      cluster.run(200);
    }
    const entry = (view: bigint) => cluster.nodes[0]!.log.flatMap((l) => ofType(l, "setTimer")).find((t) => t.view === view)!.ms;
    // View v is v - 3 views past the decided head (genesis). Only the leader of view 1 timed out holding the
    // QC of the view before, and that is genesis, which has nothing to execute: no evidence that views are too
    // short, so the exponent stops at FREE_BACKOFF = 1.
    expect([2n, 3n, 4n, 5n, 6n].map(entry)).toEqual([1000, 1000, 2000, 2000, 2000]);
    cluster.drop = () => false;
    cluster.fireTimers();
    cluster.run(3000);
    for (const node of cluster.nodes) {
      expect(node.committed.length).toBeGreaterThan(3);
      expect(node.timer!.ms).toBe(1000);
    }
  });

  /** The timer armed on entering each view (re-sends excluded), collected from a driver's actions. */
  function entryTimers() {
    const timers = new Map<bigint, number>();
    return {
      timers,
      note(out: ConsensusAction[]): ConsensusAction[] {
        for (const t of ofType(out, "setTimer")) if (!timers.has(t.view)) timers.set(t.view, t.ms);
        return out;
      },
    };
  }

  /** Drives validator 0 through views 1..last, each ending by a TC of timeouts from others (not the leader). */
  function leaderlessViews(c: ChainBuilder, d: Driver, last: bigint, note: (o: ConsensusAction[]) => ConsensusAction[]): void {
    const g = genesisBlockQc(c.genesis.hash);
    for (let v = d.core.view; v <= last; v++) {
      const others = [1, 2, 3].filter((i) => i !== d.core.leader(v)).slice(0, 2);
      for (const s of others) note(d.message(s, { type: "timeout", value: c.timeout(s, v, g) }));
      expect(d.core.view).toBe(v + 1n);
    }
  }

  it("views that fail without a leader holding a fresh QC raise the timer only to twice the base", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(0, { maxTimeoutMs: 1e9 }), c);
    const { timers, note } = entryTimers();
    note(d.start());
    // Leaders 1..3 are down; validator 0 leads views 4, 8, 12 but never holds a QC to build on.
    leaderlessViews(c, d, 12n, note);
    expect([...timers.values()].slice(0, 4)).toEqual([1000, 1000, 1000, 2000]);
    expect(Math.max(...timers.values())).toBe(2000);
    expect(timers.get(13n)).toBe(2000); // ten views past the decided head: base * 2^10 before this rule
  });

  /**
   * Odd views 1..11 certify a block (with one invocation, or none); the leader of the next view times out still
   * holding that QC. QC and TC alternate, so nothing commits. Returns the timer armed on entering each view.
   */
  function leaderTimeoutsHoldingQc(invocations: "one" | "none"): Map<bigint, number> {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(0, { maxTimeoutMs: 1e9 }), c);
    const { timers, note } = entryTimers();
    note(d.start());
    let parent = c.genesis;
    for (let v = 1n; v <= 11n; v += 2n) {
      const b = invocations === "one" ? c.child(parent, v) : c.child(parent, v, { invocations: [] });
      const qc = c.qcFor(b);
      note(d.message(d.core.leader(v), c.proposalMsg(b)));
      const next = v + 1n;
      const leader = d.core.leader(next);
      const signers = leader === 0 ? [1, 2] : [leader, [1, 2, 3].find((i) => i !== leader)!];
      for (const s of signers) note(d.message(s, { type: "timeout", value: c.timeout(s, next, qc) }));
      expect(d.core.view).toBe(next + 1n);
      parent = b;
    }
    expect(d.core.committedHeight).toBe(0n);
    return timers;
  }

  it("keeps doubling while leaders holding the previous view's QC time out (views too short for execution)", () => {
    // As when a leader cannot execute the certified block in time.
    const timers = leaderTimeoutsHoldingQc("one");
    // View 13 is ten views past the decided head with six such views: base * 2^min(10, 1 + 6).
    expect(timers.get(13n)).toBe(128_000);
    const odd = [3n, 5n, 7n, 9n, 11n, 13n].map((v) => timers.get(v)!);
    for (let i = 1; i < odd.length; i++) expect(odd[i]!).toBeGreaterThan(odd[i - 1]!);
  });

  it("leaders holding the QC of an empty block that time out (an idle chain proposes nothing) do not raise it", () => {
    // The same views with empty blocks: nothing to execute, so the exponent stays at FREE_BACKOFF = 1.
    const timers = leaderTimeoutsHoldingQc("none");
    expect(Math.max(...[3n, 5n, 7n, 9n, 11n, 13n].map((v) => timers.get(v)!))).toBe(2000);
  });

  it("a restarted validator does not inherit the backoff of the views it lived through", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(0, { maxTimeoutMs: 1e9 }), c);
    d.start();
    let parent = c.genesis;
    for (let v = 1n; v <= 9n; v += 2n) {
      const b = c.child(parent, v);
      const qc = c.qcFor(b);
      d.message(d.core.leader(v), c.proposalMsg(b));
      const next = v + 1n;
      const leader = d.core.leader(next);
      const signers = leader === 0 ? [1, 2] : [leader, [1, 2, 3].find((i) => i !== leader)!];
      for (const s of signers) d.message(s, { type: "timeout", value: c.timeout(s, next, qc) });
      parent = b;
    }
    expect(d.core.view).toBe(11n);
    const before = ofType(d.step({ type: "timer", view: 11n }), "setTimer")[0]!.ms; // a re-send: base
    expect(before).toBe(1000);
    const restarted = new ConsensusCore(c.config(0, { maxTimeoutMs: 1e9 }), { ...c.initial(), safety: d.core.safetyState() }, fakeCrypto(0));
    const [armed] = ofType(restarted.start(), "setTimer");
    expect(armed!.view).toBe(11n);
    // Eight views past the decided head, but none of the leader timeouts that justified growth is known here.
    expect(armed!.ms).toBe(2000);
  });

  it("joins a timeout once f + 1 others have timed out its view", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(0), c);
    d.start();
    const g = genesisBlockQc(c.genesis.hash);
    let out = d.message(2, { type: "timeout", value: c.timeout(2, 1n, g) });
    expect(sentOfType(out, "timeout")).toHaveLength(0);
    out = d.message(3, { type: "timeout", value: c.timeout(3, 1n, g) });
    const [t] = sentOfType(out, "timeout");
    expect(t!.value.view).toBe(1n);
    // With its own, that is n - f = 3: a TC, so it moves to view 2.
    expect(d.core.view).toBe(2n);
    expect(indexOf(out, (a) => a.type === "persistSafety")).toBeLessThan(indexOf(out, (a) => a.type === "send"));
  });

  it("catches up to a higher view from any valid QC or TC and re-sends the same timeout on later expiries", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(3, { maxTimeoutMs: 1e9 }), c);
    d.start();
    const a = c.child(c.genesis, 1n);
    const qc = c.qcFor(a);
    // A timeout for view 9 carrying a TC for view 8 moves a validator stuck in view 1 straight to view 9.
    d.message(1, { type: "timeout", value: c.timeout(1, 9n, qc, c.tc(8n, qc, [0, 1, 2])) });
    expect(d.core.view).toBe(9n);
    const out1 = d.step({ type: "timer", view: 9n });
    const out2 = d.step({ type: "timer", view: 9n });
    const [t1] = sentOfType(out1, "timeout");
    const [t2] = sentOfType(out2, "timeout");
    expect(encode(ConsensusMessage, { type: "timeout", value: t1!.value })).toEqual(encode(ConsensusMessage, { type: "timeout", value: t2!.value }));
    expect(ofType(out2, "persistSafety")).toHaveLength(0);
    // Re-sends wait the base timeout (the view has failed here already; a returning peer should hear soon).
    const timers = [...ofType(out1, "setTimer"), ...ofType(out2, "setTimer")].map((t) => t.ms);
    expect(timers).toEqual([1000, 1000]);
    // The timer of a view we already left is ignored.
    expect(d.step({ type: "timer", view: 3n })).toEqual([]);
    // A timeout attaches the certificate that justifies its view, so receivers that are behind can follow.
    expect(t1!.value.highTc?.view).toBe(8n);
    expect(d.core.leader(9n)).toBe(1);
  });
});

describe("unexpected errors", () => {
  it("an error inside a handler that is not a refused input throws ConsensusInvariantError instead of being logged", () => {
    const c = new ChainBuilder(4);
    const crypto = fakeCrypto(0);
    let broken = false;
    const core = new ConsensusCore(c.config(0), c.initial(), {
      sign: (d) => crypto.sign(d),
      verify: (sig, d, pk) => {
        if (broken) throw new TypeError("verifier crashed");
        return crypto.verify(sig, d, pk);
      },
    });
    const d = new Driver(core, c);
    d.start();
    const a = c.child(c.genesis, 1n);
    broken = true;
    let thrown: unknown = null;
    try {
      d.message(1, c.proposalMsg(a));
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ConsensusInvariantError);
    expect((thrown as Error).message).toMatch(/unexpected error handling message: verifier crashed/);
  });
});

describe("blocks from elsewhere", () => {
  it("fetches an unknown parent, buffers the proposal, and votes once sync delivers the parent", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(0), c);
    d.start();
    const a = c.child(c.genesis, 1n);
    const b = c.child(a, 2n);
    let out = d.message(2, c.proposalMsg(b));
    expect(ofType(out, "fetch").map((f) => toHex(f.hash))).toEqual([toHex(a.hash)]);
    expect(ofType(out, "fetch")[0]!.hint).toEqual([2]);
    expect(votes(out)).toHaveLength(0);
    expect(d.core.view).toBe(2n);
    out = d.step({ type: "blockFromSync", block: a.block, from: 2 });
    expect(ofType(out, "persistBlock").map((p) => p.block.header.height)).toEqual([1n, 2n]);
    expect(votes(out)).toEqual([expect.objectContaining({ to: "all", value: expect.objectContaining({ view: 2n }) })]);
  });

  it("ignores synced blocks nobody asked for and nobody certified, accepts certified ones", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(0), c);
    d.start();
    const a = c.child(c.genesis, 1n);
    let out = d.step({ type: "blockFromSync", block: a.block });
    expect(ofType(out, "persistBlock")).toHaveLength(0);
    out = d.step({ type: "blockFromSync", block: a.block, qc: c.qcFor(a) });
    expect(ofType(out, "persistBlock")).toHaveLength(1);
    expect(d.core.view).toBe(2n);
  });

  it("re-requests missing blocks on timer expiry", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(0), c);
    d.start();
    const a = c.child(c.genesis, 1n);
    const b = c.child(a, 2n);
    d.message(2, c.proposalMsg(b));
    const out = d.step({ type: "timer", view: 2n });
    expect(ofType(out, "fetch").map((f) => toHex(f.hash))).toEqual([toHex(a.hash)]);
  });

  it("asks again for the oldest missing ancestor when views move on without its timer firing", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(0), c);
    d.start();
    const a = c.child(c.genesis, 1n);
    const b = c.child(a, 2n);
    const cc = c.child(b, 3n);
    expect(ofType(d.message(2, c.proposalMsg(b)), "fetch").map((f) => toHex(f.hash))).toEqual([toHex(a.hash)]);
    // C's parent B is buffered: what is missing is still A, requested again once in the new view.
    const out = d.message(3, c.proposalMsg(cc));
    expect(ofType(out, "fetch").map((f) => [toHex(f.hash), f.hint])).toEqual([[toHex(a.hash), [2, 3]]]);
    expect(ofType(d.message(3, c.proposalMsg(cc)), "fetch")).toHaveLength(0);
  });
});

describe("proposal validation", () => {
  const c = new ChainBuilder(4);
  const a = c.child(c.genesis, 1n);

  function check(what: string, msg: ConsensusMessage, code: string, cfg = {}) {
    const d = new Driver(c.core(0, cfg), c);
    d.start();
    const out = d.message(1, msg);
    expect(votes(out), what).toHaveLength(0);
    expect(ofType(out, "persistBlock"), what).toHaveLength(0);
    expect(ofType(out, "misbehaviour").map((m) => m.code), what).toEqual([code]);
  }

  function edited(edit: (b: Block) => Block, view = 1n) {
    const blk = c.rebuilt(edit(a.block), c.genesis.root);
    return c.proposalMsg(blk, { signer: Number(view % 4n) });
  }

  it("rejects each invalid proposal with a misbehaviour report and without voting", () => {
    check("wrong chain", edited((b) => ({ ...b, header: { ...b.header, chainId: "other-chain" } })), "wrong_chain");
    check("format version", edited((b) => ({ ...b, header: { ...b.header, formatVersion: 9 } })), "malformed");
    check("proposer not the leader", c.proposalMsg(c.rebuilt({ ...a.block, header: { ...a.block.header, proposer: c.validators[2]! } }, c.genesis.root), { signer: 2 }), "wrong_proposer");
    check("signature by another key", c.proposalMsg(a, { signer: 2 }), "bad_signature");
    check("invocations root", edited((b) => ({ ...b, invocations: [c.invocation()] })), "invalid_block");
    check("justify not the parent", edited((b) => ({ ...b, header: { ...b.header, parentHash: new Uint8Array(32).fill(1) } })), "invalid_block");
    check(
      "justify with too few signatures",
      edited((b) => ({ ...b, header: { ...b.header, height: 2n, parentHash: a.hash, justify: c.qcFor(a, [0, 1]), view: 2n, proposer: c.validators[2]! } }), 2n),
      "invalid_certificate",
    );
    check("height does not follow the parent", edited((b) => ({ ...b, header: { ...b.header, height: 5n } })), "invalid_block");
    check("block too large", c.proposalMsg(a), "too_large", { maxBlockBytes: 200 });
  });

  it("rejects a block with more deploys than a block may carry, and votes for one at the limit", () => {
    const deploy = () => ({ ...c.invocation(), contract: BUILTIN_DEPLOY, method: "deploy" });
    const over = c.child(c.genesis, 1n, { invocations: Array.from({ length: LIMITS.maxDeploysPerBlock + 1 }, deploy) });
    const d1 = new Driver(c.core(0), c);
    d1.start();
    const out1 = d1.message(1, c.proposalMsg(over));
    expect(ofType(out1, "misbehaviour").map((m) => m.code)).toEqual(["invalid_block"]);
    expect(votes(out1)).toHaveLength(0);
    const atLimit = c.child(c.genesis, 1n, { invocations: Array.from({ length: LIMITS.maxDeploysPerBlock }, deploy) });
    const d2 = new Driver(c.core(0), c);
    d2.start();
    const out2 = d2.message(1, c.proposalMsg(atLimit));
    expect(ofType(out2, "misbehaviour")).toHaveLength(0);
    expect(votes(out2)).toHaveLength(1);
  });

  it("rejects a justify whose view is not the parent's view", () => {
    const d = new Driver(c.core(0), c);
    d.start();
    d.message(1, c.proposalMsg(a));
    // A QC for A signed as if A were from view 2 (all keys are forgeable here): a valid-looking QC that lies.
    const lying = c.qc(2n, a.hash);
    const blk = c.child(a, 3n, { justify: lying });
    const out = d.message(3, c.proposalMsg(blk));
    expect(ofType(out, "misbehaviour").map((m) => m.code)).toEqual(["invalid_block"]);
    expect(votes(out)).toHaveLength(0);
  });
});

describe("hostile input", () => {
  it("never throws on garbage and keeps working afterwards", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(0), c);
    d.start();
    const a = c.child(c.genesis, 1n);
    const valid = encode(ConsensusMessage, c.proposalMsg(a));
    let seed = 12345;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    let reports = 0;
    for (let i = 0; i < 400; i++) {
      let bytes: Uint8Array;
      if (i % 3 === 0) bytes = Uint8Array.from({ length: Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256));
      else if (i % 3 === 1) bytes = valid.slice(0, Math.floor(rnd() * valid.length));
      else {
        bytes = valid.slice();
        for (let k = 0; k < 3; k++) bytes[Math.floor(rnd() * bytes.length)] ^= 1 << Math.floor(rnd() * 8);
      }
      const out = d.step({ type: "message", from: 1, message: bytes });
      reports += ofType(out, "misbehaviour").length;
      expect(ofType(out, "commit")).toHaveLength(0);
    }
    expect(reports).toBeGreaterThan(300);
    expect(ofType(d.step({ type: "message", from: 77, message: valid }), "misbehaviour")[0]!.code).toBe("unknown_peer");
    expect(d.step({ type: "message", from: 1, message: { type: "vote", value: { view: 1n, blockHash: a.hash, signer: 999, signature: new Uint8Array(64) } } })).toHaveLength(1);
    expect(d.step({ type: "executed", blockHash: new Uint8Array(32), stateRoot: new Uint8Array(32) })).toEqual([]);
    expect(d.step({ type: "payload", view: 42n, parentHash: new Uint8Array(32), invocations: [] })).toEqual([]);
    expect(d.step({ type: "timer", view: 1234n })).toEqual([]);
    expect(() => d.step({ type: "nonsense" } as never)).not.toThrow();
    // Still a working validator.
    const out = d.message(1, c.proposalMsg(a));
    expect(votes(out)).toHaveLength(1);
  });
});

describe("restart", () => {
  function persisted(actions: ConsensusAction[][]) {
    let safety: SafetyStateT | null = null;
    const blocks = new Map<string, Block>();
    for (const list of actions) {
      for (const a of list) {
        if (a.type === "persistSafety") safety = decode(SafetyState, encode(SafetyState, a.state));
        if (a.type === "persistBlock") blocks.set(toHex(a.hash), a.block);
      }
    }
    return { safety, blocks: [...blocks.values()] };
  }

  it("a validator killed after voting never votes again in that view, nor signs a second timeout", () => {
    const c = new ChainBuilder(4);
    const log: ConsensusAction[][] = [];
    const d = new Driver(c.core(0), c);
    log.push(d.start());
    const x = c.child(c.genesis, 1n);
    const y = c.child(c.genesis, 1n);
    const first = d.message(1, c.proposalMsg(x));
    log.push(first);
    expect(votes(first)).toHaveLength(1);

    const p = persisted(log);
    const restarted = new Driver(new ConsensusCore(c.config(0), { committed: { block: c.genesis.block, stateRoot: c.genesis.root }, safety: p.safety, blocks: p.blocks }, fakeCrypto(0)), c);
    const boot = restarted.start();
    expect(ofType(boot, "execute").map((e) => toHex(e.hash))).toEqual([toHex(x.hash)]);
    expect(restarted.core.view).toBe(1n);
    expect(votes(restarted.message(1, c.proposalMsg(y)))).toHaveLength(0);
    expect(votes(restarted.message(1, c.proposalMsg(x)))).toHaveLength(0);

    // Time out in view 1, crash, restart: the timeout re-sent is the very same signed message.
    const t1 = restarted.step({ type: "timer", view: 1n });
    const [sent1] = sentOfType(t1, "timeout");
    const p2 = persisted([...log, t1]);
    const again = new Driver(new ConsensusCore(c.config(0), { committed: { block: c.genesis.block, stateRoot: c.genesis.root }, safety: p2.safety, blocks: p2.blocks }, fakeCrypto(0)), c);
    again.start();
    const [sent2] = sentOfType(again.step({ type: "timer", view: 1n }), "timeout");
    expect(bytesEqual(sent1!.value.signature, sent2!.value.signature)).toBe(true);
    // The re-sent timeout still counts toward the TC: with two more, that is n - f.
    const g = genesisBlockQc(c.genesis.hash);
    again.message(2, { type: "timeout", value: c.timeout(2, 1n, g) });
    expect(again.core.view).toBe(1n);
    again.message(3, { type: "timeout", value: c.timeout(3, 1n, g) });
    expect(again.core.view).toBe(2n);
  });

  it("starts above genesis without a safety state from the committed head's QC, and refuses without it", () => {
    const c = new ChainBuilder(4);
    const a = c.child(c.genesis, 1n);
    const core = new ConsensusCore(c.config(0), { committed: { block: a.block, stateRoot: a.root, qc: c.qcFor(a) }, safety: null, blocks: [] }, fakeCrypto(0));
    core.start();
    expect(core.view).toBe(2n);
    expect(core.committedHeight).toBe(1n);
    expect(() => new ConsensusCore(c.config(0), { committed: { block: a.block, stateRoot: a.root }, safety: null, blocks: [] }, fakeCrypto(0))).toThrow(ConsensusConfigError);
  });

  it("a restarted leader never proposes twice in one view", () => {
    const c = new ChainBuilder(4);
    const d = new Driver(c.core(1), c);
    const log = [d.start()];
    const need = ofType(log[0]!, "needPayload");
    expect(need).toHaveLength(1);
    log.push(d.step({ type: "payload", view: 1n, parentHash: c.genesis.hash, invocations: [c.invocation()] }));
    expect(sentOfType(log[1]!, "proposal")).toHaveLength(1);
    const p = persisted(log);
    const r = new Driver(new ConsensusCore(c.config(1), { committed: { block: c.genesis.block, stateRoot: c.genesis.root }, safety: p.safety, blocks: p.blocks }, fakeCrypto(1)), c);
    const boot = r.start();
    expect(ofType(boot, "needPayload")).toHaveLength(0);
    expect(sentOfType(r.step({ type: "payload", view: 1n, parentHash: c.genesis.hash, invocations: [] }), "proposal")).toHaveLength(0);
  });

  it("resumes from a committed head above genesis with its uncommitted blocks", () => {
    const c = new ChainBuilder(4);
    const cluster = new Cluster(c);
    cluster.start();
    cluster.run(600);
    const node = cluster.nodes[2]!;
    const p = persisted(node.log);
    const head = node.committed[node.committed.length - 1]!;
    const committedKeys = new Set(node.committed.map((b) => toHex(c.rebuilt(b, new Uint8Array(32)).hash)));
    const pending = p.blocks.filter((b) => !committedKeys.has(toHex(c.rebuilt(b, new Uint8Array(32)).hash)) && b.header.height > head.header.height);
    const headRoot = node.roots.get(toHex(c.rebuilt(head, new Uint8Array(32)).hash))!;
    const core = new ConsensusCore(c.config(2), { committed: { block: head, stateRoot: headRoot }, safety: p.safety, blocks: pending }, fakeCrypto(2));
    const boot = core.start();
    expect(core.committedHeight).toBe(head.header.height);
    expect(core.view).toBeGreaterThanOrEqual(p.safety!.view);
    expect(core.view).toBeLessThanOrEqual(node.core.view);
    expect(ofType(boot, "execute").length).toBeGreaterThan(0);
  });
});

describe("codecs and real signatures", () => {
  it("round-trips every consensus message and the safety state", () => {
    const c = new ChainBuilder(4);
    const a = c.child(c.genesis, 1n);
    const qc = c.qcFor(a);
    const tc = c.tc(2n, qc, [0, 1, 3]);
    const msgs: ConsensusMessage[] = [
      c.proposalMsg(c.child(a, 3n), { highTc: tc }),
      { type: "vote", value: c.vote(2, a) },
      { type: "timeout", value: c.timeout(1, 3n, qc, tc) },
    ];
    for (const m of msgs) expect(decode(ConsensusMessage, encode(ConsensusMessage, m))).toEqual(m);
    const s: SafetyStateT = { view: 3n, lastVotedView: 2n, lastProposedView: 1n, lastTimeout: c.timeout(1, 3n, qc, tc), lockedQc: qc, highQc: qc, highTc: tc };
    expect(decode(SafetyState, encode(SafetyState, s))).toEqual(s);
    expect(() => decode(ConsensusMessage, new Uint8Array([7]))).toThrow();
  });

  /** Four validators of the real core with libsodium keys; `verify` may wrap the strict check per validator. */
  function sodiumCluster(verify: (i: number, signers: SodiumSigner[]) => typeof verifyStrict = () => verifyStrict) {
    const signers = [1, 2, 3, 4].map((i) => new SodiumSigner(new Uint8Array(32).fill(i)));
    const chain = new ChainBuilder(4, signers.map((s) => s.publicKey));
    return new Cluster(chain, (i) => ({ sign: (d) => signers[i]!.sign(d), verify: verify(i, signers) }));
  }

  it("four validators with libsodium ed25519 keys commit", () => {
    const cluster = sodiumCluster();
    cluster.start();
    cluster.run(400);
    for (const node of cluster.nodes) expect(node.committed.length).toBeGreaterThan(3);
    expect(ofType(cluster.nodes.flatMap((n) => n.log.flat()), "misbehaviour")).toHaveLength(0);
  });

  it("never spends a verification on its own vote coming back inside a QC", () => {
    const own = [0, 0, 0, 0];
    const others = [0, 0, 0, 0];
    const cluster = sodiumCluster((i, signers) => (sig, digest, pk) => {
      if (bytesEqual(pk, signers[i]!.publicKey)) own[i]!++;
      else others[i]!++;
      return verifyStrict(sig, digest, pk);
    });
    cluster.start();
    cluster.run(400);
    for (const node of cluster.nodes) expect(node.committed.length).toBeGreaterThan(3);
    expect(own).toEqual([0, 0, 0, 0]);
    for (const n of others) expect(n).toBeGreaterThan(0);
  });
});
