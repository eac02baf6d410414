export { createApiServer, DEFAULT_BODY_LIMIT, type ApiServerOptions } from "./server.ts";
export { toApiError, errorBody, type ApiError } from "./errors.ts";
export type { NodeServices, NodeStatus, QueryRequest, QueryResult, SubmitResult } from "./services.ts";
