// Claim + reward-outbox row in one statement, guarded by UNIQUE (user_id, goal_id, period_key).
import { randomUUID } from 'node:crypto';
import type { Db } from './db';
import type { Reward } from '../catalog/types';

export const CLAIM_SQL = `
WITH p AS (
  INSERT INTO players (user_id, created_at) VALUES ($2, $6) ON CONFLICT (user_id) DO NOTHING
), c AS (
  INSERT INTO claims (claim_id, user_id, challenge_id, goal_id, period_key, reward, claimed_at)
  VALUES ($1, $2, $3, $4, $5, $7, $6)
  ON CONFLICT (user_id, goal_id, period_key) DO NOTHING
  RETURNING claim_id, user_id, reward, claimed_at
), o AS (
  INSERT INTO reward_outbox (claim_id, user_id, reward, status, next_attempt_at, created_at)
  SELECT claim_id, user_id, reward, 'pending', claimed_at, claimed_at FROM c
  RETURNING claim_id
)
SELECT o.claim_id FROM o`;

export interface ClaimInput {
  userId: string;
  challengeId: string;
  goalId: string;
  periodKey: string;
  reward: Reward;
  now: number;
}

/** The new claim id, or null when this (player, goal, period) was already claimed. */
export async function insertClaim(db: Db, input: ClaimInput): Promise<string | null> {
  const claimId = randomUUID();
  const res = await db.query<{ claim_id: string }>(CLAIM_SQL, [
    claimId,
    input.userId,
    input.challengeId,
    input.goalId,
    input.periodKey,
    new Date(input.now),
    JSON.stringify({
      ...input.reward,
      challengeId: input.challengeId,
      goalId: input.goalId,
      periodKey: input.periodKey,
    }),
  ]);
  return res.rows[0]?.claim_id ?? null;
}

export async function markRewardGranted(db: Db, claimId: string, now: number): Promise<void> {
  await db.query(
    `UPDATE reward_outbox SET status = 'granted', granted_at = $2, attempts = attempts + 1, lease_until = NULL
      WHERE claim_id = $1 AND status = 'pending'`,
    [claimId, new Date(now)],
  );
}
