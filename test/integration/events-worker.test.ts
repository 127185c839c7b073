// The worker on real Redis Streams and PostgreSQL (through PgBouncer): exactly-once stat changes,
// last-writer-wins for `set`, login expansion, unknown stats, dead-lettering, retention pruning.
// A worker SIGKILLed between its commit and its ack: test/faults/faults.test.ts (a real process).
import Redis from 'ioredis';
import { periodAt } from '../../app/domain/periods';
import { eventsModule } from '../../app/events/module';
import { pruneProcessedEvents } from '../../app/events/worker';
import {
  eventsDuplicateTotal,
  eventsUnknownStatTotal,
  retentionDeletedRowsTotal,
} from '../../app/ops/metrics';
import { eventsEnv, eventually, readStats, sql, statEvent } from '../helpers/events';
import { startTestService, type TestService } from '../helpers/service';

const counter = async (c: { get(): Promise<{ values: { value: number }[] }> }) =>
  (await c.get()).values.reduce((a, v) => a + v.value, 0);

describe('event worker', () => {
  let t: TestService;
  let env: Record<string, string>;
  let svcToken: string;
  const redisConns: Redis[] = [];
  const redis = () => {
    const r = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
    redisConns.push(r);
    return r;
  };

  beforeAll(async () => {
    env = eventsEnv({ EVENTS_MAX_DELIVERIES: '2', EVENTS_APPLY_PARTITIONS: '3' });
    t = await startTestService({ modules: [eventsModule()], env });
    svcToken = await t.serviceToken();
  });
  afterAll(async () => {
    await t.stop();
    const r = redis();
    await r.del(env.EVENTS_STREAM_KEY!, `${env.EVENTS_STREAM_KEY}:dead`);
    for (const c of redisConns) c.disconnect();
  });

  const post = async (events: unknown[]) => {
    const res = await fetch(`${t.base}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${svcToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { accepted: number; rejected: unknown[] };
    expect(body.rejected).toEqual([]);
    return body;
  };
  /** Wait until the queue has nothing undelivered or pending (every posted event was handled). */
  const drained = () =>
    eventually(async () => {
      const r = redis();
      const [pending] = (await r.call('XPENDING', env.EVENTS_STREAM_KEY!, 'challenge-workers')) as [number];
      const groups = (await r.call('XINFO', 'GROUPS', env.EVENTS_STREAM_KEY!)) as unknown[][];
      const g = groups[0]!;
      const lag = Number(g[g.indexOf('lag') + 1]);
      r.disconnect();
      return Number(pending) === 0 && lag === 0 ? true : undefined;
    });
  const stats = async (user: string) => Object.fromEntries(await readStats(t.db.directUrl, user));

  test('a duplicate event id in the same batch changes the stat once', async () => {
    const u = 'w-dup-same';
    await post([
      statEvent('dup-a', u, 'matches_finished', 5),
      statEvent('dup-a', u, 'matches_finished', 5),
      statEvent('dup-b', u, 'matches_finished', 1),
    ]);
    await drained();
    expect(await stats(u)).toEqual({ [`${u}|matches_finished`]: 6 });
  });

  test('a duplicate event id in a later batch changes nothing and is counted as a duplicate', async () => {
    const u = 'w-dup-later';
    await post([statEvent('later-a', u, 'matches_finished', 3)]);
    await drained();
    const dupBefore = await counter(eventsDuplicateTotal);
    await post([
      statEvent('later-a', u, 'matches_finished', 3),
      statEvent('later-b', u, 'matches_finished', 1),
    ]);
    await post([statEvent('later-a', u, 'matches_finished', 3)]);
    await drained();
    expect(await stats(u)).toEqual({ [`${u}|matches_finished`]: 4 });
    expect((await counter(eventsDuplicateTotal)) - dupBefore).toBe(2);
  });

  test('set events applied out of order end at the value with the latest occurredAt', async () => {
    const u = 'w-lww';
    const base = Date.now() - 60_000;
    const set = (id: string, value: number, at: number) =>
      statEvent(id, u, 'matches_won', value, 'set', base + at);
    // newest first, in one batch and across batches; ties broken the same way everywhere
    await post([set('lww-3', 30, 3000), set('lww-1', 10, 1000)]);
    await drained();
    await post([set('lww-2', 20, 2000)]);
    await post([set('lww-0', 5, 0), set('lww-25', 25, 2500)]);
    await drained();
    expect(await stats(u)).toEqual({ [`${u}|matches_won`]: 30 });
    await post([set('lww-4', 40, 4000), set('lww-35', 35, 3500)]);
    await drained();
    expect(await stats(u)).toEqual({ [`${u}|matches_won`]: 40 });
  });

  test('a login increments every login stat once; an unknown stat code is dropped and counted', async () => {
    const u = 'w-login';
    const unknownBefore = await counter(eventsUnknownStatTotal);
    await post([
      { eventId: 'login-1', userId: u, type: 'login', occurredAt: new Date().toISOString() },
      { eventId: 'login-1', userId: u, type: 'login', occurredAt: new Date().toISOString() },
      { eventId: 'login-2', userId: u, type: 'login', occurredAt: new Date().toISOString() },
      statEvent('unk-1', u, 'no_goal_uses_this', 9),
    ]);
    await drained();
    expect(await stats(u)).toEqual({ [`${u}|days_logged_in`]: 2 });
    expect((await counter(eventsUnknownStatTotal)) - unknownBefore).toBe(1);
    // the player row exists: events for unknown players create them
    expect(await sql(t.db.directUrl, 'SELECT 1 FROM players WHERE user_id = $1', [u])).toHaveLength(1);
  });

  test('the first change of a stat with relative rotating goals records the period baseline', async () => {
    const u = 'w-baseline';
    await post([statEvent('bl-1', u, 'crates_opened', 2)]);
    await drained();
    const rows = await sql<{ period_key: string; value: string }>(
      t.db.directUrl,
      'SELECT period_key, value FROM stat_baselines WHERE user_id = $1 AND stat_code = $2',
      [u, 'crates_opened'],
    );
    expect(rows).toEqual([{ period_key: periodAt('daily', Date.now()).key, value: '0' }]);
    const me = await t.call(u, 'GET', '/v1/challenges/daily-bounties');
    expect(me.body.goals.find((g: { goalId: string }) => g.goalId === 'daily-crates')).toMatchObject({
      progress: 2,
      status: 'in_progress',
    });
  });

  test('an event that keeps failing with a data error is dead-lettered after the delivery limit; the rest apply', async () => {
    const u = 'w-poison';
    const max = Number.MAX_SAFE_INTEGER;
    // 1,025 increments of 2^53-1 overflow bigint by the last one, whichever it is.
    const events = Array.from({ length: 1025 }, (_, i) =>
      statEvent(`poison-${i}`, u, 'matches_finished', max),
    );
    await post(events.slice(0, 1000));
    await post(events.slice(1000));
    await post([statEvent('after-poison', 'w-after-poison', 'matches_finished', 1)]);
    const r = redis();
    const dead = await eventually(async () => {
      const rows = (await r.xrange(`${env.EVENTS_STREAM_KEY}:dead`, '-', '+')) as [string, string[]][];
      return rows.length > 0 ? rows : undefined;
    }, 60_000);
    expect(dead).toHaveLength(1);
    const fields = dead[0]![1];
    expect(fields[fields.indexOf('error') + 1]).toMatch(/out of range/);
    expect(Number(fields[fields.indexOf('deliveries') + 1])).toBe(2);
    await drained();
    const s = await readStats(t.db.directUrl, u);
    expect(s.get(`${u}|matches_finished`)).toBe(Number(BigInt(max) * 1024n));
    expect(await stats('w-after-poison')).toEqual({ 'w-after-poison|matches_finished': 1 });
  });
});

describe('processed event retention', () => {
  test('ids older than the retention are deleted in batches; newer ones stay', async () => {
    const t = await startTestService({ env: { LOG_LEVEL: 'silent' } });
    try {
      const now = Date.now();
      const day = 86_400_000;
      await sql(
        t.db.directUrl,
        `INSERT INTO processed_events (event_id, processed_at)
         SELECT 'old-' || g, $1::timestamptz FROM generate_series(1, 25) g
         UNION ALL SELECT 'new-' || g, $2::timestamptz FROM generate_series(1, 3) g`,
        [new Date(now - 10 * day), new Date(now - day)],
      );
      const deleted = await pruneProcessedEvents(t.svc.db, now - 7 * day, 10);
      expect(deleted).toBe(25);
      const left = await sql<{ event_id: string }>(
        t.db.directUrl,
        'SELECT event_id FROM processed_events ORDER BY 1',
      );
      expect(left.map((r) => r.event_id)).toEqual(['new-1', 'new-2', 'new-3']);
    } finally {
      await t.stop();
    }
  });

  test('the worker prunes on its own schedule', async () => {
    const env = eventsEnv({
      PROCESSED_EVENTS_PRUNE_INTERVAL_MS: '200',
      PROCESSED_EVENTS_RETENTION_MS: '3600000',
    });
    const t = await startTestService({ modules: [eventsModule()], env });
    try {
      await sql(
        t.db.directUrl,
        `INSERT INTO processed_events VALUES ('stale', now() - interval '2 hours'), ('recent', now())`,
      );
      await eventually(async () => {
        const rows = await sql<{ event_id: string }>(t.db.directUrl, 'SELECT event_id FROM processed_events');
        return rows.length === 1 ? rows : undefined;
      });
      expect(await sql(t.db.directUrl, 'SELECT event_id FROM processed_events')).toEqual([
        { event_id: 'recent' },
      ]);
      // counted with the other retention deletions
      const pruned = (await retentionDeletedRowsTotal.get()).values.find(
        (v) => v.labels.table === 'processed_events',
      );
      expect(pruned?.value).toBeGreaterThanOrEqual(1);
    } finally {
      await t.stop();
      const r = new Redis(process.env.REDIS_URL!);
      await r.del(env.EVENTS_STREAM_KEY!);
      r.disconnect();
    }
  });
});
