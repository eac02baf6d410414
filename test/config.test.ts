import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { genesisToJson, loadConfig, loadGenesis } from "../node/config.ts";
import { minGasPriceOf } from "../node/codec/types.ts";
import { genesisHash } from "../node/crypto/digests.ts";
import { initDevnet } from "../node/devnet.ts";

const dir = mkdtempSync(join(tmpdir(), "cairn-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("node config", () => {
  it("a devnet splits the machine's cores between its validators' verifier threads", () => {
    initDevnet(dir, { validators: 4, basePort: 47_900 });
    const loaded = loadConfig(join(dir, "node2.json"));
    expect(loaded.config.index).toBe(2);
    expect(loaded.config.verifyWorkers).toBe(Math.max(0, Math.floor(availableParallelism() / 4) - 1));
  });

  it("refuses a verifyWorkers that is not a small non-negative integer, naming the file", () => {
    const path = join(dir, "node0.json");
    const good = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    for (const bad of [-1, 1.5, "2", 65]) {
      const p = join(dir, `bad-${String(bad)}.json`);
      writeFileSync(p, JSON.stringify({ ...good, verifyWorkers: bad }));
      expect(() => loadConfig(p)).toThrow(/verifyWorkers must be an integer from 0 to 64/);
    }
    const { verifyWorkers: _omitted, ...rest } = good;
    const p = join(dir, "default.json");
    writeFileSync(p, JSON.stringify(rest));
    expect(loadConfig(p).config.verifyWorkers).toBeUndefined();
  });

  it("consensus settings take the defaults, and ignore an older config's maxBlockWaitMs", () => {
    const path = join(dir, "node1.json");
    const good = JSON.parse(readFileSync(path, "utf8")) as { consensus: Record<string, number> };
    const write = (consensus: Record<string, number>): string => {
      const p = join(dir, `consensus-${Object.values(consensus).join("-")}.json`);
      writeFileSync(p, JSON.stringify({ ...good, consensus }));
      return p;
    };
    expect(loadConfig(write({ baseTimeoutMs: 400 })).config.consensus.baseTimeoutMs).toBe(400);
    // An older config's maxBlockWaitMs (idle leaders used to propose an empty block after it) is ignored.
    expect(loadConfig(write({ baseTimeoutMs: 400, maxBlockWaitMs: 50 })).config.consensus).not.toHaveProperty("maxBlockWaitMs");
  });

  it("a devnet's genesis carries a fee floor of 1; a genesis file without the field loads as floor 0, same hash", () => {
    const genesis = loadGenesis(join(dir, "genesis.json"));
    expect(genesis.minGasPrice).toBe(1n);
    expect(JSON.parse(readFileSync(join(dir, "genesis.json"), "utf8")).minGasPrice).toBe("1");
    expect(loadConfig(join(dir, "node0.json")).genesis.minGasPrice).toBe(1n);

    const { minGasPrice: _floor, ...old } = genesis;
    const oldPath = join(dir, "genesis-old.json");
    writeFileSync(oldPath, JSON.stringify(genesisToJson(old)));
    expect(readFileSync(oldPath, "utf8")).not.toMatch(/minGasPrice/);
    const loaded = loadGenesis(oldPath);
    expect(minGasPriceOf(loaded)).toBe(0n);
    expect(genesisHash(loaded)).toEqual(genesisHash(old));
    expect(genesisHash(loaded)).not.toEqual(genesisHash(genesis));

    const badPath = join(dir, "genesis-bad.json");
    writeFileSync(badPath, JSON.stringify({ ...(genesisToJson(old) as object), minGasPrice: "1.5" }));
    expect(() => loadGenesis(badPath)).toThrow(/minGasPrice/);
    const other = mkdtempSync(join(tmpdir(), "cairn-config-floor-"));
    try {
      initDevnet(other, { validators: 1, basePort: 47_950, minGasPrice: 5n });
      expect(loadGenesis(join(other, "genesis.json")).minGasPrice).toBe(5n);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
