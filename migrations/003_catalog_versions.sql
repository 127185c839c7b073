-- Catalogs published through the admin API (CATALOG_SOURCE=admin). Append-only history: the row with
-- the highest revision is the live catalog; a rollback appends a copy of an older document.
CREATE TABLE catalog_versions (
  revision      bigserial   PRIMARY KEY,
  -- content hash of the normalised catalog (Catalog.version)
  version       text        NOT NULL,
  -- the document as published (current or legacy format); validated again when a pod loads it
  document      jsonb       NOT NULL,
  action        text        NOT NULL CHECK (action IN ('publish', 'rollback')),
  -- version that was live when this row was written (null for the first publish)
  previous_version text,
  published_by  text        NOT NULL,
  published_at  timestamptz NOT NULL,
  comment       text,
  -- counts of the diff against the previous live catalog: {goalsAdded, goalsRemoved, goalsChanged, ...}
  summary       jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX catalog_versions_by_version ON catalog_versions (version, revision DESC);
