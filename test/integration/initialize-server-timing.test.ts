// Initialize at low load on the real service (PostgreSQL through PgBouncer, real adaptive admission,
// rate limits and the fleet's new-player budget on real Redis): per-hop timings asked for with
// X-Server-Timing: 1 and answered in Server-Timing (never otherwise); and, however idle the pod, a
// new player is written only once the fleet budget said yes (a pod whose budget is one slot, spent
// by a first new player, refuses the next one; more on the budget in redis-http.test.ts).
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
    // A pod of its own fleet (database, Redis keys) whose budget is one new player, refilled at 1/s,
    // and no waiting for a slot.
    const budget = await startTestService({
      env: {
        NEW_PLAYER_BUDGET_PER_SEC: '1',
        NEW_PLAYER_BUDGET_BURST: '1',
        NEW_PLAYER_BUDGET_MAX_WAIT_MS: '0',
        RATE_LIMIT_REDIS_TIMEOUT_MS: '2000',
      },
    });
    try {
      expect((await budget.call('budget-spends', 'POST', '/v1/challenges/initialize')).status).toBe(200);
      const r = await budget.call('budget-first', 'POST', '/v1/challenges/initialize');
      expect(r.status).toBe(503);
      expect(r.body.error).toBe('OVERLOADED');
      expect(r.body.details.reason).toBe('budget_exhausted');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const pg = new Client({ connectionString: budget.db.directUrl });
      await pg.connect();
      try {
        const rows = await pg.query("SELECT user_id FROM players WHERE user_id LIKE 'budget-%'");
        expect(rows.rows).toEqual([{ user_id: 'budget-spends' }]);
      } finally {
        await pg.end();
      }
    } finally {
      await budget.stop();
    }
  });

  it('sends no Server-Timing unless asked', async () => {
    const r = await t.call('timing-quiet', 'POST', '/v1/challenges/initialize');
    expect(r.status).toBe(200);
    expect(r.headers.get('server-timing')).toBeNull();
  });
});
