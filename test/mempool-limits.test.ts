// A mempool that strangers cannot clog: per-invoker limits, expiry of gapped invocations, eviction by fee when
// full, replacement at a higher price. The pool's clock is injected, so every timing here is exact.

import { describe, expect, it } from "vitest";
import { toHex, type SignedInvocation } from "../node/codec/index.ts";
import { invocationId } from "../node/crypto/digests.ts";
import { SodiumSigner } from "../node/crypto/sodium.ts";
import { CairnError } from "../node/errors.ts";
import { Mempool, minReplacementPrice } from "../node/mempool/mempool.ts";
import type { AccountView, Expired, MempoolOptions } from "../node/mempool/types.ts";
import { InlineVerifier } from "../node/mempool/verify.ts";
import { ReceiptWaiters } from "../node/receipt-waiters.ts";
import { invocationSigner } from "./helpers/invocations.ts";

const CHAIN = "testnet";
const keys = Array.from({ length: 16 }, (_, i) => new SodiumSigner(new Uint8Array(32).fill(i + 1)));
const [alice, bob, carol, dave, eve, frank] = keys as [SodiumSigner, SodiumSigner, SodiumSigner, SodiumSigner, SodiumSigner, SodiumSigner];

const sign = invocationSigner({ chainId: CHAIN, input: new Uint8Array([1, 2, 3]), gasLimit: 1000n });

const hexId = (inv: SignedInvocation): string => toHex(invocationId(inv));

/** A pool on a clock the test moves, every account funded at nonce 0 unless `accounts` says otherwise. */
function pool(opts: Partial<MempoolOptions> = {}, accounts = new Map<string, AccountView>()): { mp: Mempool; clock: { t: number }; dropped: Expired[] } {
  const clock = { t: 0 };
  const mp = new Mempool({
    chainId: CHAIN,
    getAccount: async (pk) => accounts.get(toHex(pk)) ?? { balance: 1_000_000_000n, nonce: 0n },
    verifier: new InlineVerifier(),
    now: () => clock.t,
    ...opts,
  });
  const dropped: Expired[] = [];
  mp.onDropped((ds) => dropped.push(...ds));
  return { mp, clock, dropped };
}

async function refusal(p: Promise<unknown>): Promise<CairnError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  if (!(e instanceof CairnError)) throw new Error(`expected a CairnError refusal, got ${String(e)}`);
  return e;
}

describe("per-invoker limits", () => {
  it("holds at most maxPerInvoker (16 by default) per invoker and refuses more with too_many_pending (429)", async () => {
    const { mp } = pool();
    for (let n = 0n; n < 16n; n++) await mp.admit(sign(alice, n));
    const e = await refusal(mp.admit(sign(alice, 16n)));
    expect(e.code).toBe("too_many_pending");
    expect(e.httpStatus).toBe(429);
    expect(mp.size).toBe(16);
    // Other invokers are not affected by one invoker's share.
    await mp.admit(sign(bob, 0n));
    expect(mp.size).toBe(17);
  });

  it("refuses a nonce that leaves more than maxNonceGap (16 by default) nonces missing with nonce_gap", async () => {
    const { mp } = pool();
    expect((await refusal(mp.admit(sign(alice, 17n)))).code).toBe("nonce_gap");
    await mp.admit(sign(alice, 16n)); // 0..15 missing: 16, the most allowed
    // The gap counts from the end of the invoker's contiguous pooled run, so pipelining is not limited by it.
    for (let n = 0n; n < 5n; n++) await mp.admit(sign(bob, n));
    await mp.admit(sign(bob, 21n)); // 5..20 missing
    const e = await refusal(mp.admit(sign(bob, 22n)));
    expect(e.code).toBe("nonce_gap");
    expect(e.httpStatus).toBe(400);
    const tight = pool({ maxNonceGap: 0 }).mp;
    expect((await refusal(tight.admit(sign(alice, 1n)))).code).toBe("nonce_gap");
    await tight.admit(sign(alice, 0n));
    await tight.admit(sign(alice, 1n));
  });
});

