// Catalog validation of #18 items 1 and 2: operators, requirementGroups, evaluateAt, declared stat
// aggregations. Every problem names its JSON path.
import path from 'node:path';
import { loadCatalogFile, parseCatalog } from '../../app/catalog/load';
import { CatalogInvalidError, type CatalogProblem } from '../../app/domain/catalog';

type Json = Record<string, unknown>;

const goal = (goalId: string, overrides: Json = {}): Json => ({
  goalId,
  name: goalId,
  eventSource: 'statistic',
  requirement: { statCode: 'kills', targetValue: 5 },
  reward: { type: 'ITEM', rewardId: 'r', quantity: 1 },
  ...overrides,
});
const DAILY = { enabled: true, type: 'global', schedule: 'daily', onExpiry: { resetProgress: true } };
const doc = (goals: Json[], extra: Json = {}): Json => ({
  challenges: [{ challengeId: 'c', name: 'C', goals }],
  ...extra,
});

function problems(raw: Json): readonly CatalogProblem[] {
  try {
    parseCatalog(raw);
  } catch (err) {
    if (err instanceof CatalogInvalidError) return err.problems;
    throw err;
  }
  return [];
}

describe('operators and evaluateAt', () => {
  test('>, ==, >= are immediate; <, <=, != are judged at period end', () => {
    const c = parseCatalog(
      doc([
        goal('gt', { requirement: { statCode: 'kills', operator: '>', targetValue: 5 } }),
        goal('eq', { requirement: { statCode: 'kills', operator: '==', targetValue: 5 } }),
        goal('lt', { requirement: { statCode: 'deaths', operator: '<', targetValue: 3 }, rotation: DAILY }),
        goal('le', { requirement: { statCode: 'deaths', operator: '<=', targetValue: 3 }, rotation: DAILY }),
        goal('ne', { requirement: { statCode: 'deaths', operator: '!=', targetValue: 3 }, rotation: DAILY }),
        goal('ge', { evaluateAt: 'periodEnd', rotation: DAILY }),
      ]),
    );
    const at = (id: string) => c.goalById.get(id)!.evaluateAt;
    expect([at('gt'), at('eq'), at('lt'), at('le'), at('ne'), at('ge')]).toEqual([
      undefined,
      undefined,
      'periodEnd',
      'periodEnd',
      'periodEnd',
      'periodEnd',
    ]);
    expect(c.goalById.get('gt')!.requirement.operator).toBe('>');
  });

  test('an unknown operator names the path and the list', () => {
    expect(
      problems(doc([goal('g', { requirement: { statCode: 'k', operator: '=>', targetValue: 1 } })])),
    ).toEqual([
      {
        path: 'challenges[0].goals[0].requirement.operator',
        message: 'must be one of >=, >, ==, !=, <, <= (got "=>")',
      },
    ]);
  });

  test('a period-end operator without a resetProgress rotation, with evaluateAt immediate, or relative', () => {
    expect(
      problems(
        doc([
          goal('a', { requirement: { statCode: 'd', operator: '<', targetValue: 3 } }),
          goal('b', {
            requirement: { statCode: 'd', operator: '!=', targetValue: 3, progressMode: 'relative' },
            evaluateAt: 'immediate',
            rotation: { ...DAILY, onExpiry: { resetProgress: false } },
          }),
          goal('c', { evaluateAt: 'later' }),
        ]),
      ),
    ).toEqual([
      {
        path: 'challenges[0].goals[0].rotation',
        message: 'must be enabled with resetProgress (operator < judges each period at its end)',
      },
      {
        path: 'challenges[0].goals[1].requirement.progressMode',
        message: "must be absolute: a goal judged at its period's end compares the stat values at that end",
      },
      {
        path: 'challenges[0].goals[1].evaluateAt',
        message:
          "must be periodEnd: operator != (at requirement.operator) holds before anything happened, so it is judged at the period's end",
      },
      {
        path: 'challenges[0].goals[1].rotation',
        message: 'must be enabled with resetProgress (operator != judges each period at its end)',
      },
      {
        path: 'challenges[0].goals[2].evaluateAt',
        message: 'must be one of immediate, periodEnd (got "later")',
      },
    ]);
  });
});

