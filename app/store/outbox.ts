// The reward outbox after the claim statement wrote it: leases for relays, outcome marks, operator
// views and replays. Every statement is one round trip in its own implicit transaction (PgBouncer
// transaction pooling): a lease is committed before the grant starts and the grant runs outside any
// transaction. The lease_until value a relay wrote is its lease token: outcome marks of a relay whose
// lease expired and was taken over match no row.
import type { Db } from './db';
import type { GrantRequest } from '../rewards/granter';

export type OutboxStatus = 'pending' | 'granted' | 'dead';

export interface LeasedReward {
  request: GrantRequest;
  /** Attempts including this one. */
  attempts: number;
  /** epoch ms the row became pending (claim, or the last operator replay): max-age counts from here. */
  pendingSince: number;
  /** The lease token: pass it back to markFailed. */
  leaseUntil: Date;
}

/** The columns of a claim a grant needs (GrantRequest in SQL names). */
interface ClaimRow {
  claim_id: string;
  user_id: string;
  challenge_id: string;
  goal_id: string;
  period_key: string;
  reward: GrantRequest['reward'];
}

/** A claim row as the grant request it carries. */
function grantRequestOf(r: ClaimRow): GrantRequest {
  return {
    claimId: r.claim_id,
    userId: r.user_id,
    challengeId: r.challenge_id,
    goalId: r.goal_id,
    periodKey: r.period_key,
    reward: { type: r.reward.type, rewardId: r.reward.rewardId, quantity: r.reward.quantity },
  };
}

interface LeaseRow extends ClaimRow {
  attempts: number;
  pending_since: Date;
  lease_until: Date;
}

export const LEASE_SQL = `
WITH due AS (
  SELECT claim_id FROM reward_outbox
   WHERE status = 'pending' AND next_attempt_at <= $1
     AND (lease_until IS NULL OR lease_until <= $1)
     AND created_at <= $4
   ORDER BY next_attempt_at
   LIMIT $3
   FOR UPDATE SKIP LOCKED
)
UPDATE reward_outbox o
   SET lease_until = $2, attempts = o.attempts + 1
  FROM due JOIN claims c ON c.claim_id = due.claim_id
 WHERE o.claim_id = due.claim_id
RETURNING o.claim_id, o.user_id, c.challenge_id, c.goal_id, c.period_key, o.reward, o.attempts,
          coalesce(o.replayed_at, o.created_at) AS pending_since, o.lease_until`;

/**
 * Lease up to `limit` due rows until `now + leaseMs` (and count the attempt). Rows created after
 * `freshBefore` are left to the claim request's own synchronous attempt.
 */
export async function leaseDue(
  db: Db,
  opts: { now: number; leaseMs: number; limit: number; freshBefore: number },
): Promise<LeasedReward[]> {
  const res = await db.query<LeaseRow>(LEASE_SQL, [
    new Date(opts.now),
    new Date(opts.now + opts.leaseMs),
    opts.limit,
    new Date(opts.freshBefore),
  ]);
  return res.rows.map((r) => ({
    request: grantRequestOf(r),
    attempts: r.attempts,
    pendingSince: r.pending_since.getTime(),
    leaseUntil: r.lease_until,
  }));
}

/** The grant happened: record it whoever holds the lease (recording a real grant is always right). */
export async function markGranted(db: Db, claimId: string, now: number): Promise<boolean> {
  const res = await db.query(
    `UPDATE reward_outbox SET status = 'granted', granted_at = $2, lease_until = NULL, last_error = NULL
      WHERE claim_id = $1 AND status <> 'granted'`,
    [claimId, new Date(now)],
  );
  return (res.rowCount ?? 0) > 0;
}

/** A leased attempt failed: schedule the next one, or give up (dead). No-op if the lease was lost. */
export async function markFailed(
  db: Db,
  claimId: string,
  leaseUntil: Date,
  outcome: { dead: boolean; nextAttemptAt: number; error: string },
): Promise<boolean> {
  const res = await db.query(
    `UPDATE reward_outbox
        SET status = CASE WHEN $3 THEN 'dead' ELSE 'pending' END,
            next_attempt_at = $4, lease_until = NULL, last_error = $5
      WHERE claim_id = $1 AND status = 'pending' AND lease_until = $2`,
    [claimId, leaseUntil, outcome.dead, new Date(outcome.nextAttemptAt), outcome.error.slice(0, 1000)],
  );
  return (res.rowCount ?? 0) > 0;
}

/** The claim request's own attempt failed permanently: dead at once (unless a relay holds it). */
export async function markDeadUnleased(db: Db, claimId: string, error: string): Promise<boolean> {
  const res = await db.query(
    `UPDATE reward_outbox SET status = 'dead', attempts = attempts + 1, last_error = $2
      WHERE claim_id = $1 AND status = 'pending' AND lease_until IS NULL`,
    [claimId, error.slice(0, 1000)],
  );
  return (res.rowCount ?? 0) > 0;
}

