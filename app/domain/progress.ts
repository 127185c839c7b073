// Pure: a goal's view is a function of (catalog goal, player facts, now). No I/O here.
import type { Catalog, Challenge, Goal } from './catalog';
import { factKey, type GoalStateFact, type PlayerFacts } from './facts';
import { periodAt, previousPeriod, type Period } from './periods';
import { closestGroup, requirementGroups, requirementStats } from './requirements';

export type GoalStatus = 'not_started' | 'in_progress' | 'completed' | 'claimed';

export interface GoalView {
  readonly goal: Goal;
  readonly progress: number;
  /** Target of the closest requirement group's shown predicate (app/domain/requirements.ts). */
  readonly target: number;
  readonly status: GoalStatus;
  readonly locked: boolean;
  readonly isActive: boolean;
  readonly assignedAt: number | null;
  readonly completedAt: number | null;
  readonly claimedAt: number | null;
  readonly expiresAt: number | null;
  readonly period: Period | null;
  readonly rewardStatus: 'granted' | 'pending' | 'dead' | null;
}

/**
 * Period keys a read of a player's facts ships baselines and claims for: the current period of every
 * schedule, plus the period before for schedules of periodEnd goals (their claims belong there).
 */
export function factPeriodKeys(catalog: Catalog, now: number): string[] {
  const keys = [periodAt('daily', now).key, periodAt('weekly', now).key, periodAt('monthly', now).key];
  for (const s of catalog.periodEndSchedules ?? []) keys.push(previousPeriod(s, now).key);
  return keys;
}

/** The current rotation period of a goal, or null when it does not rotate. */
export function goalPeriod(goal: Goal, now: number): Period | null {
  return goal.rotation ? periodAt(goal.rotation.schedule, now) : null;
}

/** Claims of resetProgress goals belong to their period; other goals are claimed once, ever. A
 *  periodEnd goal's claim belongs to the period whose end judged it: the one before the current. */
export function claimPeriodKey(goal: Goal, now: number): string {
  if (!goal.rotation?.onExpiry.resetProgress) return '';
  if (goal.evaluateAt === 'periodEnd') return previousPeriod(goal.rotation.schedule, now).key;
  return periodAt(goal.rotation.schedule, now).key;
}

/**
 * A stat's value at the instant `period` started (the end of the period before): the baseline the
 * worker recorded at the stat's first change in `period`, or the current value when it has not
 * changed since (no baseline), or 0 when it was first seen in `period` or never.
 */
export function valueAtPeriodStart(facts: PlayerFacts, statCode: string, period: Period): number {
  const stat = facts.stats.get(statCode);
  if (!stat || stat.firstSeenAt >= period.start) return 0;
  return facts.baselines.get(factKey(statCode, period.key)) ?? stat.value;
}

/** Selections of rotating goals end with their period; other selections last. */
export function selectionPeriodKey(goal: Goal, now: number): string {
  return goal.rotation ? periodAt(goal.rotation.schedule, now).key : '';
}

export function goalState(facts: PlayerFacts, goal: Goal, now: number): GoalStateFact | undefined {
  return facts.goalStates.get(factKey(goal.goalId, selectionPeriodKey(goal, now)));
}

export function isGoalActive(facts: PlayerFacts, goal: Goal, now: number): boolean {
  const state = goalState(facts, goal, now);
  if (state && state.isActive !== null) return state.isActive;
  return goal.defaultAssigned;
}

/** Stat value a relative goal counts from, or null when the stat has never been seen. */
export function relativeBaseline(facts: PlayerFacts, goal: Goal, now: number): number | null {
  const stat = facts.stats.get(goal.requirement.statCode);
  if (!stat) return null;
  const state = goalState(facts, goal, now);
  // Activation inside the current period (or ever, for non-rotating goals) is the later of the two.
  if (state && state.isActive && state.baseline !== null) return state.baseline;
  if (goal.rotation?.onExpiry.resetProgress) {
    const period = periodAt(goal.rotation.schedule, now);
    const recorded = facts.baselines.get(factKey(goal.requirement.statCode, period.key));
    if (recorded !== undefined) return recorded;
    // No change recorded in this period: unchanged since it started, so progress is zero,
    // unless the stat was first seen in this period (then it counts from its first value).
    return stat.firstSeenAt >= period.start ? stat.firstValue : stat.value;
  }
  return stat.firstValue;
}

export function rawProgress(facts: PlayerFacts, goal: Goal, now: number): number {
  const stat = facts.stats.get(goal.requirement.statCode);
  if (!stat) return 0;
  if (goal.requirement.progressMode === 'absolute') return stat.value;
  const baseline = relativeBaseline(facts, goal, now);
  return baseline === null ? 0 : stat.value - baseline;
}

export function clampProgress(progress: number, target: number): number {
  return progress < 0 ? 0 : progress > target ? target : progress;
}

function statusOf(met: boolean, progress: number, claimed: boolean): GoalStatus {
  if (claimed) return 'claimed';
  if (met) return 'completed';
  if (progress > 0) return 'in_progress';
  return 'not_started';
}

/**
 * When a completed (or claimed) goal was completed: the time the worker recorded when an applied
 * event made its progress reach the target (goal_completions), never after the claim. Without a
 * record (completed before records existed, by a catalog change, or read in the moment between the
 * apply and the record): the claim time, else the last change of its stat. null when not completed.
 */
