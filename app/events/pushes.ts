// Pure: which goals of a player changed because some of its stats changed. Compares the goal views
// built from the facts read before and after the apply (domain/progress.ts), so the push says
// exactly what a GET would now show. Only active goals that use a changed stat are considered.
import type { Catalog } from '../domain/catalog';
import type { PlayerFacts } from '../domain/facts';
import { ViewBuilder } from '../domain/progress';
import type { GoalPush } from './bus';

export function goalChanges(
  catalog: Catalog,
  before: PlayerFacts | null,
  after: PlayerFacts,
  changedStats: ReadonlySet<string>,
  now: number,
): GoalPush[] {
  const beforeViews = before ? new ViewBuilder(catalog, before, now) : null;
  const afterViews = new ViewBuilder(catalog, after, now);
  const out: GoalPush[] = [];
  const seen = new Set<string>();
  for (const stat of changedStats) {
    for (const goal of catalog.goalsByStat.get(stat) ?? []) {
      if (seen.has(goal.goalId)) continue;
      seen.add(goal.goalId);
      const a = afterViews.view(goal);
      if (!a.isActive || a.status === 'claimed') continue;
      const b = beforeViews?.view(goal);
      if (b && b.progress === a.progress && b.status === a.status) continue;
      if (!b && a.status === 'not_started') continue;
      out.push({
        type: a.status === 'completed' && b?.status !== 'completed' ? 'completed' : 'progress',
        userId: after.userId,
        challengeId: goal.challengeId,
        goalId: goal.goalId,
        progress: a.progress,
        target: a.target,
        status: a.status,
      });
    }
  }
  return out;
}
