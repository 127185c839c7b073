// While new-player work is shed, the known-player lookups are bounded: with a statement's worth
// (64) already waiting behind the two in flight, an unknown player is refused without a lookup.
// Real service and PostgreSQL through PgBouncer; the lookups are held by a table lock taken on a
// direct connection; the admission decision is scripted (init shed) and the limits are counted.
import { Client } from 'pg';
import type { Admission, AdmissionClass, RateLimits } from '../../app/admission';
import { KnownPlayers } from '../../app/admission/knownPlayers';
import { unavailable } from '../../app/api/errors';
import { PLAYER_EXISTS_MAX_BACKLOG, playerExistsBacklog } from '../../app/store/players';
import { startTestService, type TestService } from '../helpers/service';

describe('known-player lookups while init is shed (scripted admission, locked table)', () => {
  let t: TestService;
  let limiterCalls = 0;
  const admission: Admission = {
    run: (_cls, _deadline, fn) => fn(),
    wouldRefuse: (cls: AdmissionClass) => cls === 'init',
    check: (cls: AdmissionClass) =>
      cls === 'init' ? unavailable('shed', 1, 'OVERLOADED', { reason: 'deadline' }) : null,
  };
  const limits: RateLimits = {
    player: async () => void limiterCalls++,
    newPlayer: async () => void limiterCalls++,
    tryNewPlayer: async () => {
      limiterCalls++;
      return true;
    },
    ingest: async () => undefined,
  };

  beforeAll(async () => {
    t = await startTestService({
      overrides: { admission, limits, knownPlayers: new KnownPlayers(1000) },
      env: { REQUEST_DEADLINE_MS: '60000' },
    });
  });
  afterAll(async () => t.stop());

  it('refuses an unknown player without a lookup once 64 lookups wait; the waiting ones finish after', async () => {
    const lock = new Client({ connectionString: t.db.directUrl });
    await lock.connect();
    await lock.query('BEGIN');
    await lock.query('LOCK TABLE players IN ACCESS EXCLUSIVE MODE');
    const waiting: Promise<{ status: number }>[] = [];
    try {
      // two lookups in flight (held by the lock), then a statement's worth queued behind them
      for (let i = 0; i < 2 + PLAYER_EXISTS_MAX_BACKLOG; i++) {
        waiting.push(t.call(`backlog-${i}`, 'POST', '/v1/challenges/initialize'));
      }
      while (playerExistsBacklog(t.svc.db) < PLAYER_EXISTS_MAX_BACKLOG)
        await new Promise((r) => setTimeout(r, 20));

      const refused = await t.call('backlog-over', 'POST', '/v1/challenges/initialize');
      expect(refused.status).toBe(503);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      // answered while the lookups ahead of it are still held: it never waited for one
      expect(playerExistsBacklog(t.svc.db)).toBe(PLAYER_EXISTS_MAX_BACKLOG);
    } finally {
      await lock.query('COMMIT');
      await lock.end();
    }
    const after = await Promise.all(waiting);
    expect(new Set(after.map((r) => r.status))).toEqual(new Set([503]));
    expect(limiterCalls).toBe(0);
  });
});
