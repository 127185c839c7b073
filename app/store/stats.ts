// Apply a batch of stat changes in ONE statement (one round trip, one transaction):
// duplicate suppression by event id, coalescing per (player, stat), last-writer-wins for `set`
// by occurredAt, increments added, max / min kept, period baselines recorded before the first change
// of a period. A stat with a max (min) change in the batch is folded as max (min) for the whole batch:
// the greatest (least) of the stored value and every value the batch reports for it (the catalog's
// declaration decides the mode at ingest, app/events/event.ts, so a batch mixes modes for one stat
// only across a catalog change).
import type { Db } from './db';

export interface StatChange {
  /** Unique per producer; a login event expands into several changes sharing its id. */
  eventId: string;
  userId: string;
  statCode: string;
  mode: 'set' | 'increment' | 'max' | 'min';
  value: number;
  /** epoch ms */
  occurredAt: number;
}

export interface BaselineNeed {
  statCode: string;
  /** Keys of the periods current at apply time for that stat's relative rotating goals. */
  periodKey: string;
}

export interface ApplyResult {
  /** Distinct event ids applied for the first time. */
  freshEvents: number;
  /** Distinct event ids seen before (ignored). */
  duplicateEvents: number;
  /** New row of every (player, stat) this batch changed. */
  changed: ChangedStat[];
  /** Period baselines this statement recorded (first change of a stat in a period). */
  baselines: { userId: string; statCode: string; periodKey: string; value: number }[];
  /** Players this statement created. */
  newPlayers: { userId: string; createdAt: number }[];
}

export interface ChangedStat {
  userId: string;
  statCode: string;
  value: number;
  firstValue: number;
  /** epoch ms */
  firstSeenAt: number;
  /** epoch ms */
  updatedAt: number;
}

export const APPLY_STAT_CHANGES_SQL = `
WITH ev AS (
  SELECT DISTINCT ON (event_id, stat_code) *
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::timestamptz[])
         AS t(event_id, user_id, stat_code, mode, value, occurred_at)
   ORDER BY event_id, stat_code
), fresh AS (
  -- with its player, so a GDPR erasure can delete the row (an event id names one player)
  INSERT INTO processed_events (event_id, user_id, processed_at)
  SELECT DISTINCT ON (event_id) event_id, user_id, $7::timestamptz FROM ev ORDER BY event_id
  ON CONFLICT (event_id) DO NOTHING
  RETURNING event_id
), agg AS (
  SELECT e.user_id, e.stat_code,
         coalesce(sum(e.value) FILTER (WHERE e.mode = 'increment'), 0) AS inc,
         (array_agg(e.value ORDER BY e.occurred_at DESC, e.event_id DESC) FILTER (WHERE e.mode = 'set'))[1] AS set_value,
         max(e.occurred_at) FILTER (WHERE e.mode = 'set') AS set_at,
         CASE WHEN e.stat_code = ANY($10::text[]) THEN max(e.value)
              WHEN e.stat_code = ANY($11::text[]) THEN min(e.value) END AS ext
    FROM ev e JOIN fresh f ON f.event_id = e.event_id
   GROUP BY e.user_id, e.stat_code
), new_players AS (
  INSERT INTO players (user_id, created_at) SELECT DISTINCT user_id, $7 FROM agg
  ON CONFLICT (user_id) DO NOTHING
  RETURNING user_id, (extract(epoch FROM created_at) * 1000)::bigint AS created_ms
), baselines AS (
  -- value before this statement's change (the snapshot), or the first observed value for a new stat
  INSERT INTO stat_baselines (user_id, stat_code, period_key, value)
  SELECT a.user_id, a.stat_code, b.period_key, coalesce(s.value, a.ext, a.set_value, 0)
    FROM agg a
    JOIN unnest($8::text[], $9::text[]) AS b(stat_code, period_key) ON b.stat_code = a.stat_code
    LEFT JOIN stat_values s ON s.user_id = a.user_id AND s.stat_code = a.stat_code
  ON CONFLICT DO NOTHING
  RETURNING user_id, stat_code, period_key, value
), up AS (
  -- first_value + inc = value for a new row, so EXCLUDED.value - EXCLUDED.first_value is the increment;
  -- a max / min stat's row proposes the batch's max / min as both
  INSERT INTO stat_values AS s (user_id, stat_code, value, first_value, first_seen_at, set_at, updated_at)
  SELECT user_id, stat_code, coalesce(ext, coalesce(set_value, 0) + inc), coalesce(ext, set_value, 0), $7, set_at, $7
    FROM agg
  ON CONFLICT (user_id, stat_code) DO UPDATE SET
    value = CASE
      WHEN EXCLUDED.stat_code = ANY($10::text[]) THEN greatest(s.value, EXCLUDED.value)
      WHEN EXCLUDED.stat_code = ANY($11::text[]) THEN least(s.value, EXCLUDED.value)
      WHEN EXCLUDED.set_at IS NOT NULL AND (s.set_at IS NULL OR EXCLUDED.set_at > s.set_at) THEN EXCLUDED.value
      ELSE s.value + (EXCLUDED.value - EXCLUDED.first_value) END,
    set_at = greatest(s.set_at, EXCLUDED.set_at),
    updated_at = EXCLUDED.updated_at
  RETURNING user_id, stat_code, value, first_value, (extract(epoch FROM first_seen_at) * 1000)::bigint AS first_seen_ms,
            (extract(epoch FROM updated_at) * 1000)::bigint AS updated_ms
)
SELECT (SELECT count(*) FROM fresh)::int AS fresh,
       (SELECT count(DISTINCT event_id) FROM ev)::int AS distinct_events,
       (SELECT coalesce(json_agg(json_build_array(user_id, stat_code, value, first_value, first_seen_ms, updated_ms)), '[]')
          FROM up) AS changed,
       (SELECT coalesce(json_agg(json_build_array(user_id, stat_code, period_key, value)), '[]') FROM baselines) AS baselines,
       (SELECT coalesce(json_agg(json_build_array(user_id, created_ms)), '[]') FROM new_players) AS new_players`;

