// PG_STATEMENT_TIMEOUT_MS is PostgreSQL's statement_timeout, server-side, through PgBouncer in
// transaction mode: every transaction of withTransaction sets it with SET LOCAL, so a slow statement
// is cancelled by the server (SQLSTATE 57014), and the setting does not leak to the next client of
// the same server connection. PG_QUERY_TIMEOUT_MS stays pg's client-side query_timeout.
import { loadConfig } from '../../app/config';
import { dbErrorKind } from '../../app/store/dbErrors';
import { createPool, withTransaction, type Db } from '../../app/store/db';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

describe('server-side statement timeout via PgBouncer', () => {
  let tdb: TestDatabase;
  let db: Db;
  beforeAll(async () => {
    tdb = await createTestDatabase('stmt');
    // One server connection behind one client connection, so the "no leak" check reuses it.
    db = createPool({ connectionString: tdb.pooledUrl, max: 1, statementTimeoutMs: 300 });
  });
  afterAll(async () => {
    await db.end();
    await tdb.drop();
  });

  test('a slow statement in a transaction is cancelled by the server with 57014 (retryable)', async () => {
    const err = await withTransaction(db, async (c) => {
      const shown = await c.query<{ statement_timeout: string }>('SHOW statement_timeout');
      expect(shown.rows[0]!.statement_timeout).toBe('300ms');
      await c.query('SELECT pg_sleep(3)');
    }).then(
      () => null,
      (e: unknown) => e as { code?: string; message?: string },
    );
    expect(err).not.toBeNull();
    expect(err!.code).toBe('57014');
    expect(err!.message).toMatch(/statement timeout/);
    expect(dbErrorKind(err)).toBe('retryable');
  });

  test('the timeout is local to the transaction: a statement outside one runs with the server default', async () => {
    const shown = await db.query<{ statement_timeout: string }>('SHOW statement_timeout');
    expect(shown.rows[0]!.statement_timeout).toBe('0');
  });

  test('config: PG_STATEMENT_TIMEOUT_MS is the server-side one, PG_QUERY_TIMEOUT_MS the client-side one', () => {
    const cfg = loadConfig({ ROLE: 'worker', PG_STATEMENT_TIMEOUT_MS: '1234', PG_QUERY_TIMEOUT_MS: '5678' });
    expect([cfg.PG_STATEMENT_TIMEOUT_MS, cfg.PG_QUERY_TIMEOUT_MS]).toEqual([1234, 5678]);
  });
});
