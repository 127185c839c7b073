// Initialize at low load on the real service (PostgreSQL through PgBouncer, real adaptive admission,
// rate limits and the fleet's new-player budget on real Redis): per-hop timings asked for with
// X-Server-Timing: 1 and answered in Server-Timing (never otherwise); and, however idle the pod, a
// new player is written only once the fleet budget said yes (the budget's key in Redis is set to
// "spent for the next hour"; the budget shared by two pods is in redis-http.test.ts).
import Redis from 'ioredis';
import { Client } from 'pg';
import { startTestService, type TestService } from '../helpers/service';

describe('initialize at low load', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
  });
  afterAll(async () => t.stop());

  const hops = (h: string | null) => (h ?? '').split(', ').map((p) => p.split(';')[0]);

  it('names every hop of a new player and of a returning one when asked', async () => {
    const fresh = await t.call('timing-new', 'POST', '/v1/challenges/initialize', undefined, {
      'x-server-timing': '1',
    });
    expect(fresh.status).toBe(200);
    // the limiter round trip (budget) first, then admission and the statement
    expect(hops(fresh.headers.get('server-timing'))).toEqual([
      'auth',
      'limits',
      'admit',
      'db',
      'view',
      'total',
    ]);
    for (const part of (fresh.headers.get('server-timing') ?? '').split(', '))
      expect(part).toMatch(/^[a-z]+;dur=\d+\.\d{3}$/);

    const again = await t.call('timing-new', 'POST', '/v1/challenges/initialize', undefined, {
      'x-server-timing': '1',
    });
    expect(hops(again.headers.get('server-timing'))).toEqual(['auth', 'limits', 'db', 'view', 'total']);
  });

  it('an idle pod still asks the fleet budget before writing a new player: refused, nothing written', async () => {
    // The fleet's budget in Redis, spent for the next hour: its key holds the budget's next free
    // time (GCRA, microseconds), which the limiter's script reads and answers from.
    const redis = new Redis(t.cfg.REDIS_URL!);
    const budgetKey = `${t.cfg.RATE_LIMIT_KEY_PREFIX}new-player`;
    try {
      await redis.set(budgetKey, String((Date.now() + 3_600_000) * 1000), 'PX', 60_000);
      const r = await t.call('budget-first', 'POST', '/v1/challenges/initialize');
      expect(r.status).toBe(503);
      expect(r.body.error).toBe('OVERLOADED');
      expect(r.body.details.reason).toBe('budget_exhausted');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const pg = new Client({ connectionString: t.db.directUrl });
      await pg.connect();
      try {
        const rows = await pg.query("SELECT 1 FROM players WHERE user_id = 'budget-first'");
        expect(rows.rowCount).toBe(0);
      } finally {
        await pg.end();
      }
    } finally {
      await redis.del(budgetKey);
      redis.disconnect();
    }
    // The budget free again: the same player is admitted and written.
    expect((await t.call('budget-first', 'POST', '/v1/challenges/initialize')).status).toBe(200);
  });

  it('sends no Server-Timing unless asked', async () => {
    const r = await t.call('timing-quiet', 'POST', '/v1/challenges/initialize');
    expect(r.status).toBe(200);
    expect(r.headers.get('server-timing')).toBeNull();
  });
});
