// The player API end to end on real PostgreSQL, once through PgBouncer (transaction pooling) and
// once directly. Progress is moved with the store's batch apply, the function the event worker uses.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Client } from 'pg';
import { mintToken } from '../../app/api/auth';
import { parseCatalog } from '../../app/catalog/load';
import { AdjustableClock } from '../../app/domain/clock';
import { periodAt } from '../../app/domain/periods';
import type { Granter, GrantRequest } from '../../app/rewards/granter';
import { applyStatChanges, type StatChange } from '../../app/store/stats';
import { createTestDatabase, FIXTURES_DIR, type TestDatabase } from '../helpers/db';
import { startTestService, TEST_SECRET, type TestService } from '../helpers/service';

const TYPICAL = path.join(FIXTURES_DIR, 'anchor-challenges.json');
const HEAVY = path.join(FIXTURES_DIR, 'anchor-loadtest-challenges.json');

function countingGranter(): Granter & { grants: GrantRequest[] } {
  const grants: GrantRequest[] = [];
  return {
    name: 'counting',
    grants,
    async grant(req) {
      grants.push(req);
    },
  };
}

let eventSeq = 0;
async function applyEvents(
  t: TestService,
  userId: string,
  changes: Omit<StatChange, 'eventId' | 'userId' | 'occurredAt'>[],
  now = t.svc.clock.now(),
): Promise<void> {
  const catalog = t.svc.catalog.current;
  const full = changes.map((c) => ({
    ...c,
    userId,
    eventId: `ev-${process.pid}-${++eventSeq}`,
    occurredAt: now,
  }));
  const needs = full.flatMap((c) =>
    (catalog.baselineSchedulesByStat.get(c.statCode) ?? []).map((s) => ({
      statCode: c.statCode,
      periodKey: periodAt(s, now).key,
    })),
  );
  await applyStatChanges(t.svc.db, full, needs, now);
}

