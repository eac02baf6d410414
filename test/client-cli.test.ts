// The client-side CLI commands, run in-process against a real HTTP server over an in-memory node.
import { execFile } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { fromHex } from "../node/codec/index.ts";
import type { Receipt } from "../node/codec/types.ts";
import { Keypair } from "../node/client/index.ts";
import { CLIENT_COMMANDS, readSources } from "../node/cli/commands/client.ts";
import { FakeNode, GAS_USED, serveOverHttp } from "./api-fake-node.ts";

const alice = Keypair.generate();
const bob = Keypair.generate();
let node: FakeNode;
let app: FastifyInstance;
let url: string;
let dir: string;

beforeAll(async () => {
  // The commands fall back to these; the tests mean to see the flags alone.
  delete process.env.CAIRN_URL;
  delete process.env.CAIRN_KEY;
  node = new FakeNode("testnet", [
    [alice.publicKey, 10_000_000n],
    [bob.publicKey, 10_000_000n],
  ]);
  node.autoCommit = true;
  ({ app, url } = await serveOverHttp(node));
  dir = mkdtempSync(join(tmpdir(), "cairn-cli-"));
});
afterAll(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

async function cairn(...argv: string[]): Promise<{ code: number; out: string; err: string; json: any }> {
  const [cmd, ...rest] = argv;
  let out = "";
  let err = "";
  const code = await CLIENT_COMMANDS[cmd!]!(rest, { stdout: (t) => (out += t), stderr: (t) => (err += t) });
  let json: unknown;
  try {
    json = JSON.parse(out);
  } catch {
    json = undefined;
  }
  return { code, out, err, json };
}

describe("cairn client commands", () => {
  it("keygen prints a usable key pair, as text or JSON", async () => {
    const j = await cairn("keygen", "--json");
    expect(j.code).toBe(0);
    expect(Object.keys(j.json).sort()).toEqual(["publicKey", "secretKey"]);
    expect(Keypair.fromSecretHex(j.json.secretKey).publicKeyHex).toBe(j.json.publicKey);
    const t = await cairn("keygen");
    expect(t.out).toMatch(/^public key: [0-9a-f]{64}\nsecret key: [0-9a-f]{64}\n$/);
    expect((await cairn("keygen", "--help")).out).toMatch(/^usage: cairn keygen/);
  });

  it("account and block read the chain", async () => {
    const a = await cairn("account", alice.publicKeyHex, "--url", url, "--json");
    expect(a.json).toEqual({ publicKey: alice.publicKeyHex, balance: "10000000", nonce: "0", pendingNonce: "0", height: String(node.blocks.length - 1) });
    expect((await cairn("account", alice.publicKeyHex, "--url", url)).out).toBe("balance: 10000000\nnonce:   0\n");
    const b = await cairn("block", "0", "--url", url, "--json");
    expect(b.json.header.height).toBe("0");
    expect(b.json.hash).toMatch(/^[0-9a-f]{64}$/);
    expect((await cairn("block", "--url", url)).out).toMatch(/^height: +\d+\nhash: +[0-9a-f]{64}/);
    const missing = await cairn("block", "999", "--url", url, "--json");
    expect(missing.code).toBe(1);
    expect(missing.json).toEqual({ error: { code: "not_found", message: "no block at height 999" } });
    expect(missing.err).toMatch(/^cairn block: not_found: no block at height 999/);
  });

  it("invoke submits or waits for the receipt; keys come as hex or files", async () => {
    const keyFile = join(dir, "alice.json");
    writeFileSync(keyFile, JSON.stringify(alice.toJSON()));
    const rawFile = join(dir, "alice.key");
    writeFileSync(rawFile, alice.secretKeyHex + "\n");
    const r = await cairn("invoke", "counter", "1", "inc", "--input-string", "hi", "--url", url, "--key", keyFile, "--wait", "--json");
    expect(r.code).toBe(0);
    expect(Object.keys(r.json).sort()).toEqual(["error", "fee", "gasUsed", "height", "id", "index", "output", "outputString", "status"]);
    expect(r.json).toMatchObject({ status: "ok", gasUsed: GAS_USED.toString(), output: "6869", outputString: "hi", error: null });
    const s = await cairn("invoke", "counter", "1", "inc", "--input", "0xff00", "--url", url, "--key", rawFile, "--gas", "50000", "--gas-price", "3", "--json");
    expect(s.code).toBe(0);
    expect(s.json.id).toMatch(/^[0-9a-f]{64}$/);
    const [receipt] = (await node.waitForReceipts([fromHex(s.json.id)], 5_000)) as Receipt[];
    const sent = node.blocks[Number(receipt!.height)]!.invocations[receipt!.index]!;
    expect(sent).toMatchObject({ gasLimit: 50_000n, gasPrice: 3n, input: new Uint8Array([0xff, 0]), invoker: alice.publicKey });
    const text = await cairn("invoke", "counter", "1", "inc", "--url", url, "--key", alice.secretKeyHex, "--wait");
    expect(text.out).toMatch(/^id: +[0-9a-f]{64}\nstatus: +ok\ngas used: +2000\n/);
  });

  it("transfer moves funds; a reverted transfer prints its receipt and exits 1", async () => {
    const t = await cairn("transfer", alice.publicKeyHex, "1000", "--url", url, "--key", bob.secretKeyHex, "--wait", "--json");
    expect(t.code).toBe(0);
    expect(t.json.status).toBe("ok");
    expect((await cairn("account", bob.publicKeyHex, "--url", url, "--json")).json.balance).toBe(String(10_000_000n - 1000n - GAS_USED));
    const tooMuch = await cairn("transfer", alice.publicKeyHex, "99999999999", "--url", url, "--key", bob.secretKeyHex, "--wait", "--json");
    expect(tooMuch.code).toBe(1);
    expect(tooMuch.json.status).toBe("reverted");
    expect(tooMuch.err).toMatch(/invocation reverted: insufficient funds/);
  });

  it("transfer without --gas-price pays the chain's floor; below it the node's refusal exits 1", async () => {
    const floored = new FakeNode("testnet", [[bob.publicKey, 10_000_000n]], { minGasPrice: 4n });
    floored.autoCommit = true;
    const { app: server, url: flooredUrl } = await serveOverHttp(floored);
    try {
      const t = await cairn("transfer", alice.publicKeyHex, "10", "--url", flooredUrl, "--key", bob.secretKeyHex, "--wait", "--json");
      expect(t.code).toBe(0);
      expect(t.json.fee).toBe(String(GAS_USED * 4n));
      const low = await cairn("transfer", alice.publicKeyHex, "10", "--url", flooredUrl, "--key", bob.secretKeyHex, "--gas-price", "0", "--json");
      expect(low.code).toBe(1);
      expect(low.json.error).toMatchObject({ code: "gas_price_too_low", status: 400 });
    } finally {
      await server.close();
    }
  });

  it("deploy sends the entry file and its .ts siblings, numbering versions", async () => {
    const src = join(dir, "token");
    mkdirSync(src);
    writeFileSync(join(src, "token.ts"), 'import { x } from "./util";\nexport function mint(): void {}');
    writeFileSync(join(src, "util.ts"), "export const x = 1;");
    writeFileSync(join(src, "types.d.ts"), "declare const y: number;");
    writeFileSync(join(src, "README.md"), "not a source");
    expect(readSources(join(src, "token.ts"))).toEqual({
      entry: "token.ts",
      sources: [
        { path: "token.ts", content: 'import { x } from "./util";\nexport function mint(): void {}' },
        { path: "util.ts", content: "export const x = 1;" },
      ],
    });
    const d1 = await cairn("deploy", join(src, "token.ts"), "--name", "token", "--url", url, "--key", alice.secretKeyHex, "--wait", "--json");
    expect(d1.code).toBe(0);
    expect(d1.json).toMatchObject({ name: "token", version: 1, status: "ok" });
    const d2 = await cairn("deploy", join(src, "token.ts"), "--name", "token", "--url", url, "--key", alice.secretKeyHex, "--wait", "--json");
    expect(d2.json).toMatchObject({ name: "token", version: 2, status: "ok" });
    expect(node.contracts.get("token")!.versions.get(2)!.sources.map((s) => s.path)).toEqual(["token.ts", "util.ts"]);
    const d3 = await cairn("deploy", join(src, "token.ts"), "--name", "token", "--version", "3", "--url", url, "--key", alice.secretKeyHex, "--json");
    expect(d3.json).toMatchObject({ name: "token", version: 3 });
    expect(d3.json.id).toMatch(/^[0-9a-f]{64}$/);
  });

  it("query runs read-only and reports failures", async () => {
    const q = await cairn("query", "echo", "1", "say", "--input-string", "yo", "--url", url, "--json");
    expect(q.json).toEqual({ status: "ok", gasUsed: "42", output: "7361793a796f", outputString: "say:yo", error: null });
    expect((await cairn("query", "echo", "1", "say", "--input-string", "yo", "--url", url)).out).toBe('status:   ok\ngas used: 42\noutput:   "say:yo"\n');
    const unknown = await cairn("query", "nothing", "1", "m", "--url", url, "--json");
    expect(unknown.code).toBe(1);
    expect(unknown.json.error).toMatchObject({ code: "not_found", status: 404 });
    const reverted = await cairn("query", "echo", "1", "fail", "--url", url);
    expect(reverted.code).toBe(1);
    expect(reverted.err).toMatch(/query reverted: nope/);
  });

  it("bad command lines exit 2 with a clear message; an unreachable node exits 1", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["invoke", "counter", "1", "inc", "--key", alice.secretKeyHex], /--url URL is required/],
      [["invoke", "counter", "1", "--url", url, "--key", alice.secretKeyHex], /expected NAME VERSION METHOD/],
      [["invoke", "counter", "x", "inc", "--url", url, "--key", alice.secretKeyHex], /VERSION must be a whole number/],
      [["invoke", "counter", "1", "inc", "--url", url, "--key", alice.secretKeyHex, "--gas", "lots"], /--gas must be a whole number/],
      [["invoke", "counter", "1", "inc", "--url", url, "--key", alice.secretKeyHex, "--input", "zz"], /--input must be hex/],
      [["invoke", "counter", "1", "inc", "--url", url, "--key", alice.secretKeyHex, "--input", "00", "--input-string", "a"], /not both/],
      [["invoke", "counter", "1", "inc", "--url", url, "--key", join(dir, "missing.key")], /not a readable file \(ENOENT\)/],
      [["invoke", "counter", "1", "inc", "--url", url], /--key KEY is required/],
      [["invoke", "counter", "1", "inc", "--url", url, "--bogus"], /Unknown option '--bogus'/],
      [["transfer", "abc", "5", "--url", url, "--key", alice.secretKeyHex], /TO must be a 64-hex/],
      [["deploy", join(dir, "nope.ts"), "--url", url, "--key", alice.secretKeyHex], /--name NAME is required/],
      [["account", "xyz", "--url", url], /PUBKEY must be 64 hex/],
      [["block", "latest", "--url", "localhost:1"], /--url must be an http/],
    ];
    for (const [argv, message] of cases) {
      const r = await cairn(...argv, "--json");
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.err, argv.join(" ")).toMatch(message);
      expect(r.json.error.code).toBe("usage");
    }
    const missingFile = await cairn("deploy", join(dir, "nope.ts"), "--name", "x", "--url", url, "--key", alice.secretKeyHex);
    expect(missingFile.code).toBe(1);
    expect(missingFile.err).toMatch(/nope\.ts: .*does not exist/);
    const down = await cairn("account", alice.publicKeyHex, "--url", "http://127.0.0.1:1", "--json");
    expect(down.code).toBe(1);
    expect(down.json.error.code).toBe("unavailable");
  });
});

