// Each test file gets its own fresh database on the real PostgreSQL started by scripts/with-services.sh,
// reachable directly and through PgBouncer (transaction pooling).
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Client } from 'pg';
import { migrate } from '../../app/store/migrate';

export interface TestDatabase {
  name: string;
  /** Through PgBouncer (what the data plane uses in production). */
  pooledUrl: string;
  /** Direct to PostgreSQL (migrations, assertions on pg_stat). */
  directUrl: string;
  drop(): Promise<void>;
}

function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run tests through scripts/with-services.sh (make test)`);
  return v;
}

function withDb(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

export async function createTestDatabase(prefix = 't'): Promise<TestDatabase> {
  const direct = requireEnv('DATABASE_DIRECT_URL');
  const pooled = requireEnv('DATABASE_URL');
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = new Client({ connectionString: direct });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const directUrl = withDb(direct, name);
  await migrate(directUrl);
  return {
    name,
    pooledUrl: withDb(pooled, name),
    directUrl,
    async drop() {
      const c = new Client({ connectionString: direct });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
      await c.end();
    },
  };
}

export const FIXTURES_DIR = process.env.FIXTURES_DIR ?? path.resolve(__dirname, '../../../shared/fixtures');
