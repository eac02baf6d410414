// Route schemas, derived from the codec's own schema() so that REST validation, the OpenAPI document and
// the wire format cannot drift apart. Request schemas validate; response schemas only document (the
// server serializes with JSON.stringify, see server.ts).

import type { JsonSchema } from "../codec/codec.ts";
import { u32, u64, bytes } from "../codec/codec.ts";
import {
  BINARY_MEDIA_TYPE,
  Block,
  ContractVersionInfo,
  LIMITS,
  Receipt,
  SignedInvocation,
  SourceFile,
  bytes32,
  contractName,
  methodName,
} from "../codec/types.ts";

const DECIMAL_U64 = "^(0|[1-9][0-9]{0,19})$";
const DECIMAL_U32 = "^(0|[1-9][0-9]{0,9})$";

const u64String: JsonSchema = { type: "string", pattern: DECIMAL_U64, description: "unsigned 64-bit integer, decimal" };
const hex32 = bytes32.schema();

export const errorResponse: JsonSchema = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      description:
        "already_committed also carries id and height (the committed receipt's); syncing carries height and knownHeight",
      properties: {
        code: { type: "string" },
        message: { type: "string" },
        id: hex32,
        height: u64String,
        knownHeight: u64String,
      },
    },
  },
};

/** The final status of an invocation dropped because a different one used its (invoker, nonce) first. */
const displacedStatus: JsonSchema = {
  type: "object",
  required: ["status", "id", "by", "height"],
  properties: {
    status: { type: "string", enum: ["displaced"] },
    id: hex32,
    by: { ...hex32, description: "the committed invocation that used the nonce" },
    height: { ...u64String, description: "the height it committed at" },
  },
};

/**
 * The final status of an invocation this node's mempool dropped without running: a lower nonce never came
 * (gap_timeout), a full pool evicted it for a better-paying one (evicted), or its invoker re-signed its nonce at
 * a higher gas price (replaced, by replacedBy). A receipt, should it commit after all, supersedes it.
 */
const expiredStatus: JsonSchema = {
  type: "object",
  required: ["status", "id", "reason"],
  properties: {
    status: { type: "string", enum: ["expired"] },
    id: hex32,
    reason: { type: "string", enum: ["gap_timeout", "evicted", "replaced"] },
    replacedBy: { ...hex32, description: "for replaced: the invocation that took its nonce" },
  },
};

const heightProperty: JsonSchema = { ...u64String, description: "the committed height the answer was read at (also the X-Cairn-Height header)" };

function withErrors(ok: Record<number, JsonSchema>, errors: number[]): Record<number, JsonSchema> {
  const out: Record<number, JsonSchema> = { ...ok };
  for (const s of errors) out[s] = errorResponse;
  return out;
}

export const signedInvocation = SignedInvocation.schema();

/**
 * A body that is either JSON, validated here by `json`, or (Content-Type BINARY_MEDIA_TYPE) canonical codec
 * bytes, which the route decodes and the codec checks; so the binary form accepts nothing the JSON one refuses.
 */
function jsonOrBinary(json: JsonSchema, binary: string): JsonSchema {
  return { content: { "application/json": { schema: json }, [BINARY_MEDIA_TYPE]: { schema: { description: binary } } } };
}
export const receipt = Receipt.schema();

const idParams: JsonSchema = { type: "object", required: ["id"], properties: { id: hex32 } };

const blockResponse: JsonSchema = (() => {
  const s = Block.schema() as { properties: Record<string, JsonSchema>; required: string[] };
  return { ...s, required: ["hash", ...s.required], properties: { hash: hex32, ...s.properties } };
})();

const waitQuery = {
  type: "object",
  additionalProperties: false,
  properties: {
    wait: { type: "string", enum: ["true", "false", "1", "0"] },
    timeoutMs: { type: "string", pattern: "^[0-9]{1,9}$" },
  },
};

