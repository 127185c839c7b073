// While admission sheds new-player work, initialize refuses unknown players before any limiter
// round trip, and still serves returning players this pod has not seen. Real service, its real
// adaptive admission and its rate limits on real Redis, PostgreSQL through PgBouncer.
//
// The shedding is made with real load: the pod has one admission slot and room for one waiter.
// A new player's initialize takes the slot and its insert waits on a lock of the players table
// (reads go on); a second new player's initialize waits in the queue. Now a further
// initialisation is refused (queue full, nothing of lower priority to evict), while a returning
// player's call (a higher class) evicts the queued initialisation and waits for the slot, which
// the test frees by releasing the lock. Which limiter calls a request made is read from a Redis of
// the suite's own: every limiter decision is one script call (INFO commandstats counts them), and
// the fleet's new-player budget is a key whose next free time moves one second per booking.
import Redis from 'ioredis';
import { Client } from 'pg';
import {
  HeldSlot,
  limiterCalls,
  limiterCallsSince,
  oneSlotEnv,
  queueDepth,
  until,
  type LimiterCalls,
} from '../helpers/held-slot';
import { OwnRedis } from '../helpers/own-redis';
import { startTestService, type TestService } from '../helpers/service';

/** One slot, one waiter; no queue-delay shedding, no LIFO eviction: only the held load decides. */
const ONE_SLOT = {
  ...oneSlotEnv(30_000),
  // The budget's key holds its next free time (GCRA): at one slot a second each booking moves it a
  // second on; with a burst of 1,000 a key set ten minutes ahead still admits every booking.
  NEW_PLAYER_BUDGET_PER_SEC: '1',
  NEW_PLAYER_BUDGET_BURST: '1000',
};

describe('initialize while new-player work is shed (one admission slot held by real load)', () => {
  let t: TestService;
  let own: OwnRedis;
  let redis: Redis;
  let held: HeldSlot | undefined;
  let budgetKey: string;

  beforeAll(async () => {
    own = await OwnRedis.create();
    t = await startTestService({ env: { ...ONE_SLOT, REDIS_URL: own.url } });
    redis = new Redis(own.url);
    budgetKey = `${t.cfg.RATE_LIMIT_KEY_PREFIX}new-player`;
    const [sec, us] = await redis.time();
    await redis.set(budgetKey, String((Number(sec) + 600) * 1e6 + Number(us)), 'PX', 900_000);
    // the limiter's scripts loaded (a first EVALSHA meets NOSCRIPT and is sent again as EVAL)
    expect((await t.call('shed-warm', 'POST', '/v1/challenges/initialize')).status).toBe(200);
  });
  afterAll(async () => {
    redis?.disconnect();
    await t?.stop();
    await own?.remove();
  });
  afterEach(async () => {
    await held?.release().catch(() => undefined);
    held = undefined;
  });

  const limiter = () => limiterCalls(redis, budgetKey);
  const since = (from: LimiterCalls) => limiterCallsSince(redis, budgetKey, from);

  async function playerExists(userId: string): Promise<boolean> {
    const c = new Client({ connectionString: t.db.directUrl });
    await c.connect();
    try {
      return (await c.query('SELECT 1 FROM players WHERE user_id = $1', [userId])).rowCount === 1;
    } finally {
      await c.end();
    }
  }

  test('an unknown player is refused with 503 + Retry-After, no limiter call, nothing written', async () => {
    held = new HeldSlot(t, 'shed-a');
    const start = await limiter();
    await held.hold(true);
    // the control: the holder and the queued init each took the per-player limit and a budget slot
    expect(await since(start)).toEqual({ player: 2, budget: 2 });
    const before = await limiter();
    const res = await t.call('shed-new-1', 'POST', '/v1/challenges/initialize');
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ error: 'OVERLOADED', details: { reason: 'queue_full' } });
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await since(before)).toEqual({ player: 0, budget: 0 });
    await held.release();
    expect((await held.queued!).status).toBe(200); // the queued init got the slot after the holder
    held = undefined;
    expect(await playerExists('shed-new-1')).toBe(false);
  });

  test('a returning player this pod has never seen is served (per-player limit only, no budget)', async () => {
    const c = new Client({ connectionString: t.db.directUrl });
    await c.connect();
    await c.query(
      `INSERT INTO players (user_id, created_at) VALUES ('shed-ret-1', now() - interval '1 day')`,
    );
    await c.end();
    held = new HeldSlot(t, 'shed-b');
    await held.hold(true);
    const before = await limiter();
    const call = t.call('shed-ret-1', 'POST', '/v1/challenges/initialize');
    // It evicts the queued initialisation (a lower class) and waits for the slot.
    const evicted = await held.queued!;
    expect(evicted.status).toBe(503);
    await held.release();
    held = undefined;
    const res = await call;
    expect(res.status).toBe(200);
    expect(res.body.newAssignments).toBe(0);
    expect(await since(before)).toEqual({ player: 1, budget: 0 });
  });

  test('not shedding: a new player takes the per-player limit and a budget slot, and is created', async () => {
    const before = await limiter();
    const res = await t.call('shed-new-2', 'POST', '/v1/challenges/initialize');
    expect(res.status).toBe(200);
    expect(res.body.newAssignments).toBeGreaterThan(0);
    expect(await since(before)).toEqual({ player: 1, budget: 1 });
    // now known to this pod: no budget the next time, even while init is shed
    held = new HeldSlot(t, 'shed-c');
    await held.hold(true);
    const beforeAgain = await limiter();
    const again = t.call('shed-new-2', 'POST', '/v1/challenges/initialize');
    expect((await held.queued!).status).toBe(503); // evicted: shed-new-2 went on as a returning player
    await held.release();
    held = undefined;
    expect((await again).status).toBe(200);
    expect(await since(beforeAgain)).toEqual({ player: 1, budget: 0 });
  });
});

