// Pure selection and claim rules. Each check returns a DomainError value or null; callers map
// errors to HTTP answers (api/errors.ts) and never match on messages.
import type { Catalog, Challenge, Goal } from './catalog';
import type { PlayerFacts } from './facts';
import { claimPeriodKey, isGoalActive, selectionPeriodKey, ViewBuilder, type GoalView } from './progress';

export type DomainErrorId =
  | 'CHALLENGE_NOT_FOUND'
  | 'GOAL_NOT_FOUND'
  | 'GOAL_LOCKED'
  | 'GOAL_NOT_ACTIVE'
  | 'GOAL_NOT_COMPLETED'
  | 'GOAL_ALREADY_CLAIMED'
  | 'GOAL_RESELECTION_NOT_ALLOWED'
  | 'INSUFFICIENT_GOALS';

export interface DomainError {
  readonly error: DomainErrorId;
  readonly message: string;
  readonly details: Record<string, unknown>;
}

const err = (error: DomainErrorId, message: string, details: Record<string, unknown>): DomainError => ({
  error,
  message,
  details,
});

export function findChallenge(catalog: Catalog, challengeId: string): Challenge | DomainError {
  return (
    catalog.challengeById.get(challengeId) ??
    err('CHALLENGE_NOT_FOUND', `challenge ${challengeId} not found`, { challengeId })
  );
}

export function findGoal(challenge: Challenge, goalId: string): Goal | DomainError {
  const goal = challenge.goals.find((g) => g.goalId === goalId);
  return (
    goal ??
    err('GOAL_NOT_FOUND', `goal ${goalId} not found in challenge ${challenge.challengeId}`, {
      challengeId: challenge.challengeId,
      goalId,
    })
  );
}

export function isDomainError(x: unknown): x is DomainError {
  return typeof x === 'object' && x !== null && 'error' in x && 'details' in x;
}

/** allowReselection=false: once a period in which the player had selected the goal has ended,
 *  the goal cannot be selected again. */
export function reselectionBlocked(facts: PlayerFacts, goal: Goal, now: number): boolean {
  if (!goal.rotation || goal.rotation.onExpiry.allowReselection) return false;
  const current = selectionPeriodKey(goal, now);
  for (const state of facts.goalStates.values()) {
    if (
      state.goalId === goal.goalId &&
      state.periodKey !== current &&
      state.periodKey !== '' &&
      state.isActive
    ) {
      return true;
    }
  }
  return false;
}

/** Can the player activate this goal now? (Deactivation is always allowed.) */
export function checkSelectable(views: ViewBuilder, facts: PlayerFacts, goal: Goal): DomainError | null {
  if (views.isLocked(goal)) {
    return err('GOAL_LOCKED', `goal ${goal.goalId} is locked: prerequisites not completed`, {
      goalId: goal.goalId,
      prerequisites: goal.prerequisites,
    });
  }
  if (!isGoalActive(facts, goal, views.now) && reselectionBlocked(facts, goal, views.now)) {
    return err(
      'GOAL_RESELECTION_NOT_ALLOWED',
      `goal ${goal.goalId} cannot be selected again after its period ended`,
      {
        goalId: goal.goalId,
      },
    );
  }
  return null;
}

export function checkClaimable(view: GoalView): DomainError | null {
  const goalId = view.goal.goalId;
  if (view.status === 'claimed') {
    return err('GOAL_ALREADY_CLAIMED', `reward of goal ${goalId} has already been claimed`, {
      goalId,
      claimedAt: view.claimedAt === null ? null : new Date(view.claimedAt).toISOString(),
    });
  }
  if (view.locked) {
    return err('GOAL_LOCKED', `goal ${goalId} is locked: prerequisites not completed`, {
      goalId,
      prerequisites: view.goal.prerequisites,
    });
  }
  if (!view.isActive) return err('GOAL_NOT_ACTIVE', `goal ${goalId} is not active`, { goalId });
  if (view.status !== 'completed') {
    return err('GOAL_NOT_COMPLETED', `goal ${goalId} is not completed in the current period`, {
      goalId,
      progress: view.progress,
      target: view.target,
      ...(view.period ? { periodEnd: new Date(view.period.end).toISOString() } : {}),
    });
  }
  return null;
}

/** Goals random-select may pick. */
export function randomSelectCandidates(
  views: ViewBuilder,
  facts: PlayerFacts,
  challenge: Challenge,
  excludeActive: boolean,
): Goal[] {
  return challenge.goals.filter((goal) => {
    const v = views.view(goal);
    if (v.locked || v.status === 'claimed') return false;
    if (excludeActive && v.isActive) return false;
    if (!v.isActive && reselectionBlocked(facts, goal, views.now)) return false;
    return true;
  });
}

/** Fisher-Yates with an injected source of [0,1) numbers, so tests are deterministic. */
export function pickRandom<T>(items: readonly T[], count: number, random: () => number): T[] {
  const a = items.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, count);
}

export { claimPeriodKey, selectionPeriodKey };
