// The request parsers of app/schemas/requests.ts (checks through the request schemas) answer every
// invalid body and id with the same status, error code, message and details (`field` and the rest)
// as the checks the routes held inline before them, copied below verbatim from app/api/routes.ts
// and app/api/ingest.ts (commit 50109f8) as the reference.
import { ApiError, badRequest } from '../../app/errors';
import { MAX_EVENTS_PER_REQUEST, MAX_ID_LENGTH } from '../../app/limits';
import {
  orThrow,
  parseBatchSelectBody,
  parseActiveOnlyQuery,
  parseBodyObject,
  parseDevClockBody,
  parseDevTokenBody,
  parseEventsBody,
  parseId,
  parseRandomSelectBody,
  parseSetActiveBody,
  type Parsed,
} from '../../app/schemas/requests';

// ---- before: the routes' checks (bodies arrive parsed: parseJson stays in front of both) --------

const MAX_ID = MAX_ID_LENGTH;
const SNAKE_ALIASES: Record<string, string> = {
  goal_ids: 'goalIds',
  replace_existing: 'replaceExisting',
  exclude_active: 'excludeActive',
  is_active: 'isActive',
};
function bodyObject(v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw badRequest('request body must be a JSON object');
  const body = v as Record<string, unknown>;
  for (const [snake, camel] of Object.entries(SNAKE_ALIASES)) {
    if (snake in body && !(camel in body)) body[camel] = body[snake];
  }
  return body;
}
function optionalBool(body: Record<string, unknown>, field: string, def: boolean): boolean {
  const v = body[field];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') throw badRequest(`${field} must be a boolean`, { field });
  return v;
}
function checkId(value: string, field: string): string {
  if (value.length === 0) throw badRequest(`${field} must not be empty`, { field });
  if (value.length > MAX_ID)
    throw badRequest(`${field} is longer than ${MAX_ID} characters`, { field, max: MAX_ID });
  return value;
}
const before = {
  activeOnly(raw: string | null) {
    if (raw !== null && raw !== 'true' && raw !== 'false' && raw !== '1' && raw !== '0' && raw !== '') {
      throw badRequest('activeOnly must be true or false', { field: 'activeOnly' });
    }
    return raw === 'true' || raw === '1';
  },
  setActive(raw: unknown) {
    const body = bodyObject(raw);
    if (typeof body.isActive !== 'boolean')
      throw badRequest('isActive must be a boolean', { field: 'isActive' });
    return { isActive: body.isActive };
  },
  batchSelect(raw: unknown, goalCount: number) {
    const body = bodyObject(raw);
    const ids = body.goalIds;
    if (!Array.isArray(ids) || ids.length === 0) {
      throw badRequest('goalIds must be a non-empty array of goal ids', { field: 'goalIds' });
    }
    if (ids.length > goalCount) {
      throw badRequest(`goalIds has more entries than the challenge has goals (${goalCount})`, {
        field: 'goalIds',
      });
    }
    const replaceExisting = optionalBool(body, 'replaceExisting', false);
    ids.forEach((id, i) => {
      if (typeof id !== 'string')
        throw badRequest(`goalIds[${i}] must be a string`, { field: `goalIds[${i}]` });
      checkId(id, `goalIds[${i}]`);
    });
    return { goalIds: ids as string[], replaceExisting };
  },
  randomSelect(raw: unknown, goalCount: number) {
    const body = bodyObject(raw);
    const count = body.count;
    if (typeof count !== 'number' || !Number.isInteger(count)) {
      throw badRequest('count must be an integer', { field: 'count' });
    }
    if (count < 1 || count > goalCount) {
      throw badRequest(`count must be between 1 and ${goalCount}`, {
        field: 'count',
        min: 1,
        max: goalCount,
      });
    }
    const replaceExisting = optionalBool(body, 'replaceExisting', false);
    const excludeActive = optionalBool(body, 'excludeActive', false);
    return { count, replaceExisting, excludeActive };
  },
  devToken(raw: unknown) {
    const body = bodyObject(raw);
    const service = optionalBool(body, 'service', false);
    const userId = body.userId ?? (service ? 'dev-game-server' : undefined);
    if (typeof userId !== 'string') throw badRequest('userId must be a string', { field: 'userId' });
    checkId(userId, 'userId');
    return { userId, service };
  },
  devClock(raw: unknown) {
    const body = bodyObject(raw);
    if (body.reset === true) return { reset: true };
    if (typeof body.now !== 'string' || Number.isNaN(Date.parse(body.now))) {
      throw badRequest('now must be an ISO 8601 time', { field: 'now' });
    }
    return { reset: false, now: Date.parse(body.now) };
  },
  events(body: unknown) {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw badRequest('request body must be a JSON object {"events": [...]}', { field: 'events' });
    }
    const events = (body as Record<string, unknown>).events;
    if (!Array.isArray(events)) throw badRequest('events must be an array', { field: 'events' });
    if (events.length > MAX_EVENTS_PER_REQUEST) {
      throw badRequest(`at most ${MAX_EVENTS_PER_REQUEST} events per request`, {
        field: 'events',
        max: MAX_EVENTS_PER_REQUEST,
        count: events.length,
      });
    }
    return events;
  },
};

// ---- the comparison ------------------------------------------------------------------------

type Answer =
  { value: unknown } | { status: number; code: number; error: string; message: string; details: unknown };

function answer(run: () => unknown): Answer {
  try {
    return { value: run() };
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return {
      status: err.status,
      code: err.code,
      error: err.error,
      message: err.message,
      details: err.details,
    };
  }
}
const fromParsed =
  <T>(parsed: () => Parsed<T>) =>
  () =>
    orThrow(parsed());

