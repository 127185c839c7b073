-- challenge_initialize_players: a player this call inserted has no facts (an event for an unknown
-- player inserts the player row first, so it would have made our insert a no-op), so the facts are
-- read only for the players that already existed. A new player's answer costs the insert alone,
-- not four more index probes.
CREATE OR REPLACE FUNCTION challenge_initialize_players(p_users text[], p_create boolean[], p_periods text[], p_now timestamptz)
RETURNS TABLE (r_user text, r_inserted boolean, r_created_at bigint, r_stats json, r_baselines json, r_goal_states json, r_claims json)
LANGUAGE plpgsql AS $$
DECLARE
  v_inserted text[];
BEGIN
  WITH ins AS (
    INSERT INTO players AS pl (user_id, created_at)
    SELECT DISTINCT t.user_id, p_now FROM unnest(p_users, p_create) AS t (user_id, want) WHERE t.want
    ON CONFLICT (user_id) DO NOTHING
    RETURNING pl.user_id
  )
  SELECT coalesce(array_agg(ins.user_id), '{}') INTO v_inserted FROM ins;

  RETURN QUERY
  SELECT i.user_id, i.user_id = ANY (v_inserted),
         CASE WHEN i.user_id = ANY (v_inserted) THEN (extract(epoch FROM p_now) * 1000)::bigint ELSE f.r_created_at END,
         coalesce(f.r_stats, '[]'), coalesce(f.r_baselines, '[]'),
         coalesce(f.r_goal_states, '[]'), coalesce(f.r_claims, '[]')
    FROM unnest(p_users) WITH ORDINALITY AS i (user_id, ord)
    LEFT JOIN challenge_players_facts(
      ARRAY(SELECT u FROM unnest(p_users) AS u WHERE NOT (u = ANY (v_inserted))), p_periods
    ) f ON f.r_user = i.user_id
   ORDER BY i.ord;
END
$$;
