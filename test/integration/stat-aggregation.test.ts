// #18 item 2 on the real stack (Redis Streams, the worker, PostgreSQL through PgBouncer): stats the
// catalog declares max / min keep the highest / lowest value ever reported, in one batch and across
// batches, duplicates suppressed as for every event; an event whose mode does not match its stat's
// declared aggregation is answered 202 with the reason and never reaches the worker.
import path from 'node:path';
import Redis from 'ioredis';
import { mintToken } from '../../app/api/auth';
import { ROOT } from '../../app/paths';
import { eventsModule } from '../../app/events/module';
import { eventsEnv, eventually, readStats } from '../helpers/events';
import { startTestService, TEST_SECRET, type TestService } from '../helpers/service';

const event = (eventId: string, userId: string, statCode: string, value: number, mode?: string) => ({
  eventId,
  userId,
  type: 'stat',
  statCode,
  value,
  ...(mode === undefined ? {} : { mode }),
  occurredAt: new Date(Date.now() - 1000).toISOString(),
});

describe('declared stat aggregation through the worker', () => {
  let t: TestService;
  let env: Record<string, string>;
  let svcToken: string;

  beforeAll(async () => {
    env = eventsEnv({ CHALLENGE_CATALOG: path.join(ROOT, 'examples/catalog-rules.json') });
    t = await startTestService({ modules: [eventsModule()], env });
    svcToken = await t.serviceToken();
  });
  afterAll(async () => {
    await t.stop();
    const r = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
    await r.del(env.EVENTS_STREAM_KEY!, `${env.EVENTS_STREAM_KEY}:dead`);
    r.disconnect();
  });

  const post = async (events: unknown[]) => {
    const res = await fetch(`${t.base}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${svcToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    expect(res.status).toBe(202);
    return (await res.json()) as { accepted: number; rejected: { index: number; reason: string }[] };
  };
  /** Wait until the queue has nothing undelivered or pending (every posted event was handled). */
  const drained = () =>
    eventually(async () => {
      const r = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
      const [pending] = (await r.call('XPENDING', env.EVENTS_STREAM_KEY!, 'challenge-workers')) as [number];
      const groups = (await r.call('XINFO', 'GROUPS', env.EVENTS_STREAM_KEY!)) as unknown[][];
      const g = groups[0]!;
      const lag = Number(g[g.indexOf('lag') + 1]);
      r.disconnect();
      return Number(pending) === 0 && lag === 0 ? true : undefined;
    });
  const valueOf = async (user: string, stat: string) =>
    (await readStats(t.db.directUrl, user)).get(`${user}|${stat}`);
  const until = (user: string, stat: string, expected: number) =>
    eventually(async () => ((await valueOf(user, stat)) === expected ? true : undefined));

  test('max keeps the highest score: within a batch, across batches, lower reports change nothing', async () => {
    const u = 'agg-max';
    expect(
      await post([
        event('mx1', u, 'best_score', 700),
        event('mx2', u, 'best_score', 900, 'max'),
        event('mx3', u, 'best_score', 800),
      ]),
    ).toEqual({ accepted: 3, rejected: [] });
    await until(u, 'best_score', 900);
    await post([event('mx4', u, 'best_score', 300), event('mx5', u, 'best_score', -5)]);
    await post([event('mx6', u, 'best_score', 1200), event('mx2', u, 'best_score', 5000)]); // mx2: a duplicate id
    await until(u, 'best_score', 1200);
    await post([event('mx7', u, 'best_score', 1100)]);
    await drained();
    expect(await valueOf(u, 'best_score')).toBe(1200);
  });

  test('min keeps the fastest lap; the first report of a new stat is its value, not 0', async () => {
    const u = 'agg-min';
    await post([event('mn1', u, 'fastest_lap_ms', 81_000), event('mn2', u, 'fastest_lap_ms', 79_500)]);
    await until(u, 'fastest_lap_ms', 79_500);
    await post([event('mn3', u, 'fastest_lap_ms', 90_000, 'min')]);
    await post([event('mn4', u, 'fastest_lap_ms', 58_250)]);
    await until(u, 'fastest_lap_ms', 58_250);
    await post([event('mn5', u, 'fastest_lap_ms', 60_000)]);
    await drained();
    expect(await valueOf(u, 'fastest_lap_ms')).toBe(58_250);
  });

  test('a goal on a max stat completes from the maximum (listed through the player API)', async () => {
    const u = 'agg-goal';
    await post([event('g1', u, 'best_score', 10_001), event('g2', u, 'best_score', 50)]);
    await until(u, 'best_score', 10_001);
    const token = (await mintToken(TEST_SECRET, u)).token;
    const res = await fetch(`${t.base}/v1/challenges/rules-showcase`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      goals: { goalId: string; status: string; progress: number; target: number }[];
    };
    expect(body.goals.find((g) => g.goalId === 'high-scorer')).toMatchObject({
      status: 'completed',
      progress: 10_001,
      target: 10_001,
    });
  });

  test('a mode that does not match the declared aggregation: 202 with the reason, nothing applied', async () => {
    const u = 'agg-reject';
    const body = await post([
      event('r1', u, 'best_score', 5, 'set'),
      event('r2', u, 'matches_played', 1, 'max'),
      event('r3', u, 'unknown_stat', 1, 'min'),
      event('r4', u, 'matches_played', 2),
    ]);
    expect(body.accepted).toBe(1);
    expect(body.rejected).toEqual([
      expect.objectContaining({
        index: 0,
        reason:
          'mode "set" does not match the aggregation "max" the catalog declares for stat best_score (send mode "max" or omit it)',
      }),
      expect.objectContaining({ index: 1, reason: expect.stringContaining('aggregation "sum"') }),
      expect.objectContaining({
        index: 2,
        reason: expect.stringContaining('needs stat unknown_stat declared'),
      }),
    ]);
    await drained();
    expect(await valueOf(u, 'matches_played')).toBe(2);
    expect(await valueOf(u, 'best_score')).toBeUndefined();
  });
});
