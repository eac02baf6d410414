import { afterAll, describe, expect, it } from "vitest";
import { encode, SignedInvocation, toHex } from "../node/codec/index.ts";
import { invocationId, invocationIdOfEncoding, invocationSigningDigest, invocationSigningDigestOfEncoding } from "../node/crypto/digests.ts";
import { SodiumSigner } from "../node/crypto/sodium.ts";
import { CairnError } from "../node/errors.ts";
import { Mempool } from "../node/mempool/mempool.ts";
import { InlineVerifier, verifyEncoded } from "../node/mempool/verify.ts";
import { WorkerPoolVerifier, createVerifier } from "../node/mempool/verify-pool.ts";
import type { AccountView, MempoolOptions, NonceDisplaced, PoolEntry } from "../node/mempool/types.ts";
import { invocationSigner } from "./helpers/invocations.ts";

const CHAIN = "testnet";
const alice = new SodiumSigner(new Uint8Array(32).fill(1));
const bob = new SodiumSigner(new Uint8Array(32).fill(2));
const carol = new SodiumSigner(new Uint8Array(32).fill(3));

const sign = invocationSigner({ chainId: CHAIN, input: new Uint8Array([1, 2, 3]), gasLimit: 1000n });

function pool(accounts = new Map<string, AccountView>(), opts: Partial<MempoolOptions> = {}): Mempool {
  return new Mempool({
    chainId: CHAIN,
    getAccount: async (pk) => accounts.get(toHex(pk)) ?? { balance: 1_000_000n, nonce: 0n },
    verifier: new InlineVerifier(),
    ...opts,
  });
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { code: string }).code;
  }
  throw new Error("expected a refusal");
}

const ids = (es: PoolEntry[]): string[] => es.map((e) => `${e.invokerHex === toHex(alice.publicKey) ? "A" : e.invokerHex === toHex(bob.publicKey) ? "B" : "C"}${e.inv.nonce}`);

