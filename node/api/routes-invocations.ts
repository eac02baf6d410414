// Submitting invocations and reading their receipts.

import type { FastifyInstance, FastifyRequest } from "fastify";
import { CodecError, decode, encode, fromJson, fromHex, toHex, toJson } from "../codec/index.ts";
import {
  BINARY_MEDIA_TYPE,
  InvocationBatch,
  Receipt,
  SignedInvocation,
  SubmitOutcomes,
  type Receipt as ReceiptT,
  type SubmitOutcome,
} from "../codec/types.ts";
import { invocationId } from "../crypto/digests.ts";
import { CairnError } from "../errors.ts";
import { isDisplaced, type FinalOutcome } from "../receipt-waiters.ts";
import { ApiRefusal, shortMessage } from "./errors.ts";
import * as schemas from "./schemas.ts";
import type { NodeServices, SubmitResult } from "./services.ts";
import { isExpired, type Displaced, type Expired, type NonceDisplaced } from "../mempool/types.ts";
import { refuseWhileSyncing } from "./sync.ts";

export const DEFAULT_WAIT_MS = 30_000;
export const MAX_WAIT_MS = 120_000;

export interface InvocationRouteOptions {
  maxBatch: number;
  batchBodyLimit: number;
}

/** A binary body arrives as the Buffer the content parser below leaves it (the schemas check only JSON bodies). */
function isBinary(body: unknown): body is Buffer {
  return Buffer.isBuffer(body);
}

function acceptsBinary(req: FastifyRequest): boolean {
  return req.headers.accept?.includes(BINARY_MEDIA_TYPE) ?? false;
}

function waitMs(q: { wait?: string; timeoutMs?: string }): number | null {
  if (!(q.wait === "true" || q.wait === "1")) return null;
  return Math.min(MAX_WAIT_MS, q.timeoutMs === undefined ? DEFAULT_WAIT_MS : Number(q.timeoutMs));
}

/** The JSON form of a displacement: final, like a receipt. */
export function displacedJson(d: NonceDisplaced): { status: "displaced"; id: string; by: string; height: string } {
  return { status: "displaced", id: d.idHex, by: toHex(d.by), height: d.height.toString(10) };
}

/** The JSON form of an invocation the pool dropped (expired, evicted, replaced). */
export function expiredJson(d: Expired): { status: "expired"; id: string; reason: string; replacedBy?: string } {
  const j: { status: "expired"; id: string; reason: string; replacedBy?: string } = { status: "expired", id: d.idHex, reason: d.reason };
  if (d.replacedBy !== undefined) j.replacedBy = toHex(d.replacedBy);
  return j;
}

/** The JSON form of either kind of drop. */
export function droppedJson(d: Displaced): ReturnType<typeof displacedJson> | ReturnType<typeof expiredJson> {
  return isExpired(d) ? expiredJson(d) : displacedJson(d);
}

/**
 * The message of a drop where only {code, message} fits (the binary batch answer's `refused`, code `displaced`
 * or `expired`); the SDK reads the fields back from it, so its form is fixed.
 */
export function displacedMessage(d: Displaced): string {
  if (isExpired(d)) return d.replacedBy === undefined ? `expired: ${d.reason}` : `expired: ${d.reason} by ${toHex(d.replacedBy)}`;
  return `displaced by ${toHex(d.by)} at height ${d.height}`;
}

/** Refusal of an invocation whose own id is already committed: nothing new was admitted, and nothing will run. */
function alreadyCommitted(receipt: ReceiptT): ApiRefusal {
  const idHex = toHex(receipt.id);
  return new ApiRefusal("already_committed", `invocation ${idHex} is already committed at height ${receipt.height}; it was not run again`, {
    fields: { id: idHex, height: receipt.height.toString(10) },
  });
}

/**
 * A used nonce on an invocation whose own id has a receipt is a resubmission of something committed (a client
 * that signed from old state, or retried), which must not read as a fresh refusal or, worse, as admitted.
 */
async function explainUsedNonce(services: NodeServices, inv: SignedInvocation, e: unknown): Promise<unknown> {
  if (!(e instanceof CairnError) || e.code !== "nonce_used") return e;
  const receipt = await services.getReceipt(invocationId(inv));
  return receipt === null ? e : alreadyCommitted(receipt);
}

/** Batch results with each `nonce_used` item whose id is committed turned into `already_committed`. */
async function explainUsedNonces(services: NodeServices, invs: readonly (SignedInvocation | null)[], results: SubmitResult[]): Promise<SubmitResult[]> {
  return Promise.all(
    results.map(async (r, i) => {
      const inv = invs[i];
      if ("id" in r || r.error.code !== "nonce_used" || inv == null) return r;
      const receipt = await services.getReceipt(invocationId(inv));
      if (receipt === null) return r;
      const e = alreadyCommitted(receipt);
      return { error: { ...e.extra.fields, code: e.code, message: e.message } };
    }),
  );
}

/** The binary form of one batch item's outcome (a short message fits the codec's maxErrorBytes). */
function outcomeOf(r: SubmitResult, waited: boolean, outcome: FinalOutcome | null | undefined): SubmitOutcome {
  if (!("id" in r)) return { type: "refused", value: { code: r.error.code, message: shortMessage(r.error.message) } };
  if (!waited) return { type: "admitted", value: { id: fromHex(r.id) } };
  if (!outcome) return { type: "pending", value: { id: fromHex(r.id) } };
  // The binary union has no displaced case: a final refusal whose message says why (and who used the nonce).
  if (isDisplaced(outcome)) return { type: "refused", value: { code: isExpired(outcome) ? "expired" : "displaced", message: displacedMessage(outcome) } };
  return { type: "committed", value: outcome };
}

