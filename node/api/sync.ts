// The API's side of a node that knows it is behind: reads are labelled with the committed height they were
// answered at (and X-Cairn-Syncing while syncing), and writes are refused with 503 `syncing` and Retry-After,
// because an invocation admitted against old state may carry a nonce that is already used.

import type { FastifyReply, FastifyRequest } from "fastify";
import { ApiRefusal } from "./errors.ts";
import type { NodeServices, SyncState } from "./services.ts";

export const HEIGHT_HEADER = "x-cairn-height";
export const SYNCING_HEADER = "x-cairn-syncing";
/** Seconds a client is told to wait before retrying a write on a syncing node (catch-up runs at blocks per ms). */
export const SYNC_RETRY_AFTER_SEC = 1;

const labelled = new WeakMap<FastifyReply, SyncState>();

/** Reads: every GET of /v1 and the read-only query. */
export function isRead(req: FastifyRequest): boolean {
  const route = req.routeOptions.url;
  if (route === undefined) return false;
  return (req.method === "GET" && route.startsWith("/v1/")) || route === "/v1/query";
}

/**
 * Labels a read before it runs. The height is taken first, so the state read after it is at least that
 * height: a nonce answered with height H is unused at H, which is what a client's checks rely on.
 */
export function labelRead(services: NodeServices, reply: FastifyReply): SyncState {
  const s = services.syncState();
  labelled.set(reply, s);
  void reply.header(HEIGHT_HEADER, s.height.toString(10));
  if (s.syncing) void reply.header(SYNCING_HEADER, "true");
  return s;
}

/** The height a read was labelled with (labelling again if the hook did not run). */
export function answeredAt(services: NodeServices, reply: FastifyReply): bigint {
  return (labelled.get(reply) ?? labelRead(services, reply)).height;
}

/** Throws 503 `syncing` while the node knows it is behind. */
export function refuseWhileSyncing(services: NodeServices): void {
  const s = services.syncState();
  if (!s.syncing) return;
  const known = s.knownHeight === null ? "" : ` (at height ${s.height}, peers at ${s.knownHeight})`;
  throw new ApiRefusal("syncing", `the node is syncing${known}: ${s.reason ?? "behind its peers"}; retry later or on another validator`, {
    retryAfterSec: SYNC_RETRY_AFTER_SEC,
    fields: { height: s.height.toString(10), ...(s.knownHeight !== null ? { knownHeight: s.knownHeight.toString(10) } : {}) },
  });
}
