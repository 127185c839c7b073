import { parseCatalog } from '../../app/catalog/load';
import type { Catalog, Goal } from '../../app/domain/catalog';
import {
  factKey,
  type ClaimFact,
  type GoalStateFact,
  type PlayerFacts,
  type StatFact,
} from '../../app/domain/facts';
import { periodAt } from '../../app/domain/periods';
import {
  claimPeriodKey,
  clampProgress,
  isGoalActive,
  rawProgress,
  relativeBaseline,
  selectionPeriodKey,
  ViewBuilder,
  type GoalView,
} from '../../app/domain/progress';

// ---- catalog helpers -------------------------------------------------------------------------

type Json = Record<string, unknown>;

interface GoalSpec {
  stat?: string;
  target?: number;
  mode?: 'absolute' | 'relative';
  defaultAssigned?: boolean;
  prerequisites?: string[];
  rotation?: { schedule: 'daily' | 'weekly' | 'monthly'; resetProgress: boolean; allowReselection?: boolean };
}

function goalJson(goalId: string, spec: GoalSpec = {}): Json {
  return {
    goalId,
    name: `Goal ${goalId}`,
    eventSource: 'statistic',
    requirement: {
      statCode: spec.stat ?? 'kills',
      operator: '>=',
      targetValue: spec.target ?? 10,
      progressMode: spec.mode ?? 'absolute',
    },
    reward: { type: 'WALLET', rewardId: 'GOLD', quantity: 1 },
    prerequisites: spec.prerequisites ?? [],
    defaultAssigned: spec.defaultAssigned ?? false,
    ...(spec.rotation
      ? {
          rotation: {
            enabled: true,
            type: 'global',
            schedule: spec.rotation.schedule,
            onExpiry: {
              resetProgress: spec.rotation.resetProgress,
              allowReselection: spec.rotation.allowReselection ?? true,
            },
          },
        }
      : {}),
  };
}

/** One challenge `c` holding the given goals, built through the real catalog parser. */
function catalogOf(goals: Record<string, GoalSpec>): Catalog {
  return parseCatalog({
    challenges: [
      {
        challengeId: 'c',
        name: 'Challenge',
        goals: Object.entries(goals).map(([id, spec]) => goalJson(id, spec)),
      },
    ],
  });
}

function goalOf(catalog: Catalog, goalId: string): Goal {
  const goal = catalog.goalById.get(goalId);
  if (!goal) throw new Error(`no goal ${goalId}`);
  return goal;
}

/** A catalog with a single goal `g`, and that goal. */
function single(spec: GoalSpec): { catalog: Catalog; goal: Goal } {
  const catalog = catalogOf({ g: spec });
  return { catalog, goal: goalOf(catalog, 'g') };
}

// ---- fact helpers ----------------------------------------------------------------------------

const at = (iso: string): number => Date.parse(iso);
const NOW = at('2026-11-25T12:00:00Z'); // a Wednesday
const TODAY = periodAt('daily', NOW);
const YESTERDAY = periodAt('daily', TODAY.start - 1);
const CREATED = at('2026-11-01T08:00:00Z');

function stat(value: number, firstValue: number, firstSeenAt: number, updatedAt = firstSeenAt): StatFact {
  return { value, firstValue, firstSeenAt, updatedAt };
}

function state(
  goalId: string,
  periodKey: string,
  isActive: boolean | null,
  assignedAt: number | null = null,
  baseline: number | null = null,
): GoalStateFact {
  return { goalId, periodKey, isActive, assignedAt, baseline };
}

function claim(goalId: string, periodKey: string, claimedAt: number): ClaimFact {
  return { claimId: `claim-${goalId}-${periodKey}`, goalId, periodKey, claimedAt, rewardStatus: 'granted' };
}

interface FactsInit {
  createdAt?: number;
  stats?: Record<string, StatFact>;
  /** [statCode, periodKey, value at the start of the period] */
  baselines?: [string, string, number][];
  states?: GoalStateFact[];
  claims?: ClaimFact[];
}