describe("expiry of gapped invocations", () => {
  it("drops gapped invocations gapExpiryMs after they arrived, recorded as expired, and never ready ones", async () => {
    const { mp, clock, dropped } = pool({ gapExpiryMs: 1000 });
    const a0 = sign(alice, 0n);
    const a2 = sign(alice, 2n);
    const b5 = sign(bob, 5n);
    const c1 = sign(carol, 1n);
    await mp.admitBatch([a0, a2, b5, c1]);
    clock.t = 500;
    const a1 = sign(alice, 1n);
    await mp.admit(a1); // fills alice's gap: a2 is ready now and must not expire
    clock.t = 999;
    expect(mp.expire()).toEqual([]);
    clock.t = 1000;
    const expired = mp.expire();
    expect(expired.map((d) => d.idHex).sort()).toEqual([hexId(b5), hexId(c1)].sort());
    expect(expired.every((d) => d.reason === "gap_timeout")).toBe(true);
    expect(dropped).toEqual(expired);
    expect(mp.size).toBe(3);
    expect(mp.isPending(hexId(b5))).toBe(false);
    expect(mp.displacedBy(hexId(b5))).toEqual({ id: invocationId(b5), idHex: hexId(b5), reason: "gap_timeout" });
    expect(mp.displacedBy(hexId(a2))).toBeUndefined();
    // Expired ones free their invoker's share: bob can start over from his next nonce.
    await mp.admit(sign(bob, 0n));
    clock.t = 1_000_000;
    expect(mp.expire()).toEqual([]);
  });

  it("answers a waiter of an expiring invocation at once, and one that asks later from the record", async () => {
    const { mp, clock } = pool({ gapExpiryMs: 60_000 });
    const waiters = new ReceiptWaiters(
      { isPending: (h) => mp.isPending(h), load: async () => null, displaced: (h) => mp.displacedBy(h) },
      () => ({ cancel: () => undefined }), // a wait that never times out: only the expiry can answer it
    );
    mp.onDropped((ds) => waiters.deliverDisplaced(ds));
    const gapped = sign(alice, 3n);
    await mp.admit(gapped);
    const early = waiters.wait([invocationId(gapped)], 30_000);
    clock.t = 60_000;
    mp.expire();
    expect(await early).toEqual([{ id: invocationId(gapped), idHex: hexId(gapped), reason: "gap_timeout" }]);
    expect(await waiters.wait([invocationId(gapped)], 30_000)).toEqual([{ id: invocationId(gapped), idHex: hexId(gapped), reason: "gap_timeout" }]);
  });

  it("defaults to 60 s on the injected clock", async () => {
    const { mp, clock } = pool();
    await mp.admit(sign(alice, 1n));
    clock.t = 59_999;
    expect(mp.expire()).toEqual([]);
    clock.t = 60_000;
    expect(mp.expire()).toHaveLength(1);
  });
});

describe("a full pool evicts by fee", () => {
  it("admits an honest ready invocation that pays more into a pool full of cheap gapped ones from many keys", async () => {
    const { mp, dropped } = pool({ maxTotal: 20 });
    const flood: SignedInvocation[] = [];
    for (const k of keys.slice(6, 16)) flood.push(sign(k, 1n), sign(k, 2n));
    const admitted = await mp.admitBatch(flood);
    expect(admitted.every((o) => o.ok)).toBe(true);
    expect(mp.size).toBe(20);
    // At the same price the newcomer is refused: it must pay more than what it would evict.
    const same = await refusal(mp.admit(sign(dave, 0n)));
    expect(same.code).toBe("mempool_full");
    expect(same.httpStatus).toBe(503);
    const honest = sign(dave, 0n, { gasPrice: 2n });
    await mp.admit(honest);
    expect(mp.isPending(hexId(honest))).toBe(true);
    expect(mp.size).toBe(20);
    // The victim: gapped, cheapest, newest of the ties, and its invoker's highest nonce.
    const victim = flood[flood.length - 1]!;
    expect(dropped).toEqual([{ id: invocationId(victim), idHex: hexId(victim), reason: "evicted" }]);
    expect(mp.displacedBy(hexId(victim))).toEqual(dropped[0]);
    expect(mp.select({ maxCount: 10, maxBytes: 1 << 20 }).map((e) => e.idHex)).toEqual([hexId(honest)]);
  });

  it("evicts gapped invocations before ready ones, from the tail, and never an account's next-ready one", async () => {
    const { mp, dropped } = pool({ maxTotal: 4 });
    const a0 = sign(alice, 0n);
    const a1 = sign(alice, 1n);
    const b3 = sign(bob, 3n, { gasPrice: 5n });
    const c0 = sign(carol, 0n);
    await mp.admitBatch([a0, a1, b3, c0]);
    // The gapped b3 goes first although the ready a1 pays less.
    await mp.admit(sign(dave, 0n, { gasPrice: 6n }));
    expect(dropped.map((d) => d.idHex)).toEqual([hexId(b3)]);
    // A newcomer paying less than b3 did would have been refused if b3 were the cheapest; now a1 (a ready
    // tail, not its account's next) is the cheapest evictable entry.
    await mp.admit(sign(eve, 0n, { gasPrice: 2n }));
    expect(dropped.map((d) => d.idHex)).toEqual([hexId(b3), hexId(a1)]);
    expect(mp.isPending(hexId(a0))).toBe(true);
    // Left: four next-ready invocations; none can be evicted, whatever the newcomer pays.
    const e = await refusal(mp.admit(sign(frank, 0n, { gasPrice: 100n })));
    expect(e.code).toBe("mempool_full");
    expect(mp.size).toBe(4);
  });

  it("evicts as many as the byte limit needs, each paying less than the newcomer", async () => {
    const probe = pool().mp;
    await probe.admit(sign(alice, 1n));
    const size = probe.bytes;
    const { mp, dropped } = pool({ maxTotalBytes: size * 3 });
    await mp.admitBatch([sign(alice, 1n), sign(bob, 1n), sign(carol, 1n)]);
    const big = sign(dave, 0n, { gasPrice: 3n, input: new Uint8Array(Math.floor(size / 2)) }); // about 1.5 entries: two must go
    await mp.admit(big);
    expect(dropped).toHaveLength(2);
    expect(mp.size).toBe(2);
    expect(mp.bytes).toBeLessThanOrEqual(size * 3);
  });
});

