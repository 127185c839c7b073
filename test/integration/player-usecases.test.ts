// The player use cases called directly, without HTTP (app/usecases/players.ts), on real PostgreSQL
// through PgBouncer: the answer memo of brand-new players, the order of the new-player budget and
// the write, and the shed before any limiter round trip.
import path from 'node:path';
import pino from 'pino';
import { admitAll, type Admission, type RateLimits } from '../../app/admission';
import { KnownPlayers } from '../../app/admission/knownPlayers';
import { loadCatalogFile } from '../../app/catalog/load';
import { badRequest, unavailable, type ApiError } from '../../app/errors';
import { createPool, type Db } from '../../app/store/db';
import { playerUseCases, type PlayerUseCaseDeps } from '../../app/usecases/players';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

const catalog = loadCatalogFile(path.resolve(__dirname, '../../examples/catalog.json'));
const NOW = Date.parse('2026-12-02T10:00:00Z');

describe('player use cases without HTTP', () => {
  let tdb: TestDatabase;
  let db: Db;
  beforeAll(async () => {
    tdb = await createTestDatabase('usecases');
    db = createPool({ connectionString: tdb.pooledUrl, max: 4 });
  });
  afterAll(async () => {
    await db.end();
    await tdb.drop();
  });

  const calls: string[] = [];
  let budgetFree = true;
  const limits: RateLimits = {
    player: async (userId) => void calls.push(`player:${userId}`),
    newPlayer: async () => {
      calls.push('newPlayer');
      if (!budgetFree) throw unavailable('new-player initialisation budget exhausted; retry later', 1);
    },
    tryNewPlayer: async () => (calls.push('tryNewPlayer'), budgetFree),
    ingest: async () => undefined,
  };
  const deps = (over: Partial<PlayerUseCaseDeps> = {}): PlayerUseCaseDeps => ({
    db,
    catalog: { current: catalog },
    clock: { now: () => NOW },
    admission: admitAll,
    limits,
    knownPlayers: new KnownPlayers(1000),
    granter: { name: 'none', grant: async () => undefined },
    grantTimeoutMs: 100,
    log: pino({ level: 'silent' }),
    metrics: { claims: { inc: () => undefined } },
    ...over,
  });
  const call = { deadline: Date.now() + 60_000 };
  const exists = async (userId: string) =>
    (await db.query('SELECT 1 FROM players WHERE user_id = $1', [userId])).rowCount === 1;
  beforeEach(() => {
    calls.length = 0;
    budgetFree = true;
  });

  test('brand-new players created together share one answer object; a returning player gets its own', async () => {
    const players = playerUseCases(deps());
    const ids = Array.from({ length: 8 }, (_, i) => `memo-new-${i}`);
    const answers = await Promise.all(ids.map((id) => players.initialize(call, id)));
    expect(answers.every((a) => a.created && a.shared)).toBe(true);
    expect(answers[0]!.active.length).toBeGreaterThan(0);
    // same clock instant, same catalog, no facts: one answer built, handed to all of them
    for (const a of answers) expect(a).toBe(answers[0]);
    const again = await players.initialize(call, ids[0]!);
    expect([again.created, again.shared]).toEqual([false, false]);
    expect(again).not.toBe(answers[0]);
    expect(again.active.map((v) => v.goal.goalId)).toEqual(answers[0]!.active.map((v) => v.goal.goalId));
  });

  test('a new player is written only after the fleet budget said yes: refused, nothing written', async () => {
    budgetFree = false;
    const players = playerUseCases(deps());
    await expect(players.initialize(call, 'budget-closed')).rejects.toMatchObject({
      status: 503,
      error: 'OVERLOADED',
    });
    expect(calls).toEqual(['player:budget-closed', 'tryNewPlayer', 'newPlayer']);
    expect(await exists('budget-closed')).toBe(false);
  });

  test('an unknown challenge or goal is a 404 whatever the body: the body is parsed after the lookup', async () => {
    const players = playerUseCases(deps());
    const body = () => {
      throw badRequest('malformed body', { field: 'goalIds' });
    };
    await expect(
      players.batchSelect(call, 'p404', () => ({ challengeId: 'no-such-challenge', body })),
    ).rejects.toMatchObject({ status: 404, error: 'CHALLENGE_NOT_FOUND' });
    const challengeId = catalog.challenges[0]!.challengeId;
    await expect(
      players.setGoalActive(call, 'p404', () => ({ challengeId, goalId: 'no-such-goal', body })),
    ).rejects.toMatchObject({ status: 404, error: 'GOAL_NOT_FOUND' });
    // and a known one reaches the body
    await expect(players.randomSelect(call, 'p404', () => ({ challengeId, body }))).rejects.toMatchObject({
      status: 400,
      details: { field: 'goalIds' },
    });
  });

  test('a class admission refuses is shed before the per-player limit or any read', async () => {
    const refusing: Admission = {
      run: () => Promise.reject(new Error('run must not be reached')),
      check: () => unavailable('shed', 1),
      wouldRefuse: () => true,
    };
    const players = playerUseCases(deps({ admission: refusing }));
    const err = await players
      .list(call, 'shed-reader', () => ({ activeOnly: false }))
      .then(
        () => null,
        (e: ApiError) => e,
      );
    expect(err?.status).toBe(503);
    await expect(players.initialize(call, 'shed-new')).rejects.toMatchObject({ status: 503 });
    expect(calls).toEqual([]);
    expect(await exists('shed-new')).toBe(false);
  });
});
