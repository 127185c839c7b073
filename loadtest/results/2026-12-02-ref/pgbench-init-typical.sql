\set uid random(1, 2000000000)
SELECT r_user AS user_id, r_inserted AS inserted, r_created_at AS created_at, r_stats AS stats, r_baselines AS baselines, r_goal_states AS goal_states, r_claims AS claims, r_completions AS completions FROM challenge_initialize_players(ARRAY['pgb' || :uid]::text[], ARRAY[true]::boolean[], '{}'::text[], now());
