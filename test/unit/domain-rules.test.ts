import { parseCatalog } from '../../app/catalog/load';
import type { Catalog, Challenge, Goal } from '../../app/domain/catalog';
import {
  factKey,
  type ClaimFact,
  type GoalStateFact,
  type PlayerFacts,
  type StatFact,
} from '../../app/domain/facts';
import { periodAt } from '../../app/domain/periods';
import { ViewBuilder, type GoalView } from '../../app/domain/progress';
import {
  checkClaimable,
  checkSelectable,
  findChallenge,
  findGoal,
  isDomainError,
  pickRandom,
  randomSelectCandidates,
  reselectionBlocked,
  type DomainError,
} from '../../app/domain/rules';

// ---- helpers -----------------------------------------------------------------------------------

type Json = Record<string, unknown>;

interface GoalSpec {
  stat?: string;
  target?: number;
  mode?: 'absolute' | 'relative';
  defaultAssigned?: boolean;
  prerequisites?: string[];
  rotation?: { schedule: 'daily' | 'weekly' | 'monthly'; resetProgress: boolean; allowReselection: boolean };
}

function goalJson(goalId: string, spec: GoalSpec): Json {
  const rotation = spec.rotation;
  return {
    goalId,
    name: goalId,
    eventSource: 'statistic',
    requirement: {
      statCode: spec.stat ?? goalId,
      operator: '>=',
      targetValue: spec.target ?? 5,
      progressMode: spec.mode ?? 'absolute',
    },
    reward: { type: 'ITEM', rewardId: 'SWORD', quantity: 1 },
    prerequisites: spec.prerequisites ?? [],
    defaultAssigned: spec.defaultAssigned ?? false,
    ...(rotation
      ? {
          rotation: {
            enabled: true,
            type: 'global',
            schedule: rotation.schedule,
            onExpiry: { resetProgress: rotation.resetProgress, allowReselection: rotation.allowReselection },
          },
        }
      : {}),
  };
}

function catalogOf(goals: Record<string, GoalSpec>): Catalog {
  return parseCatalog({
    challenges: [
      { challengeId: 'c', name: 'C', goals: Object.entries(goals).map(([id, spec]) => goalJson(id, spec)) },
    ],
  });
}

const goalOf = (catalog: Catalog, id: string): Goal => {
  const g = catalog.goalById.get(id);
  if (!g) throw new Error(`no goal ${id}`);
  return g;
};
const challengeOf = (catalog: Catalog): Challenge => catalog.challengeById.get('c')!;

const at = (iso: string): number => Date.parse(iso);
const NOW = at('2026-11-25T12:00:00Z');
const TODAY = periodAt('daily', NOW);
const YESTERDAY = periodAt('daily', TODAY.start - 1);
const CREATED = at('2026-11-01T00:00:00Z');

const stat = (value: number): StatFact => ({
  value,
  firstValue: 0,
  firstSeenAt: CREATED,
  updatedAt: CREATED,
});
const state = (goalId: string, periodKey: string, isActive: boolean | null): GoalStateFact => ({
  goalId,
  periodKey,
  isActive,
  assignedAt: isActive ? CREATED : null,
  baseline: null,
});
const claim = (goalId: string, periodKey: string): ClaimFact => ({
  claimId: `${goalId}/${periodKey}`,
  goalId,
  periodKey,
  claimedAt: at('2026-11-24T10:00:00Z'),
  rewardStatus: 'granted',
});

function facts(init: {
  stats?: Record<string, number>;
  states?: GoalStateFact[];
  claims?: ClaimFact[];
}): PlayerFacts {
  return {
    userId: 'p',
    createdAt: CREATED,
    stats: new Map(Object.entries(init.stats ?? {}).map(([k, v]) => [k, stat(v)])),
    baselines: new Map(),
    goalStates: new Map((init.states ?? []).map((s) => [factKey(s.goalId, s.periodKey), s])),
    claims: new Map((init.claims ?? []).map((c) => [factKey(c.goalId, c.periodKey), c])),
  };
}

function errorId(x: DomainError | null): string | null {
  return x === null ? null : x.error;
}

// ---- lookups -----------------------------------------------------------------------------------

