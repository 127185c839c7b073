// JSON shapes of the reference service (field names kept so its clients work unchanged).
import type { Challenge, Goal } from '../catalog/types';
import type { GoalView } from '../domain/progress';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function requirementJson(g: Goal) {
  return {
    statCode: g.requirement.statCode,
    operator: g.requirement.operator,
    targetValue: g.requirement.targetValue,
  };
}

function rewardJson(g: Goal) {
  return { type: g.reward.type, rewardId: g.reward.rewardId, quantity: g.reward.quantity };
}

export function goalViewJson(v: GoalView, now: number) {
  const g = v.goal;
  return {
    goalId: g.goalId,
    name: g.name,
    description: g.description,
    requirement: requirementJson(g),
    reward: rewardJson(g),
    prerequisites: g.prerequisites,
    progress: v.progress,
    target: g.requirement.targetValue,
    status: v.status,
    locked: v.locked,
    isActive: v.isActive,
    assignedAt: iso(v.assignedAt),
    completedAt: iso(v.completedAt),
    claimedAt: iso(v.claimedAt),
    expiresAt: iso(v.expiresAt),
    expiresInSeconds: v.expiresAt === null ? null : Math.max(0, Math.floor((v.expiresAt - now) / 1000)),
    period: v.period ? v.period.key : null,
    rewardStatus: v.rewardStatus,
  };
}

export function challengeJson(c: Challenge, views: GoalView[], now: number) {
  return {
    challengeId: c.challengeId,
    name: c.name,
    description: c.description,
    goals: views.map((v) => goalViewJson(v, now)),
  };
}

/** Initialise / selection answers use the reference's shorter "assigned goal" shape. */
export function assignedGoalJson(v: GoalView) {
  const g = v.goal;
  return {
    challengeId: g.challengeId,
    goalId: g.goalId,
    name: g.name,
    description: g.description,
    requirement: requirementJson(g),
    reward: rewardJson(g),
    isActive: v.isActive,
    assignedAt: iso(v.assignedAt),
    expiresAt: iso(v.expiresAt),
    progress: v.progress,
    target: g.requirement.targetValue,
    status: v.status,
  };
}

export { iso };
