// The client-side commands: keygen, deploy, invoke, query, account, block, transfer. Each takes --json
// for one JSON object on stdout and exits non-zero with a clear message on failure (see client-common.ts).
// --url may name several validators (repeated or comma-separated): the SDK reads nonces only from one that
// is not syncing and moves a submission on when one is syncing or down.

import { resolve } from "node:path";
import { loadContractSources, type LoadedSources } from "../../../vm/compile-sources.ts";
import { isVmError } from "../../../vm/errors.ts";
import { toHex, toJson } from "../../codec/index.ts";
import { Block, type SourceFile } from "../../codec/types.ts";
import { Client, Keypair, type QueryResultView } from "../../client/index.ts";
import {
  CliError,
  EXIT_OK,
  decimal,
  inputOf,
  loadKey,
  parse,
  processIo,
  receiptResult,
  runCommand,
  urlsOf,
  usage,
  version,
  type CliIo,
  type CommandResult,
} from "./client-common.ts";

export type Command = (argv: string[], io?: CliIo) => Promise<number>;

const SEND_OPTIONS = {
  key: { type: "string" },
  wait: { type: "boolean" },
  gas: { type: "string" },
  "gas-price": { type: "string" },
  nonce: { type: "string" },
  timeout: { type: "string" },
} as const;

/** Flags of every sending command. Without --gas-price the SDK prices at the chain's floor (at least 1). */
function sendOptions(values: { gas?: string; "gas-price"?: string; nonce?: string; wait?: boolean; timeout?: string }) {
  const gasLimit = decimal("--gas", values.gas);
  const gasPrice = decimal("--gas-price", values["gas-price"]);
  const nonce = decimal("--nonce", values.nonce);
  const timeout = decimal("--timeout", values.timeout);
  return {
    ...(gasLimit !== undefined ? { gasLimit } : {}),
    ...(gasPrice !== undefined ? { gasPrice } : {}),
    ...(nonce !== undefined ? { nonce } : {}),
    ...(timeout !== undefined ? { timeoutMs: Number(timeout) } : {}),
  };
}

function positionals(p: string[], names: string[], usageLine: string): string[] {
  if (p.length !== names.length) {
    throw usage(`expected ${names.join(" ")}${p.length > names.length ? `, got extra ${JSON.stringify(p.slice(names.length))}` : ""}\nusage: ${usageLine}`);
  }
  return p;
}

const submitted = (id: string, extra: Record<string, unknown> = {}, what = "submitted"): CommandResult => ({
  json: { ...extra, id },
  text: `${what} ${id}\n`,
});

// ---- keygen -----------------------------------------------------------------------------------------

const KEYGEN = "cairn keygen [--json]";
export const runKeygen: Command = (argv, io = processIo) =>
  runCommand("keygen", KEYGEN, argv, io, async (args) => {
    const { positionals: p } = parse(args, {}, KEYGEN);
    positionals(p, [], KEYGEN);
    const k = Keypair.generate();
    return { json: k.toJSON(), text: `public key: ${k.publicKeyHex}\nsecret key: ${k.secretKeyHex}\n` };
  });

// ---- deploy -----------------------------------------------------------------------------------------

const DEPLOY = "cairn deploy FILE.ts --name NAME [--version V] --url URL[,URL] --key K [--wait] [--gas N] [--gas-price P] [--json]";

/**
 * The entry file and, transitively, the files it imports by relative path: the same collection the contract
 * build uses (vm's loader), so what `cairn contract build` compiles is exactly what `cairn deploy` deploys.
 */
export function readSources(file: string): { entry: string; sources: SourceFile[] } {
  if (!resolve(file).endsWith(".ts")) throw usage(`${file}: the entry must be a .ts file`);
  let loaded: LoadedSources;
  try {
    loaded = loadContractSources(file);
  } catch (e) {
    throw new CliError(isVmError(e) && /does not exist/.test(e.message) ? "not_found" : "malformed", `${file}: ${(e as Error).message}`);
  }
  const { entry, files } = loaded.sources;
  return { entry, sources: Object.keys(files).sort().map((path) => ({ path, content: files[path]! })) };
}