function facts(init: FactsInit = {}): PlayerFacts {
  return {
    userId: 'player-1',
    createdAt: init.createdAt ?? CREATED,
    stats: new Map(Object.entries(init.stats ?? {})),
    baselines: new Map((init.baselines ?? []).map(([s, p, v]) => [factKey(s, p), v])),
    goalStates: new Map((init.states ?? []).map((s) => [factKey(s.goalId, s.periodKey), s])),
    claims: new Map((init.claims ?? []).map((c) => [factKey(c.goalId, c.periodKey), c])),
  };
}

function view(catalog: Catalog, f: PlayerFacts, goalId: string, now = NOW): GoalView {
  return new ViewBuilder(catalog, f, now).view(goalOf(catalog, goalId));
}

// ---- progress --------------------------------------------------------------------------------

describe('absolute progress', () => {
  test('absolute goal progress is the current stat value, whatever the first value was', () => {
    const { catalog, goal } = single({ mode: 'absolute', target: 100, defaultAssigned: true });
    const f = facts({ stats: { kills: stat(42, 30, at('2026-11-02T00:00:00Z')) } });
    expect(rawProgress(f, goal, NOW)).toBe(42);
    expect(view(catalog, f, 'g').progress).toBe(42);
  });

  test('a goal whose stat has never been seen has progress 0 and is not started', () => {
    const { catalog, goal } = single({ mode: 'absolute', target: 5, defaultAssigned: true });
    const f = facts({ stats: { deaths: stat(9, 9, CREATED) } });
    expect(rawProgress(f, goal, NOW)).toBe(0);
    expect(view(catalog, f, 'g')).toMatchObject({ progress: 0, status: 'not_started' });
  });

  test('absolute progress ignores an activation baseline recorded for the goal', () => {
    const { goal } = single({ mode: 'absolute', target: 100 });
    const f = facts({
      stats: { kills: stat(40, 0, CREATED) },
      states: [state('g', '', true, at('2026-11-10T00:00:00Z'), 25)],
    });
    expect(rawProgress(f, goal, NOW)).toBe(40);
  });
});

