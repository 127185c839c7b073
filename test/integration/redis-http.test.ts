// Every Redis-backed feature over HTTP on real Redis, with two service instances ("pods") sharing
// one Redis and one database: the per-player bucket (429 + Retry-After), the fleet-wide new-player
// budget, and event ingest (202 into the stream; Redis SIGKILLed -> 503 QUEUE_UNAVAILABLE, readiness
// false; Redis back -> ready and accepting, acknowledged entries still there).
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { eventsModule } from '../../app/events/module';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { eventsEnv, eventually, sql, statEvent } from '../helpers/events';
import { freePort } from '../helpers/net';
import { OwnRedis } from '../helpers/own-redis';
import { startTestService, type TestService } from '../helpers/service';

const REDIS_URL = process.env.REDIS_URL;
if (!REDIS_URL) throw new Error('REDIS_URL is not set: run through scripts/with-services.sh');

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON answers
type AnyJson = any;

function errorModel(body: AnyJson, error: string) {
  expect(body?.error).toBe(error);
  expect(Object.keys(body).sort()).toEqual(['code', 'details', 'error', 'message']);
}

describe('two pods on one Redis', () => {
  let db: TestDatabase;
  let pods: TestService[];
  const prefix = `test:${randomBytes(4).toString('hex')}:rl:`;
  const redis = new Redis(REDIS_URL);

  beforeAll(async () => {
    db = await createTestDatabase();
    const env = {
      REDIS_URL,
      RATE_LIMIT_KEY_PREFIX: prefix,
      RATE_LIMIT_PLAYER_PER_SEC: '1',
      RATE_LIMIT_PLAYER_BURST: '4',
      NEW_PLAYER_BUDGET_PER_SEC: '1',
      NEW_PLAYER_BUDGET_BURST: '3',
      NEW_PLAYER_BUDGET_MAX_WAIT_MS: '0',
      // Generous: a slow answer on the shared two cores must not drop a pod to its local limits.
      RATE_LIMIT_REDIS_TIMEOUT_MS: '2000',
      ADMISSION_KNOWN_PLAYERS_CACHE: '0',
    };
    pods = [await startTestService({ db, env }), await startTestService({ db, env })];
  });
  afterAll(async () => {
    for (const p of pods) await p.stop();
    await db.drop();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  test('per-player bucket is fleet-wide: the burst spread over both pods, then 429 with Retry-After', async () => {
    const user = 'rl-u1';
    const statuses: number[] = [];
    let refusal: { status: number; body: AnyJson; headers: Headers } | undefined;
    for (let i = 0; i < 6; i++) {
      const res = await pods[i % 2]!.call(user, 'GET', '/v1/challenges');
      statuses.push(res.status);
      if (res.status === 429 && !refusal) refusal = res;
    }
    // 4 tokens in the bucket, shared: a per-pod (in-memory) bucket would have let all 6 through.
    expect(statuses.slice(0, 4)).toEqual([200, 200, 200, 200]);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
    expect(refusal).toBeDefined();
    errorModel(refusal!.body, 'RATE_LIMITED');
    expect(refusal!.body.code).toBe(8);
    expect(Number(refusal!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // The bucket lives in Redis.
    const keys = await redis.keys(`${prefix}*${user}*`);
    expect(keys.length).toBeGreaterThanOrEqual(1);
    // Another player is not affected.
    expect((await pods[1]!.call('rl-u2', 'GET', '/v1/challenges')).status).toBe(200);
  });

  test('fleet new-player budget: the burst is shared by both pods; returning players do not spend it', async () => {
    const started = Date.now();
    const users = Array.from({ length: 10 }, (_, i) => `np-${i}`);
    const answers = await Promise.all(
      users.map((u, i) => pods[i % 2]!.call(u, 'POST', '/v1/challenges/initialize')),
    );
    const elapsedS = (Date.now() - started) / 1000;
    const admitted = users.filter((_, i) => answers[i]!.status === 200);
    const refused = answers.filter((a) => a.status === 503);
    // Burst 3 for the fleet (plus at most one slot per second the run took); two per-pod budgets
    // would have admitted 6. The budget answers before any new player is written, at any load.
    expect(admitted.length).toBeGreaterThanOrEqual(3);
    expect(admitted.length).toBeLessThanOrEqual(3 + Math.ceil(elapsedS));
    expect(admitted.length + refused.length).toBe(users.length);
    for (const r of refused) {
      errorModel(r.body, 'OVERLOADED');
      expect(r.body.details.reason).toBe('budget_exhausted');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    // Refused players were not created; admitted ones were.
    const rows = await pods[0]!.svc.db.query<{ user_id: string }>(
      'SELECT user_id FROM players WHERE user_id = ANY($1) ORDER BY user_id',
      [users],
    );
    expect(rows.rows.map((r) => r.user_id)).toEqual([...admitted].sort());
    // While the budget is spent, the admitted (now returning) players initialise again on either pod.
    for (const [i, u] of admitted.entries()) {
      expect((await pods[(i + 1) % 2]!.call(u, 'POST', '/v1/challenges/initialize')).status).toBe(200);
    }
  });
});

describe('event ingest on a Redis that dies (SIGKILL) and comes back', () => {
  let own: OwnRedis;
  let t: TestService;
  let env: Record<string, string>;

  beforeAll(async () => {
    own = new OwnRedis(await freePort());
    await own.start();
    // api and worker roles in one process: the worker's readiness carries the event-queue check
    // (an api pod stays ready through a Redis outage: its player routes still answer).
    // A short request deadline: an append that waited for Redis' reconnect would pass it.
    env = eventsEnv({ REDIS_URL: own.url, REQUEST_DEADLINE_MS: '1500' });
    t = await startTestService({ modules: [eventsModule()], env });
  });
  afterAll(async () => {
    await t.stop();
    await own.remove();
  });

  const post = async (events: unknown[]) => {
    const res = await fetch(`${t.base}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'test-api-key-0123456789' },
      body: JSON.stringify({ events }),
    });
    return {
      status: res.status,
      body: (await res.json()) as AnyJson,
      retryAfter: res.headers.get('retry-after'),
    };
  };
  const readyz = async () => {
    const res = await fetch(`${t.ops}/readyz`);
    return { status: res.status, body: (await res.json()) as AnyJson };
  };
  /** Applied by the worker, read from PostgreSQL itself. */
  const applied = async (eventId: string) =>
    (await sql(t.db.directUrl, 'SELECT 1 FROM processed_events WHERE event_id = $1', [eventId])).length === 1;

  test('202 lands in the stream; Redis killed -> 503 QUEUE_UNAVAILABLE and not ready; back -> ready and 202', async () => {
    expect((await readyz()).status).toBe(200);
    const ok = await post([statEvent('rk-before', 'rk-p1', 'matches_finished', 1)]);
    expect(ok).toMatchObject({ status: 202, body: { accepted: 1, rejected: [] } });
    await eventually(async () => ((await applied('rk-before')) ? true : undefined), 15_000, 'applied');

    await own.kill();
    const down = await post([statEvent('rk-during', 'rk-p1', 'matches_finished', 1)]);
    expect(down.status).toBe(503);
    errorModel(down.body, 'QUEUE_UNAVAILABLE');
    expect(down.body.code).toBe(14);
    expect(Number(down.retryAfter)).toBeGreaterThanOrEqual(1);
    const notReady = await eventually(async () => {
      const r = await readyz();
      return r.status === 503 ? r : undefined;
    }, 15_000);
    expect(notReady.body.checks['event-queue']).toBe(false);
    expect(notReady.body.checks.postgres).toBe(true);
    // Through the outage, while the clients' reconnect backoff grows: every batch is refused at
    // once as QUEUE_UNAVAILABLE (the producer has no offline queue), none waits for the deadline
    // (DEADLINE_EXCEEDED) or piles up in the admission limit (OVERLOADED).
    const during: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await post([statEvent(`rk-during-${i}`, 'rk-p1', 'matches_finished', 1)]);
      during.push(`${r.status} ${r.body.error}`);
      await new Promise((res) => setTimeout(res, 300));
    }
    expect(during).toEqual(Array(12).fill('503 QUEUE_UNAVAILABLE'));

    await own.start();
    await eventually(async () => ((await readyz()).status === 200 ? true : undefined), 30_000, 'ready again');
    const again = await eventually(async () => {
      const r = await post([statEvent('rk-after', 'rk-p1', 'matches_finished', 1)]);
      return r.status === 202 ? r : undefined;
    }, 15_000);
    expect(again.body.accepted).toBe(1);
    await eventually(async () => ((await applied('rk-after')) ? true : undefined), 30_000, 'applied after');
    // The refused event was not applied; each accepted one once (1 + 1 on the player's stat).
    expect(await applied('rk-during')).toBe(false);
    expect(await applied('rk-during-0')).toBe(false);
    const stat = await sql<{ value: string }>(
      t.db.directUrl,
      "SELECT value::text FROM stat_values WHERE user_id = 'rk-p1' AND stat_code = 'matches_finished'",
    );
    expect(stat.map((r) => Number(r.value))).toEqual([2]);
  });
});
