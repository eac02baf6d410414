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
import { CairnError } from "../errors.ts";
import { shortMessage } from "./errors.ts";
import * as schemas from "./schemas.ts";
import type { NodeServices, SubmitResult } from "./services.ts";

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

/** The binary form of one batch item's outcome (a short message fits the codec's maxErrorBytes). */
function outcomeOf(r: SubmitResult, waited: boolean, receipt: ReceiptT | null | undefined): SubmitOutcome {
  if (!("id" in r)) return { type: "refused", value: { code: r.error.code, message: shortMessage(r.error.message) } };
  if (!waited) return { type: "admitted", value: { id: fromHex(r.id) } };
  return receipt ? { type: "committed", value: receipt } : { type: "pending", value: { id: fromHex(r.id) } };
}

/** JSON batch items, each decoded on its own: one that is not a SignedInvocation is refused alone, in place. */
async function submitJsonItems(services: NodeServices, json: unknown[]): Promise<SubmitResult[]> {
  const results: (SubmitResult | null)[] = new Array(json.length).fill(null);
  const valid: SignedInvocation[] = [];
  for (let i = 0; i < json.length; i++) {
    try {
      valid.push(fromJson(SignedInvocation, json[i], `body[${i}]`));
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      results[i] = { error: { code: "malformed", message: shortMessage(e.message) } };
    }
  }
  const admitted = valid.length === 0 ? [] : await services.submitBatch(valid);
  let next = 0;
  return results.map((r) => r ?? admitted[next++]!);
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
        const inv = isBinary(req.body) ? decode(SignedInvocation, req.body, "body") : fromJson(SignedInvocation, req.body, "body");
        const id = await services.submit(inv);
        const idHex = toHex(id);
        const timeoutMs = waitMs(req.query);
        if (timeoutMs === null) return reply.code(202).send({ id: idHex });
        const [receipt] = await services.waitForReceipts([id], timeoutMs);
        if (receipt === null) return reply.code(202).send({ id: idHex, status: "pending" });
        return reply.code(200).send(toJson(Receipt, receipt));
      },
    );

    app.post<{ Querystring: { wait?: string; timeoutMs?: string } }>(
      "/v1/invocations/batch",
      { schema: schemas.submitBatch(opts.maxBatch), bodyLimit: opts.batchBodyLimit },
      async (req, reply) => {
        let results: SubmitResult[];
        if (isBinary(req.body)) {
          // Without JSON's framing a bad item leaves no way to find the next one: the whole body is refused.
          // The count is checked before anything is decoded; a body too short to hold one fails in decode.
          const count = req.body.length >= 4 ? req.body.readUInt32LE(0) : null;
          if (count !== null && (count === 0 || count > opts.maxBatch)) {
            throw new CairnError("malformed", `body: a batch holds 1 to ${opts.maxBatch} invocations, this one ${count}`);
          }
          const items = decode(InvocationBatch, req.body, "body");
          results = await services.submitBatch(items);
        } else {
          results = await submitJsonItems(services, req.body as unknown[]);
        }
        // With wait, each admitted item also carries its receipt once committed (or "pending" at the timeout),
        // which lets a client pipeline whole batches and still learn every outcome in one round trip.
        const timeoutMs = waitMs(req.query);
        let receipts: (ReceiptT | null)[] = [];
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
          const receipt = receipts[next++];
          return receipt ? { ...r, receipt: toJson(Receipt, receipt) } : { ...r, status: "pending" };
        });
        return { results: waited };
      },
    );

    app.get<{ Params: { id: string } }>("/v1/invocations/:id", { schema: schemas.getInvocation }, async (req) => {
      const id = fromHex(req.params.id);
      const receipt = await services.getReceipt(id);
      if (receipt !== null) return toJson(Receipt, receipt);
      if (services.isPending(id)) return { status: "pending" };
      throw new CairnError("not_found", `no invocation ${toHex(id)} is pending or committed`);
    });
  };
}
