// While admission sheds new-player work, initialize refuses unknown players before any limiter
// round trip, and still serves returning players this pod has not seen. Real service and real
// PostgreSQL through PgBouncer; the admission decision is scripted (shedding on/off) and the rate
// limits are counted, so the test can tell which calls a request made.
import { Client } from 'pg';
import type { Admission, AdmissionClass, RateLimits } from '../../app/admission';
import { KnownPlayers } from '../../app/admission/knownPlayers';
import { unavailable } from '../../app/api/errors';
import { startTestService, type TestService } from '../helpers/service';

describe('initialize while new-player work is shed (scripted admission, counted limits)', () => {
  let t: TestService;
  let shedInit = false;
  const calls: Record<keyof RateLimits, number> = { player: 0, newPlayer: 0, tryNewPlayer: 0, ingest: 0 };
  const admission: Admission = {
    run: (_cls, _deadline, fn) => fn(),
    wouldRefuse: (cls: AdmissionClass) => shedInit && cls === 'init',
    check: (cls: AdmissionClass) =>
      shedInit && cls === 'init' ? unavailable('shed', 1, 'OVERLOADED', { reason: 'deadline' }) : null,
  };
  const limits: RateLimits = {
    player: async () => void calls.player++,
    newPlayer: async () => void calls.newPlayer++,
    tryNewPlayer: async () => {
      calls.tryNewPlayer++;
      return true;
    },
    ingest: async () => void calls.ingest++,
  };
  const reset = () => Object.keys(calls).forEach((k) => (calls[k as keyof RateLimits] = 0));

  beforeAll(async () => {
    t = await startTestService({
      // the known-player memory is on with admission; these tests bring their own admission
      overrides: { admission, limits, knownPlayers: new KnownPlayers(1000) },
    });
  });
  afterAll(async () => t.stop());
  beforeEach(() => {
    shedInit = false;
    reset();
  });

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
    shedInit = true;
    const res = await t.call('shed-new-1', 'POST', '/v1/challenges/initialize');
    expect(res.status).toBe(503);
    expect(res.body.error).toBe('OVERLOADED');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(calls).toEqual({ player: 0, newPlayer: 0, tryNewPlayer: 0, ingest: 0 });
    expect(await playerExists('shed-new-1')).toBe(false);
  });

  test('a returning player this pod has never seen is served (per-player limit only, no budget)', async () => {
    const c = new Client({ connectionString: t.db.directUrl });
    await c.connect();
    await c.query(
      `INSERT INTO players (user_id, created_at) VALUES ('shed-ret-1', now() - interval '1 day')`,
    );
    await c.end();
    shedInit = true;
    const res = await t.call('shed-ret-1', 'POST', '/v1/challenges/initialize');
    expect(res.status).toBe(200);
    expect(res.body.newAssignments).toBe(0);
    expect(calls).toEqual({ player: 1, newPlayer: 0, tryNewPlayer: 0, ingest: 0 });
  });

  test('not shedding: a new player takes the per-player limit and a budget slot, and is created', async () => {
    const res = await t.call('shed-new-2', 'POST', '/v1/challenges/initialize');
    expect(res.status).toBe(200);
    expect(res.body.newAssignments).toBeGreaterThan(0);
    expect(calls).toEqual({ player: 1, newPlayer: 0, tryNewPlayer: 1, ingest: 0 });
    // now known to this pod: no budget the next time, even while init is shed
    shedInit = true;
    reset();
    const again = await t.call('shed-new-2', 'POST', '/v1/challenges/initialize');
    expect(again.status).toBe(200);
    expect(calls).toEqual({ player: 1, newPlayer: 0, tryNewPlayer: 0, ingest: 0 });
  });
});

describe('player calls read the facts alongside the rate-limit round trip (scripted admission)', () => {
  let t: TestService;
  let hold: (() => Promise<void>) | null = null;
  const admission: Admission = {
    run: async (_cls, _deadline, fn) => {
      if (hold) await hold();
      return fn();
    },
    wouldRefuse: () => false,
    check: () => null,
  };
  const limits: RateLimits = {
    player: async () => undefined,
    newPlayer: async () => undefined,
    tryNewPlayer: async () => true,
    ingest: async () => undefined,
  };

  beforeAll(async () => {
    t = await startTestService({ overrides: { admission, limits } });
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
    // while the call waits for admission, the player's stat changes
    hold = async () => {
      await new Promise((r) => setTimeout(r, 20)); // the early read has answered by now
      await setStat('pre-1', 1);
      await new Promise((r) => setTimeout(r, 120));
    };
    try {
      expect((await firstSteps('pre-1')).status).toBe('completed');
    } finally {
      hold = null;
    }
  });

  test('a call admitted at once answers from the facts read alongside the limit', async () => {
    await t.call('pre-2', 'POST', '/v1/challenges/initialize');
    await setStat('pre-2', 1);
    expect((await firstSteps('pre-2')).status).toBe('completed');
  });
});
