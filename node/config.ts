// A validator's configuration file: who it is, where its data lives, where its peers are, and the
// genesis every validator must share. The same file format serves a loopback devnet and one validator per
// machine; only the host names differ.

import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { fromJson, toJson } from "./codec/codec.ts";
import { tryFromHex } from "./codec/hex.ts";
import { Genesis, type Genesis as GenesisT } from "./codec/types.ts";
import { CairnError } from "./errors.ts";

export interface PeerAddress {
  publicKey: string;
  host: string;
  port: number;
}

export interface ConsensusSettings {
  /** First view timeout; doubles on each consecutive failed view up to maxTimeoutMs. */
  baseTimeoutMs: number;
  maxTimeoutMs: number;
  maxBlockInvocations: number;
  maxBlockBytes: number;
}

export interface MempoolSettings {
  capacity: number;
  perInvokerLimit: number;
}

export interface NodeConfig {
  /** Index of this validator in genesis.validators. */
  index: number;
  /** Hex of the 32-byte ed25519 seed; keep the file private. */
  secretKey: string;
  dataDir: string;
  genesisFile: string;
  listen: { host: string; port: number };
  rest: { host: string; port: number };
  /** Every validator's address, in genesis order (including this one, whose entry is ignored). */
  peers: PeerAddress[];
  consensus: ConsensusSettings;
  mempool: MempoolSettings;
  /**
   * fsync the consensus safety state before each vote (and with it every earlier write, commits included: one
   * write-ahead log): on for real deployments, may be off for throwaway test networks.
   */
  syncWrites: boolean;
  /**
   * Worker threads verifying invocation signatures; 0 verifies on the event loop. Default: the machine's
   * cores minus one. Validators sharing a machine (a devnet) should split its cores, or the threads only
   * add hand-offs and context switches.
   */
  verifyWorkers?: number;
}

export const DEFAULT_CONSENSUS: ConsensusSettings = {
  baseTimeoutMs: 1000,
  maxTimeoutMs: 30_000,
  maxBlockInvocations: 2000,
  maxBlockBytes: 4 * 1024 * 1024,
};

/**
 * Defaults filled in. A `maxBlockWaitMs` left in an older config is ignored: idle leaders no longer propose
 * empty blocks after a wait, they propose nothing.
 */
export function consensusSettings(given: Partial<ConsensusSettings>): ConsensusSettings {
  const { maxBlockWaitMs: _ignored, ...rest } = given as Partial<ConsensusSettings> & { maxBlockWaitMs?: unknown };
  return { ...DEFAULT_CONSENSUS, ...rest };
}

// perInvokerLimit matches the mempool's own default (DEFAULT_MAX_PER_INVOKER): a stranger's share of every pool stays
// small, and clients with more to send pipeline in waves or spread over accounts.
export const DEFAULT_MEMPOOL: MempoolSettings = { capacity: 50_000, perInvokerLimit: 16 };

export interface LoadedConfig {
  path: string;
  config: NodeConfig;
  genesis: GenesisT;
  secretKey: Uint8Array;
}

function fail(path: string, message: string): never {
  throw new CairnError("malformed", `${path}: ${message}`);
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new CairnError("not_found", `cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    fail(path, `not valid JSON (${(e as Error).message})`);
  }
}

function isPort(p: unknown): p is number {
  return typeof p === "number" && Number.isInteger(p) && p > 0 && p < 65536;
}

/**
 * Reads a genesis file. One without `minGasPrice` loads with no floor (0) rather than being refused: chains
 * created before the floor existed keep their genesis hash, and so their stored chain, unchanged.
 */
export function loadGenesis(path: string): GenesisT {
  try {
    return fromJson(Genesis, readJson(path), "genesis");
  } catch (e) {
    if (e instanceof CairnError) throw e;
    fail(path, (e as Error).message);
  }
}

export function genesisToJson(genesis: GenesisT): unknown {
  return toJson(Genesis, genesis);
}

/** Reads and checks a node config; relative paths inside it are relative to the file. */
export function loadConfig(path: string): LoadedConfig {
  const abs = resolve(path);
  const raw = readJson(abs) as Partial<NodeConfig> | null;
  if (typeof raw !== "object" || raw === null) fail(abs, "expected a JSON object");
  const base = dirname(abs);
  const rel = (p: unknown, field: string): string => {
    if (typeof p !== "string" || p.length === 0) fail(abs, `${field} must be a path`);
    return isAbsolute(p) ? p : resolve(base, p);
  };
  if (typeof raw.index !== "number" || !Number.isInteger(raw.index) || raw.index < 0) fail(abs, "index must be a validator index");
  const secretKey = typeof raw.secretKey === "string" ? tryFromHex(raw.secretKey) : null;
  if (secretKey === null || secretKey.length !== 32) fail(abs, "secretKey must be 32 bytes of hex");
  const listen = raw.listen;
  const rest = raw.rest;
  if (!listen || typeof listen.host !== "string" || !isPort(listen.port)) fail(abs, "listen must be {host, port}");
  if (!rest || typeof rest.host !== "string" || !isPort(rest.port)) fail(abs, "rest must be {host, port}");
  if (!Array.isArray(raw.peers)) fail(abs, "peers must be an array");
  for (const [i, p] of raw.peers.entries()) {
    if (typeof p?.host !== "string" || !isPort(p?.port) || tryFromHex(String(p?.publicKey))?.length !== 32) {
      fail(abs, `peers[${i}] must be {publicKey (hex), host, port}`);
    }
  }
  const genesisFile = rel(raw.genesisFile, "genesisFile");
  const genesis = loadGenesis(genesisFile);
  const config: NodeConfig = {
    index: raw.index,
    secretKey: raw.secretKey as string,
    dataDir: rel(raw.dataDir, "dataDir"),
    genesisFile,
    listen,
    rest,
    peers: raw.peers,
    consensus: consensusSettings(raw.consensus ?? {}),
    mempool: { ...DEFAULT_MEMPOOL, ...(raw.mempool ?? {}) },
    syncWrites: raw.syncWrites ?? true,
  };
  if (raw.verifyWorkers !== undefined) {
    if (typeof raw.verifyWorkers !== "number" || !Number.isInteger(raw.verifyWorkers) || raw.verifyWorkers < 0 || raw.verifyWorkers > 64) {
      fail(abs, "verifyWorkers must be an integer from 0 to 64");
    }
    config.verifyWorkers = raw.verifyWorkers;
  }
  const c = config.consensus;

  if (config.index >= genesis.validators.length) fail(abs, `index ${config.index} but genesis has ${genesis.validators.length} validators`);
  if (config.peers.length !== genesis.validators.length) {
    fail(abs, `peers lists ${config.peers.length} validators but genesis has ${genesis.validators.length}`);
  }
  for (const [i, v] of genesis.validators.entries()) {
    const pk = tryFromHex(config.peers[i]!.publicKey)!;
    if (pk.length !== 32 || pk.some((b, j) => b !== v.publicKey[j])) fail(abs, `peers[${i}].publicKey differs from genesis validator ${i}`);
  }
  return { path: abs, config, genesis, secretKey };
}
