// Requirement operators and groups (#18 item 1): an OR of groups, each an AND of predicates; the
// closest group's progress is shown; `<`, `<=`, `!=` (or evaluateAt periodEnd) are judged on the
// stats at the rotation period's end.
import fc from 'fast-check';
import { parseCatalog } from '../../app/catalog/load';
import type { Goal, Operator, Requirement, RequirementGroup } from '../../app/domain/catalog';
import { emptyFacts, factKey, type PlayerFacts, type StatFact } from '../../app/domain/facts';
import { periodAt } from '../../app/domain/periods';
import { claimPeriodKey, factPeriodKeys, ViewBuilder } from '../../app/domain/progress';
import { closestGroup, compare, threshold } from '../../app/domain/requirements';

const OPS: Operator[] = ['>=', '>', '==', '!=', '<', '<='];
const STATS = ['a', 'b', 'c'];
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 25, 12);

const predicate = fc.record({
  statCode: fc.constantFrom(...STATS),
  operator: fc.constantFrom(...OPS),
  targetValue: fc.integer({ min: 1, max: 6 }),
  progressMode: fc.constant('absolute' as const),
});
const groups = fc.array(fc.record({ predicates: fc.array(predicate, { minLength: 1, maxLength: 4 }) }), {
  minLength: 1,
  maxLength: 4,
});
const values: fc.Arbitrary<Record<string, number>> = fc.record({
  a: fc.integer({ min: -2, max: 8 }),
  b: fc.integer({ min: -2, max: 8 }),
  c: fc.integer({ min: -2, max: 8 }),
});

const valueOf = (v: Record<string, number>) => (p: Requirement) => v[p.statCode] ?? 0;
const groupMet = (g: RequirementGroup, v: Record<string, number>) =>
  g.predicates.every((p) => compare(v[p.statCode]!, p.operator, p.targetValue));

describe('operators', () => {
  test('compare is the operator on integers', () => {
    fc.assert(
      fc.property(fc.integer({ min: -5, max: 10 }), fc.integer({ min: 1, max: 6 }), (x, t) => {
        expect(compare(x, '>=', t)).toBe(x >= t);
        expect(compare(x, '>', t)).toBe(x > t);
        expect(compare(x, '==', t)).toBe(x === t);
        expect(compare(x, '!=', t)).toBe(x !== t);
        expect(compare(x, '<', t)).toBe(x < t);
        expect(compare(x, '<=', t)).toBe(x <= t);
      }),
    );
  });
});

describe('closest group', () => {
  test('the goal is met iff some group has every predicate satisfied', () => {
    fc.assert(
      fc.property(groups, values, (gs, v) => {
        expect(closestGroup(gs, valueOf(v)).met).toBe(gs.some((g) => groupMet(g, v)));
      }),
    );
  });

  test('the closest group has the highest satisfied fraction, the first such in declared order', () => {
    fc.assert(
      fc.property(groups, values, (gs, v) => {
        const fraction = gs.map(
          (g) =>
            g.predicates.filter((p) => compare(v[p.statCode]!, p.operator, p.targetValue)).length /
            g.predicates.length,
        );
        const best = Math.max(...fraction);
        const c = closestGroup(gs, valueOf(v));
        expect(c.index).toBe(fraction.findIndex((f) => f === best));
        // stable: the same answer when groups behind it are appended
        expect(closestGroup([...gs, ...gs], valueOf(v)).index).toBe(c.index);
      }),
    );
  });

  test('shown progress: first unmet predicate clamped to [0, threshold]; a met group shows a full bar', () => {
    fc.assert(
      fc.property(groups, values, (gs, v) => {
        const c = closestGroup(gs, valueOf(v));
        const g = gs[c.index]!;
        const unmet = g.predicates.find((p) => !compare(v[p.statCode]!, p.operator, p.targetValue));
        if (!unmet) {
          expect(c).toMatchObject({
            met: true,
            progress: threshold(g.predicates[0]!),
            target: threshold(g.predicates[0]!),
          });
        } else {
          expect(c.target).toBe(threshold(unmet));
          expect(c.progress).toBe(Math.min(Math.max(v[unmet.statCode]!, 0), threshold(unmet)));
        }
        expect(c.progress).toBeGreaterThanOrEqual(0);
        expect(c.progress).toBeLessThanOrEqual(c.target);
      }),
    );
  });

  test('example: the group with more satisfied predicates wins over an earlier one', () => {
    const gs: RequirementGroup[] = [
      {
        predicates: [
          { statCode: 'a', operator: '>=', targetValue: 10, progressMode: 'absolute' },
          { statCode: 'b', operator: '>=', targetValue: 10, progressMode: 'absolute' },
        ],
      },
      {
        predicates: [
          { statCode: 'a', operator: '>=', targetValue: 2, progressMode: 'absolute' },
          { statCode: 'c', operator: '>', targetValue: 4, progressMode: 'absolute' },
        ],
      },
    ];
    expect(closestGroup(gs, valueOf({ a: 3, b: 0, c: 1 }))).toEqual({
      index: 1,
      satisfied: 1,
      total: 2,
      met: false,
      progress: 1,
      target: 5,
    });
  });
});

// ---- through the catalog and the views ---------------------------------------------------------

function stat(value: number, seenAt: number): StatFact {
  return { value, firstValue: value, firstSeenAt: seenAt, updatedAt: seenAt };
}

function factsWith(
  stats: Record<string, StatFact>,
  createdAt = NOW - 10 * DAY,
  baselines: Record<string, number> = {},
): PlayerFacts {
  return {
    ...emptyFacts('p', createdAt),
    stats: new Map(Object.entries(stats)),
    baselines: new Map(Object.entries(baselines)),
  };
}

