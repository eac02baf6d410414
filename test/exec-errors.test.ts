// How execution failures are classified for fail-fast: a broken rule of the execution layer itself is
// ExecError 'invariant' (fatal at once), an environmental failure a retry may cure is 'unavailable' (transient).
// A fake ContractVm produces each failure on demand; the chain, state and executor are the real ones.

import { afterEach, describe, expect, it, vi } from "vitest";
import { ExecError, isTransientExecError, type ExecErrorCode } from "../node/exec/index.ts";
import type { CompileOutcome, ContractVm, VmCallRequest, VmCallResult } from "../node/exec/vm-adapter.ts";
import { StoreError } from "../node/store/errors.ts";
import { deploy, sign, signer, testGenesis, transfer } from "./fixtures/exec/chain.ts";
import { TestChain } from "./fixtures/exec/harness.ts";

const alice = signer(1);
const GENESIS = testGenesis([{ account: alice.publicKey, balance: 10_000_000_000n }]);
const TOOLCHAIN = "asc-0.28.20+sdk-2";
const CODE_HASH = new Uint8Array(32).fill(0xc0);
const SOURCES = { "fake.ts": "export function run(): void {}" };

class FakeMissing {
  constructor(readonly key: Uint8Array) {}
}

type CallBehaviour = "missing_without_key" | "new_key_every_run" | "ok";

/** A vm whose compile and call fail (or not) as a test asks. */
class FakeVm implements ContractVm {
  compileCrash = false;
  callBehaviour: CallBehaviour = "ok";
  /** Module bytes compile returns (empty: the deploy stores no code, which only a broken vm could do). */
  wasm = new Uint8Array([0, 97, 115, 109]);
  held = true;
  private runs = 0;

  supportedToolchains(): readonly string[] {
    return [TOOLCHAIN];
  }

  compile(): Promise<CompileOutcome> {
    if (this.compileCrash) return Promise.reject(new Error("compiler worker exited with code 134"));
    return Promise.resolve({ ok: true, wasm: this.wasm, codeHash: CODE_HASH, work: { units: 0, codeBytes: 0 } });
  }

  validate(): string | null {
    return null;
  }

  hasCode(): boolean {
    return this.held;
  }

  call(request: VmCallRequest): VmCallResult {
    if (this.callBehaviour === "missing_without_key") throw this.missingState(new Uint8Array([1]));
    if (this.callBehaviour === "new_key_every_run") request.state.get(new Uint8Array([this.runs++ & 0xff, 7]));
    return { status: "ok", gasUsed: 10n, output: new Uint8Array(0), error: null, reads: [], writes: [] };
  }

  missingState(key: Uint8Array): unknown {
    return new FakeMissing(key);
  }

  missingKey(error: unknown): Uint8Array | null {
    return error instanceof FakeMissing ? error.key : null;
  }
}

let chain: TestChain | null = null;
afterEach(async () => {
  await chain?.close();
  chain = null;
});

async function withDeployed(vm: FakeVm, options: { maxStateRetries?: number } = {}): Promise<TestChain> {
  chain = await TestChain.open(GENESIS, vm, { preloadState: false, stateCacheBytes: 0, ...options });
  const [d] = await chain.run([deploy(alice, "fake", 1, SOURCES, 0n)]);
  expect(d!.status).toBe("ok");
  return chain;
}

function callFake(nonce: bigint) {
  return sign(alice, { contract: "fake", method: "run", nonce, gasLimit: 100_000n });
}

async function executionError(c: TestChain, nonce: bigint): Promise<ExecError> {
  const err = await c.ex.executeBlock(c.next([callFake(nonce)])).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ExecError);
  return err as ExecError;
}

