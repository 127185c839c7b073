-- Facts, not views: nothing here is written per (player, goal) merely because a goal exists.

-- One row per player, written by the first initialise (or first event).
CREATE TABLE players (
  user_id    text PRIMARY KEY,
  created_at timestamptz NOT NULL
);

-- One row per (player, stat) the player has touched.
CREATE TABLE stat_values (
  user_id       text        NOT NULL,
  stat_code     text        NOT NULL,
  value         bigint      NOT NULL,
  -- value at the first observation (set: the value set; increment: 0)
  first_value   bigint      NOT NULL,
  first_seen_at timestamptz NOT NULL,
  -- occurredAt of the newest applied `set` (last writer wins); null when only increments were seen
  set_at        timestamptz,
  updated_at    timestamptz NOT NULL,
  PRIMARY KEY (user_id, stat_code)
);

-- Stat value at the start of a rotation period; only for stats used by relative rotating goals.
CREATE TABLE stat_baselines (
  user_id    text   NOT NULL,
  stat_code  text   NOT NULL,
  period_key text   NOT NULL,
  value      bigint NOT NULL,
  PRIMARY KEY (user_id, stat_code, period_key)
);

-- Only goals the player acted on (selected / deselected).
CREATE TABLE goal_states (
  user_id     text        NOT NULL,
  goal_id     text        NOT NULL,
  period_key  text        NOT NULL DEFAULT '',
  is_active   boolean,
  assigned_at timestamptz,
  baseline    bigint,
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (user_id, goal_id, period_key)
);

-- A claim is accepted once per (player, goal, period): the unique key makes concurrent claims safe.
CREATE TABLE claims (
  claim_id     uuid        PRIMARY KEY,
  user_id      text        NOT NULL,
  challenge_id text        NOT NULL,
  goal_id      text        NOT NULL,
  period_key   text        NOT NULL DEFAULT '',
  reward       jsonb       NOT NULL,
  claimed_at   timestamptz NOT NULL,
  UNIQUE (user_id, goal_id, period_key)
);

-- Written in the claim's statement; the relay delivers it exactly once (idempotency key = claim_id).
CREATE TABLE reward_outbox (
  claim_id        uuid        PRIMARY KEY REFERENCES claims (claim_id),
  user_id         text        NOT NULL,
  reward          jsonb       NOT NULL,
  status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'granted', 'dead')),
  attempts        integer     NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  lease_until     timestamptz,
  last_error      text,
  created_at      timestamptz NOT NULL,
  granted_at      timestamptz
);
CREATE INDEX reward_outbox_due ON reward_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX reward_outbox_dead ON reward_outbox (created_at) WHERE status = 'dead';

-- Event ids already applied: duplicate suppression inside the applying statement. Pruned by age.
CREATE TABLE processed_events (
  event_id     text        PRIMARY KEY,
  processed_at timestamptz NOT NULL
);
CREATE INDEX processed_events_age ON processed_events (processed_at);
