// Idempotency-Key on player POST/PUT routes, stored in real PostgreSQL through PgBouncer, with the
// service's real admission and its rate limits on real Redis. The refusals that must not be stored
// under a key are real ones: a 503 from an admission slot held by a request waiting on a table
// lock, a 429 from the per-player bucket in Redis (overdrawn by the test).
import Redis from 'ioredis';
import { Client } from 'pg';
import { pruneIdempotencyKeys } from '../../app/idempotency';
import { retentionDeletedRowsTotal } from '../../app/ops/metrics';
import { startTestService, type TestService } from '../helpers/service';
import { CLAIM_FIRST_STEPS, completeFirstSteps, waitFor } from './rewards-receiver';

describe('Idempotency-Key on player POST/PUT routes', () => {
  let t: TestService;

  beforeAll(async () => {
    t = await startTestService();
  });
  afterAll(async () => t.stop());

  async function raw(
    userId: string,
    method: string,
    path: string,
    body?: string,
    key?: string,
    on: TestService = t,
  ) {
    const res = await fetch(`${on.base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await on.token(userId)}`,
        ...(key === undefined ? {} : { 'idempotency-key': key }),
      },
      body,
    });
    return { status: res.status, text: await res.text(), headers: res.headers };
  }

  const claimCount = async (userId: string) =>
    Number((await t.svc.db.query('SELECT count(*) FROM claims WHERE user_id = $1', [userId])).rows[0].count);

  test('a repeated claim with the same key replays the first answer byte for byte', async () => {
    await completeFirstSteps(t.svc.db, ['idem-replay']);
    const first = await raw('idem-replay', 'POST', CLAIM_FIRST_STEPS, undefined, 'claim-key-1');
    expect(first.status).toBe(200);
    expect(JSON.parse(first.text)).toMatchObject({ status: 'claimed', rewardStatus: 'granted' });
    const again = await raw('idem-replay', 'POST', CLAIM_FIRST_STEPS, undefined, 'claim-key-1');
    expect(again.status).toBe(200);
    expect(again.text).toBe(first.text);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await claimCount('idem-replay')).toBe(1);
    // Without the key the same request is a new one: already claimed.
    expect((await raw('idem-replay', 'POST', CLAIM_FIRST_STEPS)).status).toBe(409);
  });

  test('the same key with a different body is refused with 422 IDEMPOTENCY_KEY_REUSED', async () => {
    const path = '/v1/challenges/starter-path/goals/first-steps/active';
    const first = await raw('idem-reuse', 'PUT', path, JSON.stringify({ isActive: true }), 'toggle-1');
    expect(first.status).toBe(200);
    const other = await raw('idem-reuse', 'PUT', path, JSON.stringify({ isActive: false }), 'toggle-1');
    expect(other.status).toBe(422);
    expect(JSON.parse(other.text)).toMatchObject({ error: 'IDEMPOTENCY_KEY_REUSED' });
    // Same key on another route is a different request too.
    const elsewhere = await raw('idem-reuse', 'POST', '/v1/challenges/initialize', undefined, 'toggle-1');
    expect(elsewhere.status).toBe(422);
  });

  test('keys longer than 128 characters are refused with 400', async () => {
    const res = await raw('idem-long', 'POST', '/v1/challenges/initialize', undefined, 'k'.repeat(129));
    expect(res.status).toBe(400);
    expect(
      (await raw('idem-long', 'POST', '/v1/challenges/initialize', undefined, 'k'.repeat(128))).status,
    ).toBe(200);
  });

  test('concurrent duplicates: the second waits for the first and gets the same answer, one claim', async () => {
    await completeFirstSteps(t.svc.db, ['idem-race']);
    const answers = await Promise.all(
      Array.from({ length: 4 }, () => raw('idem-race', 'POST', CLAIM_FIRST_STEPS, undefined, 'race-key')),
    );
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.text).toBe(answers[0]!.text);
    }
    expect(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true')).toHaveLength(3);
    expect(await claimCount('idem-race')).toBe(1);
  });

  test('a 503 answer is not stored: the retry with the same key runs and its answer is then kept', async () => {
    // A pod of the same fleet (database, Redis) with one admission slot and no queue-delay shedding
    // beyond its default: a new player's initialize waiting on a lock of the players table holds
    // the slot, so the claim, admitted past the edge and its key taken, waits and is refused 503.
    const narrow = await startTestService({
      db: t.db,
      env: { ADMISSION_INITIAL_LIMIT: '1', ADMISSION_MIN_LIMIT: '1', ADMISSION_MAX_LIMIT: '1' },
    });
    const lock = new Client({ connectionString: t.db.directUrl });
    await lock.connect();
    try {
      await completeFirstSteps(t.svc.db, ['idem-503']);
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE players IN SHARE MODE'); // reads go on, inserts wait
      const holder = raw(
        'idem-503-holder',
        'POST',
        '/v1/challenges/initialize',
        undefined,
        undefined,
        narrow,
      );
      await waitFor(
        'the initialize holding the slot waits on the lock',
        async () =>
          Number(
            (
              await lock.query(
                `SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND relation = 'players'::regclass`,
              )
            ).rows[0].n,
          ) > 0,
        10_000,
      );
      const refused = await raw('idem-503', 'POST', CLAIM_FIRST_STEPS, undefined, 'retry-key', narrow);
      expect(refused.status).toBe(503);
      expect(JSON.parse(refused.text)).toMatchObject({ error: 'OVERLOADED' });
      await lock.query('COMMIT');
      expect((await holder).status).toBe(200);
      const retried = await raw('idem-503', 'POST', CLAIM_FIRST_STEPS, undefined, 'retry-key', narrow);
      expect(retried.status).toBe(200);
      expect(retried.headers.get('idempotent-replayed')).toBeNull();
      const third = await raw('idem-503', 'POST', CLAIM_FIRST_STEPS, undefined, 'retry-key');
      expect(third.text).toBe(retried.text);
      expect(third.headers.get('idempotent-replayed')).toBe('true');
      expect(await claimCount('idem-503')).toBe(1);
    } finally {
      await lock.query('ROLLBACK').catch(() => undefined);
      await lock.end();
      await narrow.stop();
    }
  });

  test('a 429 answer (per-player bucket in Redis) is not stored: the retry with the same key runs', async () => {
    await completeFirstSteps(t.svc.db, ['idem-429']);
    // The player's bucket in Redis, overdrawn by 100 tokens (5 s at the default 20/s): the limiter's
    // script reads it and refuses the next call.
    const redis = new Redis(t.cfg.REDIS_URL!);
    try {
      const [sec, us] = await redis.time();
      await redis.hset(`${t.cfg.RATE_LIMIT_KEY_PREFIX}player:idem-429`, {
        tokens: '-100',
        ts_us: String(Number(sec) * 1e6 + Number(us)),
      });
    } finally {
      redis.disconnect();
    }
    const refused = await raw('idem-429', 'POST', CLAIM_FIRST_STEPS, undefined, 'limit-key');
    expect(refused.status).toBe(429);
    const wait = Number(refused.headers.get('retry-after'));
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(await claimCount('idem-429')).toBe(0);
    await new Promise((r) => setTimeout(r, wait * 1000 + 200));
    const retried = await raw('idem-429', 'POST', CLAIM_FIRST_STEPS, undefined, 'limit-key');
    expect(retried.status).toBe(200);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    expect(await claimCount('idem-429')).toBe(1);
  });

  test('a 4xx answer is stored and replayed under its key, even after the state changed', async () => {
    const first = await raw('idem-409', 'POST', CLAIM_FIRST_STEPS, undefined, 'early-key');
    expect(first.status).toBe(409);
    await completeFirstSteps(t.svc.db, ['idem-409']);
    const again = await raw('idem-409', 'POST', CLAIM_FIRST_STEPS, undefined, 'early-key');
    expect(again.status).toBe(409);
    expect(again.text).toBe(first.text);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await raw('idem-409', 'POST', CLAIM_FIRST_STEPS, undefined, 'fresh-key')).status).toBe(200);
  });

  test('keys are per player: the same key from two players are two requests', async () => {
    await completeFirstSteps(t.svc.db, ['idem-a', 'idem-b']);
    const a = await raw('idem-a', 'POST', CLAIM_FIRST_STEPS, undefined, 'shared');
    const b = await raw('idem-b', 'POST', CLAIM_FIRST_STEPS, undefined, 'shared');
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(JSON.parse(a.text).claimId).not.toBe(JSON.parse(b.text).claimId);
    expect(b.headers.get('idempotent-replayed')).toBeNull();
    const aAgain = await raw('idem-a', 'POST', CLAIM_FIRST_STEPS, undefined, 'shared');
    expect(aAgain.text).toBe(a.text);
    expect(aAgain.headers.get('idempotent-replayed')).toBe('true');
  });

  test('a key older than 24 h is forgotten: the request runs again', async () => {
    const path = '/v1/challenges/starter-path/goals/first-steps/active';
    expect((await raw('idem-old', 'PUT', path, JSON.stringify({ isActive: true }), 'old-key')).status).toBe(
      200,
    );
    expect((await raw('idem-old', 'PUT', path, JSON.stringify({ isActive: false }), 'old-key')).status).toBe(
      422,
    );
    await t.svc.db.query(
      `UPDATE idempotency_keys SET created_at = created_at - interval '25 hours' WHERE principal = 'idem-old'`,
    );
    const res = await raw('idem-old', 'PUT', path, JSON.stringify({ isActive: false }), 'old-key');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ isActive: false });
  });

  test('pruning deletes keys older than the cutoff in batches and keeps newer ones', async () => {
    const db = t.svc.db;
    await db.query(
      `INSERT INTO idempotency_keys (principal, idem_key, request_hash, owner, status, response_body, created_at)
       SELECT 'prune-user', 'old-' || i, 'h', gen_random_uuid(), 200, '{}', now() - interval '2 days'
         FROM generate_series(1, 7) i`,
    );
    await db.query(
      `INSERT INTO idempotency_keys (principal, idem_key, request_hash, owner, status, response_body, created_at)
       VALUES ('prune-user', 'new', 'h', gen_random_uuid(), 200, '{}', now())`,
    );
    const counted = async () =>
      (await retentionDeletedRowsTotal.get()).values.find((v) => v.labels.table === 'idempotency_keys')
        ?.value ?? 0;
    const before = await counted();
    const deleted = await pruneIdempotencyKeys(db, Date.now() - 24 * 3600 * 1000, 3);
    expect(deleted).toBeGreaterThanOrEqual(7);
    expect((await counted()) - before).toBe(deleted);
    const left = await db.query(`SELECT idem_key FROM idempotency_keys WHERE principal = 'prune-user'`);
    expect(left.rows).toEqual([{ idem_key: 'new' }]);
  });
});
