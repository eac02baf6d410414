// Read-only views of the chain: blocks, accounts, contracts, state, status, evidence, and read-only queries.

import type { FastifyInstance } from "fastify";
import { fromHex, fromJson, toHex, toJson, tryFromUtf8, utf8 } from "../codec/index.ts";
import { bytes, u32, u64 } from "../codec/codec.ts";
import { Block, ContractVersionInfo, LIMITS, bytes32 } from "../codec/types.ts";
import { blockHash } from "../crypto/digests.ts";
import { CairnError } from "../errors.ts";
import { jsonSafe } from "./json.ts";
import * as schemas from "./schemas.ts";
import type { NodeServices } from "./services.ts";
import { answeredAt } from "./sync.ts";

interface QueryBody {
  contract: string;
  version: unknown;
  method: string;
  input?: unknown;
  inputString?: string;
  gasLimit?: unknown;
  invoker?: unknown;
}

function blockJson(block: Block): unknown {
  return { hash: toHex(blockHash(block.header)), ...(toJson(Block, block) as object) };
}

export function chainRoutes(services: NodeServices) {
  return async (app: FastifyInstance): Promise<void> => {
    app.post<{ Body: QueryBody }>("/v1/query", { schema: schemas.query }, async (req, reply) => {
      const b = req.body;
      if (b.input !== undefined && b.inputString !== undefined) {
        throw new CairnError("malformed", "give input (hex) or inputString, not both");
      }
      const input = b.inputString !== undefined ? utf8(b.inputString) : b.input === undefined ? new Uint8Array(0) : fromJson(bytes(LIMITS.maxInputBytes), b.input, "body.input");
      if (input.length > LIMITS.maxInputBytes) throw new CairnError("too_large", `input of ${input.length} bytes exceeds ${LIMITS.maxInputBytes}`);
      const result = await services.query({
        contract: b.contract,
        version: fromJson(u32, b.version, "body.version"),
        method: b.method,
        input,
        ...(b.gasLimit !== undefined ? { gasLimit: fromJson(u64, b.gasLimit, "body.gasLimit") } : {}),
        ...(b.invoker !== undefined ? { invoker: fromJson(bytes32, b.invoker, "body.invoker") } : {}),
      });
      const outputString = tryFromUtf8(result.output);
      return {
        status: result.status,
        gasUsed: result.gasUsed.toString(10),
        output: toHex(result.output),
        ...(outputString !== null ? { outputString } : {}),
        error: result.error,
        height: answeredAt(services, reply).toString(10),
      };
    });

    app.get("/v1/blocks/latest", { schema: schemas.getLatestBlock }, async () => {
      const block = await services.getBlock("latest");
      if (block === null) throw new CairnError("not_found", "no block yet");
      return blockJson(block);
    });

    app.get<{ Params: { height: string } }>("/v1/blocks/:height", { schema: schemas.getBlock }, async (req) => {
      const h = req.params.height;
      const block = await services.getBlock(h === "latest" ? "latest" : fromJson(u64, h, "height"));
      if (block === null) throw new CairnError("not_found", `no block at height ${h}`);
      return blockJson(block);
    });

    app.get<{ Params: { pubkey: string } }>("/v1/accounts/:pubkey", { schema: schemas.getAccount }, async (req, reply) => {
      const pk = fromHex(req.params.pubkey);
      const account = await services.getAccount(pk);
      const pending = services.pendingNonce?.(pk) ?? null;
      return {
        publicKey: toHex(pk),
        balance: account.balance.toString(10),
        nonce: account.nonce.toString(10),
        pendingNonce: (pending !== null && pending > account.nonce ? pending : account.nonce).toString(10),
        height: answeredAt(services, reply).toString(10),
      };
    });

    app.get<{ Params: { name: string } }>("/v1/contracts/:name", { schema: schemas.getContract }, async (req) => {
      const c = await services.getContract(req.params.name);
      if (c === null) throw new CairnError("not_found", `no contract named ${req.params.name}`);
      return { name: c.name, owner: toHex(c.owner), versions: c.versions.map((v) => toJson(ContractVersionInfo, v)) };
    });

    app.get<{ Params: { name: string; version: string } }>(
      "/v1/contracts/:name/:version",
      { schema: schemas.getContractVersion },
      async (req) => {
        const { name } = req.params;
        const version = fromJson(u32, Number(req.params.version), "version");
        const found = await services.getContractVersion(name, version);
        if (found === null) throw new CairnError("not_found", `no version ${version} of contract ${name}`);
        return { ...(toJson(ContractVersionInfo, found.info) as object), sources: found.sources };
      },
    );

    app.get<{ Params: { contract: string; keyHex: string } }>("/v1/state/:contract/:keyHex", { schema: schemas.getState }, async (req) => {
      const key = fromHex(req.params.keyHex);
      if (key.length > LIMITS.maxKeyBytes) throw new CairnError("malformed", `key of ${key.length} bytes exceeds ${LIMITS.maxKeyBytes}`);
      const value = await services.getState(req.params.contract, key);
      if (value === null) throw new CairnError("not_found", `contract ${req.params.contract} has no value at key ${toHex(key)}`);
      return { contract: req.params.contract, key: toHex(key), value: toHex(value) };
    });

    app.get("/v1/status", { schema: schemas.getStatus }, async () => {
      const s = services.status();
      const sync = services.syncState();
      return {
        chainId: s.chainId,
        height: s.height.toString(10),
        headHash: toHex(s.headHash),
        stateRoot: toHex(s.stateRoot),
        view: s.view.toString(10),
        validators: s.validators.map((v) => ({ publicKey: toHex(v.publicKey), name: v.name })),
        self: s.self,
        mempool: s.mempool,
        minGasPrice: s.minGasPrice.toString(10),
        syncing: sync.syncing,
        syncReason: sync.reason,
        knownHeight: sync.knownHeight === null ? null : sync.knownHeight.toString(10),
      };
    });

    app.get("/v1/evidence", { schema: schemas.getEvidence }, async () => ({ evidence: jsonSafe(await services.evidence()) }));
  };
}
