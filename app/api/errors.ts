// The error model of API.md: {code, message, error, details}. `code` carries the reference service's
// values (gRPC status codes, which its HTTP gateway put in the same field).
import type { DomainError, DomainErrorId } from '../domain/rules';

export const GRPC = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    readonly error: string,
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

export const badRequest = (
  message: string,
  details: Record<string, unknown> = {},
  error = 'INVALID_REQUEST',
) => new ApiError(400, GRPC.INVALID_ARGUMENT, error, message, details);
export const unauthorized = (message = 'missing or invalid bearer token') =>
  new ApiError(401, GRPC.UNAUTHENTICATED, 'UNAUTHENTICATED', message);
export const forbidden = (message: string) => new ApiError(403, GRPC.PERMISSION_DENIED, 'FORBIDDEN', message);
export const notFound = (message: string, details: Record<string, unknown> = {}, error = 'NOT_FOUND') =>
  new ApiError(404, GRPC.NOT_FOUND, error, message, details);
export const payloadTooLarge = (limit: number) =>
  new ApiError(413, GRPC.INVALID_ARGUMENT, 'PAYLOAD_TOO_LARGE', `request body exceeds ${limit} bytes`, {
    limit,
  });
export const unavailable = (
  message: string,
  retryAfter: number,
  error = 'OVERLOADED',
  details: Record<string, unknown> = {},
) => new ApiError(503, GRPC.UNAVAILABLE, error, message, details, retryAfter);
export const tooManyRequests = (message: string, retryAfter: number, details: Record<string, unknown> = {}) =>
  new ApiError(429, GRPC.RESOURCE_EXHAUSTED, 'RATE_LIMITED', message, details, retryAfter);
export const internal = (requestId: string) =>
  new ApiError(500, GRPC.INTERNAL, 'INTERNAL', `internal error (request id ${requestId})`, { requestId });

const DOMAIN_STATUS: Record<DomainErrorId, [number, number]> = {
  CHALLENGE_NOT_FOUND: [404, GRPC.NOT_FOUND],
  GOAL_NOT_FOUND: [404, GRPC.NOT_FOUND],
  GOAL_LOCKED: [409, GRPC.FAILED_PRECONDITION],
  GOAL_NOT_ACTIVE: [409, GRPC.FAILED_PRECONDITION],
  GOAL_NOT_COMPLETED: [409, GRPC.FAILED_PRECONDITION],
  GOAL_ALREADY_CLAIMED: [409, GRPC.ALREADY_EXISTS],
  GOAL_RESELECTION_NOT_ALLOWED: [409, GRPC.FAILED_PRECONDITION],
  INSUFFICIENT_GOALS: [422, GRPC.FAILED_PRECONDITION],
};

export function fromDomain(e: DomainError): ApiError {
  const [status, code] = DOMAIN_STATUS[e.error];
  return new ApiError(status, code, e.error, e.message, e.details);
}

/** Connection-level database failures (server down, restarting, pool exhausted past its timeout):
 *  the request may succeed on retry, so they are answered 503 rather than 500. */
export function isDatabaseUnavailable(e: unknown): boolean {
  // No instanceof: errors from node's net layer may come from another realm (e.g. under jest).
  if (typeof e !== 'object' || e === null) return false;
  const { code, message } = e as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'].includes(code)) return true;
    // 08xxx connection exceptions, 57P0x admin/crash shutdown, 53300 too many connections
    if (/^(08|57P0)/.test(code) || code === '53300') return true;
  }
  return (
    typeof message === 'string' &&
    /timeout exceeded when trying to connect|Connection terminated|Query read timeout/i.test(message)
  );
}
