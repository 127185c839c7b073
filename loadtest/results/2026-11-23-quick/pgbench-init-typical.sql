\set uid random(1, 2000000000)
WITH ins AS (
  INSERT INTO players (user_id, created_at) VALUES (('pgb' || :uid), now()) ON CONFLICT (user_id) DO NOTHING RETURNING created_at
)
SELECT (SELECT (extract(epoch from created_at) * 1000)::bigint FROM ins) AS inserted_at,
       (SELECT (extract(epoch from created_at) * 1000)::bigint FROM players WHERE user_id = ('pgb' || :uid)) AS created_at,
       
  (SELECT coalesce(json_agg(json_build_array(stat_code, value, first_value, (extract(epoch from first_seen_at) * 1000)::bigint, (extract(epoch from updated_at) * 1000)::bigint)), '[]')
     FROM stat_values WHERE user_id = ('pgb' || :uid)) AS stats,
  (SELECT coalesce(json_agg(json_build_array(stat_code, period_key, value)), '[]')
     FROM stat_baselines WHERE user_id = ('pgb' || :uid) AND period_key = ANY('{}'::text[])) AS baselines,
  (SELECT coalesce(json_agg(json_build_array(goal_id, period_key, is_active, (extract(epoch from assigned_at) * 1000)::bigint, baseline)), '[]')
     FROM goal_states WHERE user_id = ('pgb' || :uid)) AS goal_states,
  (SELECT coalesce(json_agg(json_build_array(c.claim_id, c.goal_id, c.period_key, (extract(epoch from c.claimed_at) * 1000)::bigint, o.status)), '[]')
     FROM claims c LEFT JOIN reward_outbox o ON o.claim_id = c.claim_id
    WHERE c.user_id = ('pgb' || :uid) AND (c.period_key = '' OR c.period_key = ANY('{}'::text[]))) AS claims;
