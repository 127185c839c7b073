// Initialize at low load on the real service (PostgreSQL through PgBouncer, real adaptive admission):
// per-hop timings asked for with X-Server-Timing: 1 and answered in Server-Timing (never otherwise);
// and, while the pool is idle, the statement does not wait for the limiter round trip (the limiter
// here is a counted stand-in that answers only when the test lets it).
import { Client } from 'pg';
import type { RateLimits } from '../../app/admission';
import { startTestService, type TestService } from '../helpers/service';

describe('initialize at low load', () => {
  let t: TestService;
  /** While set, tryNewPlayer waits for it: the limiter round trip is "slow". */
  let gate: Promise<void> | null = null;
  const limits: RateLimits = {
    player: async () => undefined,
    newPlayer: async () => undefined,
    tryNewPlayer: async () => {
      if (gate) await gate;
      return true;
    },
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
    // idle pool: the statement (admit, db) runs alongside the limiter round trip, in either order
    expect(hops(fresh.headers.get('server-timing')).sort()).toEqual([
      'admit',
      'auth',
      'db',
      'limits',
      'total',
      'view',
    ]);
    for (const part of (fresh.headers.get('server-timing') ?? '').split(', '))
      expect(part).toMatch(/^[a-z]+;dur=\d+\.\d{3}$/);

    const again = await t.call('timing-new', 'POST', '/v1/challenges/initialize', undefined, {
      'x-server-timing': '1',
    });
    expect(hops(again.headers.get('server-timing'))).toEqual(['auth', 'limits', 'db', 'view', 'total']);
  });

  it('while the pool is idle, a new player is written before the limiter has answered', async () => {
    let open!: () => void;
    gate = new Promise<void>((r) => (open = r));
    const answer = t.call('overlap-new', 'POST', '/v1/challenges/initialize');
    const pg = new Client({ connectionString: t.db.directUrl });
    await pg.connect();
    try {
      let rows = 0;
      while (rows === 0) {
        rows = (await pg.query("SELECT 1 FROM players WHERE user_id = 'overlap-new'")).rowCount ?? 0;
        if (rows === 0) await new Promise((r) => setTimeout(r, 20));
      }
      expect(rows).toBe(1); // written while tryNewPlayer is still held
    } finally {
      await pg.end();
    }
    open();
    gate = null;
    expect((await answer).status).toBe(200);
  });

  it('sends no Server-Timing unless asked', async () => {
    const r = await t.call('timing-quiet', 'POST', '/v1/challenges/initialize');
    expect(r.status).toBe(200);
    expect(r.headers.get('server-timing')).toBeNull();
  });
});
