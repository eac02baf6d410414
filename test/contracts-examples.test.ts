// The example contracts, compiled from contracts/examples/ and run through the real runtime.
import { beforeAll, describe, expect, it } from "vitest";
import { loadContract, type LoadedContract } from "../vm/index.ts";
import { ALICE, BOB, MemoryState, call, compileExample, hex, text } from "./vm-runtime-helpers.ts";

const CAROL = new Uint8Array(32).fill(0xc3);
const contracts: Record<string, LoadedContract> = {};
const modules: Record<string, Uint8Array> = {};

beforeAll(async () => {
  for (const name of ["counter", "token", "registry", "bench"]) {
    modules[name] = await compileExample(name);
    contracts[name] = loadContract(modules[name]);
  }
});

describe("counter", () => {
  it("increments, adds, reads and refuses to overflow", () => {
    const c = contracts.counter!;
    const state = new MemoryState();
    expect(["1", "2", "3"].map(() => text(call(c, "increment", { state })))).toEqual(["1", "2", "3"]);
    expect(text(call(c, "add", { input: "39", state }))).toBe("42");
    expect(text(call(c, "get", { state }))).toBe("42");
    const overflow = call(c, "add", { input: "18446744073709551615", state });
    expect([overflow.status, overflow.error]).toEqual(["reverted", "counter overflow"]);
    expect(call(c, "add", { input: "4x", state }).error).toBe("not a decimal u64: '4x'");
    expect(text(call(c, "get", { state }))).toBe("42");
  });
});

describe("token", () => {
  const arg = (who: Uint8Array, amount: string | number) => `${hex(who)} ${amount}`;

  it("mints, transfers, reports balances and supply; only the owner mints", () => {
    const t = contracts.token!;
    const state = new MemoryState();
    expect(call(t, "init", { state }).status).toBe("ok");
    expect(text(call(t, "owner", { state }))).toBe(hex(ALICE));
    expect(call(t, "init", { state, invoker: BOB }).error).toBe("already initialized");
    expect(text(call(t, "mint", { input: arg(ALICE, 1000), state }))).toBe("1000");
    const notOwner = call(t, "mint", { input: arg(BOB, 5), state, invoker: BOB });
    expect([notOwner.status, notOwner.error]).toEqual(["reverted", "only the owner can mint"]);
    expect(text(call(t, "transfer", { input: arg(BOB, 250), state }))).toBe("750");
    expect(text(call(t, "balanceOf", { input: hex(BOB), state }))).toBe("250");
    expect(text(call(t, "balanceOf", { state, invoker: BOB }))).toBe("250");
    expect(text(call(t, "balanceOf", { input: hex(CAROL), state }))).toBe("0");
    expect(text(call(t, "totalSupply", { state }))).toBe("1000");
    // Sending to oneself changes nothing.
    expect(text(call(t, "transfer", { input: arg(BOB, 250), state, invoker: BOB }))).toBe("250");
  });

  it("an insufficient balance reverts and leaves every balance as it was", () => {
    const t = contracts.token!;
    const state = new MemoryState();
    call(t, "mint", { input: arg(ALICE, 100), state });
    const before = new Map(state.data);
    const r = call(t, "transfer", { input: arg(BOB, 101), state });
    expect([r.status, r.error, r.writes]).toEqual(["reverted", "insufficient balance", []]);
    expect(state.data).toEqual(before);
    expect(text(call(t, "balanceOf", { input: hex(ALICE), state }))).toBe("100");
    // A transfer that empties the account deletes its balance key instead of storing zero.
    const all = call(t, "transfer", { input: arg(BOB, 100), state });
    expect(all.writes.filter((w) => w.value.length === 0).length).toBe(1);
  });

  it("rejects malformed input with a clear message", () => {
    const t = contracts.token!;
    expect(call(t, "transfer", { input: "abc 1" }).error).toBe("account must be 64 hex digits");
    expect(call(t, "transfer", { input: hex(BOB) }).error).toBe("input must be '<account hex> <amount>'");
    expect(call(t, "transfer", { input: arg(BOB, 0) }).error).toBe("amount must be positive");
  });
});

describe("registry", () => {
  it("registers, resolves, transfers and releases names; only owners manage them", () => {
    const r = contracts.registry!;
    const state = new MemoryState();
    expect(call(r, "register", { input: "cairn", state }).status).toBe("ok");
    expect(call(r, "register", { input: "cairn", state, invoker: BOB }).error).toBe("name taken");
    expect(call(r, "register", { input: "Bad Name", state }).error).toBe("name may only contain a-z, 0-9 and '-'");
    expect(text(call(r, "lookup", { input: "cairn", state }))).toBe(hex(ALICE));
    expect(call(r, "lookup", { input: "nobody", state }).error).toBe("name not registered");
    expect(call(r, "setValue", { input: "cairn https://example.org/x y", state }).status).toBe("ok");
    expect(text(call(r, "resolve", { input: "cairn", state }))).toBe("https://example.org/x y");
    expect(call(r, "setValue", { input: "cairn stolen", state, invoker: BOB }).error).toBe("only the owner of 'cairn' can do this");
    expect(call(r, "transfer", { input: `cairn ${hex(BOB)}`, state }).status).toBe("ok");
    expect(text(call(r, "lookup", { input: "cairn", state }))).toBe(hex(BOB));
    expect(call(r, "release", { input: "cairn", state }).error).toBe("only the owner of 'cairn' can do this");
    expect(call(r, "release", { input: "cairn", state, invoker: BOB }).status).toBe("ok");
    expect(state.data.size).toBe(0);
    expect(call(r, "register", { input: "cairn", state, invoker: CAROL }).status).toBe("ok");
  });
});

describe("bench", () => {
  it("runs deterministically, metered or not", () => {
    const b = contracts.bench!;
    const a1 = call(b, "run", { input: "2", gas: 1_000_000_000n });
    const a2 = call(b, "run", { input: "2", gas: 1_000_000_000n });
    expect(a1.status).toBe("ok");
    expect([text(a2), a2.gasUsed]).toEqual([text(a1), a1.gasUsed]);
    expect(a1.writes.length).toBe(16);
    const unmetered = loadContract(modules.bench!, { metered: false });
    const u = call(unmetered, "run", { input: "2" });
    expect([u.status, text(u), u.gasUsed]).toEqual(["ok", text(a1), 0n]);
  });
});
