// Submitting invocations and reading their receipts.

import type { FastifyInstance } from "fastify";
import { fromJson, fromHex, toHex, toJson } from "../codec/index.ts";
import { Receipt, SignedInvocation } from "../codec/types.ts";
import { CairnError } from "../errors.ts";
import * as schemas from "./schemas.ts";
import type { NodeServices } from "./services.ts";

export const DEFAULT_WAIT_MS = 30_000;
export const MAX_WAIT_MS = 120_000;

export interface InvocationRouteOptions {
  maxBatch: number;
  batchBodyLimit: number;
}

export function invocationRoutes(services: NodeServices, opts: InvocationRouteOptions) {
  return async (app: FastifyInstance): Promise<void> => {
    app.post<{ Querystring: { wait?: string; timeoutMs?: string } }>(
      "/v1/invocations",
      { schema: schemas.submitInvocation },
      async (req, reply) => {
        const inv = fromJson(SignedInvocation, req.body, "body");
        const id = await services.submit(inv);
        const idHex = toHex(id);
        const wait = req.query.wait === "true" || req.query.wait === "1";
        if (!wait) return reply.code(202).send({ id: idHex });
        const timeoutMs = Math.min(MAX_WAIT_MS, req.query.timeoutMs === undefined ? DEFAULT_WAIT_MS : Number(req.query.timeoutMs));
        const [receipt] = await services.waitForReceipts([id], timeoutMs);
        if (receipt === null) return reply.code(202).send({ id: idHex, status: "pending" });
        return reply.code(200).send(toJson(Receipt, receipt));
      },
    );

    app.post<{ Querystring: { wait?: string; timeoutMs?: string } }>(
      "/v1/invocations/batch",
      { schema: schemas.submitBatch(opts.maxBatch), bodyLimit: opts.batchBodyLimit },
      async (req) => {
        const items = (req.body as unknown[]).map((j, i) => fromJson(SignedInvocation, j, `body[${i}]`));
        const results = await services.submitBatch(items);
        if (!(req.query.wait === "true" || req.query.wait === "1")) return { results };
        // With wait, each admitted item also carries its receipt once committed (or "pending" at the timeout),
        // which lets a client pipeline whole batches and still learn every outcome in one round trip.
        const timeoutMs = Math.min(MAX_WAIT_MS, req.query.timeoutMs === undefined ? DEFAULT_WAIT_MS : Number(req.query.timeoutMs));
        const admitted = results.flatMap((r) => ("id" in r ? [fromHex(r.id)] : []));
        const receipts = await services.waitForReceipts(admitted, timeoutMs);
        let next = 0;
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