describe('findChallenge and findGoal', () => {
  const catalog = catalogOf({ g1: {}, g2: {} });

  test('findChallenge returns the challenge for a known id', () => {
    const c = findChallenge(catalog, 'c');
    expect(isDomainError(c)).toBe(false);
    expect((c as Challenge).challengeId).toBe('c');
  });

  test('findChallenge returns CHALLENGE_NOT_FOUND with the id for an unknown challenge', () => {
    const c = findChallenge(catalog, 'nope');
    expect(isDomainError(c)).toBe(true);
    expect(c).toMatchObject({ error: 'CHALLENGE_NOT_FOUND', details: { challengeId: 'nope' } });
    expect((c as DomainError).message).toContain('nope');
  });

  test('findGoal returns the goal of the challenge', () => {
    const g = findGoal(challengeOf(catalog), 'g2');
    expect(isDomainError(g)).toBe(false);
    expect((g as Goal).goalId).toBe('g2');
  });

  test('findGoal returns GOAL_NOT_FOUND for a goal of another challenge', () => {
    const two = parseCatalog({
      challenges: [
        { challengeId: 'c1', name: 'C1', goals: [goalJson('a', {})] },
        { challengeId: 'c2', name: 'C2', goals: [goalJson('b', {})] },
      ],
    });
    const g = findGoal(two.challengeById.get('c1')!, 'b');
    expect(isDomainError(g)).toBe(true);
    expect(g).toMatchObject({ error: 'GOAL_NOT_FOUND', details: { challengeId: 'c1', goalId: 'b' } });
  });

  test('isDomainError accepts only error values', () => {
    expect(isDomainError(null)).toBe(false);
    expect(isDomainError('GOAL_LOCKED')).toBe(false);
    expect(isDomainError(goalOf(catalog, 'g1'))).toBe(false);
    expect(isDomainError({ error: 'GOAL_LOCKED', message: 'm', details: {} })).toBe(true);
  });
});

// ---- selection ---------------------------------------------------------------------------------

describe('checkSelectable', () => {
  const catalog = catalogOf({
    pre: { target: 5 },
    needsPre: { prerequisites: ['pre'] },
    once: { rotation: { schedule: 'daily', resetProgress: true, allowReselection: false } },
    again: { rotation: { schedule: 'daily', resetProgress: true, allowReselection: true } },
    onceLocked: {
      prerequisites: ['pre'],
      rotation: { schedule: 'daily', resetProgress: true, allowReselection: false },
    },
  });
  const check = (f: PlayerFacts, id: string): DomainError | null =>
    checkSelectable(new ViewBuilder(catalog, f, NOW), f, goalOf(catalog, id));

  test('a goal without prerequisites or history is selectable', () => {
    expect(check(facts({}), 'pre')).toBeNull();
    expect(check(facts({}), 'once')).toBeNull();
  });

  test('a locked goal cannot be selected: GOAL_LOCKED with its prerequisites', () => {
    const e = check(facts({ stats: { pre: 4 } }), 'needsPre');
    expect(e).toMatchObject({
      error: 'GOAL_LOCKED',
      details: { goalId: 'needsPre', prerequisites: ['pre'] },
    });
  });

  test('a goal whose prerequisite is completed is selectable', () => {
    expect(check(facts({ stats: { pre: 5 } }), 'needsPre')).toBeNull();
  });

  test('allowReselection=false blocks selecting again after a past period selection: GOAL_RESELECTION_NOT_ALLOWED', () => {
    const f = facts({ states: [state('once', YESTERDAY.key, true)] });
    expect(check(f, 'once')).toMatchObject({
      error: 'GOAL_RESELECTION_NOT_ALLOWED',
      details: { goalId: 'once' },
    });
    expect(reselectionBlocked(f, goalOf(catalog, 'once'), NOW)).toBe(true);
  });

  test('allowReselection=true allows selecting again after a past period selection', () => {
    const f = facts({ states: [state('again', YESTERDAY.key, true)] });
    expect(check(f, 'again')).toBeNull();
    expect(reselectionBlocked(f, goalOf(catalog, 'again'), NOW)).toBe(false);
  });

  test('allowReselection=false does not block during the period of the selection (selecting is idempotent)', () => {
    const f = facts({ states: [state('once', TODAY.key, true)] });
    expect(check(f, 'once')).toBeNull();
  });

  test('selecting a goal already active now is allowed even after a past period selection with allowReselection=false', () => {
    const f = facts({ states: [state('once', YESTERDAY.key, true), state('once', TODAY.key, true)] });
    expect(reselectionBlocked(f, goalOf(catalog, 'once'), NOW)).toBe(true);
    expect(check(f, 'once')).toBeNull();
  });

  test('a selection in the current period alone does not count as a reselection', () => {
    const f = facts({ states: [state('once', TODAY.key, true)] });
    expect(reselectionBlocked(f, goalOf(catalog, 'once'), NOW)).toBe(false);
  });

  test('a selection made while the goal did not rotate (empty period key) does not block selecting it', () => {
    const f = facts({ states: [state('once', '', true)] });
    expect(reselectionBlocked(f, goalOf(catalog, 'once'), NOW)).toBe(false);
    expect(check(f, 'once')).toBeNull();
  });

  test('allowReselection=false does not block when the past state was not an active selection', () => {
    const f = facts({ states: [state('once', YESTERDAY.key, false)] });
    expect(check(f, 'once')).toBeNull();
  });

  test('a past selection of another goal does not block this one', () => {
    const f = facts({ states: [state('again', YESTERDAY.key, true)] });
    expect(check(f, 'once')).toBeNull();
  });

  test('locked is reported before reselection', () => {
    const f = facts({ states: [state('onceLocked', YESTERDAY.key, true)] });
    expect(errorId(check(f, 'onceLocked'))).toBe('GOAL_LOCKED');
    expect(errorId(check({ ...f, stats: new Map([['pre', stat(5)]]) }, 'onceLocked'))).toBe(
      'GOAL_RESELECTION_NOT_ALLOWED',
    );
  });
});

