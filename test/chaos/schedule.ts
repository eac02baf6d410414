// The fault schedule of a chaos run, drawn from its seed before anything starts, so that the same seed gives
// the same faults whatever the validators do meanwhile.

import { Prng } from "./prng.ts";

export type KillKind = "kill1" | "kill2" | "killAll";

export type SideFault =
  /** Both directions cut between the two groups. */
  | { kind: "partition"; groups: [number[], number[]]; holdMs: number }
  /** Every link of one validator delayed. */
  | { kind: "delay"; node: number; delayMs: number; holdMs: number }
  /** A connection to one validator's P2P port that sends random bytes, `count` times. */
  | { kind: "garbage"; node: number; count: number; size: number }
  /** Connections to one validator's P2P port that dribble a byte every intervalMs, or (intervalMs 0) send nothing. */
  | { kind: "slowloris"; node: number; conns: number; intervalMs: number; holdMs: number }
  /** One validator stopped gracefully (SIGTERM) and started again at once. */
  | { kind: "restart"; node: number };

export interface Cycle {
  index: number;
  /** A fault besides the kill: applied first, ended after the kill when `overlap`, else before it. */
  side: SideFault | null;
  overlap: boolean;
  kill: { kind: KillKind; targets: number[]; downMs: number };
  /** Pause after the restart before the next cycle. */
  settleMs: number;
}

const KILL_SIZE: Record<KillKind, number> = { kill1: 1, kill2: 2, killAll: 4 };

function drawSide(prng: Prng, n: number): SideFault {
  const node = prng.int(0, n - 1);
  switch (prng.pick(["partition", "partition", "delay", "garbage", "slowloris", "restart"] as const)) {
    case "partition": {
      const order = prng.shuffle(Array.from({ length: n }, (_, i) => i));
      const cutAt = prng.chance(0.5) ? 1 : 2; // isolate one validator, or split two and two
      return { kind: "partition", groups: [order.slice(0, cutAt).sort(), order.slice(cutAt).sort()], holdMs: prng.int(2_000, 6_000) };
    }
    case "delay":
      return { kind: "delay", node, delayMs: prng.int(50, 400), holdMs: prng.int(2_000, 5_000) };
    case "garbage":
      return { kind: "garbage", node, count: prng.int(1, 4), size: prng.int(1, 4096) };
    case "restart":
      return { kind: "restart", node };
    case "slowloris":
      return { kind: "slowloris", node, conns: prng.int(1, 6), intervalMs: prng.chance(0.25) ? 0 : prng.int(1_000, 3_000), holdMs: prng.int(3_000, 12_000) };
  }
}

/** n validators (4 here: kill2 and killAll assume it). The first three cycles cover kill1, kill2 and killAll. */
export function drawSchedule(seed: number, cycles: number, n: number): Cycle[] {
  const prng = Prng.derive(seed, "schedule");
  const firstKinds = prng.shuffle<KillKind>(["kill1", "kill2", "killAll"]);
  const out: Cycle[] = [];
  for (let c = 0; c < cycles; c++) {
    const kind: KillKind = c < firstKinds.length ? firstKinds[c]! : prng.pick<KillKind>(["kill1", "kill1", "kill1", "kill2", "kill2", "killAll"]);
    const targets = prng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, Math.min(n, KILL_SIZE[kind])).sort();
    const side = prng.chance(0.75) ? drawSide(prng, n) : null;
    out.push({
      index: c + 1,
      side,
      overlap: side !== null && side.kind !== "restart" && prng.chance(0.3),
      kill: { kind, targets, downMs: prng.int(500, 4_000) },
      settleMs: prng.int(1_000, 4_000),
    });
  }
  return out;
}

export function describeSide(f: SideFault): string {
  switch (f.kind) {
    case "partition":
      return `partition {${f.groups[0].join(",")}} | {${f.groups[1].join(",")}} for ${f.holdMs} ms`;
    case "delay":
      return `delay every link of validator ${f.node} by ${f.delayMs} ms for ${f.holdMs} ms`;
    case "garbage":
      return `garbage peer: ${f.count} connection(s) of ${f.size} random bytes to validator ${f.node}`;
    case "restart":
      return `graceful restart (SIGTERM) of validator ${f.node}`;
    case "slowloris":
      return `slow-loris: ${f.conns} connection(s) to validator ${f.node}, ${f.intervalMs === 0 ? "silent" : `a byte every ${f.intervalMs} ms`}, for ${f.holdMs} ms`;
  }
}
