// Pool lifecycle and the one transaction helper. PgBouncer runs in transaction mode, so nothing
// here relies on session state: no named prepared statements, no session SET, no LISTEN.
import { Pool, type PoolClient, type PoolConfig } from 'pg';

export type Db = Pool;

export interface DbOptions {
  connectionString: string;
  max?: number;
  /** Client-side timeout for each query (ms); the request deadline is enforced above this. */
  queryTimeoutMs?: number;
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
  const pool = new Pool(cfg);
  // An idle client that loses its server (PG restart) must not crash the process.
  pool.on('error', () => undefined);
  return pool;
}

export async function withTransaction<T>(db: Db, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}

/** epoch ms <-> timestamptz: all domain times come from the service clock, never from now() in SQL. */
export const toDate = (ms: number): Date => new Date(ms);
