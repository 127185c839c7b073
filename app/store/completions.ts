// goal_completions: when a goal was completed (one row per player, goal and claim period).
import type { Db } from './db';

export interface CompletionRow {
  userId: string;
  goalId: string;
  periodKey: string;
  /** epoch ms */
  completedAt: number;
}

export const INSERT_COMPLETIONS_SQL = `
INSERT INTO goal_completions (user_id, goal_id, period_key, completed_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
ON CONFLICT DO NOTHING`;

/** Record completions; the first record of a (player, goal, period) stays. Returns rows inserted. */
export async function insertCompletions(db: Db, rows: readonly CompletionRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const res = await db.query(INSERT_COMPLETIONS_SQL, [
    rows.map((r) => r.userId),
    rows.map((r) => r.goalId),
    rows.map((r) => r.periodKey),
    rows.map((r) => new Date(r.completedAt)),
  ]);
  return res.rowCount ?? 0;
}
