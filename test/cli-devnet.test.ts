// `cairn devnet`: a new folder gets keys, genesis and configs; running it serves the chain until SIGTERM;
// running it again resumes the same chain.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CAIRN_BIN } from "../node/devnet.ts";
import { freePortBase } from "./helpers/cluster.ts";

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
    const first = spawnSync(process.execPath, [CAIRN_BIN, "devnet", "--dir", join(dir, "net"), "--validators", "2", "--base-port", String(base), "--init-only", "--json"], { encoding: "utf8" });
    expect(first.status).toBe(0);
    const info = JSON.parse(first.stdout);
    expect(info.created).toBe(true);
    expect(info.rest).toEqual([`http://127.0.0.1:${base}`, `http://127.0.0.1:${base + 1}`]);
    expect(info.funded.publicKey).toMatch(/^[0-9a-f]{64}$/);
    expect(info.funded.secretKey).toMatch(/^[0-9a-f]{64}$/);
    for (const f of ["genesis.json", "node0.json", "node1.json", "devnet.json"]) expect(existsSync(join(dir, "net", f))).toBe(true);
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
    // Let it commit a few (empty) blocks, then stop it the way Ctrl-C would.
    let h1 = BigInt(s1.height);
    for (let i = 0; i < 100 && h1 < 3n; i++) {
      await new Promise((r) => setTimeout(r, 100));
      h1 = BigInt((await statusOf(`http://127.0.0.1:${base}`)).height);
    }
    expect(h1).toBeGreaterThanOrEqual(3n);
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
});
