// While new-player work is shed, the known-player lookups are bounded: with a statement's worth
// (64) already waiting behind the two in flight, an unknown player is refused without a lookup.
// Real service, its real adaptive admission and its rate limits on real Redis, PostgreSQL through
// PgBouncer. The shedding is real (test/helpers/held-slot.ts): one admission slot and room for one
// waiter, the slot held by a new player's initialize whose insert waits on a lock of the players
// table (taken on a direct connection), a second one queued; admission now refuses every further
// initialisation (but not the returning-player class); the same lock holds the lookups. Limiter
// round trips are counted on a Redis of the suite's own (INFO commandstats).
import Redis from 'ioredis';
import { PLAYER_EXISTS_MAX_BACKLOG, playerExistsBacklog } from '../../app/store/players';
import { HeldSlot, limiterCalls, oneSlotEnv } from '../helpers/held-slot';
import { OwnRedis } from '../helpers/own-redis';
import { startTestService, type TestService } from '../helpers/service';

describe('known-player lookups while init is shed (one admission slot held, locked table)', () => {
  let t: TestService;
  let own: OwnRedis;
  let redis: Redis;
  const calls = async () => (await limiterCalls(redis, 'none')).calls;

  beforeAll(async () => {
    // A Redis of the suite's own: its script calls are this pod's limiter decisions only.
    own = await OwnRedis.create();
    t = await startTestService({
      env: {
        ...oneSlotEnv(60_000),
        REDIS_URL: own.url,
      },
    });
    redis = new Redis(own.url);
    // the limiter's scripts loaded (a first EVALSHA meets NOSCRIPT and is sent again as EVAL)
    expect((await t.call('backlog-warm', 'POST', '/v1/challenges/initialize')).status).toBe(200);
  });
  afterAll(async () => {
    redis?.disconnect();
    await t?.stop();
    await own?.remove();
  });

  it('refuses an unknown player without a lookup once 64 lookups wait; the waiting ones finish after', async () => {
    const held = new HeldSlot(t, 'backlog', 'ACCESS EXCLUSIVE');
    const start = await calls();
    await held.hold(true);
    // the control: holder and queued init each took the per-player limit and a budget slot
    expect((await calls()) - start).toBe(4);
    const waiting: Promise<{ status: number }>[] = [];
    try {
      // Now init is shed: unknown players are looked up (two lookups in flight, held by the lock),
      // then a statement's worth queued behind them.
      for (let i = 0; i < 2 + PLAYER_EXISTS_MAX_BACKLOG; i++) {
        waiting.push(t.call(`backlog-${i}`, 'POST', '/v1/challenges/initialize'));
      }
      while (playerExistsBacklog(t.svc.db) < PLAYER_EXISTS_MAX_BACKLOG)
        await new Promise((r) => setTimeout(r, 20));

      const before = await calls();
      const refused = await t.call('backlog-over', 'POST', '/v1/challenges/initialize');
      expect(refused.status).toBe(503);
      expect(refused.body).toMatchObject({ error: 'OVERLOADED', details: { reason: 'queue_full' } });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      // answered while the lookups ahead of it are still held: it never waited for one
      expect(playerExistsBacklog(t.svc.db)).toBe(PLAYER_EXISTS_MAX_BACKLOG);
      // no limiter round trip: neither it nor the players waiting on their lookups made one
      expect((await calls()) - before).toBe(0);
    } finally {
      await held.release(); // the holder's initialize then answers 200
    }
    expect((await held.queued!).status).toBe(200);
    // The lookups finish once the lock is gone: each player is unknown, so each call is refused or,
    // if the slot was free again by then, initialised; none is left hanging or answered otherwise.
    const after = await Promise.all(waiting);
    for (const r of after) expect([200, 503]).toContain(r.status);
  });
});