function catalogWith(goal: Record<string, unknown>) {
  return parseCatalog({
    challenges: [
      {
        challengeId: 'c',
        name: 'C',
        goals: [
          {
            goalId: 'g',
            name: 'G',
            eventSource: 'statistic',
            reward: { type: 'ITEM', rewardId: 'r', quantity: 1 },
            defaultAssigned: true,
            ...goal,
          },
        ],
      },
    ],
  });
}

describe('requirementGroups in views', () => {
  const catalog = catalogWith({
    requirementGroups: [
      { predicates: [{ statCode: 'wins', targetValue: 10 }] },
      {
        predicates: [
          { statCode: 'kills', operator: '>', targetValue: 50 },
          { statCode: 'wins', targetValue: 3 },
        ],
      },
    ],
  });
  const goal = catalog.goalById.get('g')!;

  test('every stat of every group moves the goal (goalsByStat)', () => {
    expect(catalog.goalsByStat.get('wins')).toEqual([goal]);
    expect(catalog.goalsByStat.get('kills')).toEqual([goal]);
  });

  test('completed through the second group; progress of the closest group', () => {
    const view = (s: Record<string, StatFact>) => new ViewBuilder(catalog, factsWith(s), NOW).view(goal);
    // closest: the second group (1 of 2 met); its first unmet predicate, kills > 50, shows 0 / 51
    expect(view({ wins: stat(4, NOW - DAY) })).toMatchObject({
      status: 'not_started',
      progress: 0,
      target: 51,
    });
    expect(view({ wins: stat(4, NOW - DAY), kills: stat(51, NOW - DAY) })).toMatchObject({
      status: 'completed',
      progress: 51,
      target: 51,
    });
    expect(view({ wins: stat(10, NOW - DAY) })).toMatchObject({
      status: 'completed',
      progress: 10,
      target: 10,
    });
    expect(view({ wins: stat(2, NOW - DAY) })).toMatchObject({
      status: 'in_progress',
      progress: 2,
      target: 10,
    });
  });
});

describe('periodEnd goals', () => {
  const catalog = catalogWith({
    requirement: { statCode: 'deaths_today', operator: '<', targetValue: 3 },
    rotation: { enabled: true, type: 'global', schedule: 'daily', onExpiry: { resetProgress: true } },
  });
  const goal: Goal = catalog.goalById.get('g')!;
  const today = periodAt('daily', NOW);
  const yesterday = periodAt('daily', today.start - 1);

  test('a `<` goal is implied periodEnd and its stat gets a period baseline', () => {
    expect(goal.evaluateAt).toBe('periodEnd');
    expect(catalog.baselineSchedulesByStat.get('deaths_today')).toEqual(['daily']);
    expect(claimPeriodKey(goal, NOW)).toBe(yesterday.key);
    // reads ship the claims of the period its claim belongs to
    expect(factPeriodKeys(catalog, NOW)).toEqual([
      today.key,
      periodAt('weekly', NOW).key,
      periodAt('monthly', NOW).key,
      yesterday.key,
    ]);
  });

  test('satisfied now but its period runs: in_progress, no completedAt', () => {
    // a brand-new player (created today) has nothing judged yet
    const v = new ViewBuilder(catalog, factsWith({}, today.start + 1000), NOW).view(goal);
    expect(v).toMatchObject({ status: 'in_progress', completedAt: null });
  });

  test('judged on the value at the end of the period before: completed at that end, or not', () => {
    // 1 death before today started, unchanged since: yesterday ended with 1 < 3
    const unchanged = new ViewBuilder(
      catalog,
      factsWith({ deaths_today: stat(1, yesterday.start + 5) }),
      NOW,
    ).view(goal);
    expect(unchanged).toMatchObject({ status: 'completed', completedAt: today.start });
    // 5 deaths at yesterday's end (today's baseline), reset to 0 today: not completed
    const failed = new ViewBuilder(
      catalog,
      factsWith(
        { deaths_today: { ...stat(0, yesterday.start + 5), updatedAt: today.start + 10 } },
        NOW - 10 * DAY,
        {
          [factKey('deaths_today', today.key)]: 5,
        },
      ),
      NOW,
    ).view(goal);
    expect(failed).toMatchObject({ status: 'in_progress', completedAt: null });
    // first seen today: it was 0 at yesterday's end, 0 < 3
    const firstToday = new ViewBuilder(
      catalog,
      factsWith({ deaths_today: stat(7, today.start + 5) }),
      NOW,
    ).view(goal);
    expect(firstToday).toMatchObject({ status: 'completed', completedAt: today.start });
  });

  test('property: completed iff the player existed before the period ended and the end value is < 3', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 8 }),
        fc.integer({ min: 0, max: 8 }),
        fc.boolean(),
        fc.boolean(),
        (endValue, now, changedToday, existed) => {
          const facts = factsWith(
            {
              deaths_today: {
                value: changedToday ? now : endValue,
                firstValue: 0,
                firstSeenAt: yesterday.start,
                updatedAt: NOW - 1,
              },
            },
            existed ? yesterday.start : today.start,
            changedToday ? { [factKey('deaths_today', today.key)]: endValue } : {},
          );
          const v = new ViewBuilder(catalog, facts, NOW).view(goal);
          const judged = existed && endValue < 3;
          expect(v.status).toBe(judged ? 'completed' : 'in_progress');
          expect(v.completedAt).toBe(judged ? today.start : null);
        },
      ),
    );
  });
});
