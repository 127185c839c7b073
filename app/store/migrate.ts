// Forward-only migrations from migrations/*.sql, each in the same transaction as the record of it.
// A transaction-scoped advisory lock makes concurrent runners (two pods) wait, then no-op.
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { ROOT } from '../paths';
import { inTransaction } from './db';

export const MIGRATIONS_DIR = path.join(ROOT, 'migrations');
const LOCK_KEY = 7_305_142_001; // arbitrary, constant: "challenge-service migrations"

export interface MigrationResult {
  applied: string[];
  alreadyApplied: string[];
}

export function listMigrations(dir = MIGRATIONS_DIR): { version: string; sql: string }[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: f.replace(/\.sql$/, ''), sql: fs.readFileSync(path.join(dir, f), 'utf8') }));
}

/** Run against a DIRECT connection (not PgBouncer): DDL and the advisory lock want one session. */
export async function migrate(connectionString: string, dir = MIGRATIONS_DIR): Promise<MigrationResult> {
  const client = new Client({ connectionString, application_name: 'challenge-migrate' });
  await client.connect();
  try {
    return await inTransaction(client, 'BEGIN', async () => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
      );
      const done = new Set(
        (await client.query<{ version: string }>('SELECT version FROM schema_migrations')).rows.map(
          (r) => r.version,
        ),
      );
      const result: MigrationResult = { applied: [], alreadyApplied: [] };
      for (const m of listMigrations(dir)) {
        if (done.has(m.version)) {
          result.alreadyApplied.push(m.version);
          continue;
        }
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [m.version]);
        result.applied.push(m.version);
      }
      return result;
    });
  } finally {
    await client.end();
  }
}
