/**
 * What goes wrong talking to labgate, as types a caller can tell apart: labgate answered with an
 * error (`LabgateError`), or labgate could not be reached (`LabgateConnectionError`). Neither
 * ever carries the API key: requests are described by method and path only.
 */

/** The error body labgate answers with (`ErrorBody` of the OpenAPI document). */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  reqId: string;
  details?: Array<Record<string, unknown>> | null;
}

/**
 * labgate refused a request. Match on `statusCode` and `error` (e.g. 401 `Unauthorized`, 404
 * `NotFound`, 409 `Conflict`), never on `message`; quote `reqId` when asking an operator.
 */
export class LabgateError extends Error {
  override readonly name = "LabgateError";
  readonly statusCode: number;
  readonly error: string;
  readonly reqId: string;
  readonly details: Array<Record<string, unknown>> | undefined;
  /** `GET /api/v1/credentials/gitlab`: what was asked, without query or credentials. */
  readonly request: string;

  constructor(body: ErrorBody, request: string) {
    super(`${request}: ${body.statusCode} ${body.error}: ${body.message}${body.reqId ? ` (reqId ${body.reqId})` : ""}`);
    this.statusCode = body.statusCode;
    this.error = body.error;
    this.reqId = body.reqId;
    this.details = body.details ?? undefined;
    this.request = request;
  }
}

/** labgate could not be reached, or its answer was not one labgate gives (a proxy's page, a timeout). */
export class LabgateConnectionError extends Error {
  override readonly name = "LabgateConnectionError";
  /** `GET /api/v1/credentials/gitlab`: what was asked, without query or credentials. */
  readonly request: string;

  constructor(request: string, reason: string, cause?: unknown) {
    super(`${request}: ${reason}`, cause === undefined ? undefined : { cause: safeCause(cause) });
    this.request = request;
  }
}

/**
 * The low-level reason a request failed (e.g. `ECONNREFUSED`), kept as a plain message and code:
 * a fetch implementation's error object may hold the request, and with it the API key.
 */
function safeCause(cause: unknown): Error {
  const seen = cause as { message?: unknown; code?: unknown; cause?: unknown } | null;
  const inner = seen && typeof seen === "object" ? (seen.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  const code = inner && typeof inner.code === "string" ? inner.code : seen && typeof seen.code === "string" ? seen.code : undefined;
  const message = inner && typeof inner.message === "string" ? inner.message : seen && typeof seen.message === "string" ? seen.message : String(cause);
  const error = new Error(message) as Error & { code?: string };
  if (code) {
    error.code = code;
  }
  return error;
}