async function countAllRows(url: string): Promise<number> {
  const c = new Client({ connectionString: url });
  await c.connect();
  const tables = [
    'players',
    'stat_values',
    'stat_baselines',
    'goal_states',
    'claims',
    'reward_outbox',
    'processed_events',
  ];
  let total = 0;
  for (const table of tables)
    total += Number((await c.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
  await c.end();
  return total;
}

describe.each([
  ['through PgBouncer', true],
  ['direct to PostgreSQL', false],
])('player API on real PostgreSQL %s', (_label, viaPgBouncer) => {
  let t: TestService;
  let granter: ReturnType<typeof countingGranter>;
  let clock: AdjustableClock;

  beforeAll(async () => {
    granter = countingGranter();
    clock = new AdjustableClock();
    t = await startTestService({
      viaPgBouncer,
      env: { CHALLENGE_CATALOG: TYPICAL },
      overrides: { granter, clock, random: () => 0.42 },
    });
  });
  afterAll(async () => t.stop());
  beforeEach(() => clock.reset());

  test('initialize is idempotent: same active goals, no new assignments the second time', async () => {
    const a = await t.call('idem-1', 'POST', '/v1/challenges/initialize');
    const b = await t.call('idem-1', 'POST', '/v1/challenges/initialize');
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(a.body.newAssignments).toBe(a.body.totalActive);
    expect(b.body.newAssignments).toBe(0);
    expect(b.body.assignedGoals).toEqual(a.body.assignedGoals);
    const defaults = t.svc.catalog.current.defaultGoals.map((g) => g.goalId);
    expect(a.body.assignedGoals.map((g: { goalId: string }) => g.goalId)).toEqual(defaults);
  });

  test('a default goal added to the catalog appears for an initialised player without re-initialising', async () => {
    await t.call('late-default', 'POST', '/v1/challenges/initialize');
    const raw = JSON.parse(fs.readFileSync(TYPICAL, 'utf8'));
    const original = t.svc.catalog.current;
    raw.challenges[0].goals.push({
      goalId: 'brand-new-default',
      name: 'New',
      description: 'added after the player initialised',
      eventSource: 'statistic',
      requirement: { statCode: 'new_stat', operator: '>=', targetValue: 2, progressMode: 'absolute' },
      reward: { type: 'WALLET', rewardId: 'GEMS', quantity: 1 },
      prerequisites: [],
      defaultAssigned: true,
    });
    t.svc.catalog.swap(parseCatalog(raw));
    try {
      const list = await t.call('late-default', 'GET', '/v1/challenges?activeOnly=true');
      const goals = list.body.challenges.flatMap(
        (c: { goals: { goalId: string; isActive: boolean }[] }) => c.goals,
      );
      expect(goals.find((g: { goalId: string }) => g.goalId === 'brand-new-default')).toMatchObject({
        isActive: true,
      });
    } finally {
      t.svc.catalog.swap(original);
    }
  });

  test('new players initialised together get the same answer; a catalog change is reflected for the next new player', async () => {
    const [a, b] = await Promise.all([
      t.call('fresh-a', 'POST', '/v1/challenges/initialize'),
      t.call('fresh-b', 'POST', '/v1/challenges/initialize'),
    ]);
    expect(a.body.newAssignments).toBe(a.body.totalActive);
    expect(b.body.assignedGoals.map((g: { goalId: string }) => g.goalId)).toEqual(
      a.body.assignedGoals.map((g: { goalId: string }) => g.goalId),
    );
    const raw = JSON.parse(fs.readFileSync(TYPICAL, 'utf8'));
    const original = t.svc.catalog.current;
    raw.challenges[0].goals.push({
      goalId: 'fresh-default',
      name: 'Fresh',
      description: 'added between two new players',
      eventSource: 'statistic',
      requirement: { statCode: 'fresh_stat', operator: '>=', targetValue: 1, progressMode: 'absolute' },
      reward: { type: 'WALLET', rewardId: 'GEMS', quantity: 1 },
      prerequisites: [],
      defaultAssigned: true,
    });
    t.svc.catalog.swap(parseCatalog(raw));
    try {
      const c = await t.call('fresh-c', 'POST', '/v1/challenges/initialize');
      expect(c.body.totalActive).toBe(a.body.totalActive + 1);
      expect(c.body.assignedGoals.some((g: { goalId: string }) => g.goalId === 'fresh-default')).toBe(true);
    } finally {
      t.svc.catalog.swap(original);
    }
  });

  test('progress follows applied stat changes; absolute goal completes at its target', async () => {
    await t.call('prog-1', 'POST', '/v1/challenges/initialize');
    await applyEvents(t, 'prog-1', [{ statCode: 'tutorial_completed', mode: 'set', value: 1 }]);
    const c = await t.call('prog-1', 'GET', '/v1/challenges/winter-challenge-2025');
    expect(c.status).toBe(200);
    const tutorial = c.body.goals.find((g: { goalId: string }) => g.goalId === 'complete-tutorial');
    expect(tutorial).toMatchObject({
      progress: 1,
      target: 1,
      status: 'completed',
      locked: false,
      isActive: true,
    });
    const snowmen = c.body.goals.find((g: { goalId: string }) => g.goalId === 'kill-10-snowmen');
    expect(snowmen).toMatchObject({ locked: false, isActive: false, status: 'not_started' });
  });

  test('two concurrent claims of one completed goal -> one 200, one 409, one grant', async () => {
    await t.call('claim-race', 'POST', '/v1/challenges/initialize');
    await applyEvents(t, 'claim-race', [{ statCode: 'tutorial_completed', mode: 'set', value: 1 }]);
    const before = granter.grants.length;
    const claimPath = '/v1/challenges/winter-challenge-2025/goals/complete-tutorial/claim';
    const answers = await Promise.all([
      t.call('claim-race', 'POST', claimPath),
      t.call('claim-race', 'POST', claimPath),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    const ok = answers.find((a) => a.status === 200)!;
    expect(ok.body).toMatchObject({
      goalId: 'complete-tutorial',
      status: 'claimed',
      rewardStatus: 'granted',
    });
    expect(ok.body.reward).toEqual({ type: 'WALLET', rewardId: 'GOLD', quantity: 100 });
    const conflict = answers.find((a) => a.status === 409)!;
    expect(conflict.body).toMatchObject({ code: 6, error: 'GOAL_ALREADY_CLAIMED' });
    expect(granter.grants.length - before).toBe(1);
    const again = await t.call('claim-race', 'GET', '/v1/challenges/winter-challenge-2025');
    expect(again.body.goals.find((g: { goalId: string }) => g.goalId === 'complete-tutorial').status).toBe(
      'claimed',
    );
  });

  test('locked goals cannot be selected or claimed', async () => {
    await t.call('locked-1', 'POST', '/v1/challenges/initialize');
    const select = await t.call(
      'locked-1',
      'PUT',
      '/v1/challenges/winter-challenge-2025/goals/kill-10-snowmen/active',
      {
        isActive: true,
      },
    );
    expect(select.status).toBe(409);
    expect(select.body).toMatchObject({ code: 9, error: 'GOAL_LOCKED' });
    const claim = await t.call(
      'locked-1',
      'POST',
      '/v1/challenges/winter-challenge-2025/goals/reach-level-5/claim',
    );
    expect(claim.status).toBe(409);
    expect(claim.body.error).toBe('GOAL_LOCKED');
    // Completing the prerequisite unlocks the selection.
    await applyEvents(t, 'locked-1', [{ statCode: 'tutorial_completed', mode: 'set', value: 1 }]);
    const ok = await t.call(
      'locked-1',
      'PUT',
      '/v1/challenges/winter-challenge-2025/goals/kill-10-snowmen/active',
      {
        isActive: true,
      },
    );
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      challengeId: 'winter-challenge-2025',
      goalId: 'kill-10-snowmen',
      isActive: true,
    });
    expect(typeof ok.body.assignedAt).toBe('string');
  });

  test('an inactive completed goal cannot be claimed (409 GOAL_NOT_ACTIVE); an incomplete one gives GOAL_NOT_COMPLETED', async () => {
    await applyEvents(t, 'inactive-1', [{ statCode: 'matches_played', mode: 'set', value: 5 }]);
    const inactive = await t.call(
      'inactive-1',
      'POST',
      '/v1/challenges/daily-quests/goals/play-3-matches/claim',
    );
    expect(inactive.status).toBe(409);
    expect(inactive.body.error).toBe('GOAL_NOT_ACTIVE');
    const incomplete = await t.call(
      'inactive-1',
      'POST',
      '/v1/challenges/winter-challenge-2025/goals/complete-tutorial/claim',
    );
    expect(incomplete.status).toBe(409);
    expect(incomplete.body).toMatchObject({
      error: 'GOAL_NOT_COMPLETED',
      details: { progress: 0, target: 1 },
    });
  });

  test('batch-select with one unknown id changes nothing (404), with one locked id changes nothing (409)', async () => {
    await t.call('batch-1', 'POST', '/v1/challenges/initialize');
    const listBefore = await t.call('batch-1', 'GET', '/v1/challenges/daily-challenges');
    const bad = await t.call('batch-1', 'POST', '/v1/challenges/daily-challenges/goals/batch-select', {
      goalIds: ['daily-login', 'no-such-goal'],
      replaceExisting: true,
    });
    expect(bad.status).toBe(404);
    expect(bad.body).toMatchObject({ error: 'GOAL_NOT_FOUND', details: { goalId: 'no-such-goal' } });
    const locked = await t.call(
      'batch-1',
      'POST',
      '/v1/challenges/winter-challenge-2025/goals/batch-select',
      {
        goalIds: ['complete-tutorial', 'kill-10-snowmen'],
      },
    );
    expect(locked.status).toBe(409);
    const listAfter = await t.call('batch-1', 'GET', '/v1/challenges/daily-challenges');
    expect(listAfter.body).toEqual(listBefore.body);
    const winter = await t.call('batch-1', 'GET', '/v1/challenges/winter-challenge-2025');
    expect(winter.body.goals.find((g: { goalId: string }) => g.goalId === 'kill-10-snowmen').isActive).toBe(
      false,
    );
  });

  test('batch-select with replaceExisting activates the chosen goals and deactivates the rest', async () => {
    const first = await t.call('batch-2', 'POST', '/v1/challenges/daily-challenges/goals/batch-select', {
      goalIds: ['daily-login', 'daily-wins'],
    });
    expect(first.status).toBe(200);
    expect(first.body.totalActiveGoals).toBe(2);
    const second = await t.call('batch-2', 'POST', '/v1/challenges/daily-challenges/goals/batch-select', {
      goalIds: ['daily-headshots'],
      replaceExisting: true,
    });
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ challengeId: 'daily-challenges', totalActiveGoals: 1 });
    expect(second.body.replacedGoals.sort()).toEqual(['daily-login', 'daily-wins']);
    expect(second.body.selectedGoals.map((g: { goalId: string }) => g.goalId)).toEqual(['daily-headshots']);
  });

  test('random-select with too few eligible goals -> 422 with the available count; enough -> picks that many', async () => {
    // winter: complete-tutorial is active, the other two are locked.
    const few = await t.call('random-1', 'POST', '/v1/challenges/winter-challenge-2025/goals/random-select', {
      count: 2,
      excludeActive: true,
    });
    expect(few.status).toBe(422);
    expect(few.body).toMatchObject({ error: 'INSUFFICIENT_GOALS', details: { available: 0, requested: 2 } });
    const ok = await t.call('random-1', 'POST', '/v1/challenges/daily-challenges/goals/random-select', {
      count: 3,
    });
    expect(ok.status).toBe(200);
    expect(ok.body.selectedGoals).toHaveLength(3);
    expect(new Set(ok.body.selectedGoals.map((g: { goalId: string }) => g.goalId)).size).toBe(3);
    expect(ok.body.totalActiveGoals).toBe(3);
  });

  test('rotation: across the end of a day a daily resetProgress goal starts again at 0 and its expired completion cannot be claimed', async () => {
    clock.set(Date.parse('2026-03-10T23:58:00Z'));
    await t.call('rot-1', 'POST', '/v1/challenges/initialize');
    await applyEvents(t, 'rot-1', [{ statCode: 'kills', mode: 'increment', value: 12 }]);
    const today = await t.call('rot-1', 'GET', '/v1/challenges/rotation-daily');
    const goal = (b: { goals: { goalId: string }[] }) =>
      b.goals.find((g) => g.goalId === 'daily-challenges-goal-01') as Record<string, unknown>;
    expect(goal(today.body)).toMatchObject({
      progress: 10,
      status: 'completed',
      expiresAt: '2026-03-11T00:00:00.000Z',
    });

    clock.set(Date.parse('2026-03-11T00:00:30Z'));
    const tomorrow = await t.call('rot-1', 'GET', '/v1/challenges/rotation-daily');
    expect(goal(tomorrow.body)).toMatchObject({
      progress: 0,
      status: 'not_started',
      expiresAt: '2026-03-12T00:00:00.000Z',
    });
    const claim = await t.call(
      'rot-1',
      'POST',
      '/v1/challenges/rotation-daily/goals/daily-challenges-goal-01/claim',
    );
    expect(claim.status).toBe(409);
    expect(claim.body.error).toBe('GOAL_NOT_COMPLETED');

    // A new day's progress counts from the day's baseline.
    await applyEvents(t, 'rot-1', [{ statCode: 'kills', mode: 'increment', value: 4 }]);
    const later = await t.call('rot-1', 'GET', '/v1/challenges/rotation-daily');
    expect(goal(later.body)).toMatchObject({ progress: 4, status: 'in_progress' });
    const rotation = await t.call('rot-1', 'GET', '/v1/challenges/rotation-daily/rotation');
    expect(rotation.body.rotation).toMatchObject({
      enabled: true,
      schedule: 'daily',
      currentPeriod: { startTime: '2026-03-11T00:00:00.000Z', endTime: '2026-03-12T00:00:00.000Z' },
      nextPeriod: { startTime: '2026-03-12T00:00:00.000Z' },
    });
  });

  test('a daily claim made yesterday does not block today, and today the goal can be claimed again', async () => {
    clock.set(Date.parse('2026-04-01T12:00:00Z'));
    await applyEvents(t, 'rot-2', [{ statCode: 'kills', mode: 'increment', value: 10 }]);
    const first = await t.call(
      'rot-2',
      'POST',
      '/v1/challenges/rotation-daily/goals/daily-challenges-goal-01/claim',
    );
    expect(first.status).toBe(200);
    clock.set(Date.parse('2026-04-02T12:00:00Z'));
    await applyEvents(t, 'rot-2', [{ statCode: 'kills', mode: 'increment', value: 10 }]);
    const second = await t.call(
      'rot-2',
      'POST',
      '/v1/challenges/rotation-daily/goals/daily-challenges-goal-01/claim',
    );
    expect(second.status).toBe(200);
  });

  describe('errors use the documented body shape and status', () => {
    const shape = (body: unknown) =>
      expect(body).toEqual({
        code: expect.any(Number),
        message: expect.any(String),
        error: expect.any(String),
        details: expect.any(Object),
      });

    test('401 without a token and with a bad token', async () => {
      const none = await fetch(`${t.base}/v1/challenges`);
      expect(none.status).toBe(401);
      shape(await none.json());
      const bad = await fetch(`${t.base}/v1/challenges`, { headers: { authorization: 'Bearer not.a.jwt' } });
      expect(bad.status).toBe(401);
      const wrongKey = await mintToken('another-secret-another-secret-0000', 'p');
      const forged = await fetch(`${t.base}/v1/challenges`, {
        headers: { authorization: `Bearer ${wrongKey.token}` },
      });
      expect(forged.status).toBe(401);
      expect(((await forged.json()) as { code: number }).code).toBe(16);
    });

    test('403 for a service credential on a player route', async () => {
      const svcToken = (await mintToken(TEST_SECRET, 'game-server', { service: true })).token;
      const res = await fetch(`${t.base}/v1/challenges`, {
        headers: { authorization: `Bearer ${svcToken}` },
      });
      expect(res.status).toBe(403);
      shape(await res.json());
    });

    test('404 for unknown challenge, unknown goal and unknown route', async () => {
      for (const p of [
        '/v1/challenges/nope',
        '/v1/challenges/daily-quests/goals/nope/claim',
        '/v1/nothing-here',
      ]) {
        const method = p.endsWith('claim') ? 'POST' : 'GET';
        const res = await t.call('err-404', method, p);
        expect(res.status).toBe(404);
        shape(res.body);
      }
    });

    test('400 for malformed JSON, wrong types, bad counts and over-long ids; never 500', async () => {
      const cases: [string, string, unknown][] = [
        ['PUT', '/v1/challenges/daily-quests/goals/login-today/active', '{"isActive": tru'],
        ['PUT', '/v1/challenges/daily-quests/goals/login-today/active', { isActive: 'yes' }],
        ['PUT', '/v1/challenges/daily-quests/goals/login-today/active', [true]],
        ['POST', '/v1/challenges/daily-quests/goals/batch-select', { goalIds: 'login-today' }],
        ['POST', '/v1/challenges/daily-quests/goals/batch-select', { goalIds: [1, 2] }],
        [
          'POST',
          '/v1/challenges/daily-quests/goals/batch-select',
          { goalIds: ['login-today'], replaceExisting: 'no' },
        ],
        ['POST', '/v1/challenges/daily-quests/goals/random-select', { count: 0 }],
        ['POST', '/v1/challenges/daily-quests/goals/random-select', { count: 99 }],
        ['POST', '/v1/challenges/daily-quests/goals/random-select', { count: 1.5 }],
        ['POST', '/v1/challenges/daily-quests/goals/random-select', { count: '2' }],
        ['GET', `/v1/challenges/${'x'.repeat(129)}`, undefined],
        ['POST', `/v1/challenges/daily-quests/goals/${'y'.repeat(300)}/claim`, undefined],
        ['GET', '/v1/challenges?activeOnly=maybe', undefined],
        ['GET', '/v1/challenges/%E0%A4%A', undefined],
      ];
      for (const [method, p, body] of cases) {
        const res = await t.call('err-400', method, p, body);
        expect([p, res.status]).toEqual([p, 400]);
        shape(res.body);
        expect(res.body.code).toBe(3);
      }
    });

    test('400 names the offending field', async () => {
      const res = await t.call('err-field', 'POST', '/v1/challenges/daily-quests/goals/random-select', {
        count: 'x',
      });
      expect(res.body.details.field).toBe('count');
      expect(res.body.message).toContain('count');
    });

    test('413 from Content-Length before the body is read', async () => {
      const token = await t.token('err-413');
      // Headers only: a server that waited for the declared body would answer nothing (or its
      // deadline's 503) instead of 413, since not one body byte is ever sent.
      const url = new URL(`${t.base}/v1/challenges/daily-quests/goals/batch-select`);
      const answer = await new Promise<string>((resolve, reject) => {
        const sock = net.connect(Number(url.port), '127.0.0.1', () => {
          sock.write(
            `POST ${url.pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
              `Content-Type: application/json\r\nContent-Length: ${1024 * 1024 + 10}\r\n\r\n`,
          );
        });
        let got = '';
        sock.on('data', (c: Buffer) => {
          got += c.toString('utf8');
          if (/\r\n\r\n[\s\S]*\}/.test(got)) {
            sock.destroy();
            resolve(got);
          }
        });
        sock.on('error', reject);
        sock.on('close', () => resolve(got));
      });
      expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 413 Payload Too Large');
      shape(JSON.parse(answer.slice(answer.indexOf('{'))));
    });

    test('x-request-id is propagated when valid and generated otherwise', async () => {
      const given = await t.call('rid', 'GET', '/v1/challenges', undefined, { 'x-request-id': 'abc-123' });
      expect(given.headers.get('x-request-id')).toBe('abc-123');
      const generated = await t.call('rid', 'GET', '/v1/challenges', undefined, {
        'x-request-id': 'bad id with spaces',
      });
      expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    });
  });
});

describe('catalog scale: the 500-goal catalog', () => {
  let t: TestService;
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    t = await startTestService({ db, env: { CHALLENGE_CATALOG: HEAVY } });
  });
  afterAll(async () => {
    await t.stop();
    await db.drop();
  });

  test('initialise of a new player writes exactly 1 row; list returns 500 goal views', async () => {
    const before = await countAllRows(db.directUrl);
    const init = await t.call('heavy-1', 'POST', '/v1/challenges/initialize');
    expect(init.status).toBe(200);
    expect(init.body.totalActive).toBe(500);
    expect(await countAllRows(db.directUrl)).toBe(before + 1);
    const again = await t.call('heavy-1', 'POST', '/v1/challenges/initialize');
    expect(again.body.newAssignments).toBe(0);
    expect(await countAllRows(db.directUrl)).toBe(before + 1);
    const list = await t.call('heavy-1', 'GET', '/v1/challenges');
    const views = list.body.challenges.flatMap((c: { goals: unknown[] }) => c.goals);
    expect(views).toHaveLength(500);
    // sent one challenge at a time (no single ~200 KB string in the api), as one valid JSON answer
    expect(list.headers.get('transfer-encoding')).toBe('chunked');
    expect(list.body.challenges).toHaveLength(10);
  });
});

describe('dev routes', () => {
  test('answer 404 when dev mode is off', async () => {
    const t = await startTestService({ env: { DEV_MODE: '0' } });
    try {
      const res = await fetch(`${t.base}/dev/token`, { method: 'POST', body: '{"userId":"a"}' });
      expect(res.status).toBe(404);
      const clock = await fetch(`${t.base}/dev/clock`, { method: 'POST', body: '{"reset":true}' });
      expect(clock.status).toBe(404);
    } finally {
      await t.stop();
    }
  });

  test('dev token works against the player API; dev clock moves the service clock', async () => {
    const t = await startTestService();
    try {
      const res = await fetch(`${t.base}/dev/token`, { method: 'POST', body: '{"userId":"dev-player"}' });
      const { token, expiresAt } = (await res.json()) as { token: string; expiresAt: string };
      expect(Date.parse(expiresAt)).toBeGreaterThan(Date.now());
      const list = await fetch(`${t.base}/v1/challenges`, { headers: { authorization: `Bearer ${token}` } });
      expect(list.status).toBe(200);
      const clock = await fetch(`${t.base}/dev/clock`, {
        method: 'POST',
        body: '{"now":"2030-01-01T00:00:00Z"}',
      });
      expect(((await clock.json()) as { now: string }).now.startsWith('2030-01-01T00:00:0')).toBe(true);
      const bad = await fetch(`${t.base}/dev/clock`, { method: 'POST', body: '{"now":"soon"}' });
      expect(bad.status).toBe(400);
    } finally {
      await t.stop();
    }
  });
});
