// The worker derives a player's facts after an apply from the facts before it and what the apply
// statement returned (domain/facts.ts factsAfter), instead of reading them again. On real
// PostgreSQL via PgBouncer: the derived facts equal a fresh read, for an existing player (stat
// changed, new stat, baseline recorded) and for a player the apply created.
import { factsAfter, type FactsDelta } from '../../app/domain/facts';
import { periodAt } from '../../app/domain/periods';
import { createPool, type Db } from '../../app/store/db';
import { readPlayerFacts } from '../../app/store/players';
import { applyStatChanges, type ApplyResult, type StatChange } from '../../app/store/stats';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

function deltaOf(r: ApplyResult, userId: string): FactsDelta {
  const created = r.newPlayers.find((p) => p.userId === userId);
  return {
    stats: r.changed.filter((c) => c.userId === userId).map(({ userId: _u, ...s }) => s),
    baselines: r.baselines.filter((b) => b.userId === userId).map(({ userId: _u, ...b }) => b),
    ...(created ? { createdAt: created.createdAt } : {}),
  };
}

describe('facts after an apply, derived from the apply result', () => {
  let tdb: TestDatabase;
  let db: Db;
  beforeAll(async () => {
    tdb = await createTestDatabase('after');
    db = createPool({ connectionString: tdb.pooledUrl, max: 2 });
  });
  afterAll(async () => {
    await db.end();
    await tdb.drop();
  });

  const now = Date.parse('2026-12-02T10:00:00Z');
  const daily = periodAt('daily', now).key;
  const keys = [daily, periodAt('weekly', now).key, periodAt('monthly', now).key];
  const ch = (
    eventId: string,
    userId: string,
    statCode: string,
    mode: StatChange['mode'],
    value: number,
    at = now,
  ) => ({
    eventId,
    userId,
    statCode,
    mode,
    value,
    occurredAt: at,
  });

  test('existing player: changed stat, new stat and a new period baseline equal a fresh read', async () => {
    await applyStatChanges(db, [ch('e1', 'alice', 'kills', 'increment', 3, now - 1000)], [], now - 1000);
    const before = await readPlayerFacts(db, 'alice', keys);
    expect(before).not.toBeNull();
    const r = await applyStatChanges(
      db,
      [ch('e2', 'alice', 'kills', 'increment', 4), ch('e3', 'alice', 'level', 'set', 7)],
      [{ statCode: 'kills', periodKey: daily }],
      now,
    );
    expect(r.baselines).toEqual([{ userId: 'alice', statCode: 'kills', periodKey: daily, value: 3 }]);
    const derived = factsAfter(before, 'alice', deltaOf(r, 'alice'), keys);
    const read = await readPlayerFacts(db, 'alice', keys);
    expect(derived).toEqual(read);
    expect(derived!.stats.get('kills')!.value).toBe(7);
  });

  test('a player the apply created: derived from the returned created_at', async () => {
    const r = await applyStatChanges(db, [ch('e4', 'bob', 'kills', 'set', 5)], [], now);
    expect(r.newPlayers).toEqual([{ userId: 'bob', createdAt: now }]);
    const derived = factsAfter(null, 'bob', deltaOf(r, 'bob'), keys);
    expect(derived).toEqual(await readPlayerFacts(db, 'bob', keys));
  });

  test('duplicates change nothing: the delta is empty and the facts stay as they were', async () => {
    const before = await readPlayerFacts(db, 'bob', keys);
    const r = await applyStatChanges(db, [ch('e4', 'bob', 'kills', 'set', 9)], [], now);
    expect([r.changed, r.baselines, r.newPlayers]).toEqual([[], [], []]);
    expect(factsAfter(before, 'bob', deltaOf(r, 'bob'), keys)).toEqual(
      await readPlayerFacts(db, 'bob', keys),
    );
  });
});