export interface OutboxStats {
  pending: number;
  dead: number;
  /** created_at of the oldest pending row, epoch ms, or null. */
  oldestPending: number | null;
}

export async function outboxStats(db: Db): Promise<OutboxStats> {
  const res = await db.query<{ pending: number; dead: number; oldest: Date | null }>(
    `SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending,
            count(*) FILTER (WHERE status = 'dead')::int AS dead,
            min(created_at) FILTER (WHERE status = 'pending') AS oldest
       FROM reward_outbox WHERE status IN ('pending', 'dead')`,
  );
  const r = res.rows[0]!;
  return { pending: r.pending, dead: r.dead, oldestPending: r.oldest ? r.oldest.getTime() : null };
}

export interface RewardRecord extends GrantRequest {
  claimedAt: string;
  rewardStatus: OutboxStatus;
  attempts: number;
  nextAttemptAt: string | null;
  leaseUntil: string | null;
  lastError: string | null;
  grantedAt: string | null;
  replayedAt: string | null;
}

const RECORD_COLUMNS = `c.claim_id, c.user_id, c.challenge_id, c.goal_id, c.period_key, c.reward, c.claimed_at,
  o.status, o.attempts, o.next_attempt_at, o.lease_until, o.last_error, o.granted_at, o.replayed_at`;

interface RecordRow extends ClaimRow {
  claimed_at: Date;
  status: OutboxStatus;
  attempts: number;
  next_attempt_at: Date | null;
  lease_until: Date | null;
  last_error: string | null;
  granted_at: Date | null;
  replayed_at: Date | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function toRecord(r: RecordRow): RewardRecord {
  return {
    ...grantRequestOf(r),
    claimedAt: r.claimed_at.toISOString(),
    rewardStatus: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.status === 'pending' ? iso(r.next_attempt_at) : null,
    leaseUntil: iso(r.lease_until),
    lastError: r.last_error,
    grantedAt: iso(r.granted_at),
    replayedAt: iso(r.replayed_at),
  };
}

/** Outbox rows of one status, oldest first. */
export async function listRewards(db: Db, status: OutboxStatus, limit: number): Promise<RewardRecord[]> {
  const res = await db.query<RecordRow>(
    `SELECT ${RECORD_COLUMNS} FROM reward_outbox o JOIN claims c ON c.claim_id = o.claim_id
      WHERE o.status = $1 ORDER BY o.created_at, o.claim_id LIMIT $2`,
    [status, limit],
  );
  return res.rows.map(toRecord);
}

/** A player's claims with the delivery state of each reward, newest first. */
export async function playerClaims(db: Db, userId: string, limit: number): Promise<RewardRecord[]> {
  const res = await db.query<RecordRow>(
    `SELECT ${RECORD_COLUMNS} FROM claims c JOIN reward_outbox o ON o.claim_id = c.claim_id
      WHERE c.user_id = $1 ORDER BY c.claimed_at DESC, c.claim_id LIMIT $2`,
    [userId, limit],
  );
  return res.rows.map(toRecord);
}

export type ReplayResult = 'replayed' | 'not_found' | 'granted' | 'in_flight';

/**
 * Put one reward back to pending, due now, attempts and age counted afresh. A granted reward is
 * never replayed; a pending one that a relay holds right now is left alone (in_flight).
 */
export async function replayReward(db: Db, claimId: string, now: number): Promise<ReplayResult> {
  const res = await db.query<{ replayed: boolean | null; status: OutboxStatus | null }>(
    `WITH r AS (
       UPDATE reward_outbox
          SET status = 'pending', attempts = 0, next_attempt_at = $2, lease_until = NULL, replayed_at = $2
        WHERE claim_id = $1
          AND (status = 'dead' OR (status = 'pending' AND (lease_until IS NULL OR lease_until <= $2)))
       RETURNING claim_id
     )
     SELECT (SELECT count(*) FROM r) > 0 AS replayed,
            (SELECT status FROM reward_outbox WHERE claim_id = $1) AS status`,
    [claimId, new Date(now)],
  );
  const row = res.rows[0]!;
  if (row.replayed) return 'replayed';
  if (row.status === null) return 'not_found';
  return row.status === 'granted' ? 'granted' : 'in_flight';
}

/** Every dead reward back to pending, in batches; returns how many. */
export async function replayAllDead(db: Db, now: number, batch = 1000): Promise<number> {
  let total = 0;
  for (;;) {
    const res = await db.query(
      `WITH d AS (
         SELECT claim_id FROM reward_outbox WHERE status = 'dead' ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED
       )
       UPDATE reward_outbox o
          SET status = 'pending', attempts = 0, next_attempt_at = $1, lease_until = NULL, replayed_at = $1
         FROM d WHERE o.claim_id = d.claim_id`,
      [new Date(now), batch],
    );
    const n = res.rowCount ?? 0;
    total += n;
    if (n < batch) return total;
  }
}
