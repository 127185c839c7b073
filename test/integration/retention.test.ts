// Retention on real PostgreSQL: rows of past periods go, in bounded batches; current and previous
// periods and rows without a period stay; the deletions are counted in the metric.
import pino from 'pino';
import { runRetention, livePeriodKeys, RetentionJob } from '../../app/gdpr/retention';
import { retentionDeletedRowsTotal } from '../../app/ops/metrics';
import { createPool, type Db } from '../../app/store/db';
import { migrate } from '../../app/store/migrate';
import { sql } from '../helpers/events';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

describe('retention of past-period rows', () => {
  let tdb: TestDatabase;
  let db: Db;
  beforeAll(async () => {
    tdb = await createTestDatabase();
    await migrate(tdb.directUrl);
    db = createPool({ connectionString: tdb.pooledUrl });
  });
  afterAll(async () => {
    await db.end();
    await tdb.drop();
  });

  const NOW = Date.parse('2026-12-02T12:00:00Z');
  const count = async (table: string, key: string) =>
    (
      await sql<{ n: number }>(
        tdb.directUrl,
        `SELECT count(*)::int AS n FROM ${table} WHERE period_key = $1`,
        [key],
      )
    )[0]!.n;

  test('keeps current, previous and period-less rows; deletes older ones in batches', async () => {
    const live = livePeriodKeys(NOW);
    expect(live).toEqual(expect.arrayContaining(['d2026-12-02', 'd2026-12-01']));
    const old = ['d2026-11-20', 'd2026-11-30'];
    const keys = [...old, 'd2026-12-02', 'd2026-12-01', ''];
    const at = new Date(NOW);
    for (const k of keys) {
      for (let i = 0; i < 7; i++) {
        const u = `ret-${i}`;
        if (k !== '') await db.query('INSERT INTO stat_baselines VALUES ($1, $2, $3, 0)', [u, 's', k]);
        await db.query(
          'INSERT INTO goal_states (user_id, goal_id, period_key, is_active, updated_at) VALUES ($1, $2, $3, true, $4)',
          [u, 'g', k, at],
        );
        await db.query('INSERT INTO goal_completions VALUES ($1, $2, $3, $4)', [u, 'g', k, at]);
      }
    }
    const before =
      (await retentionDeletedRowsTotal.get()).values.find((v) => v.labels.table === 'goal_states')?.value ??
      0;
    const deleted = await runRetention(db, NOW, 3); // batches of 3: 14 rows per table take 5 statements
    expect(deleted).toEqual({ stat_baselines: 14, goal_states: 14, goal_completions: 14 });
    for (const table of ['stat_baselines', 'goal_states', 'goal_completions']) {
      for (const k of old) expect(await count(table, k)).toBe(0);
      expect(await count(table, 'd2026-12-02')).toBe(7);
      expect(await count(table, 'd2026-12-01')).toBe(7);
    }
    expect(await count('goal_states', '')).toBe(7);
    expect(await count('goal_completions', '')).toBe(7);
    const after = (await retentionDeletedRowsTotal.get()).values.find(
      (v) => v.labels.table === 'goal_states',
    )!.value;
    expect(after - before).toBe(14);
    // the job wrapper: a second run finds nothing
    const job = new RetentionJob(
      { db, clock: { now: () => NOW }, log: pino({ level: 'silent' }) },
      60_000,
      1000,
    );
    expect(await job.runOnce()).toEqual({ stat_baselines: 0, goal_states: 0, goal_completions: 0 });
    await job.stop();
  });
});
