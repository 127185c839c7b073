// Request bodies and path ids checked with the request schemas of app/schemas/api.ts, answering the
// 400s the routes always answered: the same error code (INVALID_REQUEST), message and
// `details.field` (test/unit/request-parsers.test.ts holds them against the routes' former checks).
// Fields are checked in the order the routes checked them, so the first problem reported is the same.
// Each parser returns a result rather than throwing; `orThrow` turns it into the route's throw.
import { z } from 'zod';
import { badRequest, type ApiError } from '../errors';
import { MAX_EVENTS_PER_REQUEST, MAX_ID_LENGTH } from '../limits';
import {
  BatchSelectRequest,
  DevClockRequest,
  DevTokenRequest,
  ID_PARAMETER,
  RandomSelectRequest,
  SetActiveRequest,
} from './api';

export type Parsed<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ApiError };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(message: string, details: Record<string, unknown> = {}): Parsed<T> => ({
  ok: false,
  error: badRequest(message, details),
});

export function orThrow<T>(parsed: Parsed<T>): T {
  if (!parsed.ok) throw parsed.error;
  return parsed.value;
}

type Body = Record<string, unknown>;

/** The reference's HTTP gateway also took the proto field names; its clients send some of them. */
export const SNAKE_ALIASES: Readonly<Record<string, string>> = {
  goal_ids: 'goalIds',
  replace_existing: 'replaceExisting',
  exclude_active: 'excludeActive',
  is_active: 'isActive',
};

const valid = (schema: z.ZodType, value: unknown): boolean => schema.safeParse(value).success;

/** A parsed JSON body that must be an object; snake_case aliases are copied to their camelCase names. */
export function parseBodyObject(raw: unknown): Parsed<Body> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return fail('request body must be a JSON object');
  }
  const body = raw as Body;
  for (const [snake, camel] of Object.entries(SNAKE_ALIASES)) {
    if (snake in body && !(camel in body)) body[camel] = body[snake];
  }
  return ok(body);
}

/** An id from the path (challengeId, goalId) or from a body (`goalIds[2]`, `userId`). */
export function parseId(value: string, field: string): Parsed<string> {
  if (valid(ID_PARAMETER, value)) return ok(value);
  if (value.length === 0) return fail(`${field} must not be empty`, { field });
  return fail(`${field} is longer than ${MAX_ID_LENGTH} characters`, { field, max: MAX_ID_LENGTH });
}

/** An optional boolean of a body: absent or null means `fallback`. */
function optionalBool(body: Body, field: string, schema: z.ZodType, fallback: boolean): Parsed<boolean> {
  const v = body[field];
  if (v === undefined || v === null) return ok(fallback);
  if (!valid(schema, v)) return fail(`${field} must be a boolean`, { field });
  return ok(v as boolean);
}

function withBody<T>(raw: unknown, then: (body: Body) => Parsed<T>): Parsed<T> {
  const body = parseBodyObject(raw);
  return body.ok ? then(body.value) : body;
}

/** PUT .../goals/{goalId}/active {isActive} */
export function parseSetActiveBody(raw: unknown): Parsed<{ isActive: boolean }> {
  return withBody(raw, (body) =>
    valid(SetActiveRequest.shape.isActive, body.isActive)
      ? ok({ isActive: body.isActive as boolean })
      : fail('isActive must be a boolean', { field: 'isActive' }),
  );
}

/** POST .../goals/batch-select {goalIds, replaceExisting}; `goalCount`: goals of the challenge. The
 *  ids come back as sent (duplicates included); the route looks each up. */
export function parseBatchSelectBody(
  raw: unknown,
  goalCount: number,
): Parsed<{ goalIds: string[]; replaceExisting: boolean }> {
  const shape = BatchSelectRequest.shape;
  return withBody(raw, (body) => {
    const ids = body.goalIds;
    // The schema's goalIds (non-empty array of ids), checked in the route's order: shape, length, then each id.
    if (!Array.isArray(ids) || ids.length === 0) {
      return fail('goalIds must be a non-empty array of goal ids', { field: 'goalIds' });
    }
    if (ids.length > goalCount) {
      return fail(`goalIds has more entries than the challenge has goals (${goalCount})`, {
        field: 'goalIds',
      });
    }
    const replaceExisting = optionalBool(body, 'replaceExisting', shape.replaceExisting.unwrap(), false);
    if (!replaceExisting.ok) return replaceExisting;
    for (let i = 0; i < ids.length; i++) {
      const item: unknown = ids[i];
      if (typeof item !== 'string') return fail(`goalIds[${i}] must be a string`, { field: `goalIds[${i}]` });
      const id = parseId(item, `goalIds[${i}]`);
      if (!id.ok) return id;
    }
    return ok({ goalIds: ids as string[], replaceExisting: replaceExisting.value });
  });
}