export const runDeploy: Command = (argv, io = processIo) =>
  runCommand("deploy", DEPLOY, argv, io, async (args) => {
    const { values, positionals: p } = parse(args, { ...SEND_OPTIONS, name: { type: "string" }, version: { type: "string" } }, DEPLOY);
    const [file] = positionals(p, ["FILE.ts"], DEPLOY);
    if (values.name === undefined) throw usage(`--name NAME is required\nusage: ${DEPLOY}`);
    const urls = urlsOf(values);
    const key = loadKey(values.key);
    const ver = version("--version", values.version);
    const { entry, sources } = readSources(file!);
    const client = new Client(urls);
    const opts = { key, name: values.name, sources, entry, ...(ver !== undefined ? { version: ver } : {}), ...sendOptions(values) };
    if (values.wait) {
      const r = await client.deploy({ ...opts, wait: true });
      return receiptResult(r.receipt, { name: r.name, version: r.version }, `deployed ${r.name} version ${r.version}\n`);
    }
    const r = await client.deploy({ ...opts, wait: false });
    return submitted(r.id, { name: r.name, version: r.version }, `submitted deploy of ${r.name} version ${r.version}:`);
  });

// ---- invoke -----------------------------------------------------------------------------------------

const INVOKE = "cairn invoke NAME VERSION METHOD [--input HEX | --input-string S] --url URL[,URL] --key K [--gas N] [--gas-price P] [--wait] [--json]";
const INPUT_OPTIONS = { input: { type: "string" }, "input-string": { type: "string" } } as const;

export const runInvoke: Command = (argv, io = processIo) =>
  runCommand("invoke", INVOKE, argv, io, async (args) => {
    const { values, positionals: p } = parse(args, { ...SEND_OPTIONS, ...INPUT_OPTIONS }, INVOKE);
    const [name, ver, method] = positionals(p, ["NAME", "VERSION", "METHOD"], INVOKE);
    const urls = urlsOf(values);
    const key = loadKey(values.key);
    const call = { key, contract: name!, version: version("VERSION", ver)!, method: method!, ...inputOf(values), ...sendOptions(values) };
    const client = new Client(urls);
    if (values.wait) return receiptResult(await client.invoke({ ...call, wait: true }));
    return submitted(await client.invoke({ ...call, wait: false }));
  });

// ---- query ------------------------------------------------------------------------------------------

const QUERY = "cairn query NAME VERSION METHOD [--input HEX | --input-string S] --url URL[,URL] [--gas N] [--json]";

function queryText(r: QueryResultView): string {
  const lines = [`status:   ${r.status}`, `gas used: ${r.gasUsed}`];
  if (r.output.length > 0) lines.push(`output:   ${r.outputString !== undefined ? JSON.stringify(r.outputString) : "0x" + toHex(r.output)}`);
  if (r.error !== null) lines.push(`error:    ${r.error}`);
  return lines.join("\n") + "\n";
}

export const runQuery: Command = (argv, io = processIo) =>
  runCommand("query", QUERY, argv, io, async (args) => {
    const { values, positionals: p } = parse(args, { ...INPUT_OPTIONS, gas: { type: "string" } }, QUERY);
    const [name, ver, method] = positionals(p, ["NAME", "VERSION", "METHOD"], QUERY);
    const gasLimit = decimal("--gas", values.gas);
    const r = await new Client(urlsOf(values)).query({
      contract: name!,
      version: version("VERSION", ver)!,
      method: method!,
      ...inputOf(values),
      ...(gasLimit !== undefined ? { gasLimit } : {}),
    });
    const json = {
      status: r.status,
      gasUsed: r.gasUsed.toString(),
      output: toHex(r.output),
      ...(r.outputString !== undefined ? { outputString: r.outputString } : {}),
      error: r.error,
    };
    const ok = r.status === "ok";
    return { json, text: queryText(r), exitCode: ok ? EXIT_OK : 1, ...(ok ? {} : { warning: `query ${r.status}${r.error ? `: ${r.error}` : ""}` }) };
  });

// ---- account ----------------------------------------------------------------------------------------

