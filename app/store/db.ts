// Pool lifecycle and the one transaction helper. PgBouncer runs in transaction mode, so nothing
// here relies on session state: no named prepared statements, no session SET, no LISTEN.
// Two timeouts:
// - PG_STATEMENT_TIMEOUT_MS is PostgreSQL's own statement_timeout. PgBouncer in transaction mode
//   does not pass startup parameters to the server (`options` and `statement_timeout` are in its
//   ignore_startup_parameters, dropped, in scripts/services.sh and the chart), and a session SET
//   would leak to other clients of the server connection; so every transaction opened here starts
//   with `SET LOCAL statement_timeout` in the same round trip as BEGIN. The server cancels a
//   statement past it (SQLSTATE 57014, retryable: app/store/dbErrors.ts).
// - PG_QUERY_TIMEOUT_MS is pg's client-side query_timeout on every query, transaction or not (the
//   single-statement hot path has no transaction to carry SET LOCAL): the promise rejects, the
//   request deadline above answers first in practice.
import { Pool, type PoolClient, type PoolConfig } from 'pg';

/** A pool, carrying the server-side statement timeout its transactions set. */
export type Db = Pool & { readonly statementTimeoutMs?: number };

export interface DbOptions {
  connectionString: string;
  max?: number;
  /** Client-side timeout of each query (ms, PG_QUERY_TIMEOUT_MS); the request deadline is enforced above it. */
  queryTimeoutMs?: number;
  /** Server-side statement_timeout of each withTransaction transaction (ms, PG_STATEMENT_TIMEOUT_MS; 0 = none). */
  statementTimeoutMs?: number;
  applicationName?: string;
}

export function createPool(opts: DbOptions): Db {
  const cfg: PoolConfig = {
    connectionString: opts.connectionString,
    max: opts.max ?? 16,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    application_name: opts.applicationName ?? 'challenge-service',
  };
  if (opts.queryTimeoutMs) cfg.query_timeout = opts.queryTimeoutMs;
  const pool: Db = Object.assign(new Pool(cfg), { statementTimeoutMs: opts.statementTimeoutMs });
  // An idle client that loses its server (PG restart) must not crash the process.
  pool.on('error', () => undefined);
  return pool;
}

export async function withTransaction<T>(db: Db, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    return await inTransaction(client, beginSql(db.statementTimeoutMs), () => fn(client));
  } finally {
    client.release();
  }
}

/** `begin`, `fn`, COMMIT on a connected client; on failure ROLLBACK (its own error ignored) and rethrow. */
export async function inTransaction<T>(
  client: { query(sql: string): Promise<unknown> },
  begin: string,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    await client.query(begin);
    const out = await fn();
    await client.query('COMMIT');
    return out;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

/** BEGIN, with the server-side statement timeout in the same round trip (simple protocol, no parameters). */
export function beginSql(statementTimeoutMs: number | undefined): string {
  const ms = Math.floor(statementTimeoutMs ?? 0);
  return ms > 0 ? `BEGIN; SET LOCAL statement_timeout = ${ms}` : 'BEGIN';
}

/** epoch ms <-> timestamptz: all domain times come from the service clock, never from now() in SQL. */
export const toDate = (ms: number): Date => new Date(ms);
