// #18 item 1 on real PostgreSQL (through PgBouncer): a `<` goal is judged on the stat value at its
// period's end. While the day runs it is in_progress (no completedAt, not claimable); the next day it
// is completed at midnight and claimable once under the ended day's key; a day that ended over the
// limit is not completed. Events go through the worker's apply statement with its baseline needs.
import path from 'node:path';
import pino from 'pino';
import { admitAll } from '../../app/admission';
import { KnownPlayers } from '../../app/admission/knownPlayers';
import { loadCatalogFile } from '../../app/catalog/load';
import { baselineNeeds } from '../../app/events/expand';
import { createPool, type Db } from '../../app/store/db';
import { applyStatChanges } from '../../app/store/stats';
import { playerUseCases, type PlayerUseCaseDeps } from '../../app/usecases/players';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

const catalog = loadCatalogFile(path.resolve(__dirname, '../../examples/catalog-rules.json'));
const DAY1 = Date.parse('2026-12-01T10:00:00Z');
const DAY2 = Date.parse('2026-12-02T10:00:00Z');
const DAY3 = Date.parse('2026-12-03T10:00:00Z');
const MIDNIGHT2 = '2026-12-02T00:00:00.000Z';

describe('periodEnd goals on the real store', () => {
  let tdb: TestDatabase;
  let db: Db;
  let now = DAY1;
  beforeAll(async () => {
    tdb = await createTestDatabase('periodend');
    db = createPool({ connectionString: tdb.pooledUrl, max: 4 });
  });
  afterAll(async () => {
    await db.end();
    await tdb.drop();
  });

  const deps = (): PlayerUseCaseDeps => ({
    db,
    catalog: { current: catalog },
    clock: { now: () => now },
    admission: admitAll,
    limits: {
      player: async () => undefined,
      newPlayer: async () => undefined,
      tryNewPlayer: async () => true,
      ingest: async () => undefined,
    },
    knownPlayers: new KnownPlayers(1000),
    granter: { name: 'none', grant: async () => undefined },
    grantTimeoutMs: 100,
    log: pino({ level: 'silent' }),
    metrics: { claims: { inc: () => undefined } },
  });
  const call = () => ({ deadline: Date.now() + 60_000 });
  let seq = 0;
  const setDeaths = async (userId: string, value: number) => {
    const changes = [
      {
        eventId: `pe-${seq++}`,
        userId,
        statCode: 'deaths_today',
        mode: 'set' as const,
        value,
        occurredAt: now - 1000,
      },
    ];
    await applyStatChanges(db, changes, baselineNeeds(catalog, changes, now), now);
  };
  const careful = async (userId: string) => {
    const r = await playerUseCases(deps()).get(call(), userId, () => ({ challengeId: 'rules-showcase' }));
    const v = r.goals.find((g) => g.goal.goalId === 'careful-day')!;
    return {
      status: v.status,
      completedAt: v.completedAt === null ? null : new Date(v.completedAt).toISOString(),
    };
  };
  const claim = (userId: string) =>
    playerUseCases(deps()).claim(call(), userId, () => ({
      challengeId: 'rules-showcase',
      goalId: 'careful-day',
    }));

  test('under the limit: in_progress during the day, completed at midnight the next day, claimed once', async () => {
    const u = 'pe-careful';
    now = DAY1;
    await setDeaths(u, 1);
    expect(await careful(u)).toEqual({ status: 'in_progress', completedAt: null });
    await expect(claim(u)).rejects.toMatchObject({ status: 409, error: 'GOAL_NOT_COMPLETED' });

    now = DAY2;
    expect(await careful(u)).toEqual({ status: 'completed', completedAt: MIDNIGHT2 });
    // the game server resets the daily counter: the baseline keeps yesterday's end value
    await setDeaths(u, 4);
    expect(await careful(u)).toEqual({ status: 'completed', completedAt: MIDNIGHT2 });
    await expect(claim(u)).resolves.toMatchObject({ goal: { goalId: 'careful-day' } });
    expect((await careful(u)).status).toBe('claimed');
    await expect(claim(u)).rejects.toMatchObject({ status: 409, error: 'GOAL_ALREADY_CLAIMED' });

    // day 2 ended with 4 deaths: not completed on day 3
    now = DAY3;
    expect(await careful(u)).toEqual({ status: 'in_progress', completedAt: null });
  });

  test('over the limit at the end of the day: not completed the next day', async () => {
    const u = 'pe-reckless';
    now = DAY1;
    await setDeaths(u, 5);
    now = DAY2;
    await setDeaths(u, 0);
    expect(await careful(u)).toEqual({ status: 'in_progress', completedAt: null });
    await expect(claim(u)).rejects.toMatchObject({ status: 409, error: 'GOAL_NOT_COMPLETED' });
  });
});
