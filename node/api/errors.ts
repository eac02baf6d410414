// Every failure leaves the API as {"error":{"code","message"}} with a status from the node's one table of codes
// (node/errors.ts); refusals the REST layer decides itself (syncing, already_committed) carry extra fields.
// Framework errors (body parsing, schema validation, size limits) are folded into the same codes, and
// anything unexpected becomes a bare 500 "internal" (logged, never echoed: no stacks or paths leak).

import { CodecError } from "../codec/codec.ts";
import { CairnError, ERROR_STATUS, type ErrorCode } from "../errors.ts";

export const API_ERROR_STATUS = ERROR_STATUS;
export type ApiErrorCode = ErrorCode;

/** Fields an error body carries beside code and message (decimal or hex strings), e.g. the committed id and height. */
export type ErrorFields = Record<string, string>;

/** A refusal the REST layer words itself; `retryAfterSec` becomes a Retry-After header, `fields` join the error object. */
export class ApiRefusal extends Error {
  constructor(
    readonly code: Extract<ErrorCode, "syncing" | "already_committed">,
    message: string,
    readonly extra: { retryAfterSec?: number; fields?: ErrorFields } = {},
  ) {
    super(message);
    this.name = "ApiRefusal";
  }
}

export interface ApiError {
  status: number;
  code: ApiErrorCode;
  message: string;
  /** True when the cause was a bug or an outage (worth logging at error level). */
  internal: boolean;
  retryAfterSec?: number;
  fields?: ErrorFields;
}

interface FrameworkError {
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
  validation?: unknown;
  validationContext?: unknown;
}

function apiError(code: ApiErrorCode, message: string, internal = false): ApiError {
  return { status: API_ERROR_STATUS[code], code, message, internal };
}

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiRefusal) return { ...apiError(err.code, err.message), ...err.extra };
  if (err instanceof CairnError) return apiError(err.code, err.message, err.code === "internal");
  if (err instanceof CodecError) return apiError("malformed", err.message);
  const e = (typeof err === "object" && err !== null ? err : {}) as FrameworkError;
  const message = typeof e.message === "string" ? e.message : "";
  if (e.validation !== undefined) {
    // Fastify's messages read "body/nonce must match pattern ..."; the context is already in the text.
    return apiError("malformed", message || "request does not match the schema");
  }
  switch (e.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return apiError("too_large", "request body is too large");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return apiError("malformed", "unsupported Content-Type: send application/json");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return apiError("malformed", "request body is empty");
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return apiError("malformed", "request body is not valid JSON");
    case "FST_ERR_NOT_FOUND":
      return apiError("not_found", "no such route");
  }
  const status = typeof e.statusCode === "number" ? e.statusCode : 500;
  if (status === 404) return apiError("not_found", message || "not found");
  if (status === 413) return apiError("too_large", message || "request is too large");
  // Other client errors raised by the framework (bad JSON syntax, prototype poisoning, bad URL encoding).
  if (status >= 400 && status < 500) return apiError("malformed", message || "malformed request");
  return apiError("internal", "internal error", true);
}

const MAX_MESSAGE = 300;

/** A message that may echo hostile input, cut short (at most 903 bytes of UTF-8: 300 UTF-16 units and "…"). */
export function shortMessage(message: string): string {
  return message.length > MAX_MESSAGE ? message.slice(0, MAX_MESSAGE) + "…" : message;
}

/** The JSON body of an error response. */
export function errorBody(e: Pick<ApiError, "code" | "message" | "fields">): { error: { code: string; message: string } & ErrorFields } {
  return { error: { ...e.fields, code: e.code, message: shortMessage(e.message) } };
}
