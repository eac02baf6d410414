// Read-only access to the committed state for the REST layer: accounts, contracts and their versions, contract
// storage, and `query` (a method run on the latest committed state with nothing written). None of it takes the
// executor's lock: a query that spans a commit starts again on the new state.

import { decode } from "../codec/codec.ts";
import {
  BUILTIN_BANK,
  BUILTIN_DEPLOY,
  ContractVersionInfo,
  type ContractVersionInfo as ContractVersionInfoT,
  type SourceFile,
} from "../codec/types.ts";
import type { Store } from "../store/store.ts";
import { decodeAccount } from "./account.ts";
import type { CommittedState } from "./committed-state.ts";
import { ContractCall, type ContractRunner } from "./contract-call.ts";
import { EMPTY, toOutcome } from "./outcome.ts";
import { StateView } from "./state-view.ts";
import { ContractRecord, SourceList, stateKeys } from "./state-keys.ts";
import type { ContractInfo, ExecStats, QueryRequest, QueryResult } from "./types.ts";

const ZERO32 = new Uint8Array(32);
/** A query that keeps meeting commits answers from the state of its last run after this many restarts. */
const MAX_QUERY_RESTARTS = 16;

export class CommittedReads {
  constructor(
    private readonly committed: CommittedState,
    private readonly store: Store,
    private readonly contracts: ContractRunner,
    private readonly queryGasCap: bigint,
    private readonly stats: ExecStats,
  ) {}

  async getAccount(publicKey: Uint8Array): Promise<{ balance: bigint; nonce: bigint }> {
    if (publicKey.length !== 32) return { balance: 0n, nonce: 0n };
    return decodeAccount(await this.committed.read(stateKeys.account(publicKey)));
  }

  async getContract(name: string): Promise<ContractInfo | null> {
    if (!validName(name)) return null;
    const raw = await this.committed.read(stateKeys.contract(name));
    if (raw === null) return null;
    const record = decode(ContractRecord, raw, "contract record");
    const versions: ContractVersionInfoT[] = [];
    for (let v = 1; v <= record.latest; v++) {
      const infoRaw = await this.committed.read(stateKeys.version(name, v));
      if (infoRaw !== null) versions.push(decode(ContractVersionInfo, infoRaw, "contract version"));
    }
    return { name, owner: record.owner, versions };
  }

  async getContractVersion(name: string, version: number): Promise<{ info: ContractVersionInfoT; sources: SourceFile[] } | null> {
    if (!validName(name) || !Number.isInteger(version) || version < 0 || version > 0xffffffff) return null;
    const infoRaw = await this.committed.read(stateKeys.version(name, version));
    if (infoRaw === null) return null;
    // Sources are large and rarely read: straight from RocksDB, not through the cache.
    const sourcesRaw = await this.store.getState(stateKeys.sources(name, version));
    return {
      info: decode(ContractVersionInfo, infoRaw, "contract version"),
      sources: sourcesRaw === null ? [] : decode(SourceList, sourcesRaw, "contract sources"),
    };
  }

  async getState(contract: string, key: Uint8Array): Promise<Uint8Array | null> {
    if (!validName(contract)) return null;
    return this.committed.read(stateKeys.storage(stateKeys.storagePrefix(contract), key));
  }

  /**
   * Runs a method against the latest committed state: no signature, no fee, nothing written. Built-ins are not
   * queryable (their state is served by getAccount / getContract).
   */
  async query(q: QueryRequest): Promise<QueryResult> {
    if (q.contract === BUILTIN_BANK || q.contract === BUILTIN_DEPLOY) {
      return { status: "invalid", gasUsed: 0n, output: EMPTY, error: `built-in ${q.contract} cannot be queried` };
    }
    if (!validName(q.contract)) return { status: "invalid", gasUsed: 0n, output: EMPTY, error: `unknown contract ${q.contract} version ${q.version}` };
    if (q.invoker !== undefined && q.invoker.length !== 32) return { status: "invalid", gasUsed: 0n, output: EMPTY, error: "invoker must be 32 bytes" };
    const gasLimit = q.gasLimit === undefined || q.gasLimit > this.queryGasCap ? this.queryGasCap : q.gasLimit;
    for (let restart = 0; ; restart++) {
      const epoch = this.committed.epoch;
      const view = new StateView(this.committed, []);
      const infoRaw = await view.read(stateKeys.version(q.contract, q.version));
      if (infoRaw === null) return { status: "invalid", gasUsed: 0n, output: EMPTY, error: `unknown contract ${q.contract} version ${q.version}` };
      const info = decode(ContractVersionInfo, infoRaw, "contract version");
      const version = { info, prefix: stateKeys.storagePrefix(info.name) };
      const result = await this.contracts.call(new ContractCall(view, version, q.method, q.input, q.invoker ?? ZERO32, ZERO32, gasLimit));
      if (epoch === this.committed.epoch || restart >= MAX_QUERY_RESTARTS) {
        const o = toOutcome(result, gasLimit);
        return { status: o.status, gasUsed: o.gasUsed, output: o.output, error: o.error };
      }
      this.stats.queryRestarts++;
    }
  }
}

function validName(name: string): boolean {
  return typeof name === "string" && /^[a-z][a-z0-9_-]{0,63}$/.test(name);
}
