// Players and everything known about one player, read in a single round trip.
import type { Db } from './db';
import type { ClaimFact, GoalStateFact, PlayerFacts, StatFact } from '../domain/facts';
import { factKey } from '../domain/facts';

const ms = (col: string) => `(extract(epoch from ${col}) * 1000)::bigint`;

// Facts of one player as JSON columns: one statement, one round trip. `$2` = the period keys that
// are current now, so baselines of ended periods are not shipped.
const FACTS_COLUMNS = `
  (SELECT coalesce(json_agg(json_build_array(stat_code, value, first_value, ${ms('first_seen_at')}, ${ms('updated_at')})), '[]')
     FROM stat_values WHERE user_id = $1) AS stats,
  (SELECT coalesce(json_agg(json_build_array(stat_code, period_key, value)), '[]')
     FROM stat_baselines WHERE user_id = $1 AND period_key = ANY($2::text[])) AS baselines,
  (SELECT coalesce(json_agg(json_build_array(goal_id, period_key, is_active, ${ms('assigned_at')}, baseline)), '[]')
     FROM goal_states WHERE user_id = $1) AS goal_states,
  (SELECT coalesce(json_agg(json_build_array(c.claim_id, c.goal_id, c.period_key, ${ms('c.claimed_at')}, o.status)), '[]')
     FROM claims c LEFT JOIN reward_outbox o ON o.claim_id = c.claim_id
    WHERE c.user_id = $1 AND (c.period_key = '' OR c.period_key = ANY($2::text[]))) AS claims`;

export const READ_FACTS_SQL = `SELECT ${ms('p.created_at')} AS created_at, ${FACTS_COLUMNS} FROM players p WHERE p.user_id = $1`;

// Initialise: insert the player row if absent and read the facts, in one statement. The CTE's
// reads see the snapshot before the insert, so a new player comes back with inserted_at set.
export const INITIALIZE_SQL = `
WITH ins AS (
  INSERT INTO players (user_id, created_at) VALUES ($1, $3) ON CONFLICT (user_id) DO NOTHING RETURNING created_at
)
SELECT (SELECT ${ms('created_at')} FROM ins) AS inserted_at,
       (SELECT ${ms('created_at')} FROM players WHERE user_id = $1) AS created_at,
       ${FACTS_COLUMNS}`;

type Row = {
  created_at: string | null;
  stats: [string, string | number, string | number, string | number, string | number][];
  baselines: [string, string, string | number][];
  goal_states: [string, string, boolean | null, string | number | null, string | number | null][];
  claims: [string, string, string, string | number, string | null][];
};

const num = (v: string | number): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: string | number | null): number | null => (v === null ? null : num(v));

function toFacts(userId: string, createdAt: number, row: Row): PlayerFacts {
  const stats = new Map<string, StatFact>();
  for (const [code, value, firstValue, firstSeenAt, updatedAt] of row.stats) {
    stats.set(code, {
      value: num(value),
      firstValue: num(firstValue),
      firstSeenAt: num(firstSeenAt),
      updatedAt: num(updatedAt),
    });
  }
  const baselines = new Map<string, number>();
  for (const [code, periodKey, value] of row.baselines) baselines.set(factKey(code, periodKey), num(value));
  const goalStates = new Map<string, GoalStateFact>();
  for (const [goalId, periodKey, isActive, assignedAt, baseline] of row.goal_states) {
    goalStates.set(factKey(goalId, periodKey), {
      goalId,
      periodKey,
      isActive,
      assignedAt: numOrNull(assignedAt),
      baseline: numOrNull(baseline),
    });
  }
  const claims = new Map<string, ClaimFact>();
  for (const [claimId, goalId, periodKey, claimedAt, status] of row.claims) {
    claims.set(factKey(goalId, periodKey), {
      claimId,
      goalId,
      periodKey,
      claimedAt: num(claimedAt),
      rewardStatus: status === 'granted' || status === 'dead' ? status : 'pending',
    });
  }
  return { userId, createdAt, stats, baselines, goalStates, claims };
}

/** Facts of a player, or null if the player is unknown. One round trip. */
export async function readPlayerFacts(
  db: Db,
  userId: string,
  periodKeys: readonly string[],
): Promise<PlayerFacts | null> {
  const res = await db.query<Row>(READ_FACTS_SQL, [userId, periodKeys]);
  const row = res.rows[0];
  if (!row || row.created_at === null) return null;
  return toFacts(userId, num(row.created_at), row);
}

/** Make the player known (at most one row written) and return its facts. One round trip. */
export async function initializePlayer(
  db: Db,
  userId: string,
  periodKeys: readonly string[],
  now: number,
): Promise<{ created: boolean; facts: PlayerFacts }> {
  const res = await db.query<Row & { inserted_at: string | null }>(INITIALIZE_SQL, [
    userId,
    periodKeys,
    new Date(now),
  ]);
  const row = res.rows[0]!;
  if (row.inserted_at !== null) {
    return { created: true, facts: toFacts(userId, num(row.inserted_at), row) };
  }
  // A concurrent first initialise committed between our snapshot and our insert: the row exists
  // but is invisible to this statement; its facts are still empty.
  const createdAt = row.created_at === null ? now : num(row.created_at);
  return { created: false, facts: toFacts(userId, createdAt, row) };
}
