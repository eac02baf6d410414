// What a leader proposes and when: at once when the pool holds work a block can carry or an uncommitted ancestor
// carries invocations (their commit needs the next blocks), otherwise nothing, so an idle chain does not grow
// (it wrote two empty blocks a second before, 170,000 a day). Pooled invocations that cannot be selected (a nonce
// gap) are not work: one of them made a leader propose at once, every view, and an idle network wrote blocks as
// fast as it could (1.9 -> 282 a second).

import { describe, expect, it } from "vitest";
import type { Block, Invocation, SignedInvocation } from "../node/codec/types.ts";
import type { ConsensusEvent } from "../node/consensus/index.ts";
import { invocationSigningDigest } from "../node/crypto/digests.ts";
import { SodiumSigner } from "../node/crypto/sodium.ts";
import { Mempool } from "../node/mempool/index.ts";
import { InlineVerifier } from "../node/mempool/verify.ts";
import type { CommitPipeline } from "../node/validator/commit-pipeline.ts";
import { PayloadBuilder } from "../node/validator/payload.ts";
import type { Clock } from "../node/validator/ports.ts";

const alice = new SodiumSigner(new Uint8Array(32).fill(3));

function transfer(nonce: bigint): SignedInvocation {
  const inv: Invocation = { chainId: "c", contract: "bank", version: 0, method: "transfer", input: new Uint8Array(40), invoker: alice.publicKey, nonce, gasLimit: 10_000n, gasPrice: 1n };
  return { ...inv, signature: alice.sign(invocationSigningDigest(inv)) };
}

/** A clock whose timers and deferred calls run only when the test says so. */
class ManualClock implements Clock {
  timers: Array<{ ms: number; fn: () => void; live: boolean }> = [];
  deferred: Array<() => void> = [];
  now(): number {
    return 0;
  }
  after(ms: number, fn: () => void) {
    const t = { ms, fn, live: true };
    this.timers.push(t);
    return { cancel: () => void (t.live = false) };
  }
  every() {
    return { cancel: () => undefined };
  }
  defer(fn: () => void): void {
    this.deferred.push(fn);
  }
  runDeferred(): void {
    for (const fn of this.deferred.splice(0)) fn();
  }
  fire(): void {
    for (const t of this.timers.splice(0)) if (t.live) t.fn();
  }
}

function setup() {
  const mempool = new Mempool({ chainId: "c", getAccount: async () => ({ balance: 1_000_000_000n, nonce: 0n }), verifier: new InlineVerifier() });
  const clock = new ManualClock();
  const events: ConsensusEvent[] = [];
  const commits = { inFlight: () => [][Symbol.iterator]() } as unknown as CommitPipeline;
  const builder = new PayloadBuilder(mempool, commits, { enqueue: (e) => events.push(e) }, clock, { maxBlockInvocations: 100, maxBlockBytes: 1 << 20 });
  const payloads = () => events.filter((e): e is Extract<ConsensusEvent, { type: "payload" }> => e.type === "payload");
  return { mempool, clock, builder, payloads };
}

const parent = new Uint8Array(32);

describe("when a leader proposes", () => {
  it("proposes at once when an invocation can be selected", async () => {
    const t = setup();
    await t.mempool.admit(transfer(0n));
    t.builder.build(5n, parent, []);
    expect(t.payloads()).toHaveLength(1);
    expect(t.payloads()[0]!.invocations).toHaveLength(1);
  });

  it("idle, the leader proposes nothing and sets no timer to: an idle chain writes no blocks", () => {
    const t = setup();
    t.builder.build(5n, parent, []);
    expect(t.payloads()).toHaveLength(0);
    expect(t.clock.timers).toHaveLength(0);
  });

  it("a gapped invocation alone is not work: the leader still proposes nothing", async () => {
    const t = setup();
    await t.mempool.admit(transfer(3n)); // nonces 0..2 missing: never selectable
    expect(t.mempool.size).toBe(1);
    t.builder.build(5n, parent, []);
    await t.mempool.admit(transfer(4n));
    t.builder.onWork();
    t.clock.runDeferred();
    expect(t.payloads()).toHaveLength(0);
    expect(t.clock.timers).toHaveLength(0);
  });

  it("work that can be selected, arriving while the leader idles, is proposed at once, once", async () => {
    const t = setup();
    t.builder.build(5n, parent, []);
    expect(t.payloads()).toHaveLength(0);
    await t.mempool.admit(transfer(0n));
    t.builder.onWork();
    t.clock.runDeferred();
    expect(t.payloads()).toHaveLength(1);
    expect(t.payloads()[0]!.invocations).toHaveLength(1);
    t.builder.onWork();
    t.clock.runDeferred();
    expect(t.payloads()).toHaveLength(1);
  });

  it("an uncommitted ancestor carrying invocations needs the next block at once, even with nothing to add", () => {
    const t = setup();
    const ancestor = { header: { height: 1n }, invocations: [transfer(0n)] } as unknown as Block;
    t.builder.build(5n, parent, [ancestor]);
    expect(t.payloads()).toHaveLength(1);
    expect(t.payloads()[0]!.invocations).toEqual([]);
  });
});
