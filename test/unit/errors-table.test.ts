// Every error code in one table (app/errors.ts), counted here as fastify counts its FST_ERR codes:
// adding or removing a code without updating this list fails.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ApiError, apiError, ERRORS, GRPC, type ErrorCode } from '../../app/errors';
import { fromDomain } from '../../app/api/errors';

const EXPECTED: Record<ErrorCode, [status: number, grpc: number]> = {
  INVALID_REQUEST: [400, 3],
  MALFORMED_JSON: [400, 3],
  INVALID_PATH: [400, 3],
  PAYLOAD_TOO_LARGE: [413, 3],
  UNAUTHENTICATED: [401, 16],
  FORBIDDEN: [403, 7],
  NOT_FOUND: [404, 5],
  ROUTE_NOT_FOUND: [404, 5],
  CHALLENGE_NOT_FOUND: [404, 5],
  GOAL_NOT_FOUND: [404, 5],
  REWARD_NOT_FOUND: [404, 5],
  CATALOG_VERSION_NOT_FOUND: [404, 5],
  GOAL_LOCKED: [409, 9],
  GOAL_NOT_ACTIVE: [409, 9],
  GOAL_NOT_COMPLETED: [409, 9],
  GOAL_ALREADY_CLAIMED: [409, 6],
  GOAL_RESELECTION_NOT_ALLOWED: [409, 9],
  INSUFFICIENT_GOALS: [422, 9],
  IDEMPOTENCY_KEY_REUSED: [422, 9],
  IDEMPOTENCY_KEY_IN_PROGRESS: [409, 10],
  REWARD_ALREADY_GRANTED: [409, 9],
  REWARD_IN_FLIGHT: [409, 10],
  CATALOG_INVALID: [422, 3],
  CATALOG_SOURCE_NOT_ADMIN: [409, 9],
  CATALOG_VERSION_MISMATCH: [412, 9],
  RATE_LIMITED: [429, 8],
  OVERLOADED: [503, 14],
  DRAINING: [503, 14],
  DEADLINE_EXCEEDED: [503, 14],
  DATABASE_UNAVAILABLE: [503, 14],
  QUEUE_UNAVAILABLE: [503, 14],
  STORAGE_UNAVAILABLE: [503, 14],
  AUTH_UNAVAILABLE: [503, 14],
  NOT_CONFIGURED: [503, 9],
  INTERNAL: [500, 13],
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

describe('error codes (app/errors.ts)', () => {
  test('the table holds exactly the listed codes, each with its HTTP status and gRPC code', () => {
    expect(Object.keys(ERRORS).sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const [code, [status, grpc]] of Object.entries(EXPECTED)) {
      const spec = ERRORS[code as ErrorCode];
      expect({ code, status: spec.status, grpc: spec.grpc }).toEqual({ code, status, grpc });
      expect(spec.message.length).toBeGreaterThan(0);
    }
  });

  test('apiError takes status, gRPC code and default message from the table', () => {
    const e = apiError('GOAL_LOCKED');
    expect(e).toBeInstanceOf(ApiError);
    expect(JSON.parse(e.body())).toEqual({
      code: GRPC.FAILED_PRECONDITION,
      error: 'GOAL_LOCKED',
      message: 'goal is locked',
      details: {},
    });
    expect(e.status).toBe(409);
    expect(fromDomain({ error: 'GOAL_ALREADY_CLAIMED', message: 'm', details: { goalId: 'g' } }).status).toBe(
      409,
    );
  });

  test('no error code is written as a literal outside the table (every answer goes through apiError)', () => {
    const root = path.join(__dirname, '../../app');
    const offenders: string[] = [];
    for (const file of sources(root)) {
      if (file.endsWith(path.join('app', 'errors.ts'))) continue;
      const text = readFileSync(file, 'utf8');
      if (/new ApiError\(/.test(text)) offenders.push(`${path.relative(root, file)}: new ApiError(`);
      for (const m of text.matchAll(/\berror: '([A-Z][A-Z_]+)'/g))
        offenders.push(`${path.relative(root, file)}: ${m[1]}`);
    }
    expect(offenders).toEqual([]);
  });
});
