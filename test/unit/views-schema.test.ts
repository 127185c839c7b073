// The fast text serialisers of app/api/views.ts write what the answer schemas (app/schemas/api.ts,
// the served OpenAPI's components) describe: for real catalogs and players in every goal state,
// every text answer parses against its schema, and declares no field the schema does not know.
import path from 'node:path';
import type { z } from 'zod';
import { assignedGoalText, challengeText, goalViewText } from '../../app/api/views';
import { loadCatalogFile } from '../../app/catalog/load';
import {
  emptyFacts,
  factKey,
  type ClaimFact,
  type GoalStateFact,
  type PlayerFacts,
  type StatFact,
} from '../../app/domain/facts';
import { claimPeriodKey, selectionPeriodKey, ViewBuilder } from '../../app/domain/progress';
import { AssignedGoal, Challenge, ChallengeList, GoalView } from '../../app/schemas/api';

const FIXTURES = process.env.FIXTURES_DIR ?? path.resolve(__dirname, '../../../shared/fixtures');
const ROOT = path.resolve(__dirname, '../..');

/** Parses `text` with `schema`; zod drops unknown keys, so equal output means no undeclared field. */
function conforms(schema: z.ZodType, text: string): { ok: boolean; issues: unknown; extra: boolean } {
  const value: unknown = JSON.parse(text);
  const result = schema.safeParse(value);
  return {
    ok: result.success,
    issues: result.success ? [] : result.error.issues,
    extra: result.success && JSON.stringify(result.data) !== JSON.stringify(value),
  };
}
const GOOD = { ok: true, issues: [], extra: false };

const now = Date.parse('2026-05-13T10:20:30.456Z');
const stat = (value: number): StatFact => ({
  value,
  firstValue: 0,
  firstSeenAt: now - 5000,
  updatedAt: now - 1000,
});

/** Players covering every goal state: new, partial progress, completed, claimed (each reward status),
 *  selected and deselected goals, goals assigned long ago. */
function playersFor(catalog: ReturnType<typeof loadCatalogFile>): PlayerFacts[] {
  const goals = [...catalog.goalById.values()];
  const fresh = (userId: string, createdAt = now): PlayerFacts => emptyFacts(userId, createdAt);
  const players: PlayerFacts[] = [fresh('new')];
  const statuses: ClaimFact['rewardStatus'][] = ['granted', 'pending', 'dead'];
  for (let p = 0; p < 3; p++) {
    const f = fresh(`busy-${p}`, now - 86_400_000 * (p + 1));
    goals.forEach((g, i) => {
      const stats = f.stats as Map<string, StatFact>;
      const target = g.requirement.targetValue;
      // Every third goal completed, the others half way or untouched.
      const value = (i + p) % 3 === 0 ? target * 2 : (i + p) % 3 === 1 ? Math.floor(target / 2) : 0;
      stats.set(g.requirement.statCode, stat(Math.max(stats.get(g.requirement.statCode)?.value ?? 0, value)));
      const state: GoalStateFact = {
        goalId: g.goalId,
        periodKey: selectionPeriodKey(g, now),
        isActive: (i + p) % 5 === 4 ? null : (i + p) % 2 === 0,
        assignedAt: now - 60_000 * (i + 1),
        baseline: null,
      };
      (f.goalStates as Map<string, GoalStateFact>).set(factKey(g.goalId, selectionPeriodKey(g, now)), state);
      if ((i + p) % 4 === 0) {
        (f.claims as Map<string, ClaimFact>).set(factKey(g.goalId, claimPeriodKey(g, now)), {
          claimId: `c-${p}-${i}`,
          goalId: g.goalId,
          periodKey: claimPeriodKey(g, now),
          claimedAt: now - 10_000,
          rewardStatus: statuses[(i + p) % 3]!,
        });
      }
    });
    players.push(f);
  }
  return players;
}

describe.each([
  ['anchor-challenges.json', path.join(FIXTURES, 'anchor-challenges.json')],
  ['anchor-loadtest-challenges.json', path.join(FIXTURES, 'anchor-loadtest-challenges.json')],
  ['examples/catalog.json', path.join(ROOT, 'examples/catalog.json')],
  ['examples/catalog-rules.json', path.join(ROOT, 'examples/catalog-rules.json')],
])('text answers conform to the answer schemas: %s', (_name, file) => {
  const catalog = loadCatalogFile(file);
  const players = playersFor(catalog);

  test.each(players.map((p) => [p.userId, p] as const))('player %s', (_id, facts) => {
    const views = new ViewBuilder(catalog, facts, now);
    const statuses = new Set<string>();
    const parts: string[] = [];
    for (const c of catalog.challenges) {
      const vs = views.challengeViews(c);
      const text = challengeText(c, vs, now);
      parts.push(text);
      expect([c.challengeId, conforms(Challenge, text)]).toEqual([c.challengeId, GOOD]);
      for (const v of vs) {
        statuses.add(v.status);
        expect([v.goal.goalId, conforms(GoalView, goalViewText(v, now))]).toEqual([v.goal.goalId, GOOD]);
        expect([v.goal.goalId, conforms(AssignedGoal, assignedGoalText(v))]).toEqual([v.goal.goalId, GOOD]);
      }
    }
    // The list answer of GET /v1/challenges is these pieces joined (routes.ts).
    expect(conforms(ChallengeList, `{"challenges":[${parts.join(',')}]}`)).toEqual(GOOD);
    if (facts.userId !== 'new') expect(statuses.size).toBeGreaterThan(1);
  });
});

describe('the answer schemas refuse what the documents forbid (the check above can fail)', () => {
  const catalog = loadCatalogFile(path.join(FIXTURES, 'anchor-challenges.json'));
  const v = new ViewBuilder(catalog, playersFor(catalog)[1]!, now).challengeViews(catalog.challenges[0]!)[0]!;
  const good = JSON.parse(goalViewText(v, now)) as Record<string, unknown>;

  test.each([
    ['an undeclared field', { ...good, extra: 1 }, 'extra'],
    ['a negative progress', { ...good, progress: -1 }, 'issue'],
    ['an unknown status', { ...good, status: 'done' }, 'issue'],
    ['a non-ISO time', { ...good, assignedAt: 'yesterday' }, 'issue'],
    ['a missing field', { ...good, locked: undefined }, 'issue'],
  ])('%s', (_what, value, kind) => {
    const r = conforms(GoalView, JSON.stringify(value));
    expect(kind === 'extra' ? r.extra : !r.ok).toBe(true);
  });
});