describe("exec errors: invariant vs unavailable", () => {
  it("a vm that stops for missing state without naming a key is an invariant failure, not transient", async () => {
    const vm = new FakeVm();
    const c = await withDeployed(vm);
    vm.callBehaviour = "missing_without_key";
    const err = await executionError(c, 1n);
    expect(err.code).toBe("invariant");
    expect(err.message).toContain("missing state without a key");
    expect(isTransientExecError(err)).toBe(false);
    // Nothing of the failed block is kept: it is not an executed block.
    expect(c.ex.pendingBlocks()).toHaveLength(0);
  });

  it("code of a deployed version absent from the state is an invariant failure", async () => {
    const vm = new FakeVm();
    // Empty module bytes: the deploy's code write is a deletion, so the version record names code that is not there.
    vm.wasm = new Uint8Array(0);
    const c = await withDeployed(vm);
    // A fresh executor has no module bytes in memory and the vm holds none: the code must come from the state.
    await c.reopen({ preloadState: false, stateCacheBytes: 0 });
    vm.held = false;
    const err = await executionError(c, 1n);
    expect(err.code).toBe("invariant");
    expect(err.message).toMatch(/code [0-9a-f]{64} of fake v1 is missing from the state/);
  });

  it("a compiler crash fails the block as 'unavailable' (transient), never as a receipt", async () => {
    const vm = new FakeVm();
    vm.compileCrash = true;
    chain = await TestChain.open(GENESIS, vm);
    const err = await chain.ex.executeBlock(chain.next([deploy(alice, "fake", 1, SOURCES, 0n)])).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ExecError);
    expect((err as ExecError).code).toBe("unavailable");
    expect((err as ExecError).message).toContain("compiler worker exited");
    expect(isTransientExecError(err)).toBe(true);
    expect(chain.ex.pendingBlocks()).toHaveLength(0);
    // Once the compiler works again the same block executes.
    vm.compileCrash = false;
    const ok = await chain.ex.executeBlock(chain.next([deploy(alice, "fake", 1, SOURCES, 0n)]));
    expect(ok.receipts[0]!.status).toBe("ok");
  });

  it("an invocation still missing state after the re-run bound is 'unavailable'", async () => {
    const vm = new FakeVm();
    const c = await withDeployed(vm, { maxStateRetries: 3 });
    vm.callBehaviour = "new_key_every_run";
    const err = await executionError(c, 1n);
    expect(err.code).toBe("unavailable");
    expect(err.message).toBe("invocation still missing state after 3 re-runs");
    expect(isTransientExecError(err)).toBe(true);
  });

  it("an I/O error reading committed state fails the block as 'unavailable', and the block executes on a retry", async () => {
    // No cache: every account the block touches is read from RocksDB.
    chain = await TestChain.open(GENESIS, new FakeVm(), { preloadState: false, stateCacheBytes: 0 });
    const block = chain.next([transfer(alice, signer(2).publicKey, 5n, 0n)]);
    const read = vi.spyOn(chain.store, "getState").mockRejectedValueOnce(new StoreError("io", "read of 'S' failed: EIO"));
    const err = await chain.ex.executeBlock(block).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ExecError);
    expect((err as ExecError).code).toBe("unavailable");
    expect((err as ExecError).cause).toBeInstanceOf(StoreError);
    expect(isTransientExecError(err)).toBe(true);
    expect(chain.ex.pendingBlocks()).toHaveLength(0);
    read.mockRestore();
    const retried = await chain.ex.executeBlock(block);
    expect(retried.receipts[0]!.status).toBe("ok");
  });

  it("isTransientExecError is true only for ExecError 'unavailable'", () => {
    const codes: ExecErrorCode[] = ["bad_genesis", "unknown_parent", "bad_block", "not_executed", "state_diverged", "unavailable", "invariant", "replay_mismatch", "closed"];
    expect(codes.filter((code) => isTransientExecError(new ExecError(code, "x")))).toEqual(["unavailable"]);
    expect(isTransientExecError(new Error("unavailable"))).toBe(false);
    expect(isTransientExecError({ code: "unavailable" })).toBe(false);
    expect(isTransientExecError(null)).toBe(false);
  });
});
