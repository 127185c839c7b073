// Published catalog history (migration 003). SQL only; what a publish means lives in catalog/admin.ts.
import type { PoolClient } from 'pg';
import type { Db } from './db';

export interface CatalogRevisionHead {
  revision: number;
  version: string;
}

/** What a publish or rollback records besides the document. */
interface RevisionFields {
  action: 'publish' | 'rollback';
  previousVersion: string | null;
  publishedBy: string;
  /** epoch ms */
  publishedAt: number;
  comment: string | null;
  summary: Record<string, unknown>;
}

export interface CatalogRevision extends CatalogRevisionHead, RevisionFields {}

export interface CatalogRevisionWithDocument extends CatalogRevision {
  document: unknown;
}

export interface NewCatalogRevision extends RevisionFields {
  version: string;
  document: unknown;
}

interface Row {
  revision: string;
  version: string;
  action: 'publish' | 'rollback';
  previous_version: string | null;
  published_by: string;
  published_at: Date;
  comment: string | null;
  summary: Record<string, unknown>;
  document?: unknown;
}

const COLUMNS = 'revision, version, action, previous_version, published_by, published_at, comment, summary';

function fromRow(r: Row): CatalogRevision {
  return {
    revision: Number(r.revision),
    version: r.version,
    action: r.action,
    previousVersion: r.previous_version,
    publishedBy: r.published_by,
    publishedAt: r.published_at.getTime(),
    comment: r.comment,
    summary: r.summary,
  };
}

type Queryable = Pick<Db, 'query'> | PoolClient;

/** The live revision (highest), without its document: what pods poll. */
export async function latestCatalogHead(db: Queryable): Promise<CatalogRevisionHead | null> {
  const res = await db.query<{ revision: string; version: string }>(
    'SELECT revision, version FROM catalog_versions ORDER BY revision DESC LIMIT 1',
  );
  const r = res.rows[0];
  return r ? { revision: Number(r.revision), version: r.version } : null;
}

export async function readCatalogRevision(
  db: Queryable,
  revision: number,
): Promise<CatalogRevisionWithDocument | null> {
  const res = await db.query<Row>(`SELECT ${COLUMNS}, document FROM catalog_versions WHERE revision = $1`, [
    revision,
  ]);
  const r = res.rows[0];
  return r ? { ...fromRow(r), document: r.document } : null;
}

/** The newest revision that holds `version`. */
export async function findCatalogVersion(
  db: Queryable,
  version: string,
): Promise<CatalogRevisionWithDocument | null> {
  const res = await db.query<Row>(
    `SELECT ${COLUMNS}, document FROM catalog_versions WHERE version = $1 ORDER BY revision DESC LIMIT 1`,
    [version],
  );
  const r = res.rows[0];
  return r ? { ...fromRow(r), document: r.document } : null;
}

export async function listCatalogRevisions(
  db: Queryable,
  limit: number,
  beforeRevision?: number,
): Promise<CatalogRevision[]> {
  const res = await db.query<Row>(
    `SELECT ${COLUMNS} FROM catalog_versions
      WHERE ($2::bigint IS NULL OR revision < $2)
      ORDER BY revision DESC LIMIT $1`,
    [limit, beforeRevision ?? null],
  );
  return res.rows.map(fromRow);
}

/**
 * Serialises publishers for the rest of the caller's transaction (a table lock, not an advisory
 * lock, so it is safe behind PgBouncer in transaction mode). Readers are not blocked.
 */
export async function lockCatalogVersions(client: PoolClient): Promise<void> {
  await client.query('LOCK TABLE catalog_versions IN SHARE ROW EXCLUSIVE MODE');
}

export async function insertCatalogRevision(db: Queryable, r: NewCatalogRevision): Promise<CatalogRevision> {
  const res = await db.query<Row>(
    `INSERT INTO catalog_versions (version, document, action, previous_version, published_by, published_at, comment, summary)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     RETURNING ${COLUMNS}`,
    [
      r.version,
      JSON.stringify(r.document),
      r.action,
      r.previousVersion,
      r.publishedBy,
      new Date(r.publishedAt),
      r.comment,
      JSON.stringify(r.summary),
    ],
  );
  return fromRow(res.rows[0]!);
}
