// CATALOG_SOURCE=admin on real PostgreSQL (through PgBouncer) and Redis: two service instances on
// one database play two api pods; the admin API publishes through one of them.
import { Client } from 'pg';
import { parseCatalog } from '../../app/catalog/load';
import { catalogModule } from '../../app/catalog/watch';
import { applyStatChanges } from '../../app/store/stats';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { startTestService, TEST_API_KEY, type TestService } from '../helpers/service';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies and manifests are checked by assertions
type Loose = any;

interface GoalSpec {
  id: string;
  target?: number;
  stat?: string;
  prerequisites?: string[];
}

function catalogDoc(goals: GoalSpec[]): { challenges: unknown[] } {
  return {
    challenges: [
      {
        challengeId: 'live-ops',
        name: 'Live ops',
        description: 'published through the admin API',
        goals: goals.map((g) => ({
          goalId: g.id,
          name: `Goal ${g.id}`,
          description: '',
          eventSource: 'statistic',
          requirement: {
            statCode: g.stat ?? `stat-${g.id}`,
            operator: '>=',
            targetValue: g.target ?? 5,
            progressMode: 'absolute',
          },
          reward: { type: 'WALLET', rewardId: 'COINS', quantity: 10 },
          prerequisites: g.prerequisites ?? [],
          defaultAssigned: true,
        })),
      },
    ],
  };
}

const versionOf = (doc: unknown) => parseCatalog(doc).version;

