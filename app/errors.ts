// Every error code the service answers with, in one table (the error model of API.md:
// {code, message, error, details}). `grpc` is the reference service's value for `code` (gRPC status
// codes, which its HTTP gateway put in the same field). The bottom layer: imports nothing from app/.
// test/unit/errors-table.test.ts lists every code; adding or removing one fails it until updated.

export const GRPC = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

interface ErrorSpec {
  readonly status: number;
  readonly grpc: number;
  readonly message: string;
}

/** One row of the table: HTTP status, gRPC status, default message. */
const e = <S extends number>(status: S, grpc: number, message: string) => ({ status, grpc, message });

export const ERRORS = {
  // 400: the request itself is wrong
  INVALID_REQUEST: e(400, GRPC.INVALID_ARGUMENT, 'invalid request'),
  MALFORMED_JSON: e(400, GRPC.INVALID_ARGUMENT, 'request body is not valid JSON'),
  INVALID_PATH: e(400, GRPC.INVALID_ARGUMENT, 'path parameter is not valid percent-encoding'),
  PAYLOAD_TOO_LARGE: e(413, GRPC.INVALID_ARGUMENT, 'request body too large'),
  // 401/403
  UNAUTHENTICATED: e(401, GRPC.UNAUTHENTICATED, 'missing or invalid bearer token'),
  FORBIDDEN: e(403, GRPC.PERMISSION_DENIED, 'forbidden'),
  // 404
  NOT_FOUND: e(404, GRPC.NOT_FOUND, 'not found'),
  ROUTE_NOT_FOUND: e(404, GRPC.NOT_FOUND, 'no such route'),
  CHALLENGE_NOT_FOUND: e(404, GRPC.NOT_FOUND, 'challenge not found'),
  GOAL_NOT_FOUND: e(404, GRPC.NOT_FOUND, 'goal not found'),
  REWARD_NOT_FOUND: e(404, GRPC.NOT_FOUND, 'reward not found'),
  CATALOG_VERSION_NOT_FOUND: e(404, GRPC.NOT_FOUND, 'catalog version not found'),
  // 409/412/422: the state does not allow it
  GOAL_LOCKED: e(409, GRPC.FAILED_PRECONDITION, 'goal is locked'),
  GOAL_NOT_ACTIVE: e(409, GRPC.FAILED_PRECONDITION, 'goal is not active'),
  GOAL_NOT_COMPLETED: e(409, GRPC.FAILED_PRECONDITION, 'goal is not completed'),
  GOAL_ALREADY_CLAIMED: e(409, GRPC.ALREADY_EXISTS, 'goal already claimed'),
  GOAL_RESELECTION_NOT_ALLOWED: e(409, GRPC.FAILED_PRECONDITION, 'goal cannot be selected again'),
  INSUFFICIENT_GOALS: e(422, GRPC.FAILED_PRECONDITION, 'not enough goals'),
  IDEMPOTENCY_KEY_REUSED: e(
    422,
    GRPC.FAILED_PRECONDITION,
    'this Idempotency-Key was already used with a different request',
  ),
  IDEMPOTENCY_KEY_IN_PROGRESS: e(
    409,
    GRPC.ABORTED,
    'a request with this Idempotency-Key is still being processed; retry shortly',
  ),
  REWARD_ALREADY_GRANTED: e(409, GRPC.FAILED_PRECONDITION, 'this reward was already granted'),
  REWARD_IN_FLIGHT: e(409, GRPC.ABORTED, 'a relay is granting this reward right now'),
  CATALOG_INVALID: e(422, GRPC.INVALID_ARGUMENT, 'catalog invalid'),
  CATALOG_SOURCE_NOT_ADMIN: e(
    409,
    GRPC.FAILED_PRECONDITION,
    'catalogs are not published through this API here',
  ),
  CATALOG_VERSION_MISMATCH: e(412, GRPC.FAILED_PRECONDITION, 'live version differs'),
  // 429/503: come back later (with Retry-After)
  RATE_LIMITED: e(429, GRPC.RESOURCE_EXHAUSTED, 'rate limited'),
  OVERLOADED: e(503, GRPC.UNAVAILABLE, 'overloaded; retry later'),
  DRAINING: e(503, GRPC.UNAVAILABLE, 'server is draining; retry on another instance'),
  DEADLINE_EXCEEDED: e(503, GRPC.UNAVAILABLE, 'request could not be completed before its deadline'),
  DATABASE_UNAVAILABLE: e(503, GRPC.UNAVAILABLE, 'database unavailable; retry shortly'),
  QUEUE_UNAVAILABLE: e(503, GRPC.UNAVAILABLE, 'the event queue is unavailable; retry'),
  STORAGE_UNAVAILABLE: e(503, GRPC.UNAVAILABLE, 'storage unavailable; retry'),
  AUTH_UNAVAILABLE: e(503, GRPC.UNAVAILABLE, 'token signing keys are unavailable; retry shortly'),
  NOT_CONFIGURED: e(503, GRPC.FAILED_PRECONDITION, 'not configured on this service'),
  // 500
  INTERNAL: e(500, GRPC.INTERNAL, 'internal error'),
} satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    readonly error: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    /** Seconds, for 429/503. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  body(): string {
    return JSON.stringify({
      code: this.code,
      message: this.message,
      error: this.error,
      details: this.details,
    });
  }
}

/** The error `code` with status and gRPC code from the table. */
export function apiError(
  error: ErrorCode,
  message: string = ERRORS[error].message,
  details: Record<string, unknown> = {},
  retryAfter?: number,
): ApiError {
  const spec = ERRORS[error];
  return new ApiError(spec.status, spec.grpc, error, message, details, retryAfter);
}

