-- When a goal was completed: one row per completion (player, goal, claim period), written by the
-- worker when an applied event makes a goal's progress reach its target. Sparse: nothing is written
-- for goals that are not completed. period_key is '' except for goals whose progress resets with
-- their rotation period (as for claims).
CREATE TABLE goal_completions (
  user_id      text        NOT NULL,
  goal_id      text        NOT NULL,
  period_key   text        NOT NULL DEFAULT '',
  completed_at timestamptz NOT NULL,
  PRIMARY KEY (user_id, goal_id, period_key)
);

-- The facts read and the initialise now also return the player's completions (of the current
-- periods): the return type changes, so both functions are dropped and created again.
DROP FUNCTION challenge_initialize_players(text[], boolean[], text[], timestamptz);
DROP FUNCTION challenge_players_facts(text[], text[]);

CREATE FUNCTION challenge_players_facts(p_users text[], p_periods text[])
RETURNS TABLE (r_user text, r_created_at bigint, r_stats json, r_baselines json, r_goal_states json, r_claims json, r_completions json)
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN QUERY
  SELECT u.user_id, (extract(epoch FROM p.created_at) * 1000)::bigint, st.j, bl.j, gs.j, cl.j, co.j
    FROM unnest(p_users) AS u (user_id)
    JOIN players p ON p.user_id = u.user_id
    CROSS JOIN LATERAL (
      SELECT coalesce(json_agg(json_build_array(s.stat_code, s.value, s.first_value,
                                                (extract(epoch FROM s.first_seen_at) * 1000)::bigint,
                                                (extract(epoch FROM s.updated_at) * 1000)::bigint)), '[]') AS j
        FROM stat_values s WHERE s.user_id = u.user_id) st
    CROSS JOIN LATERAL (
      SELECT coalesce(json_agg(json_build_array(b.stat_code, b.period_key, b.value)), '[]') AS j
        FROM stat_baselines b WHERE b.user_id = u.user_id AND b.period_key = ANY (p_periods)) bl
    CROSS JOIN LATERAL (
      SELECT coalesce(json_agg(json_build_array(g.goal_id, g.period_key, g.is_active,
                                                (extract(epoch FROM g.assigned_at) * 1000)::bigint, g.baseline)), '[]') AS j
        FROM goal_states g WHERE g.user_id = u.user_id) gs
    CROSS JOIN LATERAL (
      SELECT coalesce(json_agg(json_build_array(c.claim_id, c.goal_id, c.period_key,
                                                (extract(epoch FROM c.claimed_at) * 1000)::bigint, o.status)), '[]') AS j
        FROM claims c LEFT JOIN reward_outbox o ON o.claim_id = c.claim_id
       WHERE c.user_id = u.user_id AND (c.period_key = '' OR c.period_key = ANY (p_periods))) cl
    CROSS JOIN LATERAL (
      SELECT coalesce(json_agg(json_build_array(k.goal_id, k.period_key,
                                                (extract(epoch FROM k.completed_at) * 1000)::bigint)), '[]') AS j
        FROM goal_completions k
       WHERE k.user_id = u.user_id AND (k.period_key = '' OR k.period_key = ANY (p_periods))) co;
END
$$;

CREATE FUNCTION challenge_initialize_players(p_users text[], p_create boolean[], p_periods text[], p_now timestamptz)
RETURNS TABLE (r_user text, r_inserted boolean, r_created_at bigint, r_stats json, r_baselines json, r_goal_states json, r_claims json, r_completions json)
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
         coalesce(f.r_goal_states, '[]'), coalesce(f.r_claims, '[]'), coalesce(f.r_completions, '[]')
    FROM unnest(p_users) WITH ORDINALITY AS i (user_id, ord)
    LEFT JOIN challenge_players_facts(
      ARRAY(SELECT u FROM unnest(p_users) AS u WHERE NOT (u = ANY (v_inserted))), p_periods
    ) f ON f.r_user = i.user_id
   ORDER BY i.ord;
END
$$;