describe('relative progress', () => {
  test('relative non-rotating default goal counts from the first observed value of the stat', () => {
    const { catalog, goal } = single({ mode: 'relative', target: 100, defaultAssigned: true });
    const f = facts({ stats: { kills: stat(17, 5, at('2026-11-02T00:00:00Z')) } });
    expect(relativeBaseline(f, goal, NOW)).toBe(5);
    expect(view(catalog, f, 'g').progress).toBe(12);
  });

  test('relative goal without any stat has no baseline and progress 0', () => {
    const { goal } = single({ mode: 'relative', defaultAssigned: true });
    expect(relativeBaseline(facts(), goal, NOW)).toBeNull();
    expect(rawProgress(facts(), goal, NOW)).toBe(0);
  });

  test('relative goal selected by the player counts from its activation value', () => {
    const { catalog, goal } = single({ mode: 'relative', target: 100 });
    const f = facts({
      stats: { kills: stat(30, 5, at('2026-11-02T00:00:00Z')) },
      states: [state('g', '', true, at('2026-11-10T00:00:00Z'), 22)],
    });
    expect(relativeBaseline(f, goal, NOW)).toBe(22);
    expect(view(catalog, f, 'g').progress).toBe(8);
  });

  test('relative goal selected while its stat was unseen counts from the first observed value', () => {
    const { catalog } = single({ mode: 'relative', target: 100 });
    const f = facts({
      stats: { kills: stat(30, 12, at('2026-11-12T00:00:00Z')) },
      states: [state('g', '', true, at('2026-11-10T00:00:00Z'), null)],
    });
    expect(view(catalog, f, 'g').progress).toBe(18);
  });

  test('a deselected relative goal no longer uses its activation baseline', () => {
    const { goal } = single({ mode: 'relative', target: 100 });
    const f = facts({
      stats: { kills: stat(30, 5, CREATED) },
      states: [state('g', '', false, at('2026-11-10T00:00:00Z'), 22)],
    });
    expect(relativeBaseline(f, goal, NOW)).toBe(5);
  });

  test('rotating resetProgress goal counts from the baseline recorded for the current period', () => {
    const { catalog, goal } = single({
      mode: 'relative',
      target: 100,
      defaultAssigned: true,
      rotation: { schedule: 'daily', resetProgress: true },
    });
    const f = facts({
      stats: { kills: stat(50, 0, at('2026-11-02T00:00:00Z'), at('2026-11-25T09:00:00Z')) },
      baselines: [
        ['kills', YESTERDAY.key, 20],
        ['kills', TODAY.key, 41],
      ],
    });
    expect(relativeBaseline(f, goal, NOW)).toBe(41);
    expect(view(catalog, f, 'g').progress).toBe(9);
  });

  test('rotating resetProgress goal uses the baseline of its own schedule, not another period key', () => {
    const { goal } = single({
      mode: 'relative',
      target: 100,
      defaultAssigned: true,
      rotation: { schedule: 'weekly', resetProgress: true },
    });
    const week = periodAt('weekly', NOW);
    const f = facts({
      stats: { kills: stat(50, 0, at('2026-11-02T00:00:00Z'), at('2026-11-25T09:00:00Z')) },
      baselines: [
        ['kills', TODAY.key, 41],
        ['kills', week.key, 33],
      ],
    });
    expect(relativeBaseline(f, goal, NOW)).toBe(33);
    expect(rawProgress(f, goal, NOW)).toBe(17);
  });

  test('rotating resetProgress goal with no baseline this period and a stat unchanged since before it has progress 0', () => {
    const { catalog, goal } = single({
      mode: 'relative',
      target: 10,
      defaultAssigned: true,
      rotation: { schedule: 'daily', resetProgress: true },
    });
    const f = facts({
      stats: { kills: stat(50, 3, at('2026-11-02T00:00:00Z'), at('2026-11-24T20:00:00Z')) },
      baselines: [['kills', YESTERDAY.key, 30]],
    });
    expect(relativeBaseline(f, goal, NOW)).toBe(50);
    expect(view(catalog, f, 'g')).toMatchObject({ progress: 0, status: 'not_started' });
  });

  test('rotating resetProgress goal whose stat was first seen inside the period counts from its first value', () => {
    const { catalog, goal } = single({
      mode: 'relative',
      target: 100,
      defaultAssigned: true,
      rotation: { schedule: 'daily', resetProgress: true },
    });
    const f = facts({ stats: { kills: stat(14, 4, at('2026-11-25T03:00:00Z')) } });
    expect(relativeBaseline(f, goal, NOW)).toBe(4);
    expect(view(catalog, f, 'g').progress).toBe(10);
  });

  test('rotating resetProgress goal whose stat was first seen at the first ms of the period counts from its first value', () => {
    const { goal } = single({
      mode: 'relative',
      target: 100,
      defaultAssigned: true,
      rotation: { schedule: 'daily', resetProgress: true },
    });
    const f = facts({ stats: { kills: stat(14, 4, TODAY.start) } });
    expect(rawProgress(f, goal, NOW)).toBe(10);
  });

  test('rotating resetProgress goal selected mid-period counts from its activation value, not the period start', () => {
    const { catalog, goal } = single({
      mode: 'relative',
      target: 100,
      rotation: { schedule: 'daily', resetProgress: true },
    });
    const f = facts({
      stats: { kills: stat(50, 0, CREATED, at('2026-11-25T11:00:00Z')) },
      baselines: [['kills', TODAY.key, 20]],
      states: [state('g', TODAY.key, true, at('2026-11-25T10:00:00Z'), 35)],
    });
    expect(relativeBaseline(f, goal, NOW)).toBe(35);
    expect(view(catalog, f, 'g').progress).toBe(15);
  });

  test('an activation baseline from a past period is ignored by a rotating resetProgress goal', () => {
    const { goal } = single({
      mode: 'relative',
      target: 100,
      defaultAssigned: true,
      rotation: { schedule: 'daily', resetProgress: true },
    });
    const f = facts({
      stats: { kills: stat(50, 0, CREATED, at('2026-11-25T11:00:00Z')) },
      baselines: [['kills', TODAY.key, 44]],
      states: [state('g', YESTERDAY.key, true, at('2026-11-24T10:00:00Z'), 10)],
    });
    expect(relativeBaseline(f, goal, NOW)).toBe(44);
    expect(rawProgress(f, goal, NOW)).toBe(6);
  });

  test('relative rotating goal without resetProgress keeps counting from the first value across periods', () => {
    const { goal } = single({
      mode: 'relative',
      target: 100,
      defaultAssigned: true,
      rotation: { schedule: 'daily', resetProgress: false },
    });
    const f = facts({
      stats: { kills: stat(50, 5, CREATED, at('2026-11-24T11:00:00Z')) },
      baselines: [['kills', TODAY.key, 44]],
    });
    expect(relativeBaseline(f, goal, NOW)).toBe(5);
    expect(rawProgress(f, goal, NOW)).toBe(45);
  });
});