// ---- claim -------------------------------------------------------------------------------------

describe('checkClaimable', () => {
  const catalog = catalogOf({
    pre: { target: 5, defaultAssigned: true },
    g: { target: 10, defaultAssigned: true, prerequisites: ['pre'] },
    daily: {
      target: 3,
      defaultAssigned: true,
      rotation: { schedule: 'daily', resetProgress: true, allowReselection: true },
    },
  });
  const viewOf = (f: PlayerFacts, id: string, now = NOW): GoalView =>
    new ViewBuilder(catalog, f, now).view(goalOf(catalog, id));

  test('an active, unlocked, completed and unclaimed goal is claimable', () => {
    expect(checkClaimable(viewOf(facts({ stats: { pre: 5, g: 10 } }), 'g'))).toBeNull();
  });

  test('an already claimed goal gives GOAL_ALREADY_CLAIMED with the claim time, before any other check', () => {
    // Claimed, but also locked, deselected and below target.
    const f = facts({ stats: { g: 1 }, states: [state('g', '', false)], claims: [claim('g', '')] });
    const e = checkClaimable(viewOf(f, 'g'));
    expect(e).toMatchObject({
      error: 'GOAL_ALREADY_CLAIMED',
      details: { goalId: 'g', claimedAt: '2026-11-24T10:00:00.000Z' },
    });
  });

  test('a locked goal gives GOAL_LOCKED before GOAL_NOT_ACTIVE and GOAL_NOT_COMPLETED', () => {
    const f = facts({ stats: { pre: 4, g: 1 }, states: [state('g', '', false)] });
    expect(checkClaimable(viewOf(f, 'g'))).toMatchObject({
      error: 'GOAL_LOCKED',
      details: { goalId: 'g', prerequisites: ['pre'] },
    });
  });

  test('an inactive goal gives GOAL_NOT_ACTIVE before GOAL_NOT_COMPLETED', () => {
    const notDone = facts({ stats: { pre: 5, g: 1 }, states: [state('g', '', false)] });
    expect(checkClaimable(viewOf(notDone, 'g'))).toMatchObject({
      error: 'GOAL_NOT_ACTIVE',
      details: { goalId: 'g' },
    });
    const done = facts({ stats: { pre: 5, g: 10 }, states: [state('g', '', false)] });
    expect(errorId(checkClaimable(viewOf(done, 'g')))).toBe('GOAL_NOT_ACTIVE');
  });

  test('an active goal below target gives GOAL_NOT_COMPLETED with progress and target, no period end', () => {
    const e = checkClaimable(viewOf(facts({ stats: { pre: 5, g: 7 } }), 'g'));
    expect(e).toMatchObject({
      error: 'GOAL_NOT_COMPLETED',
      details: { goalId: 'g', progress: 7, target: 10 },
    });
    expect(e!.details).not.toHaveProperty('periodEnd');
  });

  test('a rotating goal below target reports the end of the current period', () => {
    const e = checkClaimable(viewOf(facts({ stats: { daily: 1 } }), 'daily'));
    expect(e).toMatchObject({
      error: 'GOAL_NOT_COMPLETED',
      details: { progress: 1, target: 3, periodEnd: '2026-11-26T00:00:00.000Z' },
    });
  });

  test('a resetProgress goal claimed yesterday can be claimed again today', () => {
    const f = facts({ stats: { daily: 3 }, claims: [claim('daily', YESTERDAY.key)] });
    expect(errorId(checkClaimable(viewOf(f, 'daily', at('2026-11-24T20:00:00Z'))))).toBe(
      'GOAL_ALREADY_CLAIMED',
    );
    expect(checkClaimable(viewOf(f, 'daily'))).toBeNull();
  });
});

// ---- random select -----------------------------------------------------------------------------

