// Goal selections. One statement per request, so a batch either applies whole or not at all.
import type { Db } from './db';

export interface GoalStateWrite {
  goalId: string;
  periodKey: string;
  isActive: boolean;
  /** Stat code of a relative goal being activated: its current value becomes the baseline. */
  baselineStat: string | null;
}

// Activation keeps the first assignedAt/baseline of an already active row; a (re)activation of an
// inactive row takes the new time and (if none yet) the stat value at this moment.
export const UPSERT_GOAL_STATES_SQL = `
WITH p AS (
  INSERT INTO players (user_id, created_at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING
), input AS (
  SELECT * FROM unnest($3::text[], $4::text[], $5::boolean[], $6::text[]) AS t(goal_id, period_key, is_active, baseline_stat)
)
INSERT INTO goal_states AS g (user_id, goal_id, period_key, is_active, assigned_at, baseline, updated_at)
SELECT $1, i.goal_id, i.period_key, i.is_active,
       CASE WHEN i.is_active THEN $2::timestamptz END,
       CASE WHEN i.is_active AND i.baseline_stat IS NOT NULL
            THEN (SELECT s.value FROM stat_values s WHERE s.user_id = $1 AND s.stat_code = i.baseline_stat) END,
       $2
  FROM input i
ON CONFLICT (user_id, goal_id, period_key) DO UPDATE SET
  is_active = EXCLUDED.is_active,
  assigned_at = CASE WHEN EXCLUDED.is_active AND g.is_active IS TRUE THEN g.assigned_at ELSE EXCLUDED.assigned_at END,
  baseline = CASE WHEN EXCLUDED.is_active THEN coalesce(g.baseline, EXCLUDED.baseline) ELSE g.baseline END,
  updated_at = EXCLUDED.updated_at
RETURNING goal_id, (extract(epoch from assigned_at) * 1000)::bigint AS assigned_at`;

export async function writeGoalStates(
  db: Db,
  userId: string,
  now: number,
  writes: readonly GoalStateWrite[],
): Promise<Map<string, number | null>> {
  if (writes.length === 0) return new Map();
  const res = await db.query<{ goal_id: string; assigned_at: string | null }>(UPSERT_GOAL_STATES_SQL, [
    userId,
    new Date(now),
    writes.map((w) => w.goalId),
    writes.map((w) => w.periodKey),
    writes.map((w) => w.isActive),
    writes.map((w) => w.baselineStat),
  ]);
  return new Map(res.rows.map((r) => [r.goal_id, r.assigned_at === null ? null : Number(r.assigned_at)]));
}