const JUNK: unknown[] = [
  undefined,
  null,
  0,
  1,
  -1,
  2.5,
  2 ** 60,
  1e300,
  Number.NaN,
  '',
  'x',
  'g'.repeat(MAX_ID_LENGTH),
  'g'.repeat(MAX_ID_LENGTH + 1),
  '2026-05-13T10:20:30Z',
  'not a time',
  true,
  false,
  [],
  ['a'],
  ['a', 'a'],
  ['a', 5],
  ['a', ''],
  ['a', 'g'.repeat(MAX_ID_LENGTH + 1)],
  {},
  { a: 1 },
];
const BODIES: unknown[] = [null, 'text', 3, [], ['a'], true];

/** Bodies with each field set to each junk value (alone, and beside a good value of the others). */
function bodies(good: Record<string, unknown>, aliases: Record<string, string> = {}): unknown[] {
  const out: unknown[] = [...BODIES, {}, { ...good }];
  for (const field of [...Object.keys(good), ...Object.keys(aliases)]) {
    for (const v of JUNK) {
      out.push({ [field]: v }, { ...good, [field]: v });
    }
  }
  return out;
}

const cases: [string, (raw: unknown) => unknown, (raw: unknown) => unknown, unknown[]][] = [
  [
    'set active',
    (raw) => before.setActive(structuredClone(raw)),
    (raw) => fromParsed(() => parseSetActiveBody(structuredClone(raw)))(),
    bodies({ isActive: true }, { is_active: 'isActive' }),
  ],
  ...[1, 3].map(
    (n) =>
      [
        `batch select (challenge of ${n} goals)`,
        (raw: unknown) => before.batchSelect(structuredClone(raw), n),
        (raw: unknown) => fromParsed(() => parseBatchSelectBody(structuredClone(raw), n))(),
        bodies({ goalIds: ['a'], replaceExisting: false }, { goal_ids: 'goalIds', replace_existing: 'r' }),
      ] as [string, (raw: unknown) => unknown, (raw: unknown) => unknown, unknown[]],
  ),
  ...[1, 5].map(
    (n) =>
      [
        `random select (challenge of ${n} goals)`,
        (raw: unknown) => before.randomSelect(structuredClone(raw), n),
        (raw: unknown) => fromParsed(() => parseRandomSelectBody(structuredClone(raw), n))(),
        bodies(
          { count: 1, replaceExisting: false, excludeActive: true },
          { exclude_active: 'excludeActive', replace_existing: 'replaceExisting' },
        ),
      ] as [string, (raw: unknown) => unknown, (raw: unknown) => unknown, unknown[]],
  ),
  [
    'dev token',
    (raw) => before.devToken(structuredClone(raw)),
    (raw) => fromParsed(() => parseDevTokenBody(structuredClone(raw)))(),
    bodies({ userId: 'p1', service: false }),
  ],
  [
    'dev clock',
    (raw) => before.devClock(structuredClone(raw)),
    (raw) => fromParsed(() => parseDevClockBody(structuredClone(raw)))(),
    bodies({ now: '2026-05-13T10:20:30Z', reset: false }),
  ],
  [
    'events',
    (raw) => before.events(raw),
    (raw) => fromParsed(() => parseEventsBody(raw))(),
    [
      ...bodies({ events: [] }),
      { events: new Array(MAX_EVENTS_PER_REQUEST).fill({}) },
      { events: new Array(MAX_EVENTS_PER_REQUEST + 1).fill({}) },
    ],
  ],
];

describe('request parsers answer what the routes answered', () => {
  test.each(cases.map(([name, old, now, inputs]) => [name, old, now, inputs] as const))(
    '%s: every body, same value or same error (status, code, message, details)',
    (_name, old, now, inputs) => {
      let refused = 0;
      for (const raw of inputs) {
        const expected = answer(() => old(raw));
        if (!('value' in expected)) refused++;
        expect([raw, answer(() => now(raw))]).toEqual([raw, expected]);
      }
      expect(refused).toBeGreaterThan(5);
    },
  );

  test('path ids: empty and over-long ids refused with the field named, as checkId did', () => {
    for (const field of ['challengeId', 'goalId']) {
      for (const v of ['', 'a', 'g'.repeat(MAX_ID_LENGTH), 'g'.repeat(MAX_ID_LENGTH + 1), 'é'.repeat(200)]) {
        expect([field, v.length, answer(() => orThrow(parseId(v, field)))]).toEqual([
          field,
          v.length,
          answer(() => checkId(v, field)),
        ]);
      }
    }
    const refused = answer(() => orThrow(parseId('', 'goalId')));
    expect(refused).toMatchObject({ status: 400, error: 'INVALID_REQUEST', details: { field: 'goalId' } });
  });

  test('activeOnly query: the same value or the same 400 naming activeOnly', () => {
    for (const raw of [null, '', 'true', 'false', '1', '0', 'TRUE', 'yes', ' true', '2', 'null']) {
      expect([raw, answer(() => orThrow(parseActiveOnlyQuery(raw)))]).toEqual([
        raw,
        answer(() => before.activeOnly(raw)),
      ]);
    }
    expect(answer(() => orThrow(parseActiveOnlyQuery('yes')))).toMatchObject({
      status: 400,
      details: { field: 'activeOnly' },
    });
  });

  test('bodies: snake_case aliases are copied, the object is the one given', () => {
    const body = { goal_ids: ['a'], replace_existing: true };
    const parsed = parseBodyObject(body);
    expect(parsed).toEqual({ ok: true, value: { ...body, goalIds: ['a'], replaceExisting: true } });
  });
});
