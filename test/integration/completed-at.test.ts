// completedAt on the real service: the worker records when an applied event made a goal reach its
// target (absolute, relative, rotating with resetProgress), the list, single-challenge and
// initialise answers agree, claims keep their own time, and goals not completed show null.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventsModule } from '../../app/events/module';
import { dropEventKeys, eventsEnv, eventually, iso, sql } from '../helpers/events';
import { startTestService, type TestService } from '../helpers/service';

const goal = (goalId: string, statCode: string, target: number, extra: Record<string, unknown> = {}) => ({
  goalId,
  name: goalId,
  description: goalId,
  eventSource: 'statistic',
  requirement: { statCode, operator: '>=', targetValue: target, progressMode: 'absolute' },
  reward: { type: 'WALLET', rewardId: 'COINS', quantity: 1 },
  prerequisites: [],
  defaultAssigned: true,
  ...extra,
});
const relative = (g: ReturnType<typeof goal>) => ({
  ...g,
  requirement: { ...g.requirement, progressMode: 'relative' },
});
const CATALOG = {
  challenges: [
    {
      challengeId: 'c1',
      name: 'c1',
      description: 'c1',
      goals: [
        goal('abs-3', 'kills', 3),
        goal('abs-100', 'kills', 100),
        relative(goal('rel-2', 'wins', 2)),
        relative(
          goal('daily-2', 'crates', 2, {
            rotation: {
              enabled: true,
              type: 'global',
              schedule: 'daily',
              onExpiry: { resetProgress: true, allowReselection: true },
            },
          }),
        ),
      ],
    },
  ],
};

interface G {
  goalId: string;
  status: string;
  progress: number;
  completedAt: string | null;
  claimedAt?: string | null;
}

describe('completedAt', () => {
  let t: TestService;
  let env: Record<string, string>;
  let svcToken: string;

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'completed-at-'));
    writeFileSync(path.join(dir, 'catalog.json'), JSON.stringify(CATALOG));
    env = eventsEnv({ CHALLENGE_CATALOG: path.join(dir, 'catalog.json') });
    t = await startTestService({ modules: [eventsModule()], env });
    svcToken = await t.serviceToken();
  });
  afterAll(async () => {
    await t.stop();
    await dropEventKeys(env);
  });

  const send = async (events: Record<string, unknown>[]) => {
    const res = await fetch(`${t.base}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${svcToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    expect(res.status).toBe(202);
  };
  const stat = (id: string, u: string, statCode: string, value: number, at: number, mode = 'increment') => ({
    eventId: id,
    userId: u,
    type: 'stat',
    statCode,
    value,
    mode,
    occurredAt: iso(at),
  });
  const listed = async (u: string): Promise<Record<string, G>> => {
    const res = await t.call(u, 'GET', '/v1/challenges');
    expect(res.status).toBe(200);
    return Object.fromEntries((res.body.challenges[0].goals as G[]).map((g) => [g.goalId, g]));
  };
  const completions = (u: string) =>
    sql<{ goal_id: string; period_key: string; completed_at: Date }>(
      t.db.directUrl,
      'SELECT goal_id, period_key, completed_at FROM goal_completions WHERE user_id = $1 ORDER BY goal_id',
      [u],
    );

  test('absolute, relative and rotating goals get the time of the event that completed them; others null', async () => {
    const u = 'ca-1';
    expect((await t.call(u, 'POST', '/v1/challenges/initialize')).status).toBe(200);
    const t0 = Date.now() - 60_000;
    await send([
      stat('ca1-1', u, 'kills', 2, t0),
      stat('ca1-2', u, 'wins', 1, t0),
      stat('ca1-3', u, 'crates', 1, t0),
    ]);
    await eventually(async () => ((await listed(u))['abs-3']!.progress === 2 ? true : undefined));
    let g = await listed(u);
    for (const id of ['abs-3', 'abs-100', 'rel-2', 'daily-2']) expect(g[id]!.completedAt).toBeNull();

    const t1 = Date.now() - 30_000;
    await send([
      stat('ca1-4', u, 'kills', 5, t1),
      stat('ca1-5', u, 'wins', 1, t1 + 1),
      stat('ca1-6', u, 'crates', 1, t1 + 2),
    ]);
    await eventually(async () => ((await completions(u)).length === 3 ? true : undefined));
    g = await listed(u);
    expect(g['abs-3']).toMatchObject({ status: 'completed', completedAt: iso(t1) });
    expect(g['rel-2']).toMatchObject({ status: 'completed', completedAt: iso(t1 + 1) });
    expect(g['daily-2']).toMatchObject({ status: 'completed', completedAt: iso(t1 + 2) });
    expect(g['abs-100']).toMatchObject({ status: 'in_progress', completedAt: null });
    const rows = await completions(u);
    // sparse: one row per completed goal; the rotating goal's row belongs to its period
    expect(rows.map((r) => r.goal_id)).toEqual(['abs-3', 'daily-2', 'rel-2']);
    expect(rows.find((r) => r.goal_id === 'daily-2')!.period_key).toMatch(/^d\d{4}-\d{2}-\d{2}$/);
    expect(rows.find((r) => r.goal_id === 'abs-3')!.period_key).toBe('');

    // Later events keep the first completion time.
    await send([stat('ca1-7', u, 'kills', 1, Date.now() - 1000)]);
    await eventually(async () => ((await listed(u))['abs-100']!.progress === 8 ? true : undefined));
    await send([stat('ca1-8', u, 'kills', 10, Date.now() - 500)]);
    await eventually(async () => ((await listed(u))['abs-100']!.progress === 18 ? true : undefined));
    expect((await listed(u))['abs-3']!.completedAt).toBe(iso(t1));
  });

  test('list, single challenge and initialise answers agree; a claim keeps its own time', async () => {
    const u = 'ca-2';
    expect((await t.call(u, 'POST', '/v1/challenges/initialize')).status).toBe(200);
    const t1 = Date.now() - 20_000;
    await send([stat('ca2-1', u, 'kills', 3, t1)]);
    await eventually(async () => ((await completions(u)).length === 1 ? true : undefined));
    const claim = await t.call(u, 'POST', '/v1/challenges/c1/goals/abs-3/claim');
    expect(claim.status).toBe(200);
    const list = await listed(u);
    const one = await t.call(u, 'GET', '/v1/challenges/c1');
    const init = await t.call(u, 'POST', '/v1/challenges/initialize');
    const single = Object.fromEntries((one.body.goals as G[]).map((x) => [x.goalId, x]));
    const assigned = Object.fromEntries((init.body.assignedGoals as G[]).map((x) => [x.goalId, x]));
    for (const id of ['abs-3', 'abs-100', 'rel-2', 'daily-2']) {
      expect(single[id]!.completedAt).toBe(list[id]!.completedAt);
      expect(assigned[id]!.completedAt).toBe(list[id]!.completedAt);
    }
    expect(list['abs-3']).toMatchObject({ status: 'claimed', completedAt: iso(t1) });
    expect(list['abs-3']!.claimedAt).not.toBeNull();
    expect(list['abs-3']!.claimedAt).not.toBe(list['abs-3']!.completedAt);
    expect(list['abs-100']!.completedAt).toBeNull();
  });
});
