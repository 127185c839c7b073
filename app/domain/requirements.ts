// Pure: a goal's requirement groups (an OR of groups, each an AND of predicates on stats) and which
// group the player is closest to. No I/O here.
import type { Goal, Operator, Requirement, RequirementGroup } from './catalog';

const singleGroups = new WeakMap<Goal, readonly RequirementGroup[]>();

/** The goal's groups: the declared ones, or the single requirement as one group of one predicate. */
export function requirementGroups(goal: Goal): readonly RequirementGroup[] {
  if (goal.requirementGroups) return goal.requirementGroups;
  let groups = singleGroups.get(goal);
  if (!groups) singleGroups.set(goal, (groups = [{ predicates: [goal.requirement] }]));
  return groups;
}

/** Every stat code the goal's requirement reads, in declared order, without repeats. */
export function requirementStats(goal: Goal): string[] {
  const out: string[] = [];
  for (const g of requirementGroups(goal))
    for (const p of g.predicates) if (!out.includes(p.statCode)) out.push(p.statCode);
  return out;
}

export function compare(value: number, operator: Operator, target: number): boolean {
  switch (operator) {
    case '>=':
      return value >= target;
    case '>':
      return value > target;
    case '==':
      return value === target;
    case '!=':
      return value !== target;
    case '<':
      return value < target;
    case '<=':
      return value <= target;
  }
}

/** What a predicate's progress bar fills up to: targetValue + 1 for `>`, targetValue otherwise. */
export function threshold(p: Requirement): number {
  return p.operator === '>' ? p.targetValue + 1 : p.targetValue;
}

export interface GroupEvaluation {
  /** Index of the group in declared order. */
  readonly index: number;
  readonly satisfied: number;
  readonly total: number;
  readonly met: boolean;
  /** Shown progress: the first unmet predicate's value clamped to [0, threshold]; when the group is
   *  met, the threshold of its first predicate (a full bar). */
  readonly progress: number;
  /** Shown target: that predicate's threshold. */
  readonly target: number;
}

export function evaluateGroup(
  group: RequirementGroup,
  index: number,
  valueOf: (p: Requirement) => number,
): GroupEvaluation {
  let satisfied = 0;
  let firstUnmet: { p: Requirement; value: number } | null = null;
  for (const p of group.predicates) {
    const value = valueOf(p);
    if (compare(value, p.operator, p.targetValue)) satisfied++;
    else if (!firstUnmet) firstUnmet = { p, value };
  }
  const total = group.predicates.length;
  if (!firstUnmet) {
    const t = threshold(group.predicates[0]!);
    return { index, satisfied, total, met: true, progress: t, target: t };
  }
  const t = threshold(firstUnmet.p);
  const progress = firstUnmet.value < 0 ? 0 : firstUnmet.value > t ? t : firstUnmet.value;
  return { index, satisfied, total, met: false, progress, target: t };
}

/**
 * The closest group: the one with the highest fraction of satisfied predicates, ties broken by
 * declared order (the first wins). A met group has fraction 1, so the goal is met iff the closest
 * group is met.
 */
export function closestGroup(
  groups: readonly RequirementGroup[],
  valueOf: (p: Requirement) => number,
): GroupEvaluation {
  let best: GroupEvaluation | null = null;
  groups.forEach((group, i) => {
    const e = evaluateGroup(group, i, valueOf);
    // satisfied/total > best.satisfied/best.total, without floating point
    if (!best || e.satisfied * best.total > best.satisfied * e.total) best = e;
  });
  return best!;
}