function completedAt(
  facts: PlayerFacts,
  goal: Goal,
  key: string,
  status: GoalStatus,
  claimedAt: number | undefined,
): number | null {
  if (status !== 'completed' && status !== 'claimed') return null;
  const recorded = facts.completions?.get(key);
  if (recorded !== undefined) return claimedAt !== undefined ? Math.min(recorded, claimedAt) : recorded;
  if (claimedAt !== undefined) return claimedAt;
  let last: number | null = null;
  for (const code of requirementStats(goal)) {
    const at = facts.stats.get(code)?.updatedAt;
    if (at !== undefined && (last === null || at > last)) last = at;
  }
  return last;
}

type Status = {
  progress: number;
  target: number;
  status: GoalStatus;
  completedAt: number | null;
  claimedAt: number | null;
  rewardStatus: GoalView['rewardStatus'];
};

/** Status ignoring prerequisites; memoised per call of `challengeViews` through `cache`. */
function goalStatus(facts: PlayerFacts, goal: Goal, now: number): Status {
  const groups = requirementGroups(goal);
  // The single requirement may be relative; predicates of declared groups are absolute.
  const valueOf = (p: Goal['requirement']): number =>
    p === goal.requirement ? rawProgress(facts, goal, now) : (facts.stats.get(p.statCode)?.value ?? 0);
  if (goal.evaluateAt === 'periodEnd' && goal.rotation) return periodEndStatus(facts, goal, now, valueOf);
  const closest = closestGroup(groups, valueOf);
  const key = factKey(goal.goalId, claimPeriodKey(goal, now));
  const claim = facts.claims.get(key);
  const status = statusOf(closest.met, closest.progress, claim !== undefined);
  return {
    progress: closest.progress,
    target: closest.target,
    status,
    completedAt: completedAt(facts, goal, key, status, claim?.claimedAt),
    claimedAt: claim ? claim.claimedAt : null,
    rewardStatus: claim ? claim.rewardStatus : null,
  };
}

/**
 * A periodEnd goal (its catalog requires a resetProgress rotation and absolute predicates) is
 * judged on the stat values at the end of the period before the current one: `completed` (and
 * claimable, under that period's key) when they satisfy some group and the player existed before
 * that end, with completedAt = that end. Otherwise it is `in_progress` while the current period runs,
 * showing the current values' closest group; no completedAt before the period ended.
 */
function periodEndStatus(
  facts: PlayerFacts,
  goal: Goal,
  now: number,
  valueOf: (p: Goal['requirement']) => number,
): Status {
  const groups = requirementGroups(goal);
  const current = periodAt(goal.rotation!.schedule, now);
  const key = factKey(goal.goalId, claimPeriodKey(goal, now));
  const claim = facts.claims.get(key);
  const ended = closestGroup(groups, (p) => valueAtPeriodStart(facts, p.statCode, current));
  const judged = facts.createdAt < current.start && ended.met;
  const shown = judged || claim ? ended : closestGroup(groups, valueOf);
  return {
    progress: shown.progress,
    target: shown.target,
    status: claim ? 'claimed' : judged ? 'completed' : 'in_progress',
    completedAt: judged || claim ? current.start : null,
    claimedAt: claim ? claim.claimedAt : null,
    rewardStatus: claim ? claim.rewardStatus : null,
  };
}

/** Builds views for any set of goals; prerequisite statuses are computed once and shared. */
export class ViewBuilder {
  private readonly statusCache = new Map<string, Status>();

  constructor(
    private readonly catalog: Catalog,
    private readonly facts: PlayerFacts,
    readonly now: number,
  ) {}

  private status(goal: Goal): Status {
    let s = this.statusCache.get(goal.goalId);
    if (!s) {
      s = goalStatus(this.facts, goal, this.now);
      this.statusCache.set(goal.goalId, s);
    }
    return s;
  }

  isLocked(goal: Goal): boolean {
    for (const id of goal.prerequisites) {
      const pre = this.catalog.goalById.get(id);
      if (!pre) continue; // validated catalogs have none; a removed prerequisite does not lock forever
      const st = this.status(pre).status;
      if (st !== 'completed' && st !== 'claimed') return true;
    }
    return false;
  }

  view(goal: Goal): GoalView {
    const s = this.status(goal);
    const active = isGoalActive(this.facts, goal, this.now);
    const period = goalPeriod(goal, this.now);
    const state = goalState(this.facts, goal, this.now);
    let assignedAt: number | null = null;
    if (active) {
      if (state && state.isActive && state.assignedAt !== null) assignedAt = state.assignedAt;
      else assignedAt = period ? Math.max(period.start, this.facts.createdAt) : this.facts.createdAt;
    }
    return {
      goal,
      progress: s.progress,
      target: s.target,
      status: s.status,
      locked: this.isLocked(goal),
      isActive: active,
      assignedAt,
      completedAt: s.completedAt,
      claimedAt: s.claimedAt,
      expiresAt: period ? period.end : null,
      period,
      rewardStatus: s.rewardStatus,
    };
  }

  challengeViews(challenge: Challenge, activeOnly = false): GoalView[] {
    const out: GoalView[] = [];
    for (const goal of challenge.goals) {
      if (activeOnly && !isGoalActive(this.facts, goal, this.now)) continue;
      out.push(this.view(goal));
    }
    return out;
  }

  /** Views of every active goal across the catalog, in catalog order. */
  activeViews(): GoalView[] {
    const out: GoalView[] = [];
    for (const challenge of this.catalog.challenges) out.push(...this.challengeViews(challenge, true));
    return out;
  }
}