/** POST .../goals/random-select {count, replaceExisting, excludeActive}; `goalCount` bounds count. */
export function parseRandomSelectBody(
  raw: unknown,
  goalCount: number,
): Parsed<{ count: number; replaceExisting: boolean; excludeActive: boolean }> {
  const shape = RandomSelectRequest.shape;
  return withBody(raw, (body) => {
    const count = body.count;
    if (typeof count !== 'number' || !Number.isInteger(count)) {
      return fail('count must be an integer', { field: 'count' });
    }
    if (!valid(shape.count, count) || count > goalCount) {
      return fail(`count must be between 1 and ${goalCount}`, { field: 'count', min: 1, max: goalCount });
    }
    const replaceExisting = optionalBool(body, 'replaceExisting', shape.replaceExisting.unwrap(), false);
    if (!replaceExisting.ok) return replaceExisting;
    const excludeActive = optionalBool(body, 'excludeActive', shape.excludeActive.unwrap(), false);
    if (!excludeActive.ok) return excludeActive;
    return ok({ count, replaceExisting: replaceExisting.value, excludeActive: excludeActive.value });
  });
}

/** POST /dev/token {userId, service}: a service token's subject defaults to dev-game-server. */
export function parseDevTokenBody(raw: unknown): Parsed<{ userId: string; service: boolean }> {
  const shape = DevTokenRequest.shape;
  return withBody(raw, (body) => {
    const service = optionalBool(body, 'service', shape.service.unwrap(), false);
    if (!service.ok) return service;
    const userId = body.userId ?? (service.value ? 'dev-game-server' : undefined);
    if (typeof userId !== 'string') return fail('userId must be a string', { field: 'userId' });
    const id = parseId(userId, 'userId');
    if (!id.ok) return id;
    return ok({ userId, service: service.value });
  });
}

/** POST /dev/clock {now} or {reset: true}: `now` as epoch ms. */
export function parseDevClockBody(raw: unknown): Parsed<{ reset: true } | { reset: false; now: number }> {
  const shape = DevClockRequest.shape;
  return withBody(raw, (body) => {
    if (body.reset === true) return ok({ reset: true as const });
    const now = body.now;
    if (!valid(shape.now, now) || typeof now !== 'string' || Number.isNaN(Date.parse(now))) {
      return fail('now must be an ISO 8601 time', { field: 'now' });
    }
    return ok({ reset: false as const, now: Date.parse(now) });
  });
}

/** The events array's own bound (EventsRequest.events without the per-event checks). */
const EVENT_COUNT = z.array(z.unknown()).max(MAX_EVENTS_PER_REQUEST);

/** POST /v1/events {events}: the array itself; each event is checked by events/event.ts, which
 *  rejects bad events one by one (202 with reasons) rather than the whole request. */
export function parseEventsBody(raw: unknown): Parsed<unknown[]> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return fail('request body must be a JSON object {"events": [...]}', { field: 'events' });
  }
  const events = (raw as Body).events;
  if (!Array.isArray(events)) return fail('events must be an array', { field: 'events' });
  if (!valid(EVENT_COUNT, events)) {
    return fail(`at most ${MAX_EVENTS_PER_REQUEST} events per request`, {
      field: 'events',
      max: MAX_EVENTS_PER_REQUEST,
      count: events.length,
    });
  }
  return ok(events);
}

/** The `activeOnly` (or `active_only`) query value of GET /v1/challenges: absent, '', true/false or 1/0. */
const ACTIVE_ONLY = z.enum(['true', 'false', '1', '0', '']).nullable();

export function parseActiveOnlyQuery(raw: string | null): Parsed<boolean> {
  if (!valid(ACTIVE_ONLY, raw)) return fail('activeOnly must be true or false', { field: 'activeOnly' });
  return ok(raw === 'true' || raw === '1');
}
