// End to end on the real service (api + worker roles in one process, PostgreSQL through PgBouncer)
// with the webhook granter pointed at a real local receiver.
import { rewardsModule } from '../../app/rewards/module';
import { startTestService, TEST_API_KEY, type TestService } from '../helpers/service';
import {
  CLAIM_FIRST_STEPS,
  completeFirstSteps,
  outboxRows,
  waitFor,
  WebhookReceiver,
} from './rewards-receiver';

const GRANT_TIMEOUT_MS = 500;
const OUTAGE_MS = 30_000;

interface ClaimBody {
  status: string;
  rewardStatus: string;
  claimId: string;
}

interface RewardList {
  rewards: { claimId: string }[];
}

describe('reward delivery through the claim outbox', () => {
  let t: TestService;
  let rx: WebhookReceiver;

  beforeAll(async () => {
    rx = await new WebhookReceiver().start();
    t = await startTestService({
      modules: [rewardsModule],
      env: {
        GRANTER: 'webhook',
        WEBHOOK_URL: rx.url,
        WEBHOOK_SECRET: 'delivery-test-secret',
        GRANT_TIMEOUT_MS: String(GRANT_TIMEOUT_MS),
        // Fast relay settings; the outage itself keeps its real length.
        REWARD_RELAY_POLL_MS: '100',
        REWARD_RELAY_SYNC_GRACE_MS: '300',
        REWARD_RELAY_GRANT_TIMEOUT_MS: '3000',
        REWARD_RELAY_LEASE_MS: '6000',
        REWARD_RETRY_BASE_MS: '200',
        REWARD_RETRY_MAX_MS: '2000',
        REWARD_MAX_ATTEMPTS: '1000',
        REWARD_OUTBOX_METRICS_MS: '200',
      },
    });
  });
  afterAll(async () => {
    await t.stop();
    await rx.stop();
  });
  beforeEach(() => {
    rx.behaviour = () => ({ status: 200 });
  });

  async function claimAll(users: string[]): Promise<{ status: number; body: ClaimBody; ms: number }[]> {
    await completeFirstSteps(t.svc.db, users);
    return Promise.all(
      users.map(async (u) => {
        const started = Date.now();
        const res = await t.call(u, 'POST', CLAIM_FIRST_STEPS);
        return { ...res, ms: Date.now() - started };
      }),
    );
  }

  const rowsOf = async (ids: string[]) =>
    (await outboxRows(t.svc.db)).filter((r) => ids.includes(r.claim_id));

  async function metric(name: string): Promise<number> {
    const text = await (await fetch(`${t.ops}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.split(' ')[1]) : NaN;
  }

  test('a healthy granter: the claim answers granted and the reward is delivered once', async () => {
    const [res] = await claimAll(['healthy-1']);
    expect(res!.status).toBe(200);
    expect(res!.body.rewardStatus).toBe('granted');
    const id = res!.body.claimId as string;
    expect(rx.successes.get(id)).toBe(1);
    expect((await rowsOf([id]))[0]).toMatchObject({ status: 'granted' });
  });

  test(
    'granter down for 30 s then up: players get 200 pending, no claim lost, every reward delivered exactly once',
    async () => {
      const downUntil = Date.now() + OUTAGE_MS;
      rx.behaviour = () => (Date.now() < downUntil ? { status: 503 } : { status: 200 });

      const early = await claimAll(Array.from({ length: 10 }, (_, i) => `outage-early-${i}`));
      await new Promise((r) => setTimeout(r, 10_000));
      const late = await claimAll(Array.from({ length: 10 }, (_, i) => `outage-late-${i}`));
      const answers = [...early, ...late];
      for (const a of answers) {
        expect(a.status).toBe(200);
        expect(a.body).toMatchObject({ status: 'claimed', rewardStatus: 'pending' });
      }
      const ids = answers.map((a) => a.body.claimId as string);
      expect(new Set(ids).size).toBe(20);

      // While down: the relay keeps retrying and the gauges show the backlog.
      await waitFor(
        'outbox gauge shows the backlog',
        async () => (await metric('challenge_reward_outbox_pending')) >= 20,
        5000,
      );
      expect(await metric('challenge_reward_outbox_oldest_pending_seconds')).toBeGreaterThan(5);
      expect(rx.deliveries.filter((d) => ids.includes(d.key!) && d.status === 503).length).toBeGreaterThan(
        20,
      );
      // Nothing of this test was granted while the receiver was down (independent of other tests).
      expect(ids.filter((id) => rx.granted.has(id))).toEqual([]);

      await waitFor(
        'all granted after the outage',
        async () => (await rowsOf(ids)).every((r) => r.status === 'granted'),
        OUTAGE_MS + 15_000,
      );
      // Each reward was retried by the relay (the claim's own attempt met the outage).
      const attempts = await t.svc.db.query<{ attempts: number }>(
        'SELECT attempts FROM reward_outbox WHERE claim_id = ANY($1::uuid[])',
        [ids],
      );
      for (const r of attempts.rows) expect(r.attempts).toBeGreaterThan(1);
      const claimRows = await t.svc.db.query('SELECT claim_id FROM claims WHERE claim_id = ANY($1::uuid[])', [
        ids,
      ]);
      expect(claimRows.rowCount).toBe(20);
      for (const id of ids) expect(rx.successes.get(id)).toBe(1);
      await waitFor(
        'gauge drained',
        async () => (await metric('challenge_reward_outbox_pending')) === 0,
        5000,
      );
    },
    OUTAGE_MS + 40_000,
  );

  test('granter slower than the sync timeout: claims answer pending in time; the late success is not granted twice', async () => {
    rx.behaviour = () => ({ status: 200, delayMs: 1500 });
    const answers = await claimAll(Array.from({ length: 5 }, (_, i) => `slow-${i}`));
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.body.rewardStatus).toBe('pending');
      expect(a.ms).toBeLessThan(GRANT_TIMEOUT_MS + 700);
    }
    const ids = answers.map((a) => a.body.claimId as string);
    await waitFor(
      'relay marks all granted',
      async () => (await rowsOf(ids)).every((r) => r.status === 'granted'),
      20_000,
    );
    // Every delivery of these keys eventually succeeded on the receiver, the abandoned sync ones too.
    await waitFor(
      'all deliveries answered',
      () => rx.deliveries.filter((d) => ids.includes(d.key!)).every((d) => d.status === 200),
      5000,
    );
    // Every delivery of a claim (found by its body, not its key) carries the claim id as its
    // Idempotency-Key, so the platform grants it once although it was delivered more than once.
    for (const id of ids) {
      const ofClaim = rx.deliveries.filter(
        (d) => (JSON.parse(d.rawBody) as { claimId?: string }).claimId === id,
      );
      expect(ofClaim.length).toBeGreaterThanOrEqual(1);
      expect(ofClaim.map((d) => d.key)).toEqual(ofClaim.map(() => id));
      expect(rx.granted.has(id)).toBe(true);
    }
    const marks = await t.svc.db.query<{ n: string }>(
      "SELECT count(*) AS n FROM reward_outbox WHERE claim_id = ANY($1::uuid[]) AND status = 'granted'",
      [ids],
    );
    expect(Number(marks.rows[0]!.n)).toBe(ids.length);
  });

  test('a permanent refusal on the claim path: 200 pending, row dead at once, operator replay delivers it', async () => {
    rx.behaviour = () => ({ status: 400 });
    const [res] = await claimAll(['refused-1']);
    expect(res!.status).toBe(200);
    expect(res!.body).toMatchObject({ status: 'claimed', rewardStatus: 'pending' });
    const id = res!.body.claimId as string;
    expect((await rowsOf([id]))[0]).toMatchObject({ status: 'dead', attempts: 1 });

    const admin = (path: string, method = 'GET') =>
      fetch(`${t.ops}/admin/v1${path}`, { method, headers: { 'x-api-key': TEST_API_KEY } });
    const dead = (await (await admin('/rewards?status=dead')).json()) as RewardList;
    expect(dead.rewards.map((r: { claimId: string }) => r.claimId)).toContain(id);
    expect(dead.rewards.find((r: { claimId: string }) => r.claimId === id)).toMatchObject({
      userId: 'refused-1',
      goalId: 'first-steps',
      rewardStatus: 'dead',
      lastError: expect.stringContaining('400'),
    });

    rx.behaviour = () => ({ status: 200 });
    const replay = await admin(`/rewards/${id}/replay`, 'POST');
    expect(replay.status).toBe(200);
    await waitFor(
      'replayed reward granted',
      async () => (await rowsOf([id]))[0]!.status === 'granted',
      10_000,
    );
    expect(rx.successes.get(id)).toBe(1);
    expect((await admin(`/rewards/${id}/replay`, 'POST')).status).toBe(409);
    expect((await admin('/rewards/00000000-0000-4000-8000-000000000000/replay', 'POST')).status).toBe(404);

    const claims = await (await admin('/players/refused-1/claims')).json();
    expect(claims).toMatchObject({
      userId: 'refused-1',
      claims: [{ claimId: id, rewardStatus: 'granted', goalId: 'first-steps' }],
    });
  });

  test('replay-dead puts every dead reward back to the relay', async () => {
    rx.behaviour = () => ({ status: 404 });
    const answers = await claimAll(['bulk-1', 'bulk-2']);
    const ids = answers.map((a) => a.body.claimId as string);
    expect((await rowsOf(ids)).map((r) => r.status)).toEqual(['dead', 'dead']);
    rx.behaviour = () => ({ status: 200 });
    const res = await fetch(`${t.ops}/admin/v1/rewards/replay-dead`, {
      method: 'POST',
      headers: { 'x-api-key': TEST_API_KEY },
    });
    expect(await res.json()).toEqual({ replayed: 2 });
    await waitFor('granted', async () => (await rowsOf(ids)).every((r) => r.status === 'granted'), 10_000);
    for (const id of ids) expect(rx.successes.get(id)).toBe(1);
  });

  test('admin reward routes need a service credential: none -> 401, player token -> 403', async () => {
    const paths: [string, string][] = [
      ['GET', '/rewards?status=pending'],
      ['POST', '/rewards/00000000-0000-4000-8000-000000000000/replay'],
      ['POST', '/rewards/replay-dead'],
      ['GET', '/players/p1/claims'],
    ];
    const player = await t.token('p1');
    const service = await t.serviceToken();
    for (const [method, path] of paths) {
      const url = `${t.ops}/admin/v1${path}`;
      expect((await fetch(url, { method })).status).toBe(401);
      expect((await fetch(url, { method, headers: { authorization: `Bearer ${player}` } })).status).toBe(403);
      // A service token is authorised: the route's own answer (200, or 404 for the unknown claim).
      const ok = await fetch(url, { method, headers: { authorization: `Bearer ${service}` } });
      expect(ok.status).toBe(path.includes('00000000-0000') ? 404 : 200);
    }
    const bad = await fetch(`${t.ops}/admin/v1/rewards?status=granted`, {
      headers: { 'x-api-key': TEST_API_KEY },
    });
    expect(bad.status).toBe(400);
  });
});
