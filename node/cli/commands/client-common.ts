// Shared plumbing of the client-side commands: argument parsing, key files, output in text or --json,
// and turning every failure into a clear message and a non-zero exit code.

import { readFileSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { toHex, toJson, tryFromHex, tryFromUtf8 } from "../../codec/index.ts";
import { Receipt, type Receipt as ReceiptT } from "../../codec/types.ts";
import { ClientError, Keypair } from "../../client/index.ts";

/** Where a command writes; tests pass their own to run commands in-process. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const processIo: CliIo = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
};

export const EXIT_OK = 0;
/** The command ran but failed (the node refused, the invocation reverted, the node is unreachable). */
export const EXIT_FAILED = 1;
/** The command line itself is wrong. */
export const EXIT_USAGE = 2;
/**
 * The invocation did not run and never will: these very bytes were already committed (already_committed), or
 * another invocation used its nonce first (displaced). Distinct from 1 so scripts never mistake it for a retry.
 */
export const EXIT_NOT_APPLIED = 3;


/** A failure the command reports as `code: message`; usage errors exit 2. */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode = EXIT_FAILED,
  ) {
    super(message);
  }
}

export function usage(message: string): CliError {
  return new CliError("usage", message, EXIT_USAGE);
}

type Options = NonNullable<ParseArgsConfig["options"]>;

export const COMMON_OPTIONS = {
  json: { type: "boolean" },
  url: { type: "string", multiple: true },
  help: { type: "boolean", short: "h" },
} as const satisfies Options;

