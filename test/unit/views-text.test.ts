// The text serialisers of the hot routes produce exactly the objects of the reference shapes.
import path from 'node:path';
import {
  assignedGoalJson,
  assignedGoalText,
  challengeJson,
  challengeText,
  goalViewJson,
  goalViewText,
} from '../../app/api/views';
import { loadCatalogFile } from '../../app/catalog/load';
import { factKey, type PlayerFacts, type StatFact } from '../../app/domain/facts';
import { claimPeriodKey, selectionPeriodKey, ViewBuilder } from '../../app/domain/progress';

const FIXTURES = process.env.FIXTURES_DIR ?? path.resolve(__dirname, '../../../shared/fixtures');

describe('text serialisers match the object shapes', () => {
  const catalog = loadCatalogFile(path.join(FIXTURES, 'anchor-challenges.json'));
  const now = Date.parse('2026-05-13T10:20:30.456Z');
  const stat = (value: number): StatFact => ({
    value,
    firstValue: 0,
    firstSeenAt: now - 5000,
    updatedAt: now - 1000,
  });
  const players: PlayerFacts[] = [
    {
      userId: 'new',
      createdAt: now,
      stats: new Map(),
      baselines: new Map(),
      goalStates: new Map(),
      claims: new Map(),
    },
    {
      userId: 'busy',
      createdAt: now - 86_400_000 * 3,
      stats: new Map([
        ['tutorial_completed', stat(1)],
        ['kills', stat(7)],
        ['wins', stat(40)],
        ['snowmen_killed', stat(3)],
      ]),
      baselines: new Map([[factKey('kills', 'd2026-05-13'), 2]]),
      goalStates: new Map(),
      claims: new Map(),
    },
  ];
  const tutorial = catalog.goalById.get('complete-tutorial')!;
  const snowmen = catalog.goalById.get('kill-10-snowmen')!;
  const wins = catalog.goalById.get('daily-challenges-goal-02')!;
  const busy = players[1]!;
  (busy.goalStates as Map<string, unknown>).set(factKey(snowmen.goalId, selectionPeriodKey(snowmen, now)), {
    goalId: snowmen.goalId,
    periodKey: '',
    isActive: true,
    assignedAt: now - 60_000,
    baseline: null,
  });
  (busy.claims as Map<string, unknown>).set(factKey(tutorial.goalId, claimPeriodKey(tutorial, now)), {
    claimId: 'c-1',
    goalId: tutorial.goalId,
    periodKey: '',
    claimedAt: now - 30_000,
    rewardStatus: 'pending',
  });
  (busy.claims as Map<string, unknown>).set(factKey(wins.goalId, claimPeriodKey(wins, now)), {
    claimId: 'c-2',
    goalId: wins.goalId,
    periodKey: claimPeriodKey(wins, now),
    claimedAt: now - 10_000,
    rewardStatus: 'granted',
  });

  test.each(players.map((p) => [p.userId, p] as const))(
    'player %s: every goal and challenge',
    (_id, facts) => {
      const views = new ViewBuilder(catalog, facts, now);
      for (const c of catalog.challenges) {
        const vs = views.challengeViews(c);
        expect(JSON.parse(challengeText(c, vs, now))).toEqual(challengeJson(c, vs, now));
        for (const v of vs) {
          expect(JSON.parse(assignedGoalText(v))).toEqual(assignedGoalJson(v));
          expect(JSON.parse(goalViewText(v, now))).toEqual(goalViewJson(v, now));
        }
      }
    },
  );
});
