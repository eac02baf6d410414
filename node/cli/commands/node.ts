// Operator commands: run validators (start, devnet) and check a validator's database (verify-chain, replay).

import { join } from "node:path";
import { decode } from "../../codec/codec.ts";
import { SafetyState } from "../../codec/consensus.ts";
import { toHex } from "../../codec/hex.ts";
import { loadConfig } from "../../config.ts";
import { verifyQc } from "../../consensus/quorum.ts";
import { verifyStrict } from "../../crypto/sodium.ts";
import { initDevnet, runDevnet } from "../../devnet.ts";
import { replay } from "../../exec/replay.ts";
import { RealContractVm, genesisBlockHash } from "../../exec/index.ts";
import { Store } from "../../store/store.ts";
import { verifyChain } from "../../store/verify.ts";
import { Validator } from "../../validator/index.ts";
import { EXIT_FAILED, EXIT_OK, CliError, parse, processIo, runCommand, usage, type CliIo } from "./client-common.ts";

type Command = (argv: string[], io?: CliIo) => Promise<number>;

function failure(e: unknown): CliError {
  if (e instanceof CliError) return e;
  const err = e as Error & { code?: unknown };
  return new CliError(typeof err.code === "string" ? err.code : "failed", err.message ?? String(e));
}

function configArg(values: { config?: string }, line: string): string {
  if (!values.config) throw usage(`--config FILE is required\nusage: ${line}`);
  return values.config;
}

// ---- start ------------------------------------------------------------------------------------------

const START = "cairn start --config FILE [--json]";
const FATAL_EXIT_GRACE_MS = 5000;

export const runStart: Command = async (argv, io = processIo) => {
  let validator: Validator | null = null;
  const code = await runCommand("start", START, argv, io, async (args) => {
    const { values } = parse(args, { config: { type: "string" } }, START);
    let loaded;
    try {
      loaded = loadConfig(configArg(values, START));
      // The start-up check (Executor.open) logs through the validator's logger as it begins and ends.
      validator = await Validator.start(loaded);
    } catch (e) {
      throw failure(e);
    }
    const { config } = loaded;
    return {
      json: { started: true, index: config.index, chainId: loaded.genesis.chainId, rest: `http://${config.rest.host}:${config.rest.port}` },
      text: `validator ${config.index} of ${loaded.genesis.chainId} serving http://${config.rest.host}:${config.rest.port}\n`,
    };
  });
  if (code !== EXIT_OK || validator === null) return code;
  const v: Validator = validator;
  return new Promise<number>((resolve) => {
    let done = false;
    const finish = async (exitCode: number): Promise<void> => {
      if (done) return;
      done = true;
      await v.stop();
      resolve(exitCode);
    };
    v.onFatal = (e) => {
      io.stderr(`cairn start: fatal: ${e.message}; stopping (the next start recovers from the store)\n`);
      // Closing waits for writes already issued; a storage engine that no longer answers must not keep a
      // halted validator's process alive, so the exit does not wait for it past a few seconds.
      // Exit explicitly: a halted validator must not linger because some handle keeps the event loop alive.
      setTimeout(() => process.exit(EXIT_FAILED), FATAL_EXIT_GRACE_MS).unref();
      void finish(EXIT_FAILED).then(() => process.exit(EXIT_FAILED));
    };
    process.once("SIGINT", () => void finish(EXIT_OK));
    process.once("SIGTERM", () => void finish(EXIT_OK));
  });
};

// ---- devnet -----------------------------------------------------------------------------------------

const DEVNET = "cairn devnet --dir DIR [--validators N] [--base-port P] [--min-gas-price G] [--init-only] [--json]";

export const runDevnetCommand: Command = async (argv, io = processIo) => {
  let dir = "";
  let run = false;
  const code = await runCommand("devnet", DEVNET, argv, io, async (args) => {
    const { values, positionals } = parse(
      args,
      { dir: { type: "string" }, validators: { type: "string" }, "base-port": { type: "string" }, "min-gas-price": { type: "string" }, "init-only": { type: "boolean" } },
      DEVNET,
    );
    if (positionals.length > 0) throw usage(`unexpected ${JSON.stringify(positionals)}\nusage: ${DEVNET}`);
    if (!values.dir) throw usage(`--dir DIR is required\nusage: ${DEVNET}`);
    const validators = values.validators === undefined ? 1 : Number(values.validators);
    const basePort = values["base-port"] === undefined ? 7700 : Number(values["base-port"]);
    if (!Number.isInteger(validators) || validators < 1 || validators > 64) throw usage("--validators must be a whole number from 1 to 64");
    if (!Number.isInteger(basePort) || basePort < 1 || basePort + 1000 + validators > 65535) throw usage("--base-port must leave room for P+i and P+1000+i");
    const mgp = values["min-gas-price"];
    if (mgp !== undefined && (!/^(0|[1-9][0-9]{0,19})$/.test(mgp) || BigInt(mgp) >= 1n << 64n)) throw usage("--min-gas-price must be a whole number from 0 to 2^64-1");
    // Only a new devnet folder takes it: an existing one resumes with its own genesis.
    const { info, created } = initDevnet(values.dir, { validators, basePort, ...(mgp !== undefined ? { minGasPrice: BigInt(mgp) } : {}) });
    dir = values.dir;
    run = !values["init-only"];
    return {
      json: { ...info, dir: values.dir, created },
      text:
        `${created ? "created" : "resuming"} devnet ${info.chainId} in ${values.dir}\n` +
        info.rest.map((u, i) => `  validator ${i}: ${u}\n`).join("") +
        `  funded account: ${info.funded.publicKey}\n  its secret key: ${info.funded.secretKey}\n` +
        (values["init-only"] ? "" : "running; Ctrl-C stops the validators\n"),
    };
  });
  if (code !== EXIT_OK || !run) return code;
  try {
    await runDevnet(dir, (line) => io.stderr(line + "\n"));
    return EXIT_OK;
  } catch (e) {
    io.stderr(`cairn devnet: ${(e as Error).message}\n`);
    return EXIT_FAILED;
  }
};