describe("several endpoints and outcomes that did not run", () => {
  it("--url may be repeated or comma-separated: a syncing or unreachable endpoint is passed over", async () => {
    const other = new FakeNode("testnet", [[alice.publicKey, 10_000_000n]]);
    const { app: otherApp, url: otherUrl } = await serveOverHttp(other);
    // The other validator is level with the chain (a node answering below a height already seen is behind).
    while (other.blocks.length < node.blocks.length) await other.commit();
    node.syncing = { reason: "catching up: height 1 of 40", knownHeight: 40n };
    try {
      const r = await cairn("transfer", bob.publicKeyHex, "3", "--url", `${url},${otherUrl}`, "--key", alice.secretKeyHex, "--json");
      expect(r.code, r.err).toBe(0);
      expect(other.mempool.isPending(r.json.id)).toBe(true);
      const a = await cairn("account", alice.publicKeyHex, "--url", "http://127.0.0.1:1", "--url", otherUrl, "--json");
      expect(a.code, a.err).toBe(0);
      expect(a.json).toMatchObject({ pendingNonce: "1", height: String(other.blocks.length - 1) });
    } finally {
      node.syncing = null;
      await otherApp.close();
    }
  });

  it("resubmitting a committed invocation exits 3 with already_committed, its id and height", async () => {
    const carol = Keypair.generate();
    node.accounts.set(carol.publicKeyHex, { balance: 10_000_000n, nonce: 0n });
    const argv = ["invoke", "counter", "1", "inc", "--input-string", "once", "--nonce", "0", "--gas", "10000", "--url", url, "--key", carol.secretKeyHex, "--json"];
    const first = await cairn(...argv, "--wait");
    expect(first.code, first.err).toBe(0);
    const again = await cairn(...argv, "--wait");
    expect(again.code).toBe(3);
    expect(again.json.error).toMatchObject({ code: "already_committed", id: first.json.id, height: first.json.height, status: 409 });
    expect(again.err).toMatch(/already_committed: .*already committed at height/);
  });
});

describe("the real entry point", () => {
  const bin = resolve(dirname(fileURLToPath(import.meta.url)), "../bin/cairn.mjs");
  // Asynchronous spawn: the server under test runs on this process's event loop.
  const run = (...args: string[]) =>
    new Promise<{ code: number; out: string; err: string }>((done) => {
      execFile(process.execPath, [bin, ...args], { timeout: 30_000 }, (e, out, err) => done({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err }));
    });

  it("node bin/cairn.mjs runs the client commands", async () => {
    const [keygen, account, bad] = await Promise.all([
      run("keygen", "--json"),
      run("account", alice.publicKeyHex, "--url", url, "--json"),
      run("invoke", "counter", "1", "inc", "--url", url),
    ]);
    expect(keygen.code).toBe(0);
    const k = JSON.parse(keygen.out) as { publicKey: string; secretKey: string };
    expect(Keypair.fromSecretHex(k.secretKey).publicKeyHex).toBe(k.publicKey);
    expect(account.code).toBe(0);
    expect(JSON.parse(account.out)).toMatchObject({ publicKey: alice.publicKeyHex, nonce: expect.stringMatching(/^\d+$/) });
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--key KEY is required/);
  }, 40_000);
});