async function eventually<T>(fn: () => Promise<T | false>, what: string, capMs: number): Promise<T> {
  const until = Date.now() + capMs;
  for (;;) {
    const v = await fn();
    if (v !== false) return v;
    if (Date.now() > until) throw new Error(`not within ${capMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function admin(
  t: TestService,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${t.ops}/admin/v1/catalogs${path}`, {
    method,
    headers: { 'x-api-key': TEST_API_KEY, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Loose };
}

interface GoalJson {
  goalId: string;
  progress: number;
  status: string;
  target: number;
}

async function goals(t: TestService, userId: string): Promise<Map<string, GoalJson>> {
  const res = await t.call(userId, 'GET', '/v1/challenges');
  expect(res.status).toBe(200);
  const out = new Map<string, GoalJson>();
  for (const c of res.body.challenges) for (const g of c.goals as GoalJson[]) out.set(g.goalId, g);
  return out;
}

const servesVersion = (t: TestService, version: string) => async () => {
  const res = await admin(t, 'GET', '/current');
  return res.body.version === version ? true : (false as const);
};

describe('admin-published catalogs across two api instances (real PostgreSQL + Redis)', () => {
  let db: TestDatabase;
  let a: TestService;
  let b: TestService;
  const env = (extra: Record<string, string>) => ({ CATALOG_SOURCE: 'admin', ...extra });

  beforeAll(async () => {
    db = await createTestDatabase('catadm');
    // Polling is slowed to a minute: only the Redis nudge can make the 2 s below.
    const nudgeOnly = env({ REDIS_URL: process.env.REDIS_URL!, CATALOG_POLL_INTERVAL_MS: '60000' });
    a = await startTestService({ db, modules: [catalogModule], env: nudgeOnly });
    b = await startTestService({ db, modules: [catalogModule], env: nudgeOnly });
  });

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await db?.drop();
  });

  test('a publish on one instance is served by both within 2 s (Redis nudge); an invalid publish changes nothing', async () => {
    const doc = catalogDoc([{ id: 'g1' }, { id: 'g2', prerequisites: ['g1'] }]);
    const published = await admin(a, 'POST', '/publish?comment=first', doc);
    expect(published.status).toBe(200);
    expect(published.body).toMatchObject({
      unchanged: false,
      revision: 1,
      version: versionOf(doc),
      action: 'publish',
      comment: 'first',
    });
    const t0 = Date.now();
    await eventually(servesVersion(a, versionOf(doc)), 'instance A serves it', 2000);
    await eventually(servesVersion(b, versionOf(doc)), 'instance B serves it', 2000 - (Date.now() - t0));
    expect([...(await goals(b, 'p-1')).keys()]).toEqual(['g1', 'g2']);

    const bad = catalogDoc([{ id: 'g1', target: -1 }, { id: 'g1' }]);
    const refused = await admin(b, 'POST', '/publish', bad);
    expect(refused.status).toBe(422);
    expect(refused.body.error).toBe('CATALOG_INVALID');
    expect(refused.body.details.problems.map((p: { path: string }) => p.path)).toEqual(
      expect.arrayContaining([
        'challenges[0].goals[0].requirement.targetValue',
        'challenges[0].goals[1].goalId',
      ]),
    );
    await new Promise((r) => setTimeout(r, 300));
    for (const t of [a, b]) expect((await admin(t, 'GET', '/current')).body.version).toBe(versionOf(doc));
    const history = await admin(a, 'GET', '/history');
    expect(history.body.items).toHaveLength(1);
  });

  test('validate is a dry run, preview diffs against the live catalog by field, history and rollback work', async () => {
    const live = (await admin(a, 'GET', '/current')).body.version as string;
    const next = catalogDoc([{ id: 'g1', target: 8 }, { id: 'g3' }]);

    const valid = await admin(a, 'POST', '/validate', next);
    expect(valid).toMatchObject({ status: 200, body: { valid: true, version: versionOf(next), goals: 2 } });
    const invalid = await admin(a, 'POST', '/validate', catalogDoc([{ id: 'x', prerequisites: ['nope'] }]));
    expect(invalid.status).toBe(422);
    expect(invalid.body.details.problems).toEqual([
      { path: 'challenges[0].goals[0].prerequisites[0]', message: 'unknown goal id "nope"' },
    ]);
    const yaml = await admin(a, 'POST', '/validate', 'challenges: []\n', {
      'content-type': 'application/yaml',
    });
    expect(yaml.body).toMatchObject({ valid: true, goals: 0 });

    const preview = await admin(a, 'POST', '/preview', next);
    expect(preview.status).toBe(200);
    expect(preview.body.liveVersion).toBe(live);
    expect(preview.body.changes.goals).toEqual({
      added: [{ goalId: 'g3', challengeId: 'live-ops' }],
      removed: [{ goalId: 'g2', challengeId: 'live-ops' }],
      changed: [{ goalId: 'g1', challengeId: 'live-ops', fields: ['requirement.targetValue'] }],
    });
    expect(preview.body.changes.challenges.changed).toEqual([
      { challengeId: 'live-ops', fields: ['goalOrder'] },
    ]);
    expect((await admin(a, 'GET', '/current')).body.version).toBe(live); // nothing published

    // If-Match guards against publishing over someone else's publish.
    const stale = await admin(a, 'POST', '/publish', next, { 'if-match': '"0000000000000000"' });
    expect(stale.status).toBe(412);
    const second = await admin(a, 'POST', '/publish', next, { 'if-match': `"${live}"` });
    expect(second.body).toMatchObject({
      revision: 2,
      previousVersion: live,
      summary: { goalsAdded: 1, goalsRemoved: 1, goalsChanged: 1 },
    });
    await eventually(servesVersion(b, versionOf(next)), 'B on revision 2', 2000);

    const rolled = await admin(b, 'POST', `/rollback/${live}`);
    expect(rolled.body).toMatchObject({ revision: 3, action: 'rollback', version: live });
    await eventually(servesVersion(a, live), 'A back on the first version', 2000);
    expect((await admin(b, 'GET', `/rollback/${live}`)).status).toBe(404); // GET is not a route
    expect((await admin(b, 'POST', '/rollback/ffffffffffffffff')).status).toBe(404);

    const history = await admin(b, 'GET', '/history');
    expect(
      history.body.items.map((i: { revision: number; action: string; live: boolean }) => [
        i.revision,
        i.action,
        i.live,
      ]),
    ).toEqual([
      [3, 'rollback', true],
      [2, 'publish', false],
      [1, 'publish', false],
    ]);
    expect(history.body.items[0].publishedBy).toMatch(/^key:/);
  });

  test('the admin API needs a service credential', async () => {
    const res = await fetch(`${a.ops}/admin/v1/catalogs/current`);
    expect(res.status).toBe(401);
    const player = await fetch(`${a.ops}/admin/v1/catalogs/current`, {
      headers: { authorization: `Bearer ${await a.token('p-9')}` },
    });
    expect(player.status).toBe(403);
  });

  test('removing a goal keeps player facts, re-adding restores progress; a new target re-derives status, claimed stays claimed', async () => {
    const base = catalogDoc([
      { id: 'kills-10', target: 10, stat: 'kills' },
      { id: 'wins-3', target: 3, stat: 'wins' },
      { id: 'coins-50', target: 50, stat: 'coins' },
    ]);
    expect((await admin(a, 'POST', '/publish', base)).status).toBe(200);
    await eventually(servesVersion(b, versionOf(base)), 'B on base', 2000);
    const user = 'facts-player';
    expect((await a.call(user, 'POST', '/v1/challenges/initialize')).status).toBe(200);
    const pool = a.svc.db;
    const now = Date.now();
    await applyStatChanges(
      pool,
      [
        { eventId: 'e1', userId: user, statCode: 'kills', mode: 'set', value: 7, occurredAt: now },
        { eventId: 'e2', userId: user, statCode: 'wins', mode: 'set', value: 3, occurredAt: now },
        { eventId: 'e3', userId: user, statCode: 'coins', mode: 'set', value: 20, occurredAt: now },
      ],
      [],
      now,
    );
    expect((await a.call(user, 'POST', '/v1/challenges/live-ops/goals/wins-3/claim')).status).toBe(200);
    const before = await goals(b, user);
    expect(before.get('kills-10')).toMatchObject({ progress: 7, status: 'in_progress' });
    expect(before.get('wins-3')).toMatchObject({ status: 'claimed' });

    const direct = new Client({ connectionString: db.directUrl });
    await direct.connect();
    const factRows = async () =>
      (
        await direct.query(
          'SELECT (SELECT count(*) FROM stat_values WHERE user_id = $1)::int AS stats, (SELECT count(*) FROM claims WHERE user_id = $1)::int AS claims',
          [user],
        )
      ).rows[0];
    const factsBefore = await factRows();

    try {
      // Remove kills-10, raise the claimed goal's target, lower coins-50's target below the stat.
      const edited = catalogDoc([
        { id: 'wins-3', target: 30, stat: 'wins' },
        { id: 'coins-50', target: 20, stat: 'coins' },
      ]);
      expect((await admin(a, 'POST', '/publish', edited)).status).toBe(200);
      await eventually(servesVersion(b, versionOf(edited)), 'B on the edit', 2000);
      const during = await goals(b, user);
      expect(during.has('kills-10')).toBe(false);
      expect(during.get('wins-3')).toMatchObject({ status: 'claimed', target: 30 });
      expect(during.get('coins-50')).toMatchObject({ status: 'completed', progress: 20, target: 20 });
      expect(await factRows()).toEqual(factsBefore);

      expect((await admin(b, 'POST', '/publish', base)).status).toBe(200);
      await eventually(servesVersion(a, versionOf(base)), 'A on base again', 2000);
      const after = await goals(a, user);
      expect(after.get('kills-10')).toEqual(before.get('kills-10'));
      expect(after.get('wins-3')).toMatchObject({ status: 'claimed' });
      expect(after.get('coins-50')).toMatchObject({ status: 'in_progress', progress: 20 });
    } finally {
      await direct.end();
    }
  });

  test('an instance without Redis picks a publish up by polling PostgreSQL', async () => {
    const c = await startTestService({
      db,
      inMemoryMode: true,
      modules: [catalogModule],
      env: env({ CATALOG_POLL_INTERVAL_MS: '200' }),
    });
    try {
      const doc = catalogDoc([{ id: 'polled' }]);
      expect((await admin(a, 'POST', '/publish', doc)).status).toBe(200);
      await eventually(servesVersion(c, versionOf(doc)), 'C polls the publish', 2000);
      expect([...(await goals(c, 'p-poll')).keys()]).toEqual(['polled']);
    } finally {
      await c.stop();
    }
  });

  test('a new instance starts on the published catalog, not its bootstrap file', async () => {
    const live = (await admin(a, 'GET', '/current')).body.version as string;
    const d = await startTestService({ db, modules: [catalogModule], env: env({}) });
    try {
      expect(d.svc.catalog.current.version).toBe(live);
    } finally {
      await d.stop();
    }
  });
});

describe('publishing when the catalog source is not admin', () => {
  test('publish is refused with 409 and validate still works', async () => {
    const t = await startTestService({
      modules: [catalogModule],
      env: { CATALOG_SOURCE: 'file', CATALOG_FILE_POLL_MS: '0' },
    });
    try {
      const doc = catalogDoc([{ id: 'x' }]);
      const res = await admin(t, 'POST', '/publish', doc);
      expect(res.status).toBe(409);
      expect(res.body.error).toBe('CATALOG_SOURCE_NOT_ADMIN');
      expect((await admin(t, 'POST', '/validate', doc)).status).toBe(200);
    } finally {
      await t.stop();
    }
  });
});