export function parse<O extends Options>(argv: string[], options: O, usageLine: string) {
  try {
    return parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (e) {
    throw usage(`${(e as Error).message}\nusage: ${usageLine}`);
  }
}

/**
 * --url (repeated, or comma-separated: several validators of one chain, used in order), else $CAIRN_URL
 * (comma-separated too).
 */
export function urlsOf(values: { url?: string[] }): string[] {
  const given = values.url ?? (process.env.CAIRN_URL ? [process.env.CAIRN_URL] : []);
  const urls = given.flatMap((u) => u.split(",")).map((u) => u.trim()).filter((u) => u !== "");
  if (urls.length === 0) throw usage("--url URL is required (or set CAIRN_URL)");
  for (const url of urls) if (!/^https?:\/\//.test(url)) throw usage(`--url must be an http(s) URL, got ${JSON.stringify(url)}`);
  return urls;
}

/** --key: 64 hex characters, or a file holding them (raw, or the JSON `cairn keygen --json` prints). */
export function loadKey(arg: string | undefined): Keypair {
  const given = arg ?? process.env.CAIRN_KEY;
  if (given === undefined || given === "") throw usage("--key KEY is required (hex secret key, or a file holding it; or set CAIRN_KEY)");
  if (/^(0x)?[0-9a-fA-F]{64}$/.test(given)) return Keypair.fromSecretHex(given);
  let text: string;
  try {
    text = readFileSync(given, "utf8").trim();
  } catch (e) {
    throw usage(`--key ${given}: not a 64-character hex key, and not a readable file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let secret = text;
  if (text.startsWith("{")) {
    try {
      const j = JSON.parse(text) as { secretKey?: unknown };
      if (typeof j.secretKey !== "string") throw new Error("no secretKey field");
      secret = j.secretKey;
    } catch (e) {
      throw usage(`--key ${given}: JSON key file without a string "secretKey" (${(e as Error).message})`);
    }
  }
  if (!/^(0x)?[0-9a-fA-F]{64}$/.test(secret)) throw usage(`--key ${given}: the file does not hold a 64-character hex secret key`);
  return Keypair.fromSecretHex(secret);
}

export function decimal(name: string, value: string | undefined): bigint | undefined {
  if (value === undefined) return undefined;
  if (!/^(0|[1-9][0-9]{0,19})$/.test(value) || BigInt(value) >= 1n << 64n) throw usage(`${name} must be a whole number below 2^64, got ${JSON.stringify(value)}`);
  return BigInt(value);
}

export function version(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^(0|[1-9][0-9]{0,9})$/.test(value) || Number(value) > 0xffffffff) throw usage(`${name} must be a whole number below 2^32, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** --input HEX or --input-string TEXT (not both). */
export function inputOf(values: { input?: string; "input-string"?: string }): { input?: Uint8Array; inputString?: string } {
  if (values.input !== undefined && values["input-string"] !== undefined) throw usage("give --input or --input-string, not both");
  if (values.input !== undefined) {
    const bytes = tryFromHex(values.input);
    if (bytes === null) throw usage(`--input must be hex, got ${JSON.stringify(values.input.slice(0, 40))}`);
    return { input: bytes };
  }
  return values["input-string"] !== undefined ? { inputString: values["input-string"] } : {};
}

/** The receipt fields commands print (reads and writes are left to the API). */
export function receiptJson(r: ReceiptT): Record<string, unknown> {
  const j = toJson(Receipt, r) as Record<string, unknown>;
  const text = tryFromUtf8(r.output);
  return {
    id: j.id,
    status: j.status,
    gasUsed: j.gasUsed,
    fee: j.fee,
    output: j.output,
    ...(text !== null && r.output.length > 0 ? { outputString: text } : {}),
    error: j.error,
    height: j.height,
    index: j.index,
  };
}

export function receiptText(r: ReceiptT): string {
  const text = tryFromUtf8(r.output);
  const lines = [
    `id:       ${toHex(r.id)}`,
    `status:   ${r.status}`,
    `gas used: ${r.gasUsed}`,
    `fee:      ${r.fee}`,
    `block:    ${r.height} (index ${r.index})`,
  ];
  if (r.output.length > 0) lines.push(`output:   ${text !== null ? JSON.stringify(text) : "0x" + toHex(r.output)}`);
  if (r.error !== null) lines.push(`error:    ${r.error}`);
  return lines.join("\n") + "\n";
}

/** What a command hands back: the JSON object for --json, the text otherwise, and its exit code. */
export interface CommandResult {
  json: unknown;
  text: string;
  exitCode?: number;
  /** Printed to stderr whatever the output mode (e.g. why a receipt means failure). */
  warning?: string;
}

/** A receipt as a command result: a committed invocation that did not succeed exits 1. */
export function receiptResult(r: ReceiptT, extra: Record<string, unknown> = {}, prefix = ""): CommandResult {
  const ok = r.status === "ok";
  return {
    json: { ...extra, ...receiptJson(r) },
    text: prefix + receiptText(r),
    exitCode: ok ? EXIT_OK : EXIT_FAILED,
    ...(ok ? {} : { warning: `invocation ${r.status}${r.error !== null ? `: ${r.error}` : ""}` }),
  };
}

/** Runs a command body, prints its result, maps every failure to a message and an exit code. */
export async function runCommand(
  name: string,
  usageLine: string,
  argv: string[],
  io: CliIo,
  body: (argv: string[]) => Promise<CommandResult>,
): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout(`usage: ${usageLine}\n`);
    return EXIT_OK;
  }
  const json = argv.includes("--json");
  try {
    const result = await body(argv);
    io.stdout(json ? JSON.stringify(result.json) + "\n" : result.text);
    if (result.warning !== undefined) io.stderr(`cairn ${name}: ${result.warning}\n`);
    return result.exitCode ?? EXIT_OK;
  } catch (e) {
    let code: string;
    let message: string;
    let exit = EXIT_FAILED;
    let status: number | undefined;
    let fields: Record<string, string> = {};
    if (e instanceof CliError) {
      ({ code, message } = e);
      exit = e.exitCode;
    } else if (e instanceof ClientError) {
      ({ code, message, fields } = e);
      status = e.status;
      if (code === "already_committed" || code === "displaced" || code === "expired") exit = EXIT_NOT_APPLIED;
    } else {
      code = "internal";
      message = e instanceof Error ? e.message : String(e);
    }
    if (json) io.stdout(JSON.stringify({ error: { ...fields, code, message, ...(status ? { status } : {}) } }) + "\n");
    io.stderr(`cairn ${name}: ${code === "usage" ? "" : `${code}: `}${message}\n`);
    return exit;
  }
}
