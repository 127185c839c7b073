-- Idempotency-Key answers of player POST/PUT routes, per principal (player id) and key.
-- status IS NULL while the first request runs (owner identifies that run); otherwise the stored
-- answer (2xx/4xx only) that every repeat of the same request within the TTL gets back verbatim.
CREATE TABLE idempotency_keys (
  principal        text        NOT NULL,
  idem_key         text        NOT NULL,
  -- sha256 of method, path, query and raw body: a different request under the same key is refused
  request_hash     text        NOT NULL,
  owner            uuid        NOT NULL,
  locked_until     timestamptz,
  status           integer,
  response_body    text,
  response_headers jsonb,
  created_at       timestamptz NOT NULL,
  completed_at     timestamptz,
  PRIMARY KEY (principal, idem_key)
);
-- Pruning by age in batches.
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);

-- When an operator last put a dead reward back to pending: the max-age rule counts from it.
ALTER TABLE reward_outbox ADD COLUMN replayed_at timestamptz;
