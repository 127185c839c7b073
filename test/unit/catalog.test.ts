import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import {
  CatalogInvalidError,
  loadCatalogFile,
  parseCatalog,
  parseCatalogText,
  type Catalog,
  type CatalogProblem,
} from '../../app/catalog';

// Fixtures are the reference service's own catalogs; they are read in place, never copied into the repo.
const FIXTURES_DIR = process.env.FIXTURES_DIR ?? path.resolve(__dirname, '../../../shared/fixtures');
const CURRENT_FIXTURE = path.join(FIXTURES_DIR, 'anchor-challenges.json');
const LEGACY_FIXTURE = path.join(FIXTURES_DIR, 'anchor-loadtest-challenges.json');
const EXAMPLE_CATALOG = path.resolve(__dirname, '../../examples/catalog.json');

type Json = Record<string, unknown>;

function currentGoal(goalId: string, overrides: Json = {}): Json {
  return {
    goalId,
    name: `Goal ${goalId}`,
    description: `About ${goalId}`,
    eventSource: 'statistic',
    requirement: { statCode: 'kills', operator: '>=', targetValue: 5, progressMode: 'absolute' },
    reward: { type: 'WALLET', rewardId: 'GOLD', quantity: 10 },
    prerequisites: [],
    defaultAssigned: false,
    ...overrides,
  };
}

function catalogOf(...goalLists: Json[][]): Json {
  return {
    challenges: goalLists.map((goals, i) => ({
      challengeId: `challenge-${i}`,
      name: `Challenge ${i}`,
      description: 'test',
      goals,
    })),
  };
}

/** Rewrites a current-format catalog into the legacy snake_case shape, reversing key order on the way. */
function toLegacy(catalog: Json): Json {
  const challenges = catalog.challenges as Json[];
  return {
    challenges: challenges.map((c) => {
      const goals = (c.goals as Json[]).map((g) => {
        const req = g.requirement as Json;
        const reward = g.reward as Json;
        const legacy: Json = {
          default_assigned: g.defaultAssigned,
          prerequisites: g.prerequisites,
          reward: { quantity: reward.quantity, reward_id: reward.rewardId, type: reward.type },
          requirement: {
            progress_mode: req.progressMode,
            target_value: req.targetValue,
            operator: req.operator,
            stat_code: req.statCode,
          },
          event_source: g.eventSource,
          description: g.description,
          name: g.name,
          id: g.goalId,
        };
        return legacy;
      });
      return { goals, description: c.description, name: c.name, id: c.challengeId };
    }),
  };
}

function problemsOf(fn: () => unknown): readonly CatalogProblem[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof CatalogInvalidError) return err.problems;
    throw err;
  }
  throw new Error('expected the catalog to be refused');
}

function goalCount(catalog: Catalog): number {
  return catalog.challenges.reduce((n, c) => n + c.goals.length, 0);
}

