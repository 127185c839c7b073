// The outbox relay on real PostgreSQL through PgBouncer, granting to a real local webhook receiver.
// A relay SIGKILLed mid-grant (a real worker process): test/faults/faults.test.ts.
import pino from 'pino';
import { AdjustableClock } from '../../app/domain/clock';
import { OutboxRelay, type RelayOptions } from '../../app/rewards/relay';
import { webhookGranter } from '../../app/rewards/webhook';
import { insertClaim } from '../../app/store/claims';
import { createPool, type Db } from '../../app/store/db';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { outboxRows, waitFor, WebhookReceiver } from './rewards-receiver';

const log = pino({ level: 'silent' });
const SECRET = 'relay-test-secret';

describe('reward outbox relay', () => {
  let tdb: TestDatabase;
  let db: Db;
  let rx: WebhookReceiver;
  const relays: OutboxRelay[] = [];

  beforeAll(async () => {
    tdb = await createTestDatabase('rewards_relay');
    db = createPool({ connectionString: tdb.pooledUrl, max: 10 });
    rx = await new WebhookReceiver().start();
  });
  afterAll(async () => {
    await rx.stop();
    await db.end();
    await tdb.drop();
  });
  beforeEach(async () => {
    rx.deliveries.length = 0;
    rx.successes.clear();
    rx.granted.clear();
    rx.behaviour = () => ({ status: 200 });
    await db.query('TRUNCATE reward_outbox, claims');
  });
  afterEach(async () => {
    await Promise.all(relays.splice(0).map((r) => r.stop()));
  });

  function relay(over: Partial<RelayOptions> = {}): OutboxRelay {
    const r = new OutboxRelay({
      db,
      granter: webhookGranter({ url: rx.url, secret: SECRET }),
      clock: new AdjustableClock(),
      log,
      pollMs: 20,
      batch: 4,
      leaseMs: 2000,
      grantTimeoutMs: 1000,
      freshMs: 0,
      retryBaseMs: 20,
      retryMaxMs: 200,
      maxAttempts: 100,
      maxAgeMs: 3_600_000,
      ...over,
    });
    relays.push(r);
    return r;
  }

  async function claims(n: number, tag: string): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const id = await insertClaim(db, {
        userId: `${tag}-${i}`,
        challengeId: 'starter-path',
        goalId: 'first-steps',
        periodKey: '',
        reward: { type: 'WALLET', rewardId: 'COINS', quantity: 50 },
        now: Date.now(),
      });
      ids.push(id!);
    }
    return ids;
  }

  const allGranted = async () => (await outboxRows(db)).every((r) => r.status === 'granted');

  test('two relays against one outbox never deliver the same row twice', async () => {
    const ids = await claims(60, 'two');
    // A little latency per delivery keeps both relays busy at the same time.
    rx.behaviour = () => ({ status: 200, delayMs: 5 });
    relay().start();
    relay().start();
    await waitFor('all rows granted', allGranted, 30_000);
    expect(rx.deliveries).toHaveLength(ids.length);
    for (const id of ids) expect(rx.deliveriesFor(id)).toHaveLength(1);
    expect([...rx.granted].sort()).toEqual([...ids].sort());
    const rows = await outboxRows(db);
    expect(rows.every((r) => r.attempts === 1)).toBe(true);
  });

  test('a late failure of an expired lease does not overwrite the row another relay now owns', async () => {
    const [id] = await claims(1, 'stale');
    const { leaseDue, markFailed, markGranted } = await import('../../app/store/outbox');
    const now = Date.now();
    const first = await leaseDue(db, { now, leaseMs: 100, limit: 10, freshBefore: now });
    expect(first).toHaveLength(1);
    const second = await leaseDue(db, { now: now + 200, leaseMs: 5000, limit: 10, freshBefore: now + 200 });
    expect(second.map((r) => r.request.claimId)).toEqual([id]);
    expect(
      await markFailed(db, id!, first[0]!.leaseUntil, { dead: true, nextAttemptAt: now, error: 'late' }),
    ).toBe(false);
    expect((await outboxRows(db))[0]).toMatchObject({ status: 'pending', attempts: 2 });
    expect(await markGranted(db, id!, now + 300)).toBe(true);
  });

  test('retryable failures back off and retry until the receiver accepts, then stop', async () => {
    const [id] = await claims(1, 'retry');
    let failures = 3;
    rx.behaviour = () => (failures-- > 0 ? { status: 503 } : { status: 200 });
    relay().start();
    await waitFor('granted', allGranted, 15_000);
    expect(rx.deliveriesFor(id!).map((d) => d.status)).toEqual([503, 503, 503, 200]);
    expect((await outboxRows(db))[0]).toMatchObject({ status: 'granted', attempts: 4 });
  });

  test('a row goes dead after the configured number of attempts', async () => {
    await claims(1, 'maxatt');
    rx.behaviour = () => ({ status: 500 });
    relay({ maxAttempts: 3 }).start();
    await waitFor('dead', async () => (await outboxRows(db))[0]!.status === 'dead', 15_000);
    const row = (await outboxRows(db))[0]!;
    expect(row.attempts).toBe(3);
    expect(row.last_error).toMatch(/gave up after 3 attempts/);
    expect(rx.deliveries).toHaveLength(3);
  });

  test('a row goes dead once older than the configured max age', async () => {
    await claims(1, 'maxage');
    rx.behaviour = () => ({ status: 503 });
    await db.query(`UPDATE reward_outbox SET created_at = created_at - interval '2 hours'`);
    relay({ maxAgeMs: 3_600_000 }).start();
    await waitFor('dead', async () => (await outboxRows(db))[0]!.status === 'dead', 15_000);
    expect((await outboxRows(db))[0]!.last_error).toMatch(/pending longer than/);
  });

  test('a permanent failure (4xx) marks the row dead without further attempts', async () => {
    await claims(1, 'perm');
    rx.behaviour = () => ({ status: 422 });
    relay().start();
    await waitFor('dead', async () => (await outboxRows(db))[0]!.status === 'dead', 15_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(rx.deliveries).toHaveLength(1);
    expect((await outboxRows(db))[0]).toMatchObject({ status: 'dead', attempts: 1 });
  });

  test('rows younger than the sync-attempt window are left to the claim request', async () => {
    await claims(1, 'fresh');
    const r = relay({ freshMs: 60_000 });
    expect(await r.runOnce()).toBe(0);
    expect(rx.deliveries).toHaveLength(0);
  });

  test('stop() lets the grant in flight finish and be recorded before resolving', async () => {
    const [id] = await claims(1, 'stop');
    rx.behaviour = () => ({ status: 200, delayMs: 400 });
    const r = relay();
    r.start();
    await waitFor('delivery started', () => rx.deliveries.length === 1, 10_000);
    await r.stop();
    expect(rx.granted.has(id!)).toBe(true);
    expect((await outboxRows(db))[0]).toMatchObject({ status: 'granted' });
  });
});
