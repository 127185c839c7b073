-- pgbench script: apply one batch of 500 stat increments (duplicate suppression, coalescing per
-- (player, stat), upsert), a simplified copy of APPLY_STAT_CHANGES_SQL in app/store/stats.ts.
-- The bench uses the compiled store's APPLY_STAT_CHANGES_SQL when dist/ exports it.
WITH ev AS (
  SELECT md5(random()::text || clock_timestamp()::text || g) AS event_id,
         'pgbe' || (random() * 20000)::int AS user_id,
         'stat' || (g % 5) AS stat_code,
         1::bigint AS value
    FROM generate_series(1, 500) g
), fresh AS (
  INSERT INTO processed_events (event_id, user_id, processed_at) SELECT event_id, user_id, now() FROM ev
  ON CONFLICT (event_id) DO NOTHING RETURNING event_id
), agg AS (
  SELECT e.user_id, e.stat_code, sum(e.value) AS inc FROM ev e JOIN fresh f USING (event_id)
   GROUP BY e.user_id, e.stat_code
), new_players AS (
  INSERT INTO players (user_id, created_at) SELECT DISTINCT user_id, now() FROM agg ON CONFLICT (user_id) DO NOTHING
)
INSERT INTO stat_values AS s (user_id, stat_code, value, first_value, first_seen_at, updated_at)
SELECT user_id, stat_code, inc, 0, now(), now() FROM agg
ON CONFLICT (user_id, stat_code) DO UPDATE SET value = s.value + EXCLUDED.value, updated_at = EXCLUDED.updated_at;