describe('catalog fixtures', () => {
  test('current-format reference catalog loads: 7 challenges, goals normalised', () => {
    const catalog = loadCatalogFile(CURRENT_FIXTURE);
    expect(catalog.challenges).toHaveLength(7);
    expect(goalCount(catalog)).toBe(24);
    expect(catalog.goalById.size).toBe(24);
    expect(catalog.version).toMatch(/^[0-9a-f]{16}$/);

    const snowmen = catalog.goalById.get('kill-10-snowmen')!;
    expect(snowmen.challengeId).toBe('winter-challenge-2025');
    expect(snowmen.prerequisites).toEqual(['complete-tutorial']);
    expect(snowmen.defaultAssigned).toBe(false);
    expect(snowmen.reward).toEqual({
      type: 'ITEM',
      rewardId: '767d2217abe241aab2245794761e9dc4',
      quantity: 1,
    });
    expect(snowmen).not.toHaveProperty('type'); // extra `type: "absolute"` is ignored

    const noReset = catalog.goalById.get('weekly-wins-no-reset')!;
    expect(noReset.rotation).toEqual({
      enabled: true,
      type: 'global',
      schedule: 'weekly',
      onExpiry: { resetProgress: false, allowReselection: false },
    });
    expect(noReset.requirement.progressMode).toBe('relative');
    expect(catalog.goalById.get('login-today')!.rotation).toBeUndefined();
  });

  test('legacy load-test catalog loads: 10 challenges x 50 goals, every goal default-assigned', () => {
    const catalog = loadCatalogFile(LEGACY_FIXTURE);
    expect(catalog.challenges).toHaveLength(10);
    expect(catalog.challenges.every((c) => c.goals.length === 50)).toBe(true);
    expect(catalog.goalById.size).toBe(500);
    expect(catalog.defaultGoals).toHaveLength(500);
    const first = catalog.goalById.get('challenge-001-goal-01')!;
    expect(first).toEqual({
      goalId: 'challenge-001-goal-01',
      challengeId: 'challenge-001',
      name: 'Goal 1',
      description: 'Reach 1 login_count to complete this goal',
      eventSource: 'login',
      requirement: { statCode: 'login_count', operator: '>=', targetValue: 1, progressMode: 'absolute' },
      reward: { type: 'WALLET', rewardId: 'GEMS', quantity: 10 },
      prerequisites: [],
      defaultAssigned: true,
    });
    expect(catalog.challengeById.get('challenge-010')!.name).toBe("Champion's Path");
  });

  test('current fixture index: goalsByStat, loginStats, baselineSchedulesByStat', () => {
    const catalog = loadCatalogFile(CURRENT_FIXTURE);
    expect(catalog.goalsByStat.get('wins')!.map((g) => g.goalId)).toEqual([
      'daily-wins',
      'daily-challenges-goal-02',
      'daily-wins-no-reselect',
      'weekly-challenges-goal-02',
      'weekly-wins-no-reset',
    ]);
    expect(catalog.goalsByStat.get('login_count')!.map((g) => g.goalId)).toEqual([
      'challenge-001-goal-01',
      'daily-login',
      'daily-extra-challenge-001-goal-01',
      'daily-extra-challenge-001-goal-02',
      'daily-login-rotation',
    ]);
    expect([...catalog.goalsByStat.keys()].sort()).toEqual(
      [
        'daily_login',
        'enemy_kills',
        'games_played',
        'headshots',
        'kills',
        'login_count',
        'matches_played',
        'player_level',
        'snowmen_killed',
        'tutorial_completed',
        'wins',
      ].sort(),
    );
    expect([...catalog.loginStats].sort()).toEqual(['daily_login', 'login_count']);
    expect(Object.fromEntries(catalog.baselineSchedulesByStat)).toEqual({
      kills: ['daily', 'weekly', 'monthly'],
      wins: ['daily', 'weekly'],
      login_count: ['daily'],
    });
    expect(catalog.defaultGoals.map((g) => g.goalId)).toContain('complete-tutorial');
    expect(catalog.defaultGoals.map((g) => g.goalId)).not.toContain('kill-10-snowmen');
  });

  test('legacy fixture rewritten in the current format -> same version', () => {
    const legacyText = readFileSync(LEGACY_FIXTURE, 'utf8');
    const legacy = JSON.parse(legacyText) as { challenges: Json[] };
    const current = {
      challenges: legacy.challenges.map((c) => ({
        challengeId: c.id,
        name: c.name,
        description: c.description,
        goals: (c.goals as Json[]).map((g) => {
          const req = g.requirement as Json;
          const reward = g.reward as Json;
          return {
            goalId: g.id,
            name: g.name,
            description: g.description,
            eventSource: g.event_source,
            requirement: { statCode: req.stat_code, operator: req.operator, targetValue: req.target_value },
            reward: { type: reward.type, rewardId: reward.reward_id, quantity: reward.quantity },
            prerequisites: g.prerequisites,
            defaultAssigned: true,
          };
        }),
      })),
    };
    expect(parseCatalog(current).version).toBe(parseCatalogText(legacyText).version);
  });
});