/**
 * JSON batch items, each decoded on its own: one that is not a SignedInvocation is refused alone, in place.
 * Also returns the decoded invocations by position (null where refused).
 */
async function submitJsonItems(services: NodeServices, json: unknown[]): Promise<[SubmitResult[], (SignedInvocation | null)[]]> {
  const results: (SubmitResult | null)[] = new Array(json.length).fill(null);
  const decoded: (SignedInvocation | null)[] = new Array(json.length).fill(null);
  const valid: SignedInvocation[] = [];
  for (let i = 0; i < json.length; i++) {
    try {
      const inv = fromJson(SignedInvocation, json[i], `body[${i}]`);
      valid.push(inv);
      decoded[i] = inv;
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      results[i] = { error: { code: "malformed", message: shortMessage(e.message) } };
    }
  }
  const admitted = valid.length === 0 ? [] : await services.submitBatch(valid);
  let next = 0;
  return [results.map((r) => r ?? admitted[next++]!), decoded];
}

export function invocationRoutes(services: NodeServices, opts: InvocationRouteOptions) {
  return async (app: FastifyInstance): Promise<void> => {
    // Binary bodies: the canonical encoding of one SignedInvocation, or of an InvocationBatch. Registered in
    // this plugin only, so no other route ever sees a Buffer body.
    app.addContentTypeParser(BINARY_MEDIA_TYPE, { parseAs: "buffer" }, (_req, body, done) => done(null, body));

    app.post<{ Querystring: { wait?: string; timeoutMs?: string } }>(
      "/v1/invocations",
      { schema: schemas.submitInvocation },
      async (req, reply) => {
        refuseWhileSyncing(services);
        const inv = isBinary(req.body) ? decode(SignedInvocation, req.body, "body") : fromJson(SignedInvocation, req.body, "body");
        let id: Uint8Array;
        try {
          id = await services.submit(inv);
        } catch (e) {
          throw await explainUsedNonce(services, inv, e);
        }
        const idHex = toHex(id);
        const timeoutMs = waitMs(req.query);
        if (timeoutMs === null) return reply.code(202).send({ id: idHex });
        const [outcome] = await services.waitForReceipts([id], timeoutMs);
        if (!outcome) return reply.code(202).send({ id: idHex, status: "pending" });
        if (isDisplaced(outcome)) return reply.code(200).send(droppedJson(outcome));
        return reply.code(200).send(toJson(Receipt, outcome));
      },
    );

    app.post<{ Querystring: { wait?: string; timeoutMs?: string } }>(
      "/v1/invocations/batch",
      { schema: schemas.submitBatch(opts.maxBatch), bodyLimit: opts.batchBodyLimit },
      async (req, reply) => {
        refuseWhileSyncing(services);
        let results: SubmitResult[];
        let invs: (SignedInvocation | null)[];
        if (isBinary(req.body)) {
          // Without JSON's framing a bad item leaves no way to find the next one: the whole body is refused.
          // The count is checked before anything is decoded; a body too short to hold one fails in decode.
          const count = req.body.length >= 4 ? req.body.readUInt32LE(0) : null;
          if (count !== null && (count === 0 || count > opts.maxBatch)) {
            throw new CairnError("malformed", `body: a batch holds 1 to ${opts.maxBatch} invocations, this one ${count}`);
          }
          invs = decode(InvocationBatch, req.body, "body");
          results = await services.submitBatch(invs as SignedInvocation[]);
        } else {
          [results, invs] = await submitJsonItems(services, req.body as unknown[]);
        }
        results = await explainUsedNonces(services, invs, results);
        // With wait, each admitted item also carries its receipt once committed (or "pending" at the timeout),
        // which lets a client pipeline whole batches and still learn every outcome in one round trip.
        const timeoutMs = waitMs(req.query);
        let receipts: (FinalOutcome | null)[] = [];
        if (timeoutMs !== null) receipts = await services.waitForReceipts(results.flatMap((r) => ("id" in r ? [fromHex(r.id)] : [])), timeoutMs);
        let next = 0;
        if (acceptsBinary(req)) {
          const outcomes = results.map((r) => outcomeOf(r, timeoutMs !== null, "id" in r ? receipts[next++] : undefined));
          const body = encode(SubmitOutcomes, outcomes);
          return reply.type(BINARY_MEDIA_TYPE).send(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
        }
        if (timeoutMs === null) return { results };
        const waited = results.map((r) => {
          if (!("id" in r)) return r;
          const outcome = receipts[next++];
          if (!outcome) return { ...r, status: "pending" };
          if (isDisplaced(outcome)) return { ...r, ...droppedJson(outcome) };
          return { ...r, receipt: toJson(Receipt, outcome) };
        });
        return { results: waited };
      },
    );

    app.get<{ Params: { id: string } }>("/v1/invocations/:id", { schema: schemas.getInvocation }, async (req) => {
      const id = fromHex(req.params.id);
      const receipt = await services.getReceipt(id);
      if (receipt !== null) return toJson(Receipt, receipt);
      if (services.isPending(id)) return { status: "pending" };
      const displaced = services.displaced(id);
      if (displaced !== null) return droppedJson(displaced);
      throw new CairnError("not_found", `no invocation ${toHex(id)} is pending or committed`);
    });
  };
}
