// Slow database work: the adaptive limit shrinks, queue waits stay within the deadline, and no
// request is answered later than its deadline (plus a generous margin for a loaded test machine).
import { Client } from 'pg';
import { ApiError } from '../../app/api/errors';
import { AdaptiveLimiter } from '../../app/admission/adaptive';
import { startTestService, type TestService } from '../helpers/service';

const MARGIN_MS = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('admission around slow work', () => {
  test('work slower than the target shrinks the limit; every request ends by its deadline', async () => {
    const limiter = new AdaptiveLimiter('slow-fn', {
      initialLimit: 16,
      minLimit: 2,
      maxLimit: 64,
      targetLatencyMs: 20,
      decreaseRatio: 0.9,
      queueMax: 64,
      lifoAfterMs: 50,
      maxQueueWaitMs: 0,
    });
    const outcomes: { status: number; late: number; retryAfter?: number }[] = [];
    const waves: Promise<void>[] = [];
    for (let wave = 0; wave < 10; wave++) {
      for (let i = 0; i < 30; i++) {
        const deadline = Date.now() + 600;
        waves.push(
          limiter
            .run('player', deadline, () => sleep(100))
            .then(
              () => void outcomes.push({ status: 200, late: Date.now() - deadline }),
              (e: unknown) => {
                if (!(e instanceof ApiError)) throw e;
                outcomes.push({ status: e.status, late: Date.now() - deadline, retryAfter: e.retryAfter });
              },
            ),
        );
      }
      await sleep(50);
    }
    await Promise.all(waves);
    expect(limiter.limit).toBeLessThan(16);
    expect(outcomes).toHaveLength(300);
    expect(outcomes.filter((o) => o.status === 200).length).toBeGreaterThan(0);
    for (const o of outcomes) {
      expect([200, 503]).toContain(o.status);
      if (o.status === 503) expect(o.retryAfter).toBeGreaterThanOrEqual(1);
      expect(o.late).toBeLessThan(MARGIN_MS);
    }
  });
});

describe('service with PostgreSQL made slow (each new player insert sleeps 150 ms)', () => {
  let t: TestService;
  const DEADLINE_MS = 1000;

  beforeAll(async () => {
    t = await startTestService({
      env: {
        REQUEST_DEADLINE_MS: String(DEADLINE_MS),
        ADMISSION_INITIAL_LIMIT: '16',
        ADMISSION_MIN_LIMIT: '2',
        ADMISSION_TARGET_LATENCY_MS: '30',
        NEW_PLAYER_BUDGET_PER_SEC: '0',
        PG_POOL_MAX: '16',
      },
    });
    const c = new Client({ connectionString: t.db.directUrl });
    await c.connect();
    await c.query(`CREATE FUNCTION test_slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN PERFORM pg_sleep(0.15); RETURN NEW; END $$`);
    await c.query(
      'CREATE TRIGGER test_slow_insert BEFORE INSERT ON players FOR EACH ROW EXECUTE FUNCTION test_slow_insert()',
    );
    await c.end();
  });
  afterAll(async () => t.stop());

  async function metric(name: string, labels: string): Promise<number | undefined> {
    const text = await (await fetch(`${t.ops}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
    return line === undefined ? undefined : Number(line.split(' ').at(-1));
  }

  test('burst of new players: limit shrinks, answers are 200 or 503 with Retry-After, none after the deadline', async () => {
    const results = await Promise.all(
      Array.from({ length: 150 }, async (_, i) => {
        const sent = Date.now();
        const res = await t.call(`slow-${i}`, 'POST', '/v1/challenges/initialize');
        return {
          status: res.status,
          ms: Date.now() - sent,
          retryAfter: res.headers.get('retry-after'),
          body: res.body,
        };
      }),
    );
    for (const r of results) {
      expect([200, 503]).toContain(r.status);
      expect(r.ms).toBeLessThan(DEADLINE_MS + MARGIN_MS);
      if (r.status === 503) expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    expect(results.filter((r) => r.status === 200).length).toBeGreaterThan(0);
    // Refused by admission before the deadline, not only by the HTTP deadline timer.
    expect(results.some((r) => r.status === 503 && r.body.error === 'OVERLOADED')).toBe(true);

    const limit = await metric('challenge_admission_limit', 'pool="api"');
    expect(limit).toBeLessThan(16);
    // Every queue wait of init ended by the deadline; one bucket up (2 s) absorbs timers fired late
    // on a loaded test machine, like MARGIN_MS above.
    const within = await metric('challenge_admission_queue_wait_seconds_bucket', 'le="2",pool="init"');
    const all = await metric('challenge_admission_queue_wait_seconds_count', 'pool="init"');
    expect(all).toBeGreaterThan(0);
    expect(within).toBe(all);
  });
});
