// Property tests of the request parsers (fast-check): the event validator and the JSON body parser
// in-process, then every body-taking route and the path/query parsers over HTTP on the real service
// (real Redis and PostgreSQL). Properties: never a 5xx, always an answer (bounded client timeout),
// every 4xx in the error model naming a field where one is at fault. Counts per input class are
// written to .tmp/reliability/fuzz.json (docs/RELIABILITY.md, "Bad input").
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { ApiError } from '../../app/api/errors';
import { parseJson } from '../../app/api/http';
import { validateEvent } from '../../app/events/event';
import { eventsModule } from '../../app/events/module';
import { rewardsModule } from '../../app/rewards/module';
import { dropEventKeys, eventsEnv } from '../helpers/events';
import { startTestService, TEST_API_KEY, type TestService } from '../helpers/service';

const RESULTS = path.resolve(__dirname, '../../.tmp/reliability/fuzz.json');
const tally: Record<string, { cases: number; answers: Record<string, number> }> = {};
function count(cls: string, answer: string) {
  const t = (tally[cls] ??= { cases: 0, answers: {} });
  t.cases++;
  t.answers[answer] = (t.answers[answer] ?? 0) + 1;
}
afterAll(() => {
  mkdirSync(path.dirname(RESULTS), { recursive: true });
  let prev: typeof tally = {};
  try {
    prev = JSON.parse(readFileSync(RESULTS, 'utf8')) as typeof tally;
  } catch {
    /* first run */
  }
  writeFileSync(RESULTS, JSON.stringify({ ...prev, ...tally }, null, 2));
});

const isErrorModel = (b: unknown) => {
  if (typeof b !== 'object' || b === null) return false;
  const o = b as Record<string, unknown>;
  return (
    typeof o.code === 'number' &&
    typeof o.message === 'string' &&
    o.message.length > 0 &&
    typeof o.error === 'string' &&
    typeof o.details === 'object' &&
    o.details !== null
  );
};