/** Stat codes folded as max, and as min (max wins for a stat with both), in this batch. */
function foldedStats(changes: readonly StatChange[]): [string[], string[]] {
  const max = new Set<string>();
  const min = new Set<string>();
  for (const c of changes) {
    if (c.mode === 'max') max.add(c.statCode);
    else if (c.mode === 'min') min.add(c.statCode);
  }
  return [[...max], [...min].filter((code) => !max.has(code))];
}

export async function applyStatChanges(
  db: Db,
  changes: readonly StatChange[],
  baselineNeeds: readonly BaselineNeed[],
  now: number,
): Promise<ApplyResult> {
  if (changes.length === 0)
    return { freshEvents: 0, duplicateEvents: 0, changed: [], baselines: [], newPlayers: [] };
  const res = await db.query<{
    fresh: number;
    distinct_events: number;
    changed: [string, string, number | string, number | string, number | string, number | string][];
    baselines: [string, string, string, number | string][];
    new_players: [string, number | string][];
  }>(APPLY_STAT_CHANGES_SQL, [
    changes.map((c) => c.eventId),
    changes.map((c) => c.userId),
    changes.map((c) => c.statCode),
    changes.map((c) => c.mode),
    changes.map((c) => c.value),
    changes.map((c) => new Date(c.occurredAt)),
    new Date(now),
    baselineNeeds.map((b) => b.statCode),
    baselineNeeds.map((b) => b.periodKey),
    ...foldedStats(changes),
  ]);
  const row = res.rows[0]!;
  return {
    freshEvents: row.fresh,
    duplicateEvents: row.distinct_events - row.fresh,
    changed: row.changed.map(([userId, statCode, value, firstValue, firstSeenAt, updatedAt]) => ({
      userId,
      statCode,
      value: Number(value),
      firstValue: Number(firstValue),
      firstSeenAt: Number(firstSeenAt),
      updatedAt: Number(updatedAt),
    })),
    baselines: row.baselines.map(([userId, statCode, periodKey, value]) => ({
      userId,
      statCode,
      periodKey,
      value: Number(value),
    })),
    newPlayers: row.new_players.map(([userId, createdAt]) => ({ userId, createdAt: Number(createdAt) })),
  };
}