const ACCOUNT = "cairn account PUBKEY --url URL[,URL] [--json]";
export const runAccount: Command = (argv, io = processIo) =>
  runCommand("account", ACCOUNT, argv, io, async (args) => {
    const { values, positionals: p } = parse(args, {}, ACCOUNT);
    const [pk] = positionals(p, ["PUBKEY"], ACCOUNT);
    if (!/^(0x)?[0-9a-fA-F]{64}$/.test(pk!)) throw usage(`PUBKEY must be 64 hex characters, got ${JSON.stringify(pk!.slice(0, 80))}`);
    const a = await new Client(urlsOf(values)).account(pk!);
    const json = {
      publicKey: toHex(a.publicKey),
      balance: a.balance.toString(),
      nonce: a.nonce.toString(),
      pendingNonce: a.pendingNonce.toString(),
      ...(a.height !== null ? { height: a.height.toString() } : {}),
      ...(a.syncing ? { syncing: true } : {}),
    };
    const pending = a.pendingNonce > a.nonce ? ` (${a.pendingNonce - a.nonce} pending)` : "";
    return { json, text: `balance: ${a.balance}\nnonce:   ${a.nonce}${pending}\n` };
  });

// ---- block ------------------------------------------------------------------------------------------

const BLOCK = "cairn block [HEIGHT|latest] --url URL[,URL] [--json]";
export const runBlock: Command = (argv, io = processIo) =>
  runCommand("block", BLOCK, argv, io, async (args) => {
    const { values, positionals: p } = parse(args, {}, BLOCK);
    if (p.length > 1) throw usage(`expected at most one HEIGHT\nusage: ${BLOCK}`);
    const which = p[0] ?? "latest";
    const height = which === "latest" ? "latest" : decimal("HEIGHT", which)!;
    const b = await new Client(urlsOf(values)).block(height);
    if (b === null) throw new CliError("not_found", `no block at height ${which}`);
    const { hash, ...block } = b;
    const h = block.header;
    const text =
      [
        `height:      ${h.height}`,
        `hash:        ${toHex(hash)}`,
        `view:        ${h.view}`,
        `proposer:    ${toHex(h.proposer)}`,
        `parent:      ${toHex(h.parentHash)}`,
        `state root:  ${toHex(h.stateRoot)}`,
        `invocations: ${block.invocations.length}`,
        ...block.invocations.map((inv, i) => `  ${i}: ${inv.contract} v${inv.version} ${inv.method} by ${toHex(inv.invoker).slice(0, 16)}… nonce ${inv.nonce}`),
      ].join("\n") + "\n";
    return { json: { hash: toHex(hash), ...(toJson(Block, block) as object) }, text };
  });

// ---- transfer ---------------------------------------------------------------------------------------

const TRANSFER = "cairn transfer TO AMOUNT --url URL[,URL] --key K [--wait] [--gas N] [--gas-price P] [--json]";
export const runTransfer: Command = (argv, io = processIo) =>
  runCommand("transfer", TRANSFER, argv, io, async (args) => {
    const { values, positionals: p } = parse(args, SEND_OPTIONS, TRANSFER);
    const [to, amountText] = positionals(p, ["TO", "AMOUNT"], TRANSFER);
    if (!/^(0x)?[0-9a-fA-F]{64}$/.test(to!)) throw usage(`TO must be a 64-hex-character public key, got ${JSON.stringify(to!.slice(0, 80))}`);
    const amount = decimal("AMOUNT", amountText)!;
    const urls = urlsOf(values);
    const key = loadKey(values.key);
    const client = new Client(urls);
    const t = { key, to: to!, amount, ...sendOptions(values) };
    if (values.wait) return receiptResult(await client.transfer({ ...t, wait: true }));
    return submitted(await client.transfer({ ...t, wait: false }));
  });

/** The dispatch table main.ts merges into its own. */
export const CLIENT_COMMANDS: Readonly<Record<string, Command>> = {
  keygen: runKeygen,
  deploy: runDeploy,
  invoke: runInvoke,
  query: runQuery,
  account: runAccount,
  block: runBlock,
  transfer: runTransfer,
};

/** One line per command, for main.ts's help text. */
export const CLIENT_USAGE: readonly string[] = [KEYGEN, DEPLOY, INVOKE, QUERY, ACCOUNT, BLOCK, TRANSFER];