export const submitInvocation = {
  summary: "Submit a signed invocation",
  description:
    "Admits a signed invocation to the mempool (202 with its id). With wait=true, waits up to timeoutMs " +
    "(default 30 000, at most 120 000) for it to commit and answers 200 with the receipt (or the final " +
    '{"status":"displaced","by","height"} when another invocation used its nonce first, or {"status":"expired",' +
    '"reason"} when the mempool dropped it: gap_timeout, evicted, replaced), or 202 with ' +
    '{"id","status":"pending"} when it has not committed by then. 409 already_committed when this very ' +
    "invocation is already committed (nothing runs again); 409 replacement_underpriced for a different invocation " +
    "with a pending nonce that does not pay at least 10% more; 429 too_many_pending. 503 syncing, with " +
    "Retry-After, while the node is behind; 503 mempool_full when the pool is full of invocations paying as much.",
  body: jsonOrBinary(signedInvocation, "the canonical encoding of one SignedInvocation"),
  querystring: waitQuery,
  response: withErrors(
    {
      200: { anyOf: [receipt, displacedStatus, expiredStatus] },
      202: { type: "object", required: ["id"], properties: { id: hex32, status: { type: "string", enum: ["pending"] } } },
    },
    [400, 409, 413, 429, 503],
  ),
};

export const submitBatch = (maxItems: number) => ({
  summary: "Submit many signed invocations",
  description:
    "Each item is admitted independently; the answer lists, in order, its id or its error. An item that is not " +
    "a valid SignedInvocation (see POST /v1/invocations) is refused alone, with code malformed. With ?wait=true " +
    '(optional timeoutMs) each admitted item also carries its receipt, or status "displaced" with by and height, or ' +
    'status "expired" with reason (and replacedBy), or ' +
    'status "pending" if not committed in time. An item already committed is refused with already_committed, id and ' +
    "height. The whole request is refused with 503 syncing (and Retry-After) while the node is behind. " +
    `The body may also be the canonical encoding of an InvocationBatch (Content-Type ${BINARY_MEDIA_TYPE}); ` +
    `with Accept ${BINARY_MEDIA_TYPE} the answer is the canonical encoding of SubmitOutcomes, one per item in order.`,
  querystring: waitQuery,
  // Items are checked one by one in the route (each against the SignedInvocation codec), so that one bad item
  // is refused alone instead of failing the whole request here.
  body: jsonOrBinary(
    { type: "array", minItems: 1, maxItems, items: { description: "a SignedInvocation, as POST /v1/invocations takes it" } },
    "the canonical encoding of an InvocationBatch",
  ),
  response: withErrors(
    {
      200: {
        type: "object",
        required: ["results"],
        properties: {
          results: {
            type: "array",
            items: {
              anyOf: [
                {
                  type: "object",
                  required: ["id"],
                  properties: {
                    id: hex32,
                    status: { type: "string", enum: ["pending", "displaced", "expired"] },
                    receipt: { type: "object" },
                    by: hex32,
                    height: u64String,
                    reason: { type: "string", enum: ["gap_timeout", "evicted", "replaced"] },
                    replacedBy: hex32,
                  },
                },
                errorResponse,
              ],
            },
          },
        },
      },
    },
    [400, 413, 503],
  ),
});

export const getInvocation = {
  summary: "Receipt of an invocation",
  description:
    'The receipt once committed; {"status":"pending"} while in the mempool; {"status":"displaced","by","height"} ' +
    '(final) when a different invocation used its nonce first; {"status":"expired","reason"[,"replacedBy"]} when ' +
    "this node's mempool dropped it without running (gap_timeout: a lower nonce never came; evicted: a full pool " +
    "took its room for a better-paying invocation; replaced: re-signed at a higher gas price); 404 when unknown.",
  params: idParams,
  response: withErrors(
    {
      200: {
        anyOf: [
          receipt,
          { type: "object", required: ["status"], properties: { status: { type: "string", enum: ["pending"] } } },
          displacedStatus,
          expiredStatus,
        ],
      },
    },
    [400, 404],
  ),
};

export const query = {
  summary: "Run a method read-only",
  description: "Runs a contract method on the committed state and writes nothing. Give input as hex or inputString as UTF-8 text, not both.",
  body: {
    type: "object",
    additionalProperties: false,
    required: ["contract", "version", "method"],
    properties: {
      contract: contractName.schema(),
      version: u32.schema(),
      method: methodName.schema(),
      input: bytes(LIMITS.maxInputBytes).schema(),
      inputString: { type: "string" },
      gasLimit: u64.schema(),
      invoker: hex32,
    },
  },
  response: withErrors(
    {
      200: {
        type: "object",
        required: ["status", "gasUsed", "output", "error", "height"],
        properties: {
          status: { type: "string" },
          gasUsed: u64String,
          output: { type: "string" },
          outputString: { type: "string" },
          error: { anyOf: [{ type: "string" }, { type: "null" }] },
          height: heightProperty,
        },
      },
    },
    [400, 404],
  ),
};

