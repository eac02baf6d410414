// The node's REST API: fastify with schemas derived from the codec, an OpenAPI document at /docs, one
// JSON error shape for every failure, and HTTP metrics beside the node's own at /metrics.

import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from "fastify";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { LIMITS } from "../codec/types.ts";
import { errorBody, toApiError } from "./errors.ts";
import { HttpMetrics } from "./metrics.ts";
import { chainRoutes } from "./routes-chain.ts";
import { invocationRoutes } from "./routes-invocations.ts";
import { isRead, labelRead } from "./sync.ts";
import * as schemas from "./schemas.ts";
import type { NodeServices } from "./services.ts";

export interface ApiServerOptions {
  /** Largest request body in bytes. Default: room for one invocation with the largest input, as hex. */
  bodyLimit?: number;
  /** Largest body of POST /v1/invocations/batch. Default 16 x bodyLimit. */
  batchBodyLimit?: number;
  /** Most invocations in one batch request. Default 1 000. */
  maxBatch?: number;
  /** Fastify's logger option (false, true, or pino options). Default false. */
  logger?: FastifyServerOptions["logger"];
}

export const DEFAULT_BODY_LIMIT = 2 * LIMITS.maxInputBytes + 64 * 1024;

export function createApiServer(services: NodeServices, opts: ApiServerOptions = {}): FastifyInstance {
  const bodyLimit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit,
    // Contract storage keys travel in the path as hex (up to 2 x 1024 characters).
    routerOptions: { maxParamLength: 2 * LIMITS.maxKeyBytes + 16 },
    // Validation must not rewrite what the client sent: no type coercion, no silently dropped fields.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    frameworkErrors: (err, _req, reply) => {
      const e = toApiError(err);
      void (reply as FastifyReply).code(e.status).send(errorBody(e));
    },
  });

  // Response schemas document the API; serializing through them would drop or reshape fields.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  const http = new HttpMetrics();
  app.addHook("onResponse", async (req, reply) => {
    http.observe(req.method, req.routeOptions.url ?? "unmatched", reply.statusCode, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((err, req, reply) => {
    const e = toApiError(err);
    if (e.internal) req.log.error({ err }, "request failed");
    if (e.retryAfterSec !== undefined) void reply.header("retry-after", String(e.retryAfterSec));
    void reply.code(e.status).send(errorBody(e));
  });
  // Reads say which committed height they were answered at (and whether the node knows it is behind), so a
  // client can refuse to take a nonce from a node that is catching up.
  app.addHook("onRequest", async (req, reply) => {
    if (isRead(req)) labelRead(services, reply);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorBody({ code: "not_found", message: `no route ${req.method} ${req.url.split("?")[0]}` }));
  });

  void app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "Cairn node API",
        description: "Submit signed invocations, read receipts, blocks, accounts, contracts and state. Bytes are hex; 64-bit integers are decimal strings.",
        version: "1",
      },
    },
  });
  void app.register(swaggerUi, { routePrefix: "/docs" });

  void app.register(invocationRoutes(services, { maxBatch: opts.maxBatch ?? 1_000, batchBodyLimit: opts.batchBodyLimit ?? 16 * bodyLimit }));
  void app.register(chainRoutes(services));
  void app.register(async (i) => {
    i.get("/metrics", { schema: schemas.getMetrics }, async (_req, reply) => {
      let node = "";
      try {
        node = services.metrics();
      } catch (err) {
        _req.log.error({ err }, "node metrics failed");
      }
      void reply.type("text/plain; version=0.0.4; charset=utf-8");
      return http.render() + (node.endsWith("\n") || node === "" ? node : node + "\n");
    });
  });
  return app;
}