describe('progress clamping', () => {
  test('clampProgress keeps values inside [0, target]', () => {
    expect(clampProgress(-3, 10)).toBe(0);
    expect(clampProgress(0, 10)).toBe(0);
    expect(clampProgress(7, 10)).toBe(7);
    expect(clampProgress(10, 10)).toBe(10);
    expect(clampProgress(11, 10)).toBe(10);
  });

  test('progress shown never exceeds the target', () => {
    const { catalog } = single({ mode: 'absolute', target: 10, defaultAssigned: true });
    const f = facts({ stats: { kills: stat(250, 0, CREATED) } });
    expect(view(catalog, f, 'g')).toMatchObject({ progress: 10, status: 'completed' });
  });

  test('a stat set below the baseline gives progress 0, not a negative number', () => {
    const { catalog, goal } = single({ mode: 'relative', target: 10 });
    const f = facts({
      stats: { kills: stat(3, 0, CREATED, at('2026-11-20T00:00:00Z')) },
      states: [state('g', '', true, at('2026-11-10T00:00:00Z'), 8)],
    });
    expect(rawProgress(f, goal, NOW)).toBe(-5);
    expect(view(catalog, f, 'g')).toMatchObject({ progress: 0, status: 'not_started' });
  });
});

// ---- status ----------------------------------------------------------------------------------