describe("mempool admission", () => {
  it("runs the costly gate (a deploy's compile) only for what passes the cheap checks, and refuses with its error", async () => {
    const never = new SodiumSigner(new Uint8Array(32).fill(7));
    const accounts = new Map<string, AccountView>([
      [toHex(never.publicKey), { balance: 0n, nonce: 0n }],
      [toHex(bob.publicKey), { balance: 1_000_000n, nonce: 5n }],
    ]);
    const gated: string[] = [];
    const mp = pool(accounts, {
      gate: (inv) => {
        if (inv.contract !== "deploy") return null;
        gated.push(`${toHex(inv.invoker).slice(0, 2)}${inv.nonce}`);
        return Promise.resolve(inv.method === "crash" ? new CairnError("unavailable", "the compiler crashed") : null);
      },
    });
    const deploy = (s: SodiumSigner, nonce: bigint, method = "deploy") => sign(s, nonce, { contract: "deploy", method });
    const outcomes = await mp.admitBatch([
      deploy(never, 0n), // never funded: refused without compiling
      deploy(bob, 4n), // nonce already used: refused without compiling
      { ...deploy(alice, 0n), signature: new Uint8Array(64) }, // bad signature: never reaches the gate
      deploy(alice, 0n),
      deploy(alice, 1n, "crash"),
      sign(alice, 2n),
    ]);
    expect(outcomes.map((o) => (o.ok ? "ok" : o.error.code))).toEqual(["insufficient_balance", "nonce_used", "bad_signature", "ok", "unavailable", "ok"]);
    expect(gated).toEqual([`${toHex(alice.publicKey).slice(0, 2)}0`, `${toHex(alice.publicKey).slice(0, 2)}1`]);
  });

  it("admits a valid invocation once, remembers it verified and announces it", async () => {
    const mp = pool();
    const seen: string[] = [];
    mp.onAdmitted((es) => seen.push(...es.map((e) => e.idHex)));
    const inv = sign(alice, 0n);
    const id = await mp.admit(inv);
    expect(id).toEqual(invocationId(inv));
    expect(mp.isPending(id)).toBe(true);
    expect(mp.isVerified(toHex(id))).toBe(true);
    expect(seen).toEqual([toHex(id)]);
    expect(mp.size).toBe(1);
    expect(mp.bytes).toBe(encode(SignedInvocation, inv).length);
    expect(await refusal(mp.admit(inv))).toBe("duplicate");
    // Peers' invocations are admitted with the same checks but not re-announced.
    const fromPeer = await mp.admitFromPeer([sign(bob, 0n)]);
    expect(fromPeer[0]!.ok).toBe(true);
    expect(seen).toHaveLength(1);
    expect(mp.nextNonce(alice.publicKey)).toBe(1n);
    expect(mp.nextNonce(carol.publicKey)).toBeNull();
  });

  it("hands back a pooled invocation for its exact encoding only (what proposal decoding reuses)", async () => {
    const mp = pool();
    const inv = sign(alice, 0n);
    await mp.admit(inv);
    const bytes = encode(SignedInvocation, inv);
    expect(mp.heldEncoding(bytes)).toBe(inv);
    expect(mp.heldEncoding(bytes.slice())).toBe(inv);
    expect(mp.heldEncoding(encode(SignedInvocation, sign(alice, 1n)))).toBeUndefined();
    const flipped = bytes.slice();
    flipped[flipped.length - 1]! ^= 1;
    expect(mp.heldEncoding(flipped)).toBeUndefined();
    expect(mp.heldEncoding(bytes.subarray(0, 10))).toBeUndefined();
  });

  it("refuses each kind of bad invocation with its code and keeps nothing", async () => {
    const accounts = new Map([[toHex(alice.publicKey), { balance: 5000n, nonce: 3n }]]);
    const mp = pool(accounts, { maxInvocationBytes: 400, maxPerInvoker: 10, maxNonceGap: 9 });
    const tampered = { ...sign(alice, 3n), method: "dec" };
    const cases: Array<[string, SignedInvocation]> = [
      ["bad_signature", tampered],
      ["wrong_chain", sign(alice, 3n, { chainId: "otherchain" })],
      ["invalid_invocation", sign(alice, 3n, { gasLimit: 0n })],
      ["invalid_invocation", sign(alice, 3n, { gasLimit: 1n << 40n, gasPrice: 1n << 40n })],
      ["too_large", sign(alice, 3n, { input: new Uint8Array(500) })],
      ["malformed", { ...sign(alice, 3n), signature: new Uint8Array(10) }],
      ["nonce_used", sign(alice, 2n)],
      ["nonce_gap", sign(alice, 13n)],
      ["insufficient_balance", sign(alice, 3n, { gasLimit: 5001n })],
    ];
    const outcomes = await mp.admitBatch(cases.map(([, inv]) => inv));
    expect(outcomes.map((o) => (o.ok ? "ok" : o.error.code))).toEqual(cases.map(([code]) => code));
    expect(mp.size).toBe(0);
    expect(mp.isVerified(invocationId(tampered))).toBe(false);
  });

  it("refuses a second invocation for a pending (invoker, nonce) at the same price and duplicates inside one batch", async () => {
    const mp = pool();
    await mp.admit(sign(alice, 0n));
    expect(await refusal(mp.admit(sign(alice, 0n)))).toBe("duplicate");
    expect(await refusal(mp.admit(sign(alice, 0n, { gasLimit: 999n })))).toBe("replacement_underpriced");
    const inv = sign(bob, 0n);
    const out = await mp.admitBatch([inv, inv]);
    expect(out.map((o) => (o.ok ? "ok" : o.error.code))).toEqual(["ok", "duplicate"]);
    // Two concurrent batches racing for the same id: exactly one wins.
    const x = sign(carol, 0n);
    const [r1, r2] = await Promise.all([mp.admitBatch([x]), mp.admitBatch([x])]);
    expect([r1![0]!.ok, r2![0]!.ok].sort()).toEqual([false, true]);
    expect(mp.size).toBe(3);
  });

  it("charges the maximum fees of all pending invocations of an invoker against its balance", async () => {
    const accounts = new Map([[toHex(alice.publicKey), { balance: 2500n, nonce: 0n }]]);
    const mp = pool(accounts);
    await mp.admit(sign(alice, 0n)); // 1000
    await mp.admit(sign(alice, 1n)); // 2000
    expect(await refusal(mp.admit(sign(alice, 2n)))).toBe("insufficient_balance");
    await mp.admit(sign(alice, 2n, { gasLimit: 500n })); // exactly 2500
  });

  it("refuses a gas price below the chain's floor with gas_price_too_low, before reading the account", async () => {
    let reads = 0;
    const mp = pool(new Map(), { minGasPrice: 2n, getAccount: async () => (reads++, { balance: 1_000_000n, nonce: 0n }) });
    const err = await mp.admit(sign(alice, 0n, { gasPrice: 0n })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CairnError);
    expect(err).toMatchObject({ code: "gas_price_too_low", httpStatus: 400, message: "gasPrice 0 is below the chain's minimum gas price 2" });
    expect(await refusal(mp.admit(sign(alice, 0n, { gasPrice: 1n })))).toBe("gas_price_too_low");
    expect(reads).toBe(0);
    expect(mp.size).toBe(0);
    await mp.admit(sign(alice, 0n, { gasPrice: 2n }));
    // Without a floor (a genesis that predates it) a zero price is admitted, as before.
    await pool().admit(sign(alice, 0n, { gasPrice: 0n }));
  });

  it("refuses every invocation of a never-funded key once the floor is at least 1", async () => {
    const mp = pool(new Map([[toHex(carol.publicKey), { balance: 0n, nonce: 0n }]]), { minGasPrice: 1n });
    expect(await refusal(mp.admit(sign(carol, 0n, { gasPrice: 0n })))).toBe("gas_price_too_low");
    expect(await refusal(mp.admit(sign(carol, 0n, { gasPrice: 1n, gasLimit: 1n })))).toBe("insufficient_balance");
    expect(mp.size).toBe(0);
  });

  it("is bounded per invoker and in total, refusing with mempool_full when nothing cheaper can be evicted", async () => {
    const mp = pool(undefined, { maxPerInvoker: 3, maxTotal: 4 });
    for (let n = 0n; n < 3n; n++) await mp.admit(sign(alice, n));
    expect(await refusal(mp.admit(sign(alice, 3n)))).toBe("too_many_pending");
    await mp.admit(sign(bob, 0n));
    const err: unknown = await mp.admit(sign(carol, 0n)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe("mempool_full");
    expect((err as CairnError).message).toMatch(/full/);
    const bytesCapped = pool(undefined, { maxTotalBytes: 300 });
    await bytesCapped.admit(sign(alice, 0n));
    expect(await refusal(bytesCapped.admit(sign(bob, 0n)))).toBe("mempool_full");
  });

  it("reports an unreadable account as unavailable", async () => {
    const mp = new Mempool({
      chainId: CHAIN,
      verifier: new InlineVerifier(),
      getAccount: async () => {
        throw new Error("disk on fire");
      },
    });
    expect(await refusal(mp.admit(sign(alice, 0n)))).toBe("unavailable");
    expect(mp.size).toBe(0);
    const throwsAtOnce = new Mempool({
      chainId: CHAIN,
      verifier: new InlineVerifier(),
      getAccount: () => {
        throw new Error("not even a promise");
      },
    });
    expect(await refusal(throwsAtOnce.admit(sign(alice, 0n)))).toBe("unavailable");
  });
});

describe("signatures checked once per id", () => {
  /** Counts what reaches the verifier; each call resolves only when released, to hold checks in flight. */
  class GatedVerifier extends InlineVerifier {
    checked: number[] = [];
    private gates: Array<() => void> = [];
    override async verify(items: ReadonlyArray<{ encoded: Uint8Array; publicKey: Uint8Array }>): Promise<boolean[]> {
      this.checked.push(items.length);
      await new Promise<void>((r) => this.gates.push(r));
      return super.verify(items);
    }
    release(): void {
      for (const g of this.gates.splice(0)) g();
    }
  }

  it("a block's invocations share the check their admission started, and later admissions skip it", async () => {
    const verifier = new GatedVerifier();
    const mp = pool(undefined, { verifier });
    const invs = [sign(alice, 0n), sign(bob, 0n)];
    const admitting = mp.admitFromPeer(invs);
    await new Promise((r) => setImmediate(r));
    const forBlock = mp.verifyForBlock([...invs, sign(carol, 0n)]);
    await new Promise((r) => setImmediate(r));
    expect(verifier.checked).toEqual([2, 1]); // carol alone is new
    verifier.release();
    await new Promise((r) => setImmediate(r));
    verifier.release();
    expect((await admitting).every((o) => o.ok)).toBe(true);
    await forBlock;
    for (const inv of [...invs, sign(carol, 0n)]) expect(mp.isVerified(invocationId(inv))).toBe(true);
    expect((await mp.admitFromPeer([sign(carol, 0n)]))[0]!.ok).toBe(true);
    expect(verifier.checked).toEqual([2, 1]);
  });

  it("leaves a forged signature unverified for execution to reject", async () => {
    const mp = pool();
    const forged = { ...sign(alice, 0n), signature: sign(bob, 0n).signature };
    await mp.verifyForBlock([forged, sign(bob, 0n)]);
    expect(mp.isVerified(invocationId(forged))).toBe(false);
    expect(mp.isVerified(invocationId(sign(bob, 0n)))).toBe(true);
  });
});

describe("mempool readiness and selection", () => {
  it("selects an invoker's invocations only in unbroken nonce order from the committed nonce", async () => {
    const mp = pool();
    await mp.admit(sign(alice, 2n));
    await mp.admit(sign(alice, 0n));
    expect(ids(mp.select({ maxCount: 100, maxBytes: 1e9 }))).toEqual(["A0"]);
    await mp.admit(sign(alice, 1n));
    expect(ids(mp.select({ maxCount: 100, maxBytes: 1e9 }))).toEqual(["A0", "A1", "A2"]);
  });

  it("takes at most maxDeploys deploys, a deploy past it ending its invoker's turn (later nonces depend on it)", async () => {
    const mp = pool();
    const deploy = (s: SodiumSigner, n: bigint) => sign(s, n, { contract: "deploy", method: "deploy" });
    await mp.admit(deploy(alice, 0n));
    await mp.admit(deploy(bob, 0n));
    await mp.admit(sign(bob, 1n));
    await mp.admit(deploy(carol, 0n));
    await mp.admit(sign(carol, 1n));
    await mp.admit(sign(alice, 1n));
    expect(ids(mp.select({ maxCount: 100, maxBytes: 1e9 }))).toEqual(["A0", "B0", "C0", "A1", "B1", "C1"]);
    expect(ids(mp.select({ maxCount: 100, maxBytes: 1e9, maxDeploys: 2 }))).toEqual(["A0", "B0", "A1", "B1"]);
    expect(ids(mp.select({ maxCount: 100, maxBytes: 1e9, maxDeploys: 0 }))).toEqual([]);
  });

  it("takes invokers round-robin, oldest first, within count and byte limits", async () => {
    const mp = pool();
    await mp.admit(sign(bob, 0n));
    for (let n = 0n; n < 4n; n++) await mp.admit(sign(alice, n));
    await mp.admit(sign(bob, 1n));
    await mp.admit(sign(carol, 0n));
    expect(ids(mp.select({ maxCount: 100, maxBytes: 1e9 }))).toEqual(["B0", "A0", "C0", "B1", "A1", "A2", "A3"]);
    expect(ids(mp.select({ maxCount: 4, maxBytes: 1e9 }))).toEqual(["B0", "A0", "C0", "B1"]);
    const size = mp.entries()[0]!.size;
    expect(ids(mp.select({ maxCount: 100, maxBytes: 2 * size }))).toEqual(["B0", "A0"]);
    // The same pool contents in the same arrival order give the same selection.
    const again = pool();
    await again.admit(sign(bob, 0n));
    for (let n = 0n; n < 4n; n++) await again.admit(sign(alice, n));
    await again.admit(sign(bob, 1n));
    await again.admit(sign(carol, 0n));
    expect(again.select({ maxCount: 100, maxBytes: 1e9 }).map((e) => e.idHex)).toEqual(
      mp.select({ maxCount: 100, maxBytes: 1e9 }).map((e) => e.idHex),
    );
  });

  it("skips invocations already in uncommitted ancestors but counts them as ahead", async () => {
    const mp = pool();
    const a0 = sign(alice, 0n);
    await mp.admit(a0);
    await mp.admit(sign(alice, 1n));
    await mp.admit(sign(bob, 1n)); // bob's nonce 0 is in a peer's proposal we never saw
    expect(ids(mp.select({ maxCount: 10, maxBytes: 1e9 }))).toEqual(["A0", "A1"]);
    const sel = mp.select({ maxCount: 10, maxBytes: 1e9, exclude: new Set([toHex(invocationId(a0))]), ahead: [sign(bob, 0n)] });
    expect(ids(sel)).toEqual(["A1", "B1"]);
  });

  it("after commit removes included invocations and evicts stale and unaffordable ones", async () => {
    const accounts = new Map<string, AccountView>([
      [toHex(alice.publicKey), { balance: 10_000n, nonce: 0n }],
      [toHex(bob.publicKey), { balance: 10_000n, nonce: 0n }],
    ]);
    const mp = pool(accounts);
    const a0 = sign(alice, 0n);
    await mp.admitBatch([a0, sign(alice, 1n), sign(alice, 2n), sign(bob, 0n), sign(bob, 1n), sign(carol, 0n)]);
    // Block: alice's 0 and 1 (a different nonce-1 invocation than the pooled one), and bob's 0, which
    // spent most of bob's balance.
    const otherA1 = sign(alice, 1n, { method: "other" });
    accounts.set(toHex(alice.publicKey), { balance: 8_000n, nonce: 2n });
    accounts.set(toHex(bob.publicKey), { balance: 500n, nonce: 1n });
    const res = await mp.onCommitted([{ inv: a0, id: invocationId(a0) }, otherA1, sign(bob, 0n)], { height: 5n });
    // Included a0, b0; the pooled a1 displaced by otherA1 (not merely evicted); b1 evicted (unaffordable).
    const a1 = invocationId(sign(alice, 1n));
    expect(res).toEqual({ included: 2, evicted: 1, displaced: [{ id: a1, idHex: toHex(a1), by: invocationId(otherA1), height: 5n }] });
    expect(mp.displacedBy(a1)).toEqual(res.displaced[0]);
    expect(mp.displacedBy(invocationId(sign(bob, 1n)))).toBeUndefined();
    expect(ids(mp.select({ maxCount: 10, maxBytes: 1e9 })).sort()).toEqual(["A2", "C0"]);
    expect(mp.size).toBe(2);
    // Committed ids leave the verified set (it holds what may still execute, not history); the pooled ones stay.
    expect(mp.isVerified(invocationId(a0))).toBe(false);
    expect(mp.isVerified(invocationId(sign(alice, 2n)))).toBe(true);
    // The next admission of a used nonce is refused from the refreshed account.
    expect(await refusal(mp.admit(sign(alice, 1n, { method: "third" })))).toBe("nonce_used");
  });
});

describe("displacement", () => {
  it("records a pending invocation displaced by one admitted while the commit read accounts", async () => {
    const accounts = new Map<string, AccountView>([[toHex(alice.publicKey), { balance: 10_000n, nonce: 0n }]]);
    const mp = pool(accounts);
    await mp.admit(sign(alice, 1n));
    // Another validator's block uses nonce 0; this pool's own nonce-0 invocation arrives while the commit's
    // account read is in flight, so its admission still sees nonce 0 free.
    const foreign = sign(alice, 0n, { method: "foreign" });
    let release!: () => void;
    const read = new Promise<void>((r) => (release = r));
    const cleanup = mp.onCommitted([foreign], {
      height: 9n,
      getAccount: async () => {
        await read;
        return { balance: 9_000n, nonce: 1n };
      },
    });
    const mine = sign(alice, 0n);
    await mp.admit(mine);
    release();
    const res = await cleanup;
    expect(res.displaced).toEqual([{ id: invocationId(mine), idHex: toHex(invocationId(mine)), by: invocationId(foreign), height: 9n }]);
    expect(res.evicted).toBe(0);
    expect(mp.isPending(invocationId(mine))).toBe(false);
    expect((mp.displacedBy(toHex(invocationId(mine))) as NonceDisplaced | undefined)?.height).toBe(9n);
  });

  it("remembers only the most recent displacements (bounded)", async () => {
    const accounts = new Map<string, AccountView>([[toHex(alice.publicKey), { balance: 1_000_000n, nonce: 0n }]]);
    const mp = pool(accounts, { displacedMemory: 2 });
    const mine = [sign(alice, 0n), sign(alice, 1n), sign(alice, 2n)];
    await mp.admitBatch(mine);
    const theirs = [0n, 1n, 2n].map((n) => sign(alice, n, { method: "theirs" }));
    accounts.set(toHex(alice.publicKey), { balance: 1_000_000n, nonce: 3n });
    const res = await mp.onCommitted(theirs, { height: 4n });
    expect(res.displaced.map((d) => d.idHex)).toEqual(mine.map((inv) => toHex(invocationId(inv))));
    expect(mp.displacedBy(invocationId(mine[0]!))).toBeUndefined();
    expect((mp.displacedBy(invocationId(mine[1]!)) as NonceDisplaced | undefined)?.by).toEqual(invocationId(theirs[1]!));
    expect((mp.displacedBy(invocationId(mine[2]!)) as NonceDisplaced | undefined)?.by).toEqual(invocationId(theirs[2]!));
    expect(() => pool(accounts, { displacedMemory: 0 })).toThrow(RangeError);
  });
});

describe("signature verification paths", () => {
  const invs = [sign(alice, 0n), { ...sign(bob, 0n), nonce: 9n }, sign(carol, 5n), { ...sign(alice, 1n), invoker: bob.publicKey }];
  const items = invs.map((inv) => ({ encoded: encode(SignedInvocation, inv), publicKey: inv.invoker }));
  const expected = [true, false, true, false];
  const workers = new WorkerPoolVerifier({ workers: 2 });
  const coalescing = createVerifier({ workerThreshold: 3, workers: 1 });
  afterAll(async () => {
    await workers.close();
    await coalescing.close();
  });

  it("digests and ids taken from the signed encoding equal those of the invocation", () => {
    for (const inv of invs) {
      expect(invocationSigningDigestOfEncoding(encode(SignedInvocation, inv))).toEqual(invocationSigningDigest(inv));
      expect(invocationIdOfEncoding(encode(SignedInvocation, inv))).toEqual(invocationId(inv));
    }
    expect(verifyEncoded(new Uint8Array(10), alice.publicKey)).toBe(false);
  });

  it("inline, worker-pool and coalescing verifiers agree", async () => {
    expect(await new InlineVerifier().verify(items)).toEqual(expected);
    expect(await workers.verify(items)).toEqual(expected);
    // Three single requests in one turn coalesce into one batch of 3, which goes to the worker.
    const singles = await Promise.all(items.slice(0, 3).map((it) => coalescing.verify([it])));
    expect(singles).toEqual([[true], [false], [true]]);
    expect(await coalescing.verify(items)).toEqual(expected);
  });
});
