// Goal selections. A request's writes go in one statement, so they apply whole or not at all;
// concurrent requests of different players share that statement (./batcher.ts), so under load a
// selection costs a fraction of a round trip and of a commit.
import type { Db } from './db';
import { perDb, statementBatcher } from './batcher';

export interface GoalStateWrite {
  goalId: string;
  periodKey: string;
  isActive: boolean;
  /** Stat code of a relative goal being activated: its current value becomes the baseline. */
  baselineStat: string | null;
}

// Activation keeps the first assignedAt/baseline of an already active row; a (re)activation of an
// inactive row takes the new time and (if none yet) the stat value at this moment. Rows go in key
// order, so two statements upserting the same rows lock them in the same order (no deadlock).
export const UPSERT_GOAL_STATES_SQL = `
WITH input AS (
  SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::boolean[], $6::text[])
    AS t(user_id, at, goal_id, period_key, is_active, baseline_stat)
), p AS (
  INSERT INTO players (user_id, created_at)
  SELECT user_id, min(at) FROM input GROUP BY user_id ORDER BY user_id
  ON CONFLICT (user_id) DO NOTHING
)
INSERT INTO goal_states AS g (user_id, goal_id, period_key, is_active, assigned_at, baseline, updated_at)
SELECT i.user_id, i.goal_id, i.period_key, i.is_active,
       CASE WHEN i.is_active THEN i.at END,
       CASE WHEN i.is_active AND i.baseline_stat IS NOT NULL
            THEN (SELECT s.value FROM stat_values s WHERE s.user_id = i.user_id AND s.stat_code = i.baseline_stat) END,
       i.at
  FROM input i
 ORDER BY i.user_id, i.goal_id, i.period_key
ON CONFLICT (user_id, goal_id, period_key) DO UPDATE SET
  is_active = EXCLUDED.is_active,
  assigned_at = CASE WHEN EXCLUDED.is_active AND g.is_active IS TRUE THEN g.assigned_at ELSE EXCLUDED.assigned_at END,
  baseline = CASE WHEN EXCLUDED.is_active THEN coalesce(g.baseline, EXCLUDED.baseline) ELSE g.baseline END,
  updated_at = EXCLUDED.updated_at
RETURNING user_id, goal_id, (extract(epoch from assigned_at) * 1000)::bigint AS assigned_at`;

interface Item {
  userId: string;
  now: number;
  writes: readonly GoalStateWrite[];
}
type Written = Map<string, number | null>;

async function upsert(db: Db, items: Item[]): Promise<Written[]> {
  const cols: [string[], Date[], string[], string[], boolean[], (string | null)[]] = [[], [], [], [], [], []];
  for (const it of items) {
    const at = new Date(it.now);
    for (const w of it.writes) {
      cols[0].push(it.userId);
      cols[1].push(at);
      cols[2].push(w.goalId);
      cols[3].push(w.periodKey);
      cols[4].push(w.isActive);
      cols[5].push(w.baselineStat);
    }
  }
  const res = await db.query<{ user_id: string; goal_id: string; assigned_at: string | null }>(
    UPSERT_GOAL_STATES_SQL,
    cols,
  );
  const byUser = new Map<string, Written>(items.map((i) => [i.userId, new Map()]));
  for (const r of res.rows) {
    byUser.get(r.user_id)!.set(r.goal_id, r.assigned_at === null ? null : Number(r.assigned_at));
  }
  return items.map((i) => byUser.get(i.userId)!);
}

const batchers = perDb((db: Db) =>
  statementBatcher(db, async (items: Item[]): Promise<Written[]> => {
    // One statement may not upsert a row twice: a player's second request in the same batch
    // goes in a following statement (in arrival order, so the later request wins as it would
    // have alone).
    const out = new Map<Item, Written>();
    let rest = items;
    while (rest.length > 0) {
      const users = new Set<string>();
      const round: Item[] = [];
      const later: Item[] = [];
      for (const it of rest) {
        if (users.has(it.userId)) later.push(it);
        else {
          users.add(it.userId);
          round.push(it);
        }
      }
      const written = await upsert(db, round);
      round.forEach((it, i) => out.set(it, written[i]!));
      rest = later;
    }
    return items.map((i) => out.get(i)!);
  }),
);

/** Upserts one player's goal states; the answer maps goal id -> assignedAt (ms) of each written row. */
export async function writeGoalStates(
  db: Db,
  userId: string,
  now: number,
  writes: readonly GoalStateWrite[],
): Promise<Map<string, number | null>> {
  if (writes.length === 0) return new Map();
  return batchers(db).submit({ userId, now, writes });
}
