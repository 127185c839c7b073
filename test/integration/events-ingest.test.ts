// POST /v1/events on the real service (uWS, Redis Streams, PostgreSQL through PgBouncer).
import Redis from 'ioredis';
import { eventsModule } from '../../app/events/module';
import { eventsEnv, eventually, iso, readStats, statEvent } from '../helpers/events';
import { startTestService, TEST_API_KEY, type TestService } from '../helpers/service';

interface IngestBody {
  accepted: number;
  rejected: { index: number; reason: string; errors: { field: string }[] }[];
  code?: number;
  error?: string;
  details?: Record<string, unknown>;
}

describe('event ingest', () => {
  let t: TestService;
  let redis: Redis;
  let env: Record<string, string>;
  let svcToken: string;

  beforeAll(async () => {
    env = eventsEnv();
    t = await startTestService({ modules: [eventsModule()], env });
    redis = new Redis(env.REDIS_URL!);
    svcToken = await t.serviceToken();
  });
  afterAll(async () => {
    await t.stop();
    await redis.del(env.EVENTS_STREAM_KEY!, `${env.EVENTS_STREAM_KEY}:dead`, env.EVENTS_PRESENCE_KEY!);
    redis.disconnect();
  });

  const post = async (
    body: unknown,
    headers: Record<string, string> = { authorization: `Bearer ${svcToken}` },
  ) => {
    const res = await fetch(`${t.base}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as IngestBody };
  };
  /** Entries ever appended to the stream, read from Redis itself (`entries-added` survives the
   *  trimming the worker does as it acknowledges). */
  const queued = async (): Promise<number> => {
    const exists = await redis.exists(env.EVENTS_STREAM_KEY!);
    if (!exists) return 0;
    const info = (await redis.xinfo('STREAM', env.EVENTS_STREAM_KEY!)) as unknown[];
    const i = info.indexOf('entries-added');
    return Number(info[i + 1]);
  };

  test('a player token is refused with 403, no credential with 401; an API key or service token is accepted', async () => {
    const ev = { events: [statEvent('auth-1', 'ing-auth', 'matches_finished', 1)] };
    expect((await post(ev, { authorization: `Bearer ${await t.token('ing-auth')}` })).status).toBe(403);
    expect((await post(ev, {})).status).toBe(401);
    expect((await post(ev, { 'x-api-key': 'wrong-key' })).status).toBe(401);
    expect(await post(ev, { 'x-api-key': TEST_API_KEY })).toEqual({
      status: 202,
      body: { accepted: 1, rejected: [] },
    });
    expect((await post(ev)).status).toBe(202);
  });

  test('a body that is not {events: array} is a 400 and queues nothing', async () => {
    const before = await queued();
    for (const body of ['[1,2]', '{"events": {"eventId": "x"}}', '{"evts": []}', 'not json', '"events"']) {
      const res = await post(body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 3, error: expect.any(String) });
    }
    expect(await queued()).toBe(before);
  });

  test('more than 1,000 events is a 400 and queues nothing; exactly 1,000 is accepted', async () => {
    const before = await queued();
    const many = (n: number, p: string) =>
      Array.from({ length: n }, (_, i) =>
        statEvent(`${p}-${i}`, `ing-${p}-${i % 10}`, 'matches_finished', 1),
      );
    const res = await post({ events: many(1001, 'over') });
    expect(res.status).toBe(400);
    expect(res.body.details).toMatchObject({ max: 1000, count: 1001 });
    expect(await queued()).toBe(before);
    expect((await post({ events: many(1000, 'exact') })).body.accepted).toBe(1000);
    expect(await queued()).toBe(before + 1000);
    const total = await eventually(async () => {
      const sum = [...(await readStats(t.db.directUrl, 'ing-exact-')).values()].reduce((a, b) => a + b, 0);
      return sum === 1000 ? sum : undefined;
    });
    expect(total).toBe(1000);
    expect((await readStats(t.db.directUrl, 'ing-over-')).size).toBe(0);
  });

  test('the events route takes bodies over the 1 MiB default up to 4 MiB and refuses larger ones with 413', async () => {
    const pad = 'x'.repeat(1500);
    const events = Array.from({ length: 1000 }, (_, i) => ({
      ...statEvent(`big-${i}`, 'ing-big', 'matches_finished', 1),
      note: pad,
    }));
    const body = JSON.stringify({ events });
    expect(Buffer.byteLength(body)).toBeGreaterThan(1024 * 1024);
    expect((await post(body)).body.accepted).toBe(1000);
    const huge = JSON.stringify({ events: [{ ...events[0], note: 'y'.repeat(4 * 1024 * 1024) }] });
    const res = await post(huge);
    expect(res.status).toBe(413);
  });

  test('every bad event is reported by index with each field error; good ones in the same batch are applied, bad ones not at all', async () => {
    const now = Date.now();
    const user = 'ing-mixed';
    const events = [
      statEvent('mix-0', user, 'matches_finished', 2), // good
      { eventId: 'mix-1', userId: user, type: 'login' }, // no occurredAt
      statEvent('mix-2', user, 'matches_won', 1.5), // not an integer
      { ...statEvent('', user, 'matches_won', 1), userId: 'u'.repeat(129) }, // empty id, id too long
      statEvent('mix-4', user, 'matches_won', 3, 'increment', now + 10 * 60_000), // future
      { eventId: 'mix-5', userId: user, type: 'login', occurredAt: iso(now - 1000) }, // good
      { ...statEvent('mix-6', user, 'matches_won', 1), mode: 'add' }, // bad mode
      { eventId: 'mix-7', userId: user, type: 'purchase', occurredAt: iso(now) }, // bad type
      statEvent('mix-8', user, 'matches_won', Number.MAX_SAFE_INTEGER + 2), // not safe
      { ...statEvent('mix-9', user, 'matches_won', 1), occurredAt: '2024-13-45T99:00:00Z' }, // invalid date
      { ...statEvent('mix-10', user, 'matches_won', 1), occurredAt: '2024-01-01 10:00' }, // no zone
      'not an object',
      statEvent('mix-12', user, 'tutorial_steps_done', 1, 'set', now + 4 * 60_000), // 4 min ahead: fine
    ];
    const res = await post({ events });
    expect(res.status).toBe(202);
    expect(res.body.accepted).toBe(3);
    const byIndex = new Map(res.body.rejected.map((r) => [r.index, r]));
    expect([...byIndex.keys()]).toEqual([1, 2, 3, 4, 6, 7, 8, 9, 10, 11]);
    const fields = (i: number) => byIndex.get(i)!.errors.map((e) => e.field);
    expect(fields(1)).toEqual(['occurredAt']);
    expect(fields(2)).toEqual(['value']);
    expect(fields(3)).toEqual(['eventId', 'userId']);
    expect(byIndex.get(4)!.reason).toMatch(/future/);
    expect(fields(6)).toEqual(['mode']);
    expect(fields(7)).toEqual(['type']);
    expect(fields(8)).toEqual(['value']);
    expect(fields(9)).toEqual(['occurredAt']);
    expect(fields(10)).toEqual(['occurredAt']);
    expect(fields(11)).toEqual(['']);

    const stats = await eventually(async () => {
      const s = await readStats(t.db.directUrl, user);
      return s.size === 3 ? s : undefined;
    });
    expect(Object.fromEntries(stats)).toEqual({
      [`${user}|matches_finished`]: 2,
      [`${user}|days_logged_in`]: 1,
      [`${user}|tutorial_steps_done`]: 1,
    });
  });
});