describe('player calls read the facts alongside the rate-limit round trip (admission held by real load)', () => {
  let t: TestService;

  beforeAll(async () => {
    t = await startTestService({ env: { ...ONE_SLOT, ADMISSION_QUEUE_MAX: '8' } });
  });
  afterAll(async () => t.stop());

  async function setStat(userId: string, value: number): Promise<void> {
    const c = new Client({ connectionString: t.db.directUrl });
    await c.connect();
    await c.query(
      `INSERT INTO stat_values (user_id, stat_code, value, first_value, first_seen_at, updated_at)
       VALUES ($1, 'tutorial_steps_done', $2, 0, now(), now())
       ON CONFLICT (user_id, stat_code) DO UPDATE SET value = EXCLUDED.value`,
      [userId, value],
    );
    await c.end();
  }

  const firstSteps = async (userId: string) => {
    const res = await t.call(userId, 'GET', '/v1/challenges/starter-path');
    expect(res.status).toBe(200);
    return res.body.goals.find((g: { goalId: string }) => g.goalId === 'first-steps');
  };

  test('a call that waited in admission reads the facts again: a change made meanwhile is seen', async () => {
    await t.call('pre-1', 'POST', '/v1/challenges/initialize');
    expect((await firstSteps('pre-1')).status).not.toBe('completed');
    const held = new HeldSlot(t, 'pre-h');
    await held.hold(false);
    try {
      // The call reads the facts (early), passes the limiter, and waits in admission's queue.
      const before = await queueDepth();
      const call = firstSteps('pre-1');
      await until('the call queued in admission', async () => (await queueDepth()) > before);
      await new Promise((r) => setTimeout(r, 100)); // its early read has answered by now
      await setStat('pre-1', 1); // the player's stat changes while the call waits
      await held.release();
      expect((await call).status).toBe('completed');
    } finally {
      await held.release().catch(() => undefined);
    }
  });

  test('a call admitted at once answers from the facts read alongside the limit', async () => {
    await t.call('pre-2', 'POST', '/v1/challenges/initialize');
    await setStat('pre-2', 1);
    expect((await firstSteps('pre-2')).status).toBe('completed');
  });
});