/** The JSON error body for `error`, for routers that answer without an ApiError (express). */
export function errorBody(error: ErrorCode, message: string = ERRORS[error].message, details = {}) {
  return { code: ERRORS[error].grpc, message, error, details };
}

type BadRequestCode = 'INVALID_REQUEST' | 'MALFORMED_JSON' | 'INVALID_PATH';
type UnavailableCode = { [K in ErrorCode]: (typeof ERRORS)[K]['status'] extends 503 ? K : never }[ErrorCode];
type NotFoundCode = { [K in ErrorCode]: (typeof ERRORS)[K]['status'] extends 404 ? K : never }[ErrorCode];

export const badRequest = (
  message: string,
  details: Record<string, unknown> = {},
  error: BadRequestCode = 'INVALID_REQUEST',
) => apiError(error, message, details);
export const unauthorized = (message: string = ERRORS.UNAUTHENTICATED.message) =>
  apiError('UNAUTHENTICATED', message);
export const forbidden = (message: string) => apiError('FORBIDDEN', message);
export const notFound = (
  message: string,
  details: Record<string, unknown> = {},
  error: NotFoundCode = 'NOT_FOUND',
) => apiError(error, message, details);
export const payloadTooLarge = (limit: number) =>
  apiError('PAYLOAD_TOO_LARGE', `request body exceeds ${limit} bytes`, { limit });
export const unavailable = (
  message: string,
  retryAfter: number,
  error: UnavailableCode = 'OVERLOADED',
  details: Record<string, unknown> = {},
) => apiError(error, message, details, retryAfter);
export const tooManyRequests = (message: string, retryAfter: number, details: Record<string, unknown> = {}) =>
  apiError('RATE_LIMITED', message, details, retryAfter);
export const internal = (requestId: string) =>
  apiError('INTERNAL', `internal error (request id ${requestId})`, { requestId });

/** A domain rule's refusal (app/domain/rules.ts: its ids are codes of this table) as an error. */
export function fromDomain(e: {
  readonly error: ErrorCode;
  readonly message: string;
  readonly details: Record<string, unknown>;
}): ApiError {
  return apiError(e.error, e.message, e.details);
}

/**
 * Retry-After seconds spread uniformly over [base, base + spread] (whole seconds, as the header
 * carries), so that clients refused in the same instant do not come back in the same instant.
 */
export function spreadRetryAfter(base: number, spread: number, random: () => number = Math.random): number {
  const s = Math.max(0, Math.floor(spread));
  return Math.max(1, Math.round(base)) + Math.min(s, Math.floor(random() * (s + 1)));
}

/** Jittered Retry-After seconds so refused clients do not come back in lockstep. */
export function jitteredRetryAfter(base: number): number {
  return Math.max(1, Math.round(base * (0.5 + Math.random())));
}