describe('status', () => {
  const { catalog } = single({ mode: 'absolute', target: 10, defaultAssigned: true });

  test('progress 0 is not_started', () => {
    expect(view(catalog, facts({ stats: { kills: stat(0, 0, CREATED) } }), 'g').status).toBe('not_started');
  });

  test('progress between 0 and the target is in_progress', () => {
    expect(view(catalog, facts({ stats: { kills: stat(1, 0, CREATED) } }), 'g').status).toBe('in_progress');
    expect(view(catalog, facts({ stats: { kills: stat(9, 0, CREATED) } }), 'g').status).toBe('in_progress');
  });

  test('progress equal to the target is completed (operator >=)', () => {
    const v = view(catalog, facts({ stats: { kills: stat(10, 0, CREATED) } }), 'g');
    // no completion record: completedAt falls back to the stat's last change
    expect(v).toMatchObject({
      status: 'completed',
      claimedAt: null,
      completedAt: CREATED,
      rewardStatus: null,
    });
    const recorded = at('2026-11-20T09:00:00Z');
    const withRecord = {
      ...facts({ stats: { kills: stat(10, 0, CREATED) } }),
      completions: new Map([['g|', recorded]]),
    };
    expect(view(catalog, withRecord, 'g').completedAt).toBe(recorded);
    expect(view(catalog, facts({ stats: { kills: stat(9, 0, CREATED) } }), 'g').completedAt).toBeNull();
  });

  test('a claimed goal is claimed and shows the claim time and reward status', () => {
    const claimedAt = at('2026-11-20T10:00:00Z');
    const f = facts({
      stats: { kills: stat(10, 0, CREATED) },
      claims: [{ ...claim('g', '', claimedAt), rewardStatus: 'pending' }],
    });
    expect(view(catalog, f, 'g')).toMatchObject({
      status: 'claimed',
      claimedAt,
      completedAt: claimedAt,
      rewardStatus: 'pending',
    });
  });

  test('a claim shows as claimed even when the stat later dropped below the target', () => {
    const f = facts({
      stats: { kills: stat(2, 0, CREATED) },
      claims: [claim('g', '', at('2026-11-20T10:00:00Z'))],
    });
    expect(view(catalog, f, 'g').status).toBe('claimed');
  });

  test('a claim of another goal does not make this goal claimed', () => {
    const f = facts({
      stats: { kills: stat(10, 0, CREATED) },
      claims: [claim('other', '', at('2026-11-20T10:00:00Z'))],
    });
    expect(view(catalog, f, 'g').status).toBe('completed');
  });
});

describe('claims and rotation', () => {
  test('a resetProgress goal claimed yesterday is not claimed today', () => {
    const { catalog, goal } = single({
      mode: 'absolute',
      target: 10,
      defaultAssigned: true,
      rotation: { schedule: 'daily', resetProgress: true },
    });
    expect(claimPeriodKey(goal, NOW)).toBe(TODAY.key);
    const f = facts({
      stats: { kills: stat(12, 0, CREATED) },
      claims: [claim('g', YESTERDAY.key, at('2026-11-24T10:00:00Z'))],
    });
    expect(view(catalog, f, 'g')).toMatchObject({ status: 'completed', claimedAt: null });
    expect(view(catalog, f, 'g', at('2026-11-24T23:59:59.999Z')).status).toBe('claimed');
  });

  test('a resetProgress goal claimed in the current period is claimed', () => {
    const { catalog } = single({
      mode: 'absolute',
      target: 10,
      defaultAssigned: true,
      rotation: { schedule: 'weekly', resetProgress: true },
    });
    const week = periodAt('weekly', NOW);
    const f = facts({
      stats: { kills: stat(12, 0, CREATED) },
      claims: [claim('g', week.key, at('2026-11-23T10:00:00Z'))],
    });
    expect(view(catalog, f, 'g').status).toBe('claimed');
    expect(view(catalog, f, 'g', week.end).status).toBe('completed');
  });

  test('resetProgress=false carries the claim across periods', () => {
    const { catalog, goal } = single({
      mode: 'absolute',
      target: 10,
      defaultAssigned: true,
      rotation: { schedule: 'daily', resetProgress: false },
    });
    expect(claimPeriodKey(goal, NOW)).toBe('');
    const f = facts({
      stats: { kills: stat(12, 0, CREATED) },
      claims: [claim('g', '', at('2026-11-10T10:00:00Z'))],
    });
    expect(view(catalog, f, 'g').status).toBe('claimed');
    expect(view(catalog, f, 'g', at('2026-12-25T10:00:00Z')).status).toBe('claimed');
  });

  test('resetProgress=false carries progress across periods when no change was seen in the new period', () => {
    const { catalog } = single({
      mode: 'relative',
      target: 100,
      defaultAssigned: true,
      rotation: { schedule: 'daily', resetProgress: false },
    });
    const f = facts({ stats: { kills: stat(30, 0, CREATED, at('2026-11-20T10:00:00Z')) } });
    expect(view(catalog, f, 'g').progress).toBe(30);
    expect(view(catalog, f, 'g', at('2026-11-28T10:00:00Z')).progress).toBe(30);
  });

  test('non-rotating goals are claimed once, under the empty period key', () => {
    const { goal } = single({ mode: 'absolute' });
    expect(claimPeriodKey(goal, NOW)).toBe('');
    expect(selectionPeriodKey(goal, NOW)).toBe('');
  });

  test('a rotating goal is selected for its current period, with or without resetProgress', () => {
    const reset = single({ rotation: { schedule: 'monthly', resetProgress: true } }).goal;
    const keep = single({ rotation: { schedule: 'monthly', resetProgress: false } }).goal;
    expect(selectionPeriodKey(reset, NOW)).toBe('m2026-11');
    expect(selectionPeriodKey(keep, NOW)).toBe('m2026-11');
  });
});

