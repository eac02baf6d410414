// `cairn devnet`: a new folder gets keys, genesis and configs; running it serves the chain until SIGTERM;
// running it again resumes the same chain.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CAIRN_BIN, devnetInfoPath, validatorPidPath } from "../node/devnet.ts";
import { freePortBase } from "./helpers/cluster.ts";
import { commitProbe } from "./helpers/probe.ts";

const fundedSecret = (dir: string): string => (JSON.parse(readFileSync(devnetInfoPath(dir), "utf8")) as { funded: { secretKey: string } }).funded.secretKey;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function statusOf(url: string, timeoutMs = 30_000): Promise<{ height: string; chainId: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(url + "/v1/status");
      if (r.ok) return (await r.json()) as { height: string; chainId: string };
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("cairn devnet", () => {
  it("--init-only creates the folder once and reports the same chain when run again", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-devnet-"));
    dirs.push(dir);
    const base = await freePortBase(2);
    const first = spawnSync(process.execPath, [CAIRN_BIN, "devnet", "--dir", join(dir, "net"), "--validators", "2", "--base-port", String(base), "--min-gas-price", "5", "--init-only", "--json"], { encoding: "utf8" });
    expect(first.status).toBe(0);
    const info = JSON.parse(first.stdout);
    expect(info.created).toBe(true);
    expect(info.rest).toEqual([`http://127.0.0.1:${base}`, `http://127.0.0.1:${base + 1}`]);
    expect(info.funded.publicKey).toMatch(/^[0-9a-f]{64}$/);
    expect(info.funded.secretKey).toMatch(/^[0-9a-f]{64}$/);
    for (const f of ["genesis.json", "node0.json", "node1.json", "devnet.json"]) expect(existsSync(join(dir, "net", f))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, "net", "genesis.json"), "utf8")).minGasPrice).toBe("5");
    const node1 = JSON.parse(readFileSync(join(dir, "net", "node1.json"), "utf8"));
    expect(node1.index).toBe(1);
    expect(node1.peers).toHaveLength(2);

    const again = spawnSync(process.execPath, [CAIRN_BIN, "devnet", "--dir", join(dir, "net"), "--init-only", "--json"], { encoding: "utf8" });
    expect(again.status).toBe(0);
    const info2 = JSON.parse(again.stdout);
    expect(info2.created).toBe(false);
    expect(info2.chainId).toBe(info.chainId);

    const bad = spawnSync(process.execPath, [CAIRN_BIN, "devnet", "--validators", "2"], { encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--dir DIR is required/);
    const badPrice = spawnSync(process.execPath, [CAIRN_BIN, "devnet", "--dir", join(dir, "other"), "--min-gas-price", "1.5", "--init-only"], { encoding: "utf8" });
    expect(badPrice.status).toBe(2);
    expect(badPrice.stderr).toMatch(/--min-gas-price must be a whole number/);
  });

  it("runs the validators until SIGTERM and resumes the same chain", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-devnet-"));
    dirs.push(dir);
    const base = await freePortBase(1);
    const run = () => spawn(process.execPath, [CAIRN_BIN, "devnet", "--dir", dir, "--validators", "1", "--base-port", String(base)], { stdio: ["ignore", "pipe", "pipe"] });
    const stopped = (p: ReturnType<typeof run>) => new Promise<number | null>((r) => p.once("exit", (code) => r(code)));

    let p = run();
    let out = "";
    p.stdout!.on("data", (d) => (out += d));
    const s1 = await statusOf(`http://127.0.0.1:${base}`);
    // Let it commit some work (an idle chain writes no blocks), then stop it the way Ctrl-C would.
    await commitProbe(`http://127.0.0.1:${base}`, fundedSecret(dir));
    const h1 = BigInt((await statusOf(`http://127.0.0.1:${base}`)).height);
    expect(h1).toBeGreaterThanOrEqual(1n);
    expect(out).toMatch(/funded account: [0-9a-f]{64}/);
    p.kill("SIGTERM");
    expect(await stopped(p)).toBe(0);

    p = run();
    const s2 = await statusOf(`http://127.0.0.1:${base}`);
    expect(s2.chainId).toBe(s1.chainId);
    expect(BigInt(s2.height)).toBeGreaterThanOrEqual(h1);
    p.kill("SIGINT");
    expect(await stopped(p)).toBe(0);
  }, 90_000);

  it("restarts a validator that exits on its own, and it catches up", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-devnet-"));
    dirs.push(dir);
    const base = await freePortBase(4);
    const p = spawn(process.execPath, [CAIRN_BIN, "devnet", "--dir", dir, "--validators", "4", "--base-port", String(base)], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    p.stderr!.on("data", (d) => (err += d));
    const exited = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
    try {
      const url = (i: number) => `http://127.0.0.1:${base + i}`;
      await Promise.all([0, 1, 2, 3].map((i) => statusOf(url(i), 60_000)));
      const h0 = await commitProbe(url(0), fundedSecret(dir), 60_000);
      expect(h0).toBeGreaterThanOrEqual(1n);
      // Validators must not have exited on their own so far; the pid file names the running process.
      expect(err, err).not.toMatch(/exited/);
      const firstPid = Number(readFileSync(validatorPidPath(dir, 2), "utf8"));
      expect(err).toContain(`validator 2 started (pid ${firstPid})`);
      process.kill(firstPid, "SIGKILL");
      const deadline = Date.now() + 60_000;
      let secondPid = 0;
      while (Date.now() < deadline) {
        const m = [...err.matchAll(/validator 2 started \(pid (\d+)\)/g)];
        if (m.length >= 2) {
          secondPid = Number(m[1]![1]);
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(err).toMatch(new RegExp(`validator 2 exited \\(SIGKILL\\); restarting in \\d+ ms \\(see .*node2\\.log\\)`));
      expect(secondPid).toBeGreaterThan(0);
      expect(secondPid).not.toBe(firstPid);

      // The restarted validator serves again and catches up with where the others are now, after more work.
      const target = await commitProbe(url(0), fundedSecret(dir), 60_000);
      expect(target).toBeGreaterThan(h0);
      let h2 = -1n;
      while (Date.now() < deadline && h2 < target) {
        try {
          h2 = BigInt((await statusOf(url(2), 1_000)).height);
        } catch {
          // still starting
        }
        if (h2 < target) await new Promise((r) => setTimeout(r, 200));
      }
      expect(h2).toBeGreaterThanOrEqual(target);
      expect(Number(readFileSync(validatorPidPath(dir, 2), "utf8"))).toBe(secondPid);
    } finally {
      p.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    // Stopping is not an exit to restart from, and the pid files go with the processes.
    expect(err).not.toMatch(/exited \(code 0\)|exited \(SIGTERM\)/);
    for (let i = 0; i < 4; i++) expect(existsSync(validatorPidPath(dir, i))).toBe(false);
  }, 120_000);

  it("waits longer before each restart of a validator that keeps failing to start, and stops cleanly meanwhile", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-devnet-"));
    dirs.push(dir);
    const base = await freePortBase(1);
    const p = spawn(process.execPath, [CAIRN_BIN, "devnet", "--dir", dir, "--validators", "1", "--base-port", String(base)], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    p.stderr!.on("data", (d) => (err += d));
    const exited = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
    try {
      await statusOf(`http://127.0.0.1:${base}`, 60_000);
      // A config the validator refuses: every start from now on exits at once.
      writeFileSync(join(dir, "node0.json"), "{}\n");
      process.kill(Number(readFileSync(validatorPidPath(dir, 0), "utf8")), "SIGKILL");
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && !/restarting in 2000 ms/.test(err)) await new Promise((r) => setTimeout(r, 100));
      const waits = [...err.matchAll(/validator 0 exited \((SIGKILL|code \d+)\); restarting in (\d+) ms/g)].map((m) => [m[1], Number(m[2])]);
      expect(waits.slice(0, 3), err).toEqual([
        ["SIGKILL", 500],
        [expect.stringMatching(/^code [1-9]\d*$/), 1000],
        [expect.stringMatching(/^code [1-9]\d*$/), 2000],
      ]);
    } finally {
      p.kill("SIGTERM");
    }
    // The pending restart is cancelled: the devnet exits without starting the validator again.
    const starts = () => (err.match(/validator 0 started/g) ?? []).length;
    const before = starts();
    expect(await exited).toBe(0);
    expect(starts()).toBe(before);
  }, 90_000);
});