describe('catalog formats and version', () => {
  const sample = catalogOf(
    [
      currentGoal('a', { defaultAssigned: true }),
      currentGoal('b', {
        prerequisites: ['a'],
        requirement: { statCode: 'wins', operator: '>=', targetValue: 3, progressMode: 'relative' },
      }),
    ],
    [currentGoal('c', { eventSource: 'login' })],
  );

  test('same catalog in current and legacy format, keys in different order -> equal version', () => {
    const current = parseCatalog(sample);
    const legacy = parseCatalog(toLegacy(sample));
    expect(legacy.challenges).toEqual(current.challenges);
    expect(legacy.version).toBe(current.version);
  });

  test('any content change -> different version', () => {
    const base = parseCatalog(sample).version;
    const changedTarget = catalogOf([
      currentGoal('a', { defaultAssigned: true }),
      currentGoal('b', {
        prerequisites: ['a'],
        requirement: { statCode: 'wins', operator: '>=', targetValue: 4, progressMode: 'relative' },
      }),
    ]);
    expect(parseCatalog(changedTarget).version).not.toBe(base);
    const legacyNotDefault = toLegacy(sample);
    ((legacyNotDefault.challenges as Json[])[0]!.goals as Json[])[0]!.default_assigned = false;
    expect(parseCatalog(legacyNotDefault).version).not.toBe(base);
  });

  test('YAML catalog loads by file name and by content, same version as JSON', () => {
    const yamlText = YAML.stringify(sample);
    const fromJson = parseCatalogText(JSON.stringify(sample), 'catalog.json');
    expect(parseCatalogText(yamlText, 'catalog.yaml').version).toBe(fromJson.version);
    expect(parseCatalogText(yamlText).version).toBe(fromJson.version);

    const dir = mkdtempSync(path.join(os.tmpdir(), 'catalog-'));
    try {
      const file = path.join(dir, 'catalog.yml');
      writeFileSync(file, yamlText);
      const loaded = loadCatalogFile(file);
      expect(loaded.version).toBe(fromJson.version);
      expect(loaded.goalById.get('b')!.prerequisites).toEqual(['a']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('defaults: absolute progress, >= operator, empty description and prerequisites, not default in current format', () => {
    const catalog = parseCatalog({
      challenges: [
        {
          challengeId: 'x',
          name: 'X',
          type: 'daily',
          goals: [
            {
              goalId: 'g',
              name: 'G',
              type: 'daily',
              eventSource: 'statistic',
              requirement: { statCode: 's', targetValue: 2 },
              reward: { type: 'ITEM', rewardId: 'r', quantity: 1 },
              rotation: { enabled: true, type: 'global', schedule: 'monthly' },
            },
            {
              goalId: 'h',
              name: 'H',
              eventSource: 'statistic',
              requirement: { statCode: 's', targetValue: 2 },
              reward: { type: 'ITEM', rewardId: 'r', quantity: 1 },
              rotation: { enabled: false, type: 'global', schedule: 'daily' },
            },
          ],
        },
      ],
    });
    const g = catalog.goalById.get('g')!;
    expect(g).toEqual({
      goalId: 'g',
      challengeId: 'x',
      name: 'G',
      description: '',
      eventSource: 'statistic',
      requirement: { statCode: 's', operator: '>=', targetValue: 2, progressMode: 'absolute' },
      reward: { type: 'ITEM', rewardId: 'r', quantity: 1 },
      prerequisites: [],
      defaultAssigned: false,
      rotation: {
        enabled: true,
        type: 'global',
        schedule: 'monthly',
        onExpiry: { resetProgress: true, allowReselection: true },
      },
    });
    expect(catalog.challengeById.get('x')!.description).toBe('');
    expect(catalog.goalById.get('h')!.rotation).toBeUndefined();
    expect(catalog.defaultGoals).toEqual([]);
    // absolute progress needs no period baseline even when it rotates
    expect(catalog.baselineSchedulesByStat.size).toBe(0);
  });

  test('relative rotating goal without resetProgress -> no baseline schedule for its stat', () => {
    const catalog = parseCatalog(
      catalogOf([
        currentGoal('keep', {
          requirement: { statCode: 'kills', operator: '>=', targetValue: 5, progressMode: 'relative' },
          rotation: {
            enabled: true,
            type: 'global',
            schedule: 'weekly',
            onExpiry: { resetProgress: false, allowReselection: true },
          },
        }),
        currentGoal('fresh', {
          requirement: { statCode: 'wins', operator: '>=', targetValue: 5, progressMode: 'relative' },
          rotation: { enabled: true, type: 'global', schedule: 'daily', onExpiry: { resetProgress: true } },
        }),
      ]),
    );
    expect(Object.fromEntries(catalog.baselineSchedulesByStat)).toEqual({ wins: ['daily'] });
  });
});

describe('catalog validation', () => {
  test('catalog with a prerequisite cycle, a duplicate id, a missing prerequisite and a zero target -> refused, all four listed with paths', () => {
    const bad = catalogOf(
      [
        currentGoal('a', { prerequisites: ['b'] }),
        currentGoal('b', { prerequisites: ['a'] }),
        currentGoal('c', { prerequisites: ['ghost'] }),
      ],
      [
        currentGoal('a'),
        currentGoal('d', {
          requirement: { statCode: 'kills', operator: '>=', targetValue: 0, progressMode: 'absolute' },
        }),
      ],
    );
    const problems = problemsOf(() => parseCatalog(bad));
    expect(problems).toHaveLength(4);
    expect(problems).toEqual(
      expect.arrayContaining([
        { path: 'challenges[0].goals[0].prerequisites', message: 'prerequisite cycle: a -> b -> a' },
        { path: 'challenges[1].goals[0].goalId', message: expect.stringContaining('duplicate goal id "a"') },
        { path: 'challenges[0].goals[2].prerequisites[0]', message: 'unknown goal id "ghost"' },
        { path: 'challenges[1].goals[1].requirement.targetValue', message: expect.stringContaining('> 0') },
      ]),
    );
    expect(() => parseCatalog(bad)).toThrow(/prerequisite cycle: a -> b -> a/);
  });

  test('goal that requires itself -> refused as a cycle', () => {
    const problems = problemsOf(() =>
      parseCatalog(catalogOf([currentGoal('loop', { prerequisites: ['loop'] })])),
    );
    expect(problems).toEqual([
      { path: 'challenges[0].goals[0].prerequisites', message: 'prerequisite cycle: loop -> loop' },
    ]);
  });

  test('longer cycle reached from outside -> cycle path names only the loop', () => {
    const problems = problemsOf(() =>
      parseCatalog(
        catalogOf([
          currentGoal('entry', { prerequisites: ['x'] }),
          currentGoal('x', { prerequisites: ['y'] }),
          currentGoal('y', { prerequisites: ['z'] }),
          currentGoal('z', { prerequisites: ['x'] }),
        ]),
      ),
    );
    expect(problems.map((p) => p.message)).toEqual(['prerequisite cycle: x -> y -> z -> x']);
  });

  test('duplicate challenge id -> refused with path', () => {
    const catalog = catalogOf([currentGoal('a')], [currentGoal('b')]);
    (catalog.challenges as Json[])[1]!.challengeId = 'challenge-0';
    expect(problemsOf(() => parseCatalog(catalog))).toEqual([
      { path: 'challenges[1].challengeId', message: expect.stringContaining('duplicate challenge id') },
    ]);
  });

  test('unknown enum value -> refused with path', () => {
    const problems = problemsOf(() =>
      parseCatalog(
        catalogOf([
          currentGoal('a', { eventSource: 'purchase' }),
          currentGoal('b', { reward: { type: 'COUPON', rewardId: 'x', quantity: 1 } }),
          currentGoal('c', {
            requirement: { statCode: 'kills', operator: '=>', targetValue: 5, progressMode: 'sometimes' },
          }),
          currentGoal('d', { rotation: { enabled: true, type: 'player', schedule: 'hourly' } }),
        ]),
      ),
    );
    expect(problems.map((p) => p.path)).toEqual([
      'challenges[0].goals[0].eventSource',
      'challenges[0].goals[1].reward.type',
      'challenges[0].goals[2].requirement.operator',
      'challenges[0].goals[2].requirement.progressMode',
      'challenges[0].goals[3].rotation.type',
      'challenges[0].goals[3].rotation.schedule',
    ]);
    expect(problems[0]!.message).toContain('login, statistic');
  });

  test('id over 128 characters -> refused with path; 128 is accepted', () => {
    const long = 'g'.repeat(129);
    expect(problemsOf(() => parseCatalog(catalogOf([currentGoal(long)])))).toEqual([
      { path: 'challenges[0].goals[0].goalId', message: 'must be at most 128 characters (got 129)' },
    ]);
    expect(parseCatalog(catalogOf([currentGoal('g'.repeat(128))])).goalById.size).toBe(1);
    const longStat = catalogOf([
      currentGoal('a', {
        requirement: { statCode: 's'.repeat(129), operator: '>=', targetValue: 1, progressMode: 'absolute' },
      }),
    ]);
    expect(problemsOf(() => parseCatalog(longStat)).map((p) => p.path)).toEqual([
      'challenges[0].goals[0].requirement.statCode',
    ]);
  });

  test('non-integer target or quantity -> refused with path', () => {
    const problems = problemsOf(() =>
      parseCatalog(
        catalogOf([
          currentGoal('a', {
            requirement: { statCode: 'kills', operator: '>=', targetValue: 2.5, progressMode: 'absolute' },
          }),
          currentGoal('b', {
            requirement: { statCode: 'kills', operator: '>=', targetValue: '3', progressMode: 'absolute' },
          }),
          currentGoal('c', { reward: { type: 'ITEM', rewardId: 'x', quantity: 0.5 } }),
        ]),
      ),
    );
    expect(problems.map((p) => p.path)).toEqual([
      'challenges[0].goals[0].requirement.targetValue',
      'challenges[0].goals[1].requirement.targetValue',
      'challenges[0].goals[2].reward.quantity',
    ]);
  });

  test('legacy goal problems are reported under the legacy field names', () => {
    const legacy = toLegacy(catalogOf([currentGoal('a')]));
    const goal = ((legacy.challenges as Json[])[0]!.goals as Json[])[0]!;
    (goal.requirement as Json).target_value = -1;
    goal.event_source = 'chat';
    expect(problemsOf(() => parseCatalog(legacy)).map((p) => p.path)).toEqual([
      'challenges[0].goals[0].event_source',
      'challenges[0].goals[0].requirement.target_value',
    ]);
  });

  test('missing or mistyped fields -> every one listed, not only the first', () => {
    const problems = problemsOf(() =>
      parseCatalog({
        challenges: [
          { challengeId: '', name: 3, goals: [{ goalId: 'a', eventSource: 'login', prerequisites: 'b' }] },
          'not an object',
          { challengeId: 'z', name: 'Z' },
        ],
      }),
    );
    expect(problems.map((p) => p.path)).toEqual([
      'challenges[0].challengeId',
      'challenges[0].name',
      'challenges[0].goals[0].name',
      'challenges[0].goals[0].requirement',
      'challenges[0].goals[0].requirement.statCode',
      'challenges[0].goals[0].requirement.targetValue',
      'challenges[0].goals[0].reward',
      'challenges[0].goals[0].reward.type',
      'challenges[0].goals[0].reward.rewardId',
      'challenges[0].goals[0].reward.quantity',
      'challenges[0].goals[0].prerequisites',
      'challenges[1]',
      'challenges[2].goals',
    ]);
  });

  test('no challenges array or unparseable text -> refused', () => {
    expect(problemsOf(() => parseCatalog({ goals: [] }))).toEqual([
      { path: 'challenges', message: 'is required' },
    ]);
    expect(problemsOf(() => parseCatalog([]))[0]!.path).toBe('$');
    expect(problemsOf(() => parseCatalogText('{"challenges": [', 'c.json'))[0]!.message).toMatch(
      /^not valid JSON/,
    );
    expect(problemsOf(() => parseCatalogText('challenges: [1, 2', 'c.yaml'))[0]!.message).toMatch(
      /^not valid YAML/,
    );
  });
});

describe('example catalog', () => {
  test('examples/catalog.json loads and exercises every catalog feature', () => {
    const catalog = loadCatalogFile(EXAMPLE_CATALOG);
    const goals = [...catalog.goalById.values()];
    expect(catalog.challenges.length).toBeGreaterThanOrEqual(4);
    expect(goals.length).toBeGreaterThanOrEqual(12);
    expect(catalog.loginStats.length).toBeGreaterThan(0);
    expect(goals.some((g) => g.eventSource === 'statistic')).toBe(true);
    expect(goals.some((g) => g.requirement.progressMode === 'absolute')).toBe(true);
    expect(goals.some((g) => g.requirement.progressMode === 'relative')).toBe(true);
    expect(goals.some((g) => g.prerequisites.length > 0)).toBe(true);
    expect(goals.some((g) => g.rotation?.schedule === 'daily' && g.rotation.onExpiry.resetProgress)).toBe(
      true,
    );
    expect(goals.some((g) => g.rotation?.schedule === 'weekly')).toBe(true);
    expect(goals.some((g) => !g.defaultAssigned)).toBe(true);
    expect(catalog.baselineSchedulesByStat.size).toBeGreaterThan(0);
  });
});