// ---- verify-chain -----------------------------------------------------------------------------------

const VERIFY = "cairn verify-chain --config FILE [--json]";
/** A progress line on stderr every this many blocks: a million-block walk takes minutes. */
export const VERIFY_PROGRESS_BLOCKS = 10_000;

/**
 * The full check of a stopped validator's database: every committed block from genesis (what a start checks
 * of the last few only, see START_CHECK_BLOCKS), with every certificate's signatures, and the safety state.
 */
export const runVerifyChain: Command = (argv, io = processIo) =>
  runCommand("verify-chain", VERIFY, argv, io, async (args) => {
    const { values } = parse(args, { config: { type: "string" } }, VERIFY);
    const loaded = loadConfig(configArg(values, VERIFY));
    const set = {
      chainId: loaded.genesis.chainId,
      validators: loaded.genesis.validators.map((v) => v.publicKey),
      genesisBlockHash: genesisBlockHash(loaded.genesis),
    };
    const crypto = { sign: () => new Uint8Array(64), verify: verifyStrict };
    let store: Store;
    try {
      store = await Store.open(join(loaded.config.dataDir, "db"), { syncCommits: false });
    } catch (e) {
      throw failure(e);
    }
    try {
      const total = ((await store.committedHead())?.height ?? -1n) + 1n;
      const began = performance.now();
      const r = await verifyChain(store, {
        verifyQc: (qc, height) => height === 0n || verifyQc(qc, set, crypto).ok,
        onBlock: (height) => {
          const done = height + 1n;
          if (done % BigInt(VERIFY_PROGRESS_BLOCKS) !== 0n || done === total) return;
          const s = (performance.now() - began) / 1000;
          io.stderr(`cairn verify-chain: ${done} of ${total} blocks verified (${(Number((done * 1000n) / total) / 10).toFixed(1)}%), ${s.toFixed(1)} s\n`);
        },
      });
      // The safety state is the other thing a start reads: a start refuses one that does not decode.
      const safety = await store.getSafety();
      if (safety !== null) {
        try {
          decode(SafetyState, safety, "stored safety state");
        } catch (e) {
          throw new CliError("corrupt_chain", `the stored safety state does not decode: ${(e as Error).message}`);
        }
      }
      const seconds = (performance.now() - began) / 1000;
      return {
        json: { ok: true, head: r.head?.toString() ?? null, blocks: r.blocks, headHash: r.headHash ? toHex(r.headHash) : null, safetyState: safety !== null, seconds },
        text: `chain ok: ${r.blocks} committed blocks, head ${r.head ?? "none"} ${r.headHash ? toHex(r.headHash) : ""}; safety state ${safety === null ? "absent" : "ok"}; ${seconds.toFixed(1)} s\n`,
      };
    } catch (e) {
      throw failure(e);
    } finally {
      await store.close();
    }
  });

// ---- replay -----------------------------------------------------------------------------------------

const REPLAY = "cairn replay --config FILE [--json]";

export const runReplay: Command = (argv, io = processIo) =>
  runCommand("replay", REPLAY, argv, io, async (args) => {
    const { values } = parse(args, { config: { type: "string" } }, REPLAY);
    const loaded = loadConfig(configArg(values, REPLAY));
    let report;
    try {
      report = await replay(join(loaded.config.dataDir, "db"), loaded.genesis, {
        vm: new RealContractVm({ compileCacheDir: join(loaded.config.dataDir, "compiled") }),
      });
    } catch (e) {
      throw failure(e);
    }
    const json = {
      ok: report.ok,
      height: report.height.toString(),
      stateRoot: toHex(report.stateRoot),
      mismatch: report.mismatch
        ? { height: report.mismatch.height.toString(), expected: toHex(report.mismatch.expected), actual: toHex(report.mismatch.actual) }
        : null,
    };
    return {
      json,
      text: report.ok
        ? `replay ok: re-executed to height ${report.height}, state root ${json.stateRoot} matches\n`
        : `replay MISMATCH at height ${json.mismatch!.height}: recorded ${json.mismatch!.expected}, re-executed ${json.mismatch!.actual}\n`,
      exitCode: report.ok ? EXIT_OK : EXIT_FAILED,
    };
  });

export const NODE_COMMANDS: Readonly<Record<string, Command>> = {
  start: runStart,
  devnet: runDevnetCommand,
  "verify-chain": runVerifyChain,
  replay: runReplay,
};

export const NODE_USAGE: readonly string[] = [START, DEVNET, VERIFY, REPLAY];
