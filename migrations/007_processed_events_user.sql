-- The player of each applied event id, so that a GDPR erasure removes the player's dedup rows too
-- (app/gdpr/store.ts deletes by it). Nullable: rows written before this migration have no player
-- and age out with PROCESSED_EVENTS_RETENTION_MS (7 days). The index build holds back the worker's
-- inserts while it runs (the table holds at most the retention window); events wait in the stream
-- meanwhile, nothing is lost.
ALTER TABLE processed_events ADD COLUMN user_id text;
CREATE INDEX processed_events_user ON processed_events (user_id);