describe('randomSelectCandidates', () => {
  const catalog = catalogOf({
    free: {},
    locked: { prerequisites: ['free'] },
    claimedToday: { rotation: { schedule: 'daily', resetProgress: true, allowReselection: true } },
    claimedYesterday: { rotation: { schedule: 'daily', resetProgress: true, allowReselection: true } },
    claimedForever: {},
    active: { defaultAssigned: true },
    blocked: { rotation: { schedule: 'daily', resetProgress: true, allowReselection: false } },
    reselectable: { rotation: { schedule: 'daily', resetProgress: true, allowReselection: true } },
  });
  const f = facts({
    states: [state('blocked', YESTERDAY.key, true), state('reselectable', YESTERDAY.key, true)],
    claims: [
      claim('claimedToday', TODAY.key),
      claim('claimedYesterday', YESTERDAY.key),
      claim('claimedForever', ''),
    ],
  });
  const candidates = (facts_: PlayerFacts, excludeActive: boolean): string[] =>
    randomSelectCandidates(
      new ViewBuilder(catalog, facts_, NOW),
      facts_,
      challengeOf(catalog),
      excludeActive,
    ).map((g) => g.goalId);

  test('excludes locked, claimed-this-period and reselection-blocked goals, keeps active ones by default', () => {
    expect(candidates(f, false)).toEqual(['free', 'claimedYesterday', 'active', 'reselectable']);
  });

  test('excludes active goals when excludeActive is set', () => {
    expect(candidates(f, true)).toEqual(['free', 'claimedYesterday', 'reselectable']);
  });

  test('a locked goal becomes a candidate once its prerequisite is completed', () => {
    const done = { ...f, stats: new Map([['free', stat(5)]]) };
    expect(candidates(done, true)).toContain('locked');
  });

  test('a reselection-blocked goal that is active in the current period stays a candidate unless excludeActive', () => {
    const activeNow = facts({
      states: [state('blocked', YESTERDAY.key, true), state('blocked', TODAY.key, true)],
    });
    expect(candidates(activeNow, false)).toContain('blocked');
    expect(candidates(activeNow, true)).not.toContain('blocked');
  });
});

describe('pickRandom', () => {
  const items = ['a', 'b', 'c', 'd', 'e'];

  /** A deterministic source that replays the given values in a loop. */
  const replay =
    (...values: number[]): (() => number) =>
    () => {
      const v = values.shift()!;
      values.push(v);
      return v;
    };

  /** Small seeded PRNG (mulberry32) for property-style checks. */
  function seeded(seed: number): () => number {
    let s = seed >>> 0;
    return () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  test('is deterministic for the same injected source', () => {
    expect(pickRandom(items, 3, seeded(7))).toEqual(pickRandom(items, 3, seeded(7)));
  });

  test('the order follows the injected source (Fisher-Yates from the end)', () => {
    // Values just below 1 pick j = i every time: nothing moves.
    expect(pickRandom(items, 5, () => 0.999999)).toEqual(['a', 'b', 'c', 'd', 'e']);
    // 0 always swaps with the first element.
    expect(pickRandom(items, 5, () => 0)).toEqual(['b', 'c', 'd', 'e', 'a']);
    expect(pickRandom(items, 2, () => 0)).toEqual(['b', 'c']);
  });

  test('every permutation of three items is reachable exactly once over all source choices', () => {
    // i=2 draws j in {0,1,2}, i=1 draws j in {0,1}: 6 combinations must give 6 distinct orders.
    const seen = new Set<string>();
    for (const r2 of [0, 0.4, 0.8]) {
      for (const r1 of [0, 0.6]) {
        seen.add(pickRandom(['x', 'y', 'z'], 3, replay(r2, r1)).join(''));
      }
    }
    expect(seen.size).toBe(6);
  });

  test('returns count distinct items taken from the input, for many seeds and counts', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const count = seed % (items.length + 1);
      const picked = pickRandom(items, count, seeded(seed));
      expect(picked).toHaveLength(count);
      expect(new Set(picked).size).toBe(count);
      for (const p of picked) expect(items).toContain(p);
    }
  });

  test('different sources give different picks', () => {
    const results = new Set<string>();
    for (let seed = 1; seed <= 50; seed++) results.add(pickRandom(items, 2, seeded(seed)).join(','));
    expect(results.size).toBeGreaterThan(5);
  });

  test('asking for more items than available returns all of them, once each', () => {
    const picked = pickRandom(items, 9, seeded(3));
    expect([...picked].sort()).toEqual(items);
  });

  test('does not modify the input list and handles empty and zero-count requests', () => {
    const input = [...items];
    pickRandom(input, 3, seeded(5));
    expect(input).toEqual(items);
    expect(pickRandom([], 2, seeded(5))).toEqual([]);
    expect(pickRandom(items, 0, seeded(5))).toEqual([]);
  });
});
