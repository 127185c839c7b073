// Initialize at low load on the real service (PostgreSQL through PgBouncer, real adaptive admission):
// per-hop timings asked for with X-Server-Timing: 1 and answered in Server-Timing (never otherwise);
// and, however idle the pod, a new player is written only once the fleet budget said yes (the
// limiter here is a scripted stand-in whose budget the test opens and closes; the budget over real
// Redis is test/integration/redis-http.test.ts).
import { Client } from 'pg';
import type { RateLimits } from '../../app/admission';
import { unavailable } from '../../app/api/errors';
import { startTestService, type TestService } from '../helpers/service';

describe('initialize at low load', () => {
  let t: TestService;
  /** Whether the fleet budget has a slot; when not, newPlayer refuses as the real limiter does. */
  let budgetFree = true;
  const limits: RateLimits = {
    player: async () => undefined,
    newPlayer: async () => {
      if (!budgetFree)
        throw unavailable('new-player initialisation budget exhausted; retry later', 1, 'OVERLOADED', {
          reason: 'budget_exhausted',
        });
    },
    tryNewPlayer: async () => budgetFree,
    ingest: async () => undefined,
  };
  beforeAll(async () => {
    t = await startTestService({ overrides: { limits } });
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
    budgetFree = false;
    try {
      const r = await t.call('budget-first', 'POST', '/v1/challenges/initialize');
      expect(r.status).toBe(503);
      expect(r.body.error).toBe('OVERLOADED');
      expect(r.body.details.reason).toBe('budget_exhausted');
      const pg = new Client({ connectionString: t.db.directUrl });
      await pg.connect();
      try {
        const rows = await pg.query("SELECT 1 FROM players WHERE user_id = 'budget-first'");
        expect(rows.rowCount).toBe(0);
      } finally {
        await pg.end();
      }
    } finally {
      budgetFree = true;
    }
  });

  it('sends no Server-Timing unless asked', async () => {
    const r = await t.call('timing-quiet', 'POST', '/v1/challenges/initialize');
    expect(r.status).toBe(200);
    expect(r.headers.get('server-timing')).toBeNull();
  });
});
