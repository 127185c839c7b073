// JSON shapes of the reference service (field names kept so its clients work unchanged).
import type { Challenge, Goal } from '../domain/catalog';
import type { Period } from '../domain/periods';
import type { GoalView } from '../domain/progress';
import type {
  ChallengeList,
  ChallengeResult,
  ClaimResult,
  GoalActiveResult,
  InitializeResult,
  RotationResult,
  SelectionResult,
} from '../usecases/players';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function requirementJson(g: Goal) {
  return {
    statCode: g.requirement.statCode,
    operator: g.requirement.operator,
    targetValue: g.requirement.targetValue,
    // only when declared, so answers for catalogs without them are unchanged
    ...(g.requirementGroups
      ? {
          requirementGroups: g.requirementGroups.map((grp) => ({
            predicates: grp.predicates.map((p) => ({
              statCode: p.statCode,
              operator: p.operator,
              targetValue: p.targetValue,
            })),
          })),
        }
      : {}),
    ...(g.evaluateAt ? { evaluateAt: g.evaluateAt } : {}),
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
    target: v.target,
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
    target: v.target,
    status: v.status,
    completedAt: iso(v.completedAt),
  };
}

export { iso };

// ---- the same shapes as text, for the hot routes ---------------------------------------------
// A goal's catalog part (ids, names, requirement, reward) is the same in every answer: it is
// serialised once per goal object (a catalog swap brings new objects) and only the player's part
// is written per request. A test holds these against the object builders above.

interface GoalText {
  assignedHead: string;
  viewHead: string;
}
const goalText = new WeakMap<Goal, GoalText>();

function textOf(g: Goal): GoalText {
  let t = goalText.get(g);
  if (!t) {
    const req = JSON.stringify(requirementJson(g));
    const rew = JSON.stringify(rewardJson(g));
    const ids = `"goalId":${JSON.stringify(g.goalId)},"name":${JSON.stringify(g.name)},"description":${JSON.stringify(g.description)},"requirement":${req},"reward":${rew}`;
    t = {
      assignedHead: `{"challengeId":${JSON.stringify(g.challengeId)},${ids},"isActive":`,
      viewHead: `{${ids},"prerequisites":${JSON.stringify(g.prerequisites)},"progress":`,
    };
    goalText.set(g, t);
  }
  return t;
}

// Answers repeat the same instants (every default goal is assigned when the player was created).
let lastIsoMs = Number.NaN;
let lastIsoText = 'null';
function isoText(ms: number | null): string {
  if (ms === null) return 'null';
  if (ms !== lastIsoMs) {
    lastIsoMs = ms;
    lastIsoText = `"${new Date(ms).toISOString()}"`;
  }
  return lastIsoText;
}

export function assignedGoalText(v: GoalView): string {
  return (
    textOf(v.goal).assignedHead +
    `${v.isActive},"assignedAt":${isoText(v.assignedAt)},"expiresAt":${isoText(v.expiresAt)},` +
    `"progress":${v.progress},"target":${v.target},"status":"${v.status}",` +
    `"completedAt":${isoText(v.completedAt)}}`
  );
}

export function goalViewText(v: GoalView, now: number): string {
  const expiresIn =
    v.expiresAt === null ? 'null' : String(Math.max(0, Math.floor((v.expiresAt - now) / 1000)));
  return (
    textOf(v.goal).viewHead +
    `${v.progress},"target":${v.target},"status":"${v.status}","locked":${v.locked},` +
    `"isActive":${v.isActive},"assignedAt":${isoText(v.assignedAt)},"completedAt":${isoText(v.completedAt)},` +
    `"claimedAt":${isoText(v.claimedAt)},"expiresAt":${isoText(v.expiresAt)},"expiresInSeconds":${expiresIn},` +
    `"period":${v.period ? JSON.stringify(v.period.key) : 'null'},` +
    `"rewardStatus":${v.rewardStatus === null ? 'null' : `"${v.rewardStatus}"`}}`
  );
}

const challengeHeads = new WeakMap<Challenge, string>();

export function challengeText(c: Challenge, views: GoalView[], now: number): string {
  let head = challengeHeads.get(c);
  if (!head) {
    head = `{"challengeId":${JSON.stringify(c.challengeId)},"name":${JSON.stringify(c.name)},"description":${JSON.stringify(c.description)},"goals":[`;
    challengeHeads.set(c, head);
  }
  let out = head;
  for (let i = 0; i < views.length; i++) out += (i ? ',' : '') + goalViewText(views[i]!, now);
  return out + ']}';
}

// ---- answers of the player routes (app/usecases/players.ts results) ---------------------------

const initializeTexts = new WeakMap<InitializeResult, string>();

/** The initialise answer; one shared by a batch of brand-new players is serialised once. */
export function initializeText(r: InitializeResult): string {
  let text = r.shared ? initializeTexts.get(r) : undefined;
  if (text === undefined) {
    const n = r.active.length;
    text = `{"assignedGoals":[${r.active.map(assignedGoalText).join(',')}],"newAssignments":${r.created ? n : 0},"totalActive":${n}}`;
    if (r.shared) initializeTexts.set(r, text);
  }
  return text;
}

/** One challenge with the player's progress. */
export function challengeAnswerText(r: ChallengeResult): string {
  return challengeText(r.challenge, r.goals, r.now);
}

/** The challenge list in one piece per challenge (a 500-goal catalog's answer is ~200 KB). */
export function challengeListParts(r: ChallengeList): string[] {
  const parts = r.challenges.map(
    ({ challenge, goals }, i) => (i ? ',' : '{"challenges":[') + challengeText(challenge, goals, r.now),
  );
  if (parts.length === 0) parts.push('{"challenges":[');
  parts.push(']}');
  return parts;
}

export function goalActiveJson(r: GoalActiveResult) {
  return { ...r, assignedAt: iso(r.assignedAt), message: r.isActive ? 'goal activated' : 'goal deactivated' };
}

export function selectionJson(r: SelectionResult) {
  return {
    challengeId: r.challengeId,
    selectedGoals: r.selected.map(assignedGoalJson),
    totalActiveGoals: r.totalActiveGoals,
    replacedGoals: r.replacedGoals,
  };
}

export function claimJson(r: ClaimResult) {
  const { goal } = r;
  return {
    goalId: goal.goalId,
    status: 'claimed',
    reward: rewardJson(goal),
    claimedAt: new Date(r.claimedAt).toISOString(),
    rewardStatus: r.rewardStatus,
    claimId: r.claimId,
  };
}

export function rotationJson(r: RotationResult) {
  if (!r.rotation) {
    return {
      challengeId: r.challengeId,
      rotation: { enabled: false, type: '', schedule: '', currentPeriod: null, nextPeriod: null },
    };
  }
  const period = (p: Period) => ({
    startTime: new Date(p.start).toISOString(),
    endTime: new Date(p.end).toISOString(),
    expiresInSeconds: Math.max(0, Math.floor((p.end - r.now) / 1000)),
  });
  const { type, schedule, current, next } = r.rotation;
  return {
    challengeId: r.challengeId,
    rotation: { enabled: true, type, schedule, currentPeriod: period(current), nextPeriod: period(next) },
  };
}