describe('requirementGroups', () => {
  const groups = [
    { predicates: [{ statCode: 'wins', targetValue: 10 }] },
    {
      predicates: [
        { statCode: 'kills', operator: '>', targetValue: 50 },
        { statCode: 'wins', targetValue: 3 },
      ],
    },
  ];

  test('read into groups; requirement is the first predicate', () => {
    const { requirement: _r, ...rest } = goal('g');
    const g = parseCatalog(doc([{ ...rest, requirementGroups: groups }])).goalById.get('g')!;
    expect(g.requirementGroups).toEqual([
      { predicates: [{ statCode: 'wins', operator: '>=', targetValue: 10, progressMode: 'absolute' }] },
      {
        predicates: [
          { statCode: 'kills', operator: '>', targetValue: 50, progressMode: 'absolute' },
          { statCode: 'wins', operator: '>=', targetValue: 3, progressMode: 'absolute' },
        ],
      },
    ]);
    expect(g.requirement).toEqual(g.requirementGroups![0]!.predicates[0]);
  });

  test('both requirement and requirementGroups, neither, empty groups, broken predicates', () => {
    const { requirement: _r, ...rest } = goal('x');
    expect(
      problems(
        doc([
          goal('both', { requirementGroups: groups }),
          { ...rest, goalId: 'neither' },
          { ...rest, goalId: 'empty', requirementGroups: [] },
          {
            ...rest,
            goalId: 'broken',
            requirementGroups: [
              { predicates: [] },
              { predicates: [{ statCode: '', operator: '~', targetValue: 0 }] },
              'x',
            ],
          },
        ]),
      ),
    ).toEqual([
      {
        path: 'challenges[0].goals[0].requirementGroups',
        message: 'cannot be used together with requirement (declare one of them)',
      },
      { path: 'challenges[0].goals[1].requirement', message: 'is required' },
      { path: 'challenges[0].goals[1].requirement.statCode', message: 'is required' },
      { path: 'challenges[0].goals[1].requirement.targetValue', message: 'is required' },
      {
        path: 'challenges[0].goals[2].requirementGroups',
        message: 'must be a non-empty array of groups (got [])',
      },
      {
        path: 'challenges[0].goals[3].requirementGroups[0].predicates',
        message: 'must be a non-empty array of predicates (got [])',
      },
      {
        path: 'challenges[0].goals[3].requirementGroups[1].predicates[0].statCode',
        message: 'must be a non-empty string (got "")',
      },
      {
        path: 'challenges[0].goals[3].requirementGroups[1].predicates[0].operator',
        message: 'must be one of >=, >, ==, !=, <, <= (got "~")',
      },
      {
        path: 'challenges[0].goals[3].requirementGroups[1].predicates[0].targetValue',
        message: 'must be an integer > 0 (got 0)',
      },
      { path: 'challenges[0].goals[3].requirementGroups[2]', message: 'must be an object (got "x")' },
    ]);
  });
});

describe('stats aggregation', () => {
  test('declared aggregations are indexed and change the catalog version', () => {
    const plain = parseCatalog(doc([goal('g')]));
    const declared = parseCatalog(
      doc([goal('g')], {
        stats: [
          { statCode: 'kills', aggregation: 'max' },
          { statCode: 'low', aggregation: 'min' },
        ],
      }),
    );
    expect(plain.statAggregations).toBeUndefined();
    expect([...declared.statAggregations!]).toEqual([
      ['kills', 'max'],
      ['low', 'min'],
    ]);
    expect(declared.version).not.toBe(plain.version);
  });

  test('unknown aggregation, duplicates, a login stat that is not sum', () => {
    expect(
      problems(
        doc(
          [
            goal('g'),
            goal('l', { eventSource: 'login', requirement: { statCode: 'logins', targetValue: 3 } }),
          ],
          {
            stats: [
              { statCode: 'kills', aggregation: 'average' },
              { statCode: 'kills', aggregation: 'max' },
              { statCode: 'logins', aggregation: 'latest' },
              { aggregation: 'sum' },
            ],
          },
        ),
      ),
    ).toEqual([
      { path: 'stats[0].aggregation', message: 'must be one of latest, sum, max, min (got "average")' },
      { path: 'stats[3].statCode', message: 'is required' },
      { path: 'stats[1].statCode', message: 'duplicate stat "kills" (first at stats[0])' },
      {
        path: 'stats[2].aggregation',
        message: 'must be sum: login goal "l" counts logins on this stat (a login increments it)',
      },
    ]);
  });
});

test('examples/catalog-rules.json loads and uses every rule of #18 items 1 and 2', () => {
  const c = loadCatalogFile(path.resolve(__dirname, '../../examples/catalog-rules.json'));
  const goals = [...c.goalById.values()];
  const ops = new Set(
    goals.flatMap((g) =>
      (g.requirementGroups ?? [{ predicates: [g.requirement] }]).flatMap((x) =>
        x.predicates.map((p) => p.operator),
      ),
    ),
  );
  expect([...ops].sort()).toEqual(['<', '<=', '==', '>', '>='].sort());
  expect(goals.some((g) => g.requirementGroups && g.requirementGroups.length > 1)).toBe(true);
  expect(goals.filter((g) => g.evaluateAt === 'periodEnd').map((g) => g.goalId)).toEqual([
    'speed-demon',
    'careful-day',
    'exactly-ten',
  ]);
  expect(new Set(c.statAggregations!.values())).toEqual(new Set(['latest', 'sum', 'max', 'min']));
});
