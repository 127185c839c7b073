import { createHmac, timingSafeEqual } from 'node:crypto';
import pino from 'pino';
import {
  attemptGrant,
  GrantError,
  logGranter,
  type Granter,
  type GrantRequest,
} from '../../app/rewards/granter';
import {
  platformGranter,
  type EntitlementGrant,
  type PlatformRewardClient,
  type WalletCredit,
} from '../../app/rewards/platform';
import { retryDelay } from '../../app/rewards/relay';
import { isRetryableStatus, webhookGranter } from '../../app/rewards/webhook';
import { WebhookReceiver } from '../integration/rewards-receiver';

const SECRET = 'whsec-test-0123456789';

const req = (over: Partial<GrantRequest> = {}): GrantRequest => ({
  claimId: '6f1c2a52-8f55-4d8e-9d55-4b3e1f0a9c11',
  userId: 'player-7',
  challengeId: 'starter-path',
  goalId: 'first-steps',
  periodKey: '',
  reward: { type: 'WALLET', rewardId: 'COINS', quantity: 50 },
  ...over,
});

const signal = () => new AbortController().signal;

describe('webhook granter against a real local receiver', () => {
  let rx: WebhookReceiver;
  beforeAll(async () => {
    rx = await new WebhookReceiver().start();
  });
  afterAll(async () => rx.stop());
  beforeEach(() => {
    rx.deliveries.length = 0;
    rx.behaviour = () => ({ status: 200 });
  });

  test('signature verifies with the documented recipe: HMAC-SHA256(secret, `${timestamp}.${rawBody}`) as v1=<hex>', async () => {
    await webhookGranter({ url: rx.url, secret: SECRET }).grant(req(), signal());
    const d = rx.deliveries[0]!;
    const ts = d.headers['x-challenge-timestamp'] as string;
    const sig = d.headers['x-challenge-signature'] as string;
    expect(ts).toMatch(/^\d+$/);
    expect(Math.abs(Number(ts) - Date.now() / 1000)).toBeLessThan(60);
    // Independent verification, as a receiver would do it.
    const expected = 'v1=' + createHmac('sha256', SECRET).update(`${ts}.${d.rawBody}`).digest('hex');
    expect(timingSafeEqual(Buffer.from(sig), Buffer.from(expected))).toBe(true);
    // The service's signature binds the secret, the timestamp and the body: deliveries that differ
    // in any one of them carry different signatures (all three signed by the granter, not the test).
    const at = (n: number) => () => n;
    await webhookGranter({ url: rx.url, secret: SECRET, nowSeconds: at(1000) }).grant(req(), signal());
    await webhookGranter({ url: rx.url, secret: SECRET, nowSeconds: at(1001) }).grant(req(), signal());
    await webhookGranter({ url: rx.url, secret: SECRET, nowSeconds: at(1000) }).grant(
      req({ reward: { type: 'WALLET', rewardId: 'COINS', quantity: 5000 } }),
      signal(),
    );
    await webhookGranter({ url: rx.url, secret: 'other-secret', nowSeconds: at(1000) }).grant(
      req(),
      signal(),
    );
    const sigs = rx.deliveries.slice(1).map((x) => x.headers['x-challenge-signature'] as string);
    expect(new Set(sigs).size).toBe(4);
    // ...and each one verifies, with the recipe, only against its own timestamp and body.
    const [base, laterTs, otherBody] = rx.deliveries.slice(1);
    const verify = (secret: string, ts: string, body: string, s: string) =>
      s === 'v1=' + createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
    expect(verify(SECRET, '1000', base!.rawBody, sigs[0]!)).toBe(true);
    expect(verify(SECRET, '1000', laterTs!.rawBody, sigs[1]!)).toBe(false);
    expect(verify(SECRET, '1000', base!.rawBody, sigs[2]!)).toBe(false);
    expect(otherBody!.rawBody).toContain('5000');
  });

  test('delivers the grant as JSON with the claim id as Idempotency-Key', async () => {
    await webhookGranter({ url: rx.url, secret: SECRET }).grant(req(), signal());
    const d = rx.deliveries[0]!;
    expect(d.headers['content-type']).toBe('application/json');
    expect(d.key).toBe(req().claimId);
    expect(JSON.parse(d.rawBody)).toEqual({
      claimId: req().claimId,
      userId: 'player-7',
      challengeId: 'starter-path',
      goalId: 'first-steps',
      periodKey: '',
      reward: { type: 'WALLET', rewardId: 'COINS', quantity: 50 },
    });
  });

  test.each([
    [400, true],
    [404, true],
    [409, true],
    [422, true],
    [408, false],
    [429, false],
    [500, false],
    [503, false],
  ])('answer %i fails the grant, permanent=%s', async (status, permanent) => {
    rx.behaviour = () => ({ status });
    const err = await webhookGranter({ url: rx.url, secret: SECRET })
      .grant(req(), signal())
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(GrantError);
    expect((err as GrantError).permanent).toBe(permanent);
  });

  test('any 2xx answer means granted', async () => {
    rx.behaviour = () => ({ status: 202 });
    await expect(
      webhookGranter({ url: rx.url, secret: SECRET }).grant(req(), signal()),
    ).resolves.toBeUndefined();
  });

  test('an unreachable receiver is a retryable failure', async () => {
    const dead = new WebhookReceiver();
    await dead.start();
    const url = dead.url;
    await dead.stop();
    const err = await webhookGranter({ url, secret: SECRET })
      .grant(req(), signal())
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(GrantError);
    expect((err as GrantError).permanent).toBe(false);
  });

  test('a slow receiver makes the bounded attempt time out as retryable, without waiting for it', async () => {
    rx.behaviour = () => ({ status: 200, delayMs: 1500 });
    const started = Date.now();
    const out = await attemptGrant(webhookGranter({ url: rx.url, secret: SECRET }), req(), 200);
    expect(out).toMatchObject({ ok: false, permanent: false, timedOut: true });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test('status classification: 408/429/5xx retryable, other 4xx permanent', () => {
    expect([408, 429, 500, 502, 503, 504].every(isRetryableStatus)).toBe(true);
    expect([400, 401, 403, 404, 409, 410, 422].some(isRetryableStatus)).toBe(false);
  });
});

describe('platform granter over a fake platform client', () => {
  function fakeClient() {
    const wallet: WalletCredit[] = [];
    const items: EntitlementGrant[] = [];
    const client: PlatformRewardClient = {
      async creditWallet(c) {
        wallet.push(c);
      },
      async grantEntitlement(g) {
        items.push(g);
      },
    };
    return { client, wallet, items };
  }

  test('fake client: WALLET reward becomes a wallet credit keyed by the claim id', async () => {
    const f = fakeClient();
    await platformGranter(f.client).grant(req(), signal());
    expect(f.items).toHaveLength(0);
    expect(f.wallet).toEqual([
      {
        userId: 'player-7',
        currencyCode: 'COINS',
        amount: 50,
        idempotencyKey: req().claimId,
        source: { claimId: req().claimId, challengeId: 'starter-path', goalId: 'first-steps', periodKey: '' },
      },
    ]);
  });

  test('fake client: ITEM reward becomes an entitlement grant keyed by the claim id', async () => {
    const f = fakeClient();
    await platformGranter(f.client).grant(
      req({ reward: { type: 'ITEM', rewardId: 'SWORD_1', quantity: 2 } }),
      signal(),
    );
    expect(f.wallet).toHaveLength(0);
    expect(f.items).toEqual([
      expect.objectContaining({
        userId: 'player-7',
        itemId: 'SWORD_1',
        quantity: 2,
        idempotencyKey: req().claimId,
      }),
    ]);
  });

  test('fake client: a permanent rejection from the platform stays permanent; other errors are retryable', async () => {
    const rejecting: PlatformRewardClient = {
      creditWallet: async () => {
        throw new GrantError('unknown currency', true);
      },
      grantEntitlement: async () => {
        throw new Error('platform 503');
      },
    };
    const g = platformGranter(rejecting);
    expect(await attemptGrant(g, req(), 1000)).toMatchObject({ ok: false, permanent: true });
    expect(
      await attemptGrant(g, req({ reward: { type: 'ITEM', rewardId: 'X', quantity: 1 } }), 1000),
    ).toMatchObject({
      ok: false,
      permanent: false,
    });
  });

  test('fake client: an unknown reward type is a permanent failure, nothing is sent to the platform', async () => {
    const f = fakeClient();
    const out = await attemptGrant(
      platformGranter(f.client),
      req({ reward: { type: 'BADGE', rewardId: 'B', quantity: 1 } }),
      1000,
    );
    expect(out).toMatchObject({ ok: false, permanent: true });
    expect(f.wallet.length + f.items.length).toBe(0);
  });
});

describe('grant attempts and retry backoff', () => {
  test('log granter always grants', async () => {
    const g: Granter = logGranter(pino({ level: 'silent' }));
    expect(await attemptGrant(g, req(), 100)).toEqual({ ok: true });
  });

  test('backoff doubles per attempt, is capped, and jitters within [half, full] of the step', () => {
    const lo = () => 0;
    const hi = () => 0.999999;
    expect([1, 2, 3, 4].map((a) => retryDelay(a, 1000, 60_000, hi))).toEqual([1000, 2000, 4000, 8000]);
    expect([1, 2, 3, 4].map((a) => retryDelay(a, 1000, 60_000, lo))).toEqual([500, 1000, 2000, 4000]);
    expect(retryDelay(30, 1000, 60_000, hi)).toBe(60_000);
    expect(retryDelay(1000, 1000, 60_000, lo)).toBe(30_000);
    const samples = new Set(Array.from({ length: 50 }, () => retryDelay(5, 1000, 60_000)));
    expect(samples.size).toBeGreaterThan(1);
    for (const s of samples) expect(s >= 8000 && s <= 16000).toBe(true);
  });
});