describe('parsers in-process', () => {
  test('validateEvent: any JSON value gives an event or field errors, never a throw', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          // Well-formed events with arbitrary ids and values: the accepting branch gets cases too.
          fc.record({
            eventId: fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/),
            userId: fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/),
            type: fc.constant('stat'),
            statCode: fc.stringMatching(/^[a-z_]{1,20}$/),
            value: fc.integer({ min: 0, max: 1_000_000 }),
            mode: fc.constantFrom('set', 'increment'),
            occurredAt: fc
              .integer({ min: 0, max: 3_600_000 })
              .map((ago) => new Date(Date.now() - ago).toISOString()),
          }),
          fc.anything(),
          fc.record(
            {
              eventId: fc.anything(),
              userId: fc.anything(),
              type: fc.constantFrom('stat', 'login', 'x'),
              statCode: fc.anything(),
              value: fc.anything(),
              mode: fc.anything(),
              occurredAt: fc.anything(),
            },
            { requiredKeys: [] },
          ),
        ),
        (raw) => {
          const r = validateEvent(raw, Date.now());
          if (Array.isArray(r)) {
            expect(r.length).toBeGreaterThan(0);
            for (const e of r) expect(typeof e.field).toBe('string');
            count('event validator (in-process)', 'field errors');
          } else {
            expect(typeof r.eventId).toBe('string');
            count('event validator (in-process)', 'event');
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('validateEvent: every well-formed stat event is accepted unchanged', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/),
        fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.constantFrom('set', 'increment'),
        (eventId, userId, value, mode) => {
          const r = validateEvent(
            {
              eventId,
              userId,
              type: 'stat',
              statCode: 'matches_won',
              value,
              mode,
              occurredAt: new Date().toISOString(),
            },
            Date.now(),
          );
          expect(Array.isArray(r) ? r : { eventId: r.eventId, userId: r.userId }).toEqual({
            eventId,
            userId,
          });
          count('well-formed stat event (in-process)', 'accepted');
        },
      ),
      { numRuns: 500 },
    );
  });

  test('parseJson: any bytes parse or give a 400 ApiError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.json().map((s) => Buffer.from(s)),
        ),
        (bytes) => {
          try {
            parseJson(Buffer.from(bytes));
            count('JSON body parser (in-process)', 'parsed');
          } catch (e) {
            expect(e).toBeInstanceOf(ApiError);
            expect((e as ApiError).status).toBe(400);
            count('JSON body parser (in-process)', '400');
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('routes over HTTP on the real service', () => {
  let t: TestService;
  let env: Record<string, string>;
  let token: string;
  beforeAll(async () => {
    env = eventsEnv({ RATE_LIMIT_PLAYER_PER_SEC: '0', RATE_LIMIT_INGEST_EVENTS_PER_SEC: '0' });
    t = await startTestService({ modules: [eventsModule(), rewardsModule], env });
    token = await t.token('fuzz-p1');
  });
  afterAll(async () => {
    await t.stop();
    await dropEventKeys(env);
  });

  async function send(
    cls: string,
    method: string,
    p: string,
    body?: string | Uint8Array,
    headers: Record<string, string> = {},
  ) {
    const res = await fetch(`${t.base}${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      body,
      signal: AbortSignal.timeout(10_000), // a hang fails the property
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    count(cls, String(res.status));
    expect([p, res.status < 500]).toEqual([p, true]);
    if (res.status >= 400) expect([p, isErrorModel(json)]).toEqual([p, true]);
    return { status: res.status, json };
  }

  const bodyArb = fc.oneof(
    fc.json(),
    fc.string(),
    fc.uint8Array({ maxLength: 100 }),
    fc
      .record(
        {
          goalIds: fc.anything(),
          replaceExisting: fc.anything(),
          count: fc.anything(),
          excludeActive: fc.anything(),
        },
        { requiredKeys: [] },
      )
      .map((o) => JSON.stringify(o)),
  );

  test.each([
    ['batch-select body', '/v1/challenges/daily-bounties/goals/batch-select'],
    ['random-select body', '/v1/challenges/daily-bounties/goals/random-select'],
    ['initialize body', '/v1/challenges/initialize'],
  ])('%s: arbitrary bodies never give a 5xx', async (cls, route) => {
    await fc.assert(
      fc.asyncProperty(bodyArb, async (body) => {
        await send(cls, 'POST', route, body);
      }),
      { numRuns: 150 },
    );
  });

  test('events ingest: arbitrary event arrays never give a 5xx; a 400 names a field', async () => {
    const ev = fc.record(
      {
        eventId: fc.oneof(fc.string(), fc.anything()),
        userId: fc.oneof(fc.string(), fc.anything()),
        type: fc.constantFrom('stat', 'login', 'bogus'),
        statCode: fc.anything(),
        value: fc.anything(),
        mode: fc.constantFrom('set', 'increment', 'x'),
        occurredAt: fc.oneof(
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          fc.anything(),
        ),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.array(ev, { maxLength: 5 }).map((events) => JSON.stringify({ events })),
          fc.json(),
        ),
        async (body) => {
          const r = await send('events ingest body', 'POST', '/v1/events', body, {
            'x-api-key': TEST_API_KEY,
          });
          if (r.status === 400)
            expect(typeof (r.json as { details: { field?: unknown } }).details.field).toBe('string');
        },
      ),
      { numRuns: 150 },
    );
  });

  test('path parameters and query strings: arbitrary values never give a 5xx', async () => {
    const seg = fc
      .oneof(fc.string({ maxLength: 200 }), fc.constantFrom('%', '%E0%A4%A', '..', '%00', 'a'.repeat(300)))
      .map((s) => s.replace(/[/?#]/g, '_'));
    await fc.assert(
      fc.asyncProperty(seg, seg, fc.string({ maxLength: 50 }), async (a, b, q) => {
        const enc = (s: string) => encodeURI(s).replace(/%25/g, '%');
        await send(
          'path/query parameters',
          'GET',
          `/v1/challenges/${enc(a)}?activeOnly=${encodeURIComponent(q)}`,
        );
        await send('path/query parameters', 'POST', `/v1/challenges/${enc(a)}/goals/${enc(b)}/claim`);
      }),
      { numRuns: 150 },
    );
  });

  test('bearer tokens: arbitrary strings are 401 in the error model', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.array(fc.base64String(), { minLength: 3, maxLength: 3 }).map((p) => p.join('.')),
        ),
        async (tok) => {
          const clean = tok.replace(/[^\x21-\x7e]/g, 'x');
          const r = await send('bearer token', 'GET', '/v1/challenges', undefined, {
            authorization: `Bearer ${clean}`,
          });
          expect(r.status).toBe(401);
        },
      ),
      { numRuns: 150 },
    );
  });
});