export const getBlock = {
  summary: "A block by height, or the latest",
  params: {
    type: "object",
    required: ["height"],
    properties: { height: { type: "string", pattern: `${DECIMAL_U64}|^latest$` } },
  },
  response: withErrors({ 200: blockResponse }, [400, 404]),
};

export const getLatestBlock = { summary: "The latest committed block", response: withErrors({ 200: blockResponse }, [404]) };

export const getAccount = {
  summary: "A native account",
  description:
    "balance and nonce are committed values at height; pendingNonce also counts the invoker's pending invocations. " +
    "While the X-Cairn-Syncing header is true the node is behind: do not sign with this nonce.",
  params: { type: "object", required: ["pubkey"], properties: { pubkey: hex32 } },
  response: withErrors(
    {
      200: {
        type: "object",
        required: ["publicKey", "balance", "nonce", "pendingNonce", "height"],
        properties: { publicKey: hex32, balance: u64String, nonce: u64String, pendingNonce: u64String, height: heightProperty },
      },
    },
    [400],
  ),
};

const nameParam = contractName.schema();

export const getContract = {
  summary: "A contract and its versions",
  params: { type: "object", required: ["name"], properties: { name: nameParam } },
  response: withErrors(
    {
      200: {
        type: "object",
        required: ["name", "owner", "versions"],
        properties: { name: nameParam, owner: hex32, versions: { type: "array", items: ContractVersionInfo.schema() } },
      },
    },
    [400, 404],
  ),
};

export const getContractVersion = {
  summary: "One version of a contract with its sources",
  params: {
    type: "object",
    required: ["name", "version"],
    properties: { name: nameParam, version: { type: "string", pattern: DECIMAL_U32 } },
  },
  response: withErrors(
    (() => {
      const s = ContractVersionInfo.schema() as { properties: Record<string, JsonSchema>; required: string[] };
      return {
        200: {
          ...s,
          required: [...s.required, "sources"],
          properties: { ...s.properties, sources: { type: "array", items: SourceFile.schema() } },
        },
      };
    })(),
    [400, 404],
  ),
};

export const getState = {
  summary: "A contract storage value",
  params: {
    type: "object",
    required: ["contract", "keyHex"],
    properties: {
      contract: nameParam,
      keyHex: { type: "string", pattern: "^(0x)?([0-9a-fA-F]{2})+$", maxLength: 2 * LIMITS.maxKeyBytes + 2 },
    },
  },
  response: withErrors(
    {
      200: {
        type: "object",
        required: ["contract", "key", "value"],
        properties: { contract: nameParam, key: { type: "string" }, value: { type: "string" } },
      },
    },
    [400, 404],
  ),
};

export const getStatus = {
  summary: "Chain and node status",
  response: {
    200: {
      type: "object",
      required: ["chainId", "height", "headHash", "stateRoot", "view", "validators", "self", "mempool", "minGasPrice", "syncing", "syncReason", "knownHeight"],
      properties: {
        chainId: { type: "string" },
        height: u64String,
        headHash: hex32,
        stateRoot: hex32,
        view: u64String,
        validators: {
          type: "array",
          items: { type: "object", required: ["publicKey", "name"], properties: { publicKey: hex32, name: { type: "string" } } },
        },
        self: { anyOf: [{ type: "integer" }, { type: "null" }] },
        mempool: { type: "integer" },
        minGasPrice: { ...u64String, description: "the chain's fee floor (genesis): a lower gasPrice is refused with gas_price_too_low" },
        syncing: { type: "boolean", description: "true while the node knows it is behind its peers: it refuses writes (503 syncing)" },
        syncReason: { anyOf: [{ type: "string" }, { type: "null" }] },
        knownHeight: { anyOf: [u64String, { type: "null" }], description: "the highest committed height heard of from peers" },
      },
    },
  },
};

export const getEvidence = {
  summary: "Recorded evidence of validator misbehaviour",
  response: { 200: { type: "object", required: ["evidence"], properties: { evidence: { type: "array" } } } },
};

export const getMetrics = {
  summary: "Prometheus metrics (text exposition format)",
  produces: ["text/plain"],
  response: { 200: { type: "string" } },
};