// ---- active ----------------------------------------------------------------------------------

describe('active', () => {
  test('a defaultAssigned goal without any choice by the player is active', () => {
    const { catalog, goal } = single({ defaultAssigned: true });
    expect(isGoalActive(facts(), goal, NOW)).toBe(true);
    expect(view(catalog, facts(), 'g').isActive).toBe(true);
  });

  test('a defaultAssigned goal deselected by the player is inactive and has no assignedAt', () => {
    const { catalog } = single({ defaultAssigned: true });
    const f = facts({ states: [state('g', '', false)] });
    expect(view(catalog, f, 'g')).toMatchObject({ isActive: false, assignedAt: null });
  });

  test('a state with no explicit choice (isActive null) leaves a default goal active', () => {
    const { goal } = single({ defaultAssigned: true });
    expect(isGoalActive(facts({ states: [state('g', '', null)] }), goal, NOW)).toBe(true);
  });

  test('a non-default goal is inactive until the player selects it', () => {
    const { catalog } = single({ defaultAssigned: false });
    expect(view(catalog, facts(), 'g')).toMatchObject({ isActive: false, assignedAt: null });
    const selectedAt = at('2026-11-20T10:00:00Z');
    const f = facts({ states: [state('g', '', true, selectedAt)] });
    expect(view(catalog, f, 'g')).toMatchObject({ isActive: true, assignedAt: selectedAt });
  });

  test('an inactive goal still shows its progress', () => {
    const { catalog } = single({ defaultAssigned: false, target: 10 });
    const f = facts({ stats: { kills: stat(4, 0, CREATED) } });
    expect(view(catalog, f, 'g')).toMatchObject({ isActive: false, progress: 4, status: 'in_progress' });
  });

  test('the selection of a rotating non-default goal ends with its period', () => {
    const { catalog, goal } = single({
      defaultAssigned: false,
      rotation: { schedule: 'daily', resetProgress: true },
    });
    const f = facts({ states: [state('g', YESTERDAY.key, true, at('2026-11-24T10:00:00Z'))] });
    expect(isGoalActive(f, goal, at('2026-11-24T23:59:59.999Z'))).toBe(true);
    expect(isGoalActive(f, goal, TODAY.start)).toBe(false);
    expect(view(catalog, f, 'g').isActive).toBe(false);
  });

  test('the selection of a rotating goal without resetProgress also ends with its period', () => {
    const { goal } = single({
      defaultAssigned: false,
      rotation: { schedule: 'weekly', resetProgress: false },
    });
    const f = facts({ states: [state('g', 'w2026-11-16', true, at('2026-11-20T10:00:00Z'))] });
    expect(isGoalActive(f, goal, at('2026-11-22T23:59:59.999Z'))).toBe(true);
    expect(isGoalActive(f, goal, NOW)).toBe(false);
  });

  test('assignedAt of a default non-rotating goal is the player creation time', () => {
    const { catalog } = single({ defaultAssigned: true });
    expect(view(catalog, facts(), 'g').assignedAt).toBe(CREATED);
  });

  test('assignedAt of a default rotating goal is the period start when the player is older', () => {
    const { catalog } = single({
      defaultAssigned: true,
      rotation: { schedule: 'daily', resetProgress: true },
    });
    expect(view(catalog, facts(), 'g').assignedAt).toBe(TODAY.start);
  });

  test('assignedAt of a default rotating goal is the player creation time when the player is newer', () => {
    const { catalog } = single({
      defaultAssigned: true,
      rotation: { schedule: 'monthly', resetProgress: true },
    });
    const created = at('2026-11-25T09:00:00Z');
    expect(view(catalog, facts({ createdAt: created }), 'g').assignedAt).toBe(created);
  });

  test('assignedAt of a reselected default goal is the time of the selection', () => {
    const { catalog } = single({ defaultAssigned: true });
    const selectedAt = at('2026-11-21T10:00:00Z');
    expect(view(catalog, facts({ states: [state('g', '', true, selectedAt)] }), 'g').assignedAt).toBe(
      selectedAt,
    );
  });

  test('expiresAt and period are the current period end for rotating goals and null otherwise', () => {
    const catalog = catalogOf({
      plain: { defaultAssigned: true },
      daily: { defaultAssigned: true, rotation: { schedule: 'daily', resetProgress: true } },
      weekly: { defaultAssigned: true, rotation: { schedule: 'weekly', resetProgress: false } },
      monthly: { defaultAssigned: false, rotation: { schedule: 'monthly', resetProgress: true } },
    });
    const f = facts();
    expect(view(catalog, f, 'plain')).toMatchObject({ expiresAt: null, period: null });
    expect(view(catalog, f, 'daily')).toMatchObject({ expiresAt: at('2026-11-26T00:00:00Z'), period: TODAY });
    expect(view(catalog, f, 'weekly').expiresAt).toBe(at('2026-11-30T00:00:00Z'));
    expect(view(catalog, f, 'monthly').expiresAt).toBe(at('2026-12-01T00:00:00Z'));
  });
});

