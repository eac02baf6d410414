// A short chaos run (test/chaos/): 4 validator processes, 5 cycles of kills (one, two, all four) with
// partitions, delays and hostile peers, under load through every submission route. Nothing acknowledged may
// be lost or changed, supply must be conserved, and every other end check must pass (exit code 0).

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const RUN = fileURLToPath(new URL("./chaos/run.ts", import.meta.url));
const LAST_LINE = /^chaos: cycles=(\d+) acknowledged=(\d+) lost=(\d+) mismatched=(\d+) supply_ok=(true|false) longest_stall_s=(\d+\.\d)$/;

function runChaos(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ["--import", "tsx", RUN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (out += d));
    p.once("exit", (code) => resolve({ code, out }));
  });
}

describe("chaos run", () => {
  it("loses nothing acknowledged through 5 kill cycles with partitions and hostile peers", async () => {
    const { code, out } = await runChaos(["--cycles", "5", "--seed", "20261207"]);
    const lines = out.trimEnd().split("\n");
    const last = lines[lines.length - 1]!;
    const m = LAST_LINE.exec(last);
    expect(m, out).not.toBeNull();
    const [, cycles, acknowledged, lost, mismatched, supplyOk] = m!;
    expect(cycles).toBe("5");
    expect(Number(acknowledged)).toBeGreaterThan(50);
    expect(lost, out).toBe("0");
    expect(mismatched, out).toBe("0");
    expect(supplyOk, out).toBe("true");
    expect(code, out).toBe(0);
    // The seed comes first, and each cycle killed validators: one, two and all four among them.
    expect(lines[0]).toBe("chaos: seed=20261207 cycles=5 (repeat with --seed 20261207 --cycles 5)");
    const kills = lines.filter((l) => /^chaos: cycle \d\/5: kill(1|2|All): SIGKILL/.test(l));
    expect(kills).toHaveLength(5);
    for (const kind of ["kill1", "kill2", "killAll"]) expect(kills.some((l) => l.includes(`: ${kind}: `))).toBe(true);
  }, 240_000);

  it("draws the same schedule from the same seed", async () => {
    const { drawSchedule } = await import("./chaos/schedule.ts");
    expect(drawSchedule(42, 10, 4)).toEqual(drawSchedule(42, 10, 4));
    expect(drawSchedule(42, 10, 4)).not.toEqual(drawSchedule(43, 10, 4));
  });
});
