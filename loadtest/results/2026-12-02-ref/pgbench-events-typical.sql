WITH ev AS (
  SELECT DISTINCT ON (event_id, stat_code) *
    FROM unnest((ARRAY(SELECT md5(random()::text || clock_timestamp()::text || g) FROM generate_series(1, 500) g))::text[], (ARRAY(SELECT 'pgbe' || (g * 7919 + (random() * 20000)::int) % 20000 FROM generate_series(1, 500) g))::text[], (ARRAY(SELECT 'stat' || (g % 5) FROM generate_series(1, 500) g))::text[], (ARRAY(SELECT 'increment' FROM generate_series(1, 500) g))::text[], (ARRAY(SELECT 1 FROM generate_series(1, 500) g))::bigint[], (ARRAY(SELECT now() FROM generate_series(1, 500) g))::timestamptz[])
         AS t(event_id, user_id, stat_code, mode, value, occurred_at)
   ORDER BY event_id, stat_code
), fresh AS (
  -- with its player, so a GDPR erasure can delete the row (an event id names one player)
  INSERT INTO processed_events (event_id, user_id, processed_at)
  SELECT DISTINCT ON (event_id) event_id, user_id, (now())::timestamptz FROM ev ORDER BY event_id
  ON CONFLICT (event_id) DO NOTHING
  RETURNING event_id
), agg AS (
  SELECT e.user_id, e.stat_code,
         coalesce(sum(e.value) FILTER (WHERE e.mode = 'increment'), 0) AS inc,
         (array_agg(e.value ORDER BY e.occurred_at DESC, e.event_id DESC) FILTER (WHERE e.mode = 'set'))[1] AS set_value,
         max(e.occurred_at) FILTER (WHERE e.mode = 'set') AS set_at,
         CASE WHEN e.stat_code = ANY((NULL)::text[]) THEN max(e.value)
              WHEN e.stat_code = ANY((NULL)::text[]) THEN min(e.value) END AS ext
    FROM ev e JOIN fresh f ON f.event_id = e.event_id
   GROUP BY e.user_id, e.stat_code
), new_players AS (
  INSERT INTO players (user_id, created_at) SELECT DISTINCT user_id, (now()) FROM agg
  ON CONFLICT (user_id) DO NOTHING
  RETURNING user_id, (extract(epoch FROM created_at) * 1000)::bigint AS created_ms
), baselines AS (
  -- value before this statement's change (the snapshot), or the first observed value for a new stat
  INSERT INTO stat_baselines (user_id, stat_code, period_key, value)
  SELECT a.user_id, a.stat_code, b.period_key, coalesce(s.value, a.ext, a.set_value, 0)
    FROM agg a
    JOIN unnest(('{}')::text[], ('{}')::text[]) AS b(stat_code, period_key) ON b.stat_code = a.stat_code
    LEFT JOIN stat_values s ON s.user_id = a.user_id AND s.stat_code = a.stat_code
  ON CONFLICT DO NOTHING
  RETURNING user_id, stat_code, period_key, value
), up AS (
  -- first_value + inc = value for a new row, so EXCLUDED.value - EXCLUDED.first_value is the increment;
  -- a max / min stat's row proposes the batch's max / min as both
  INSERT INTO stat_values AS s (user_id, stat_code, value, first_value, first_seen_at, set_at, updated_at)
  SELECT user_id, stat_code, coalesce(ext, coalesce(set_value, 0) + inc), coalesce(ext, set_value, 0), (now()), set_at, (now())
    FROM agg
  ON CONFLICT (user_id, stat_code) DO UPDATE SET
    value = CASE
      WHEN EXCLUDED.stat_code = ANY((NULL)::text[]) THEN greatest(s.value, EXCLUDED.value)
      WHEN EXCLUDED.stat_code = ANY((NULL)::text[]) THEN least(s.value, EXCLUDED.value)
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
       (SELECT coalesce(json_agg(json_build_array(user_id, created_ms)), '[]') FROM new_players) AS new_players;