// ---- locked ----------------------------------------------------------------------------------

describe('locked', () => {
  const catalog = catalogOf({
    a: { stat: 'a', target: 5, defaultAssigned: true },
    b: { stat: 'b', target: 5, defaultAssigned: true, prerequisites: ['a'] },
    c: { stat: 'c', target: 5, defaultAssigned: true, prerequisites: ['b'] },
    free: { stat: 'x', target: 5, defaultAssigned: true },
    both: { stat: 'x', target: 5, defaultAssigned: true, prerequisites: ['a', 'free'] },
  });
  const locked = (f: PlayerFacts, goalId: string, now = NOW): boolean =>
    new ViewBuilder(catalog, f, now).isLocked(goalOf(catalog, goalId));

  test('a goal without prerequisites is never locked', () => {
    expect(locked(facts(), 'a')).toBe(false);
    expect(view(catalog, facts(), 'a').locked).toBe(false);
  });

  test('a prerequisite not started locks the goal', () => {
    expect(locked(facts(), 'b')).toBe(true);
    expect(view(catalog, facts(), 'b').locked).toBe(true);
  });

  test('a prerequisite in progress locks the goal', () => {
    expect(locked(facts({ stats: { a: stat(4, 0, CREATED) } }), 'b')).toBe(true);
  });

  test('a completed prerequisite unlocks the goal', () => {
    expect(locked(facts({ stats: { a: stat(5, 0, CREATED) } }), 'b')).toBe(false);
  });

  test('a claimed prerequisite unlocks the goal even when its progress is below the target', () => {
    const f = facts({ stats: { a: stat(1, 0, CREATED) }, claims: [claim('a', '', CREATED)] });
    expect(locked(f, 'b')).toBe(false);
  });

  test('every prerequisite must be completed or claimed', () => {
    expect(locked(facts({ stats: { a: stat(5, 0, CREATED) } }), 'both')).toBe(true);
    expect(locked(facts({ stats: { x: stat(5, 0, CREATED) } }), 'both')).toBe(true);
    expect(locked(facts({ stats: { a: stat(5, 0, CREATED), x: stat(5, 0, CREATED) } }), 'both')).toBe(false);
  });

  test('in a chain a -> b -> c each goal unlocks as its own prerequisite is completed', () => {
    const none = facts();
    expect([locked(none, 'a'), locked(none, 'b'), locked(none, 'c')]).toEqual([false, true, true]);
    const aDone = facts({ stats: { a: stat(5, 0, CREATED) } });
    expect([locked(aDone, 'a'), locked(aDone, 'b'), locked(aDone, 'c')]).toEqual([false, false, true]);
    const abDone = facts({ stats: { a: stat(5, 0, CREATED), b: stat(5, 0, CREATED) } });
    expect([locked(abDone, 'a'), locked(abDone, 'b'), locked(abDone, 'c')]).toEqual([false, false, false]);
  });

  test('locked is shown in views of a whole challenge', () => {
    const views = new ViewBuilder(catalog, facts({ stats: { a: stat(5, 0, CREATED) } }), NOW).challengeViews(
      catalog.challengeById.get('c')!,
    );
    expect(views.map((v) => [v.goal.goalId, v.locked])).toEqual([
      ['a', false],
      ['b', false],
      ['c', true],
      ['free', false],
      ['both', true],
    ]);
  });

  test('a prerequisite id missing from the catalog does not lock', () => {
    // Validated catalogs cannot name unknown prerequisites; a goal from an older catalog version can.
    const b = goalOf(catalog, 'b');
    const orphan: Goal = { ...b, goalId: 'orphan', prerequisites: ['removed-goal'] };
    expect(new ViewBuilder(catalog, facts(), NOW).isLocked(orphan)).toBe(false);
    const mixed: Goal = { ...b, goalId: 'mixed', prerequisites: ['removed-goal', 'a'] };
    expect(new ViewBuilder(catalog, facts(), NOW).isLocked(mixed)).toBe(true);
  });

  test('a resetProgress prerequisite completed only in a past period locks again in the new period', () => {
    const rotating = catalogOf({
      daily: { stat: 'd', target: 5, mode: 'relative', rotation: { schedule: 'daily', resetProgress: true } },
      next: { stat: 'x', target: 5, prerequisites: ['daily'] },
    });
    const f = facts({
      stats: { d: stat(5, 0, at('2026-11-24T10:00:00Z')) },
      claims: [claim('daily', YESTERDAY.key, at('2026-11-24T11:00:00Z'))],
    });
    const next = goalOf(rotating, 'next');
    expect(new ViewBuilder(rotating, f, at('2026-11-24T12:00:00Z')).isLocked(next)).toBe(false);
    expect(new ViewBuilder(rotating, f, NOW).isLocked(next)).toBe(true);
  });
});

// ---- challenge and active views ----------------------------------------------------------------

describe('view lists', () => {
  test('challengeViews with activeOnly lists only active goals, activeViews spans challenges in order', () => {
    const catalog = parseCatalog({
      challenges: [
        {
          challengeId: 'c1',
          name: 'One',
          goals: [goalJson('d1', { defaultAssigned: true }), goalJson('s1')],
        },
        {
          challengeId: 'c2',
          name: 'Two',
          goals: [goalJson('s2'), goalJson('d2', { defaultAssigned: true })],
        },
      ],
    });
    const f = facts({ states: [state('s2', '', true, CREATED), state('d1', '', false)] });
    const vb = new ViewBuilder(catalog, f, NOW);
    expect(vb.challengeViews(catalog.challengeById.get('c1')!).map((v) => v.goal.goalId)).toEqual([
      'd1',
      's1',
    ]);
    expect(vb.challengeViews(catalog.challengeById.get('c1')!, true)).toEqual([]);
    expect(vb.activeViews().map((v) => v.goal.goalId)).toEqual(['s2', 'd2']);
  });
});
