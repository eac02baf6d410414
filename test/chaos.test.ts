// A short chaos run (test/chaos/): 4 validator processes, 5 cycles of kills (one, two, all four) with
// partitions, delays and hostile peers, under load through every submission route. Nothing acknowledged may
// be lost or changed, supply must be conserved, and every other end check must pass (exit code 0).

import { spawn } from "node:child_process";
import { createServer as createHttpServer } from "node:http";
import { connect, createServer, type Server, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkAcks } from "./chaos/checks.ts";
import { HeightMonitor } from "./chaos/monitor.ts";
import { LinkRelay } from "./chaos/relay.ts";
import { drawSchedule } from "./chaos/schedule.ts";

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
    console.log(last);
    // The seed comes first, and each cycle killed validators: one, two and all four among them.
    expect(lines[0]).toBe("chaos: seed=20261207 cycles=5 (repeat with --seed 20261207 --cycles 5)");
    const kills = lines.filter((l) => /^chaos: cycle \d\/5: kill(1|2|All): SIGKILL/.test(l));
    expect(kills).toHaveLength(5);
    for (const kind of ["kill1", "kill2", "killAll"]) expect(kills.some((l) => l.includes(`: ${kind}: `))).toBe(true);
  }, 240_000);

  it("draws the same schedule from the same seed", () => {
    expect(drawSchedule(42, 10, 4)).toEqual(drawSchedule(42, 10, 4));
    expect(drawSchedule(42, 10, 4)).not.toEqual(drawSchedule(43, 10, 4));
  });

  it("relay: forwards, cuts live and new connections, heals, delays", async () => {
    const echo: Server = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, "127.0.0.1", () => r()));
    const relay = new LinkRelay(0, 1, "127.0.0.1", (echo.address() as { port: number }).port);
    await relay.start();
    const open = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const s = connect({ host: "127.0.0.1", port: relay.port }, () => resolve(s));
        s.once("error", reject);
      });
    /** Sends text and answers the echo, or null when the connection closes first. */
    const roundTrip = (s: Socket, text: string): Promise<string | null> =>
      new Promise((resolve) => {
        let got = "";
        s.on("data", (d) => {
          got += d;
          if (got.length >= text.length) resolve(got);
        });
        s.once("close", () => resolve(null));
        s.write(text);
      });
    try {
      const a = await open();
      expect(await roundTrip(a, "ping")).toBe("ping");
      const closed = new Promise<void>((r) => a.once("close", () => r()));
      relay.cut();
      await closed;
      expect(relay.isCut).toBe(true);
      expect(await roundTrip(await open(), "lost")).toBeNull();
      relay.heal();
      const b = await open();
      expect(await roundTrip(b, "back")).toBe("back");
      relay.setDelay(150);
      const t0 = performance.now();
      const c = await open();
      expect(await roundTrip(c, "slow")).toBe("slow");
      expect(performance.now() - t0).toBeGreaterThanOrEqual(290); // held once each way
      for (const s of [b, c]) s.destroy();
    } finally {
      await relay.close();
      await new Promise<void>((r) => echo.close(() => r()));
    }
  });

  it("checkAcks counts an acknowledged invocation missing anywhere as lost, one with another height as mismatched", async () => {
    // Two fake validators: the second lost invocation "cc" and has "bb" at another height.
    const receipts: Array<Record<string, { id: string; height: string; status: string }>> = [
      { aa: { id: "aa", height: "5", status: "ok" }, bb: { id: "bb", height: "6", status: "ok" }, cc: { id: "cc", height: "7", status: "reverted" } },
      { aa: { id: "aa", height: "5", status: "ok" }, bb: { id: "bb", height: "9", status: "ok" } },
    ];
    const servers = receipts.map((byId) =>
      createHttpServer((req, res) => {
        const r = byId[req.url!.split("/").pop()!];
        res.writeHead(r ? 200 : 404, { "content-type": "application/json" });
        res.end(JSON.stringify(r ?? { error: { code: "not_found", message: "no such invocation" } }));
      }),
    );
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()))));
    try {
      const urls = servers.map((s) => `http://127.0.0.1:${(s.address() as { port: number }).port}`);
      const ack = (id: string, height: string, status: string) => ({ id, height, status, account: "00", nonce: 0n, via: "poll" as const, validator: 0 });
      const r = await checkAcks(urls, [ack("aa", "5", "ok"), ack("bb", "6", "ok"), ack("cc", "7", "reverted")]);
      expect(r.lost).toBe(1);
      expect(r.mismatched).toBe(1);
      expect(r.details.join("\n")).toMatch(/lost: cc .* on validator 1/);
      expect(r.details.join("\n")).toMatch(/mismatched: bb acknowledged at height 6 ok, validator 1 has height 9 ok/);
      expect(await checkAcks(urls, [ack("aa", "5", "ok")])).toEqual({ lost: 0, mismatched: 0, details: [] });
    } finally {
      for (const s of servers) s.close();
    }
  });

  it("monitor: measures a stall only while a connected quorum is up and work waits, and reports a validator left behind", async () => {
    const heights = [10, 10, 10, 10];
    let up = [true, true, true, true];
    const servers = heights.map((_, i) =>
      createHttpServer((_req, res) => {
        if (!up[i]) return res.destroy();
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ height: String(heights[i]) }));
      }),
    );
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()))));
    const lines: string[] = [];
    let cut = false;
    let busy = true;
    const monitor = new HeightMonitor({
      urls: servers.map((s) => `http://127.0.0.1:${(s.address() as { port: number }).port}`),
      // While `cut`, validator 0 is partitioned from the others.
      connected: (i, j) => !cut || (i !== 0 && j !== 0),
      quorum: 3,
      log: (l) => lines.push(l),
      noProgressMs: 1_000,
      busy: () => busy,
    });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    try {
      monitor.start();
      // Two down: no quorum, so no stall however long nothing commits.
      up = [true, true, false, false];
      await sleep(1_200);
      expect(monitor.longestStallMs).toBe(0);
      // Three up but one of them cut off: still no connected quorum.
      up = [true, true, true, false];
      cut = true;
      await sleep(800);
      expect(monitor.longestStallMs).toBe(0);
      // A connected quorum with no work waiting: an idle chain, not a stall.
      cut = false;
      busy = false;
      await sleep(800);
      expect(monitor.longestStallMs).toBe(0);
      // A connected quorum that does not commit while work waits: a stall.
      busy = true;
      await sleep(1_200);
      expect(monitor.longestStallMs).toBeGreaterThanOrEqual(700);
      // Everyone but validator 3 commits on; 3 answers at its old height and is reported once.
      up = [true, true, true, true];
      for (let k = 0; k < 10; k++) {
        for (const i of [0, 1, 2]) heights[i]! += 1;
        await sleep(200);
      }
      expect(lines.filter((l) => l.startsWith("chaos: validator 3 made no progress"))).toHaveLength(1);
      expect(lines.some((l) => /validator [012] made no progress/.test(l))).toBe(false);
    } finally {
      await monitor.stop();
      for (const s of servers) s.close();
    }
  });
});
