// Statements shared by concurrent requests (app/store/batcher.ts) on real PostgreSQL through
// PgBouncer: claims, "granted" marks and goal selections. Each test checks both what was written
// and that concurrent calls really shared statements (fewer queries than calls).
import { Batcher } from '../../app/store/batcher';
import { insertClaim, markRewardGranted } from '../../app/store/claims';
import { createPool, type Db } from '../../app/store/db';
import { writeGoalStates } from '../../app/store/goalStates';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

const reward = { type: 'ITEM' as const, rewardId: 'sword', quantity: 1 };
const NOW = Date.UTC(2026, 10, 23, 12);

describe('batched store statements (real PostgreSQL via PgBouncer)', () => {
  let tdb: TestDatabase;
  let db: Db;
  let queries = 0;

  beforeAll(async () => {
    tdb = await createTestDatabase('batch');
    db = createPool({ connectionString: tdb.pooledUrl, max: 4 });
    const query = db.query.bind(db) as (...a: unknown[]) => Promise<unknown>;
    (db as unknown as { query: (...a: unknown[]) => Promise<unknown> }).query = (...a: unknown[]) => {
      queries++;
      return query(...a);
    };
  });
  afterAll(async () => {
    await db.end();
    await tdb.drop();
  });
  beforeEach(() => {
    queries = 0;
  });

  async function count(sql: string, params: unknown[] = []): Promise<number> {
    const r = await db.query<{ n: string }>(sql, params);
    return Number(r.rows[0]!.n);
  }

  test('100 concurrent claims of different players: every claim and outbox row written, in few statements', async () => {
    const ids = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        insertClaim(db, {
          userId: `p${i}`,
          challengeId: 'c',
          goalId: 'g',
          periodKey: '',
          reward,
          now: NOW,
        }),
      ),
    );
    const statements = queries;
    expect(ids.every((id) => typeof id === 'string')).toBe(true);
    expect(new Set(ids).size).toBe(100);
    expect(statements).toBeLessThan(20);
    expect(await count(`SELECT count(*) AS n FROM claims WHERE user_id LIKE 'p%'`)).toBe(100);
    expect(
      await count(`SELECT count(*) AS n FROM reward_outbox WHERE user_id LIKE 'p%' AND status = 'pending'`),
    ).toBe(100);
    expect(await count(`SELECT count(*) AS n FROM players WHERE user_id LIKE 'p%'`)).toBe(100);
    // the reward row carries where it came from
    const r = await db.query<{ reward: Record<string, unknown> }>(
      `SELECT reward FROM claims WHERE user_id = 'p7'`,
    );
    expect(r.rows[0]!.reward).toEqual({ ...reward, challengeId: 'c', goalId: 'g', periodKey: '' });
  });

  test('the same goal claimed 10 times at once (same batch or not): one claim id, nine nulls, one outbox row', async () => {
    const ids = await Promise.all(
      Array.from({ length: 10 }, () =>
        insertClaim(db, { userId: 'dup', challengeId: 'c', goalId: 'g', periodKey: 'd1', reward, now: NOW }),
      ),
    );
    const won = ids.filter((id) => id !== null);
    expect(won).toHaveLength(1);
    expect(await count(`SELECT count(*) AS n FROM claims WHERE user_id = 'dup'`)).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM reward_outbox WHERE claim_id = $1`, [won[0]])).toBe(1);
    // another period of the same goal is a new claim
    expect(
      await insertClaim(db, {
        userId: 'dup',
        challengeId: 'c',
        goalId: 'g',
        periodKey: 'd2',
        reward,
        now: NOW,
      }),
    ).not.toBeNull();
  });

  test('100 concurrent "granted" marks land on their rows, in few statements; a mark never revives a dead row', async () => {
    const ids = (await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        insertClaim(db, { userId: `m${i}`, challengeId: 'c', goalId: 'g', periodKey: '', reward, now: NOW }),
      ),
    )) as string[];
    await db.query(`UPDATE reward_outbox SET status = 'dead' WHERE claim_id = $1`, [ids[0]]);
    queries = 0;
    await Promise.all(ids.map((id, i) => markRewardGranted(db, id, NOW + i)));
    expect(queries).toBeLessThan(20);
    expect(
      await count(`SELECT count(*) AS n FROM reward_outbox WHERE user_id LIKE 'm%' AND status = 'granted'`),
    ).toBe(99);
    expect(
      await count(`SELECT count(*) AS n FROM reward_outbox WHERE claim_id = $1 AND status = 'dead'`, [
        ids[0],
      ]),
    ).toBe(1);
    const g = await db.query<{ ms: string; attempts: number }>(
      `SELECT (extract(epoch from granted_at) * 1000)::bigint AS ms, attempts FROM reward_outbox WHERE claim_id = $1`,
      [ids[42]],
    );
    expect(Number(g.rows[0]!.ms)).toBe(NOW + 42);
    expect(g.rows[0]!.attempts).toBe(1);
  });

  test('goal selections of 60 players at once, two of them for one player: all applied, the later request wins', async () => {
    const calls = Array.from({ length: 60 }, (_, i) =>
      writeGoalStates(db, `s${i}`, NOW, [
        { goalId: 'a', periodKey: '', isActive: true, baselineStat: null },
        { goalId: 'b', periodKey: '', isActive: false, baselineStat: null },
      ]),
    );
    // same player, same rows, in the same wave: must not fail the shared statement
    const first = writeGoalStates(db, 'twice', NOW, [
      { goalId: 'a', periodKey: '', isActive: true, baselineStat: null },
    ]);
    const second = writeGoalStates(db, 'twice', NOW + 5, [
      { goalId: 'a', periodKey: '', isActive: false, baselineStat: null },
    ]);
    const written = await Promise.all(calls);
    const statements = queries;
    expect((await first).get('a')).toBe(NOW);
    expect((await second).get('a')).toBeNull();
    expect(written[9]).toEqual(
      new Map([
        ['a', NOW],
        ['b', null],
      ]),
    );
    expect(statements).toBeLessThan(30);
    expect(
      await count(
        `SELECT count(*) AS n FROM goal_states WHERE user_id LIKE 's%' AND goal_id = 'a' AND is_active`,
      ),
    ).toBe(60);
    expect(await count(`SELECT count(*) AS n FROM goal_states WHERE user_id = 'twice' AND is_active`)).toBe(
      0,
    );
  });

  test("a relative goal activated in a shared statement takes its own player's stat as baseline", async () => {
    await db.query(
      `INSERT INTO stat_values (user_id, stat_code, value, first_value, first_seen_at, updated_at)
       VALUES ('r1', 'kills', 7, 7, now(), now()), ('r2', 'kills', 11, 11, now(), now())`,
    );
    await Promise.all(
      ['r1', 'r2', 'r3'].map((u) =>
        writeGoalStates(db, u, NOW, [{ goalId: 'k', periodKey: '', isActive: true, baselineStat: 'kills' }]),
      ),
    );
    const r = await db.query<{ user_id: string; baseline: string | null }>(
      `SELECT user_id, baseline FROM goal_states WHERE goal_id = 'k' ORDER BY user_id`,
    );
    expect(r.rows.map((x) => [x.user_id, x.baseline === null ? null : Number(x.baseline)])).toEqual([
      ['r1', 7],
      ['r2', 11],
      ['r3', null],
    ]);
  });
});

describe('Batcher (unit, no database)', () => {
  test('a failing batch rejects every item of that batch and only those; later items still go', async () => {
    const seen: number[][] = [];
    let fail = true;
    const b = new Batcher<number, number>(
      async (items) => {
        seen.push(items);
        await new Promise((r) => setTimeout(r, 5));
        if (fail && items.includes(3)) throw new Error('statement failed');
        return items.map((i) => i * 10);
      },
      { maxBatch: 8, maxInFlight: 1 },
    );
    const results = await Promise.allSettled([1, 2, 3, 4].map((i) => b.submit(i)));
    // 1 went alone; 2, 3, 4 queued behind it and went together
    expect(seen).toEqual([[1], [2, 3, 4]]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected']);
    fail = false;
    await expect(b.submit(5)).resolves.toBe(50);
  });
});