describe("a full pool evicts by fee, atomically", () => {
  it("evicts nothing for a newcomer it refuses, even when some entries it needed pay less", async () => {
    const probe = pool().mp;
    await probe.admit(sign(alice, 1n));
    const size = probe.bytes;
    const { mp, dropped } = pool({ maxTotalBytes: size * 3 });
    const cheap = sign(alice, 1n);
    await mp.admitBatch([cheap, sign(bob, 1n, { gasPrice: 5n }), sign(carol, 1n, { gasPrice: 5n })]);
    const big = sign(dave, 0n, { gasPrice: 3n, input: new Uint8Array(Math.floor(size / 2)) });
    expect((await refusal(mp.admit(big))).code).toBe("mempool_full");
    expect(dropped).toEqual([]);
    expect(mp.size).toBe(3);
    // The cheap one is still first in line for a newcomer that needs only one.
    await mp.admit(sign(eve, 0n, { gasPrice: 2n }));
    expect(dropped.map((d) => d.idHex)).toEqual([hexId(cheap)]);
  });

  it("follows commits: an entry made ready by a commit is evicted only after the gapped ones", async () => {
    const accounts = new Map<string, AccountView>();
    const { mp, dropped } = pool({ maxTotal: 3 }, accounts);
    const a0 = sign(alice, 0n);
    const a1 = sign(alice, 1n);
    const b2 = sign(bob, 2n, { gasPrice: 4n });
    await mp.admitBatch([a0, a1, b2]);
    // a0 commits: a1 becomes alice's next-ready one and may not be evicted; bob's gapped b2 is the victim.
    accounts.set(toHex(alice.publicKey), { balance: 1_000_000_000n, nonce: 1n });
    await mp.onCommitted([a0], { height: 1n });
    await mp.admit(sign(carol, 0n, { gasPrice: 2n }));
    await mp.admit(sign(dave, 0n, { gasPrice: 5n }));
    expect(dropped.map((d) => d.idHex)).toEqual([hexId(b2)]);
    expect(mp.isPending(hexId(a1))).toBe(true);
  });
});

describe("replacement", () => {
  it("replaces a pending invocation with a different one for its nonce paying at least 10% more", async () => {
    const { mp, dropped } = pool();
    const old = sign(alice, 0n, { gasPrice: 10n });
    await mp.admit(old);
    const samePrice = await refusal(mp.admit(sign(alice, 0n, { gasPrice: 10n, gasLimit: 999n })));
    expect(samePrice.code).toBe("replacement_underpriced");
    expect(samePrice.httpStatus).toBe(409);
    expect(samePrice.message).toMatch(/at least 11/);
    expect((await refusal(mp.admit(old))).code).toBe("duplicate");
    const better = sign(alice, 0n, { gasPrice: 11n });
    await mp.admit(better);
    expect(mp.size).toBe(1);
    expect(mp.isPending(hexId(old))).toBe(false);
    expect(mp.select({ maxCount: 10, maxBytes: 1 << 20 }).map((e) => e.idHex)).toEqual([hexId(better)]);
    const record = { id: invocationId(old), idHex: hexId(old), reason: "replaced", replacedBy: invocationId(better) };
    expect(dropped).toEqual([record]);
    expect(mp.displacedBy(hexId(old))).toEqual(record);
  });

  it("counts the replaced fee out of the invoker's pending fees", async () => {
    const accounts = new Map([[toHex(alice.publicKey), { balance: 2000n, nonce: 0n }]]);
    const { mp } = pool({}, accounts);
    await mp.admit(sign(alice, 0n, { gasLimit: 1000n, gasPrice: 1n }));
    await mp.admit(sign(alice, 0n, { gasLimit: 1000n, gasPrice: 2n })); // 2000: covered once the first leaves
    expect((await refusal(mp.admit(sign(alice, 0n, { gasLimit: 1000n, gasPrice: 3n })))).code).toBe("insufficient_balance");
  });

  it("states the rule as: at least 10% more, rounded up, and at least one more", () => {
    expect([0n, 1n, 9n, 10n, 100n, 101n].map(minReplacementPrice)).toEqual([1n, 2n, 10n, 11n, 110n, 112n]);
  });
});
