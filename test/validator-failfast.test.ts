// Fail fast in the validator's glue: a block that cannot be executed, an action that fails or a consensus
// step that throws stops the validator with one fatal log line; it is never logged and left behind (a block
// left unexecuted kept the core waiting for it forever: the validator never voted or committed again).

import { describe, expect, it } from "vitest";
import type { Block } from "../node/codec/types.ts";
import type { ConsensusAction, ConsensusCore, ConsensusEvent } from "../node/consensus/index.ts";
import { ExecError, type ExecutedBlock, type Executor } from "../node/exec/index.ts";
import type { Mempool } from "../node/mempool/index.ts";
import { BlockExecution, EXECUTION_ATTEMPTS } from "../node/validator/block-execution.ts";
import { EventPump } from "../node/validator/event-pump.ts";
import { Halt } from "../node/validator/halt.ts";
import type { Clock, Logger } from "../node/validator/ports.ts";
import { ReadModel, type ReadModelParts } from "../node/validator/read-model.ts";
import { StoreError } from "../node/store/index.ts";

function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const rec = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`);
  return { lines, info: rec("info"), warn: rec("warn"), error: rec("error") } as Logger & { lines: string[] };
}

/** Timers that fire on the next turn, whatever their delay: retries run without waiting out real time. */
const quickClock: Clock = {
  now: () => 0,
  after: (_ms, fn) => {
    const t = setImmediate(fn);
    return { cancel: () => clearImmediate(t) };
  },
  every: () => ({ cancel: () => undefined }),
  defer: (fn) => void setImmediate(fn),
};

const block = { header: { height: 7n }, invocations: [] } as unknown as Block;
const hash = new Uint8Array(32).fill(7);
const result: ExecutedBlock = { hash, height: 7n, stateRoot: new Uint8Array(32).fill(1), parentRoot: new Uint8Array(32), headerRootMatches: true, receipts: [] };
const mempool = { verifyForBlock: async () => undefined, isVerified: () => false } as unknown as Mempool;

function executing(outcomes: Array<Error | ExecutedBlock>) {
  const log = recordingLog();
  const halt = new Halt(log);
  const events: ConsensusEvent[] = [];
  let calls = 0;
  const executor = {
    executeBlock: async () => {
      const o = outcomes[Math.min(calls++, outcomes.length - 1)]!;
      if (o instanceof Error) throw o;
      return o;
    },
  } as unknown as Executor;
  const exec = new BlockExecution(executor, mempool, { enqueue: (e) => events.push(e) }, quickClock, halt, log);
  const settle = async () => {
    for (let i = 0; i < 50 && events.length === 0 && !halt.halted; i++) await new Promise((r) => setImmediate(r));
  };
  return { exec, halt, log, events, settle, calls: () => calls };
}

describe("block execution fails fast", () => {
  it("a block whose execution fails stops the validator with a fatal log line instead of being left unexecuted", async () => {
    const t = executing([new ExecError("bad_block", "block 7 is inconsistent with its parent")]);
    t.exec.execute(block, hash);
    await t.settle();
    expect(t.halt.halted).toBe(true);
    expect(t.halt.error?.message).toMatch(/inconsistent with its parent/);
    expect(t.log.lines.filter((l) => l.startsWith("error fatal"))).toHaveLength(1);
    expect(t.log.lines[0]).toMatch(/executing block 7/);
    expect(t.events).toEqual([]);
    expect(t.calls()).toBe(1);
  });

  it("an environmental failure (compiler crash, I/O) is retried, and the block then executes", async () => {
    const crash = new ExecError("unavailable", "compile worker exited");
    const t = executing([crash, crash, result]);
    t.exec.execute(block, hash);
    await t.settle();
    expect(t.halt.halted).toBe(false);
    expect(t.calls()).toBe(3);
    expect(t.events).toEqual([{ type: "executed", blockHash: hash, stateRoot: result.stateRoot }]);
    expect(t.log.lines.filter((l) => l.includes("retrying"))).toHaveLength(2);
  });

  it("retries are bounded: a failure that persists becomes fatal", async () => {
    const t = executing([new ExecError("unavailable", "compile worker exited")]);
    t.exec.execute(block, hash);
    await t.settle();
    expect(t.halt.halted).toBe(true);
    expect(t.calls()).toBe(EXECUTION_ATTEMPTS);
    expect(t.events).toEqual([]);
  });
});

describe("the event pump fails fast", () => {
  function pumping(step: (ev: ConsensusEvent) => ConsensusAction[], apply: (a: ConsensusAction[]) => Promise<void>) {
    const log = recordingLog();
    const halt = new Halt(log);
    const core = { start: () => [], step } as unknown as ConsensusCore;
    const pump = new EventPump(core, halt);
    pump.setApply(apply);
    return { pump, halt, log };
  }

  it("a consensus step that throws halts the validator and no later event is stepped", async () => {
    const seen: string[] = [];
    const t = pumping(
      (ev) => {
        seen.push(ev.type);
        if (ev.type === "timer") throw new Error("invariant broken");
        return [];
      },
      async () => undefined,
    );
    await t.pump.start();
    t.pump.enqueue({ type: "timer", view: 1n });
    t.pump.enqueue({ type: "timer", view: 2n });
    await t.pump.stepped();
    expect(seen).toEqual(["timer"]);
    expect(t.halt.error?.message).toBe("invariant broken");
    expect(t.log.lines[0]).toMatch(/^error fatal .*consensus step \(timer\)/);
  });

  it("an action that fails (a storage write) halts the validator before the next event", async () => {
    const seen: bigint[] = [];
    const t = pumping(
      (ev) => {
        if (ev.type === "timer") seen.push(ev.view);
        return [{ type: "log", level: "info", code: "x", message: "x" }];
      },
      async (actions) => {
        if (actions.length > 0) throw new Error("io: disk gone");
      },
    );
    await t.pump.start();
    t.pump.enqueue({ type: "timer", view: 1n });
    t.pump.enqueue({ type: "timer", view: 2n });
    await t.pump.stepped();
    expect(seen).toEqual([1n]);
    expect(t.halt.error?.message).toBe("io: disk gone");
  });
});

describe("storage failures on the read path fail fast", () => {
  it("a REST read whose storage fails halts the validator (and the caller still gets the error)", async () => {
    const log = recordingLog();
    const halt = new Halt(log);
    const io = new StoreError("io", "read failed: Input/output error");
    const parts = {
      executor: { getAccount: async () => Promise.reject(io), getBlock: async () => null },
      halt,
    } as unknown as ReadModelParts;
    const model = new ReadModel(parts);
    await expect(model.getAccount(new Uint8Array(32))).rejects.toBe(io);
    expect(halt.error).toBe(io);
    expect(log.lines[0]).toMatch(/^error fatal .*reading an account/);
  });

  it("an ordinary answer does not halt", async () => {
    const halt = new Halt(recordingLog());
    const model = new ReadModel({ executor: { getBlock: async () => null }, halt } as unknown as ReadModelParts);
    expect(await model.getBlock(5n)).toBeNull();
    expect(halt.halted).toBe(false);
  });
});
