// Claims + reward-outbox rows, guarded by UNIQUE (user_id, goal_id, period_key). Concurrent claims
// share one statement (./batcher.ts): under load a claim costs a fraction of a round trip and of a
// commit instead of one each, and so does the "granted" mark that follows a successful grant.
import { randomUUID } from 'node:crypto';
import type { Db } from './db';
import type { Reward } from '../domain/catalog';
import { perDb, statementBatcher } from './batcher';

// Rows go in key order so that two batches racing for the same keys wait on each other in the same
// order (no deadlock); ON CONFLICT DO NOTHING also skips a duplicate key within one batch.
export const CLAIMS_SQL = `
WITH input AS (
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::timestamptz[])
    AS t(claim_id, user_id, challenge_id, goal_id, period_key, reward, claimed_at)
), p AS (
  INSERT INTO players (user_id, created_at)
  SELECT user_id, min(claimed_at) FROM input GROUP BY user_id ORDER BY user_id
  ON CONFLICT (user_id) DO NOTHING
), c AS (
  INSERT INTO claims (claim_id, user_id, challenge_id, goal_id, period_key, reward, claimed_at)
  SELECT claim_id, user_id, challenge_id, goal_id, period_key, reward, claimed_at FROM input
   ORDER BY user_id, goal_id, period_key
  ON CONFLICT (user_id, goal_id, period_key) DO NOTHING
  RETURNING claim_id, user_id, reward, claimed_at
), o AS (
  INSERT INTO reward_outbox (claim_id, user_id, reward, status, next_attempt_at, created_at)
  SELECT claim_id, user_id, reward, 'pending', claimed_at, claimed_at FROM c
  RETURNING claim_id
)
SELECT claim_id FROM o`;

export const MARK_GRANTED_SQL = `
UPDATE reward_outbox o
   SET status = 'granted', granted_at = i.granted_at, attempts = o.attempts + 1, lease_until = NULL
  FROM unnest($1::uuid[], $2::timestamptz[]) AS i(claim_id, granted_at)
 WHERE o.claim_id = i.claim_id AND o.status = 'pending'`;

export interface ClaimInput {
  userId: string;
  challengeId: string;
  goalId: string;
  periodKey: string;
  reward: Reward;
  now: number;
}

interface ClaimItem extends ClaimInput {
  claimId: string;
}

const claimBatchers = perDb((db: Db) =>
  statementBatcher(db, async (items: ClaimItem[]): Promise<(string | null)[]> => {
    const res = await db.query<{ claim_id: string }>(CLAIMS_SQL, [
      items.map((i) => i.claimId),
      items.map((i) => i.userId),
      items.map((i) => i.challengeId),
      items.map((i) => i.goalId),
      items.map((i) => i.periodKey),
      items.map((i) =>
        JSON.stringify({
          ...i.reward,
          challengeId: i.challengeId,
          goalId: i.goalId,
          periodKey: i.periodKey,
        }),
      ),
      items.map((i) => new Date(i.now)),
    ]);
    const inserted = new Set(res.rows.map((r) => r.claim_id));
    return items.map((i) => (inserted.has(i.claimId) ? i.claimId : null));
  }),
);

const markBatchers = perDb((db: Db) =>
  statementBatcher(db, async (items: { claimId: string; now: number }[]): Promise<undefined[]> => {
    const sorted = [...items].sort((a, b) => (a.claimId < b.claimId ? -1 : a.claimId > b.claimId ? 1 : 0));
    await db.query(MARK_GRANTED_SQL, [sorted.map((i) => i.claimId), sorted.map((i) => new Date(i.now))]);
    return items.map(() => undefined);
  }),
);

/** The new claim id, or null when this (player, goal, period) was already claimed. */
export function insertClaim(db: Db, input: ClaimInput): Promise<string | null> {
  return claimBatchers(db).submit({ ...input, claimId: randomUUID() });
}

/** Record a delivered reward (a no-op unless the row is still pending). */
export function markRewardGranted(db: Db, claimId: string, now: number): Promise<void> {
  return markBatchers(db).submit({ claimId, now });
}
