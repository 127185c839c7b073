// The reference's development auth (X-Mock-User-Id) on the real service: on only with DEV_MODE=1
// and DEV_MOCK_USER_HEADER=1; a clear refusal otherwise.
import { loadConfig } from '../../app/config';
import { startTestService, TEST_SECRET, type TestService } from '../helpers/service';

async function get(t: TestService, headers: Record<string, string>) {
  const res = await fetch(`${t.base}/v1/challenges`, { headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('X-Mock-User-Id with DEV_MODE=1 and DEV_MOCK_USER_HEADER=1', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ env: { DEV_MOCK_USER_HEADER: '1' } });
  });
  afterAll(() => t.stop());

  test('a request without a bearer token acts as the named player (same answer as a token of that player)', async () => {
    const u = 'mock-player-1';
    const init = await fetch(`${t.base}/v1/challenges/initialize`, {
      method: 'POST',
      headers: { 'x-mock-user-id': u },
    });
    expect(init.status).toBe(200);
    // The same player through a real token sees the same player: it exists now.
    const rows = await fetch(`${t.base}/v1/challenges`, {
      headers: { authorization: `Bearer ${await t.token(u)}` },
    });
    expect(rows.status).toBe(200);
    const viaHeader = await get(t, { 'x-mock-user-id': u });
    expect(viaHeader.status).toBe(200);
    expect(viaHeader.body).toEqual(await rows.json());
  });

  test("the header wins over a placeholder bearer token, as the reference's k6 scripts send both", async () => {
    const res = await get(t, { 'x-mock-user-id': 'mock-player-2', authorization: 'Bearer not-a-real-token' });
    expect(res.status).toBe(200);
  });

  test("the reference's k6 session runs unchanged: snake_case batch-select and random-select bodies", async () => {
    const h = { 'x-mock-user-id': 'mock-k6', 'content-type': 'application/json' };
    await fetch(`${t.base}/v1/challenges/initialize`, { method: 'POST', headers: h, body: '{}' });
    const batch = await fetch(`${t.base}/v1/challenges/daily-bounties/goals/batch-select`, {
      method: 'POST',
      headers: h,
      body: JSON.stringify({ goal_ids: ['daily-duels'], replace_existing: false }),
    });
    expect(batch.status).toBe(200);
    const b = (await batch.json()) as { selectedGoals: { goalId: string }[] };
    expect(b.selectedGoals.map((g) => g.goalId)).toContain('daily-duels');
    const random = await fetch(`${t.base}/v1/challenges/weekly-expeditions/goals/random-select`, {
      method: 'POST',
      headers: h,
      body: JSON.stringify({ count: 1, replace_existing: false, exclude_active: true }),
    });
    expect(random.status).toBe(200);
    const r = (await random.json()) as { selectedGoals: { goalId: string; isActive: boolean }[] };
    expect(r.selectedGoals).toHaveLength(1);
  });

  test('no header and no token: 401 naming both; an over-long header: 400 naming it', async () => {
    const none = await get(t, {});
    expect(none.status).toBe(401);
    expect(String(none.body.message)).toContain('X-Mock-User-Id');
    const long = await get(t, { 'x-mock-user-id': 'x'.repeat(129) });
    expect(long.status).toBe(400);
    expect(long.body.details).toMatchObject({ field: 'X-Mock-User-Id' });
  });
});

describe('X-Mock-User-Id when the mock header is off', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService(); // dev mode, DEV_MOCK_USER_HEADER unset
  });
  afterAll(() => t.stop());

  test('the header alone is refused with 401 saying what would enable it', async () => {
    const res = await get(t, { 'x-mock-user-id': 'mock-player-3' });
    expect(res.status).toBe(401);
    expect(String(res.body.message)).toContain('DEV_MOCK_USER_HEADER=1');
  });

  test('with a real token the header is ignored: the token decides the player', async () => {
    const res = await fetch(`${t.base}/v1/challenges`, {
      headers: { authorization: `Bearer ${await t.token('mock-real')}`, 'x-mock-user-id': 'someone-else' },
    });
    expect(res.status).toBe(200);
    const bad = await fetch(`${t.base}/v1/challenges`, {
      headers: { authorization: 'Bearer not-a-real-token', 'x-mock-user-id': 'someone-else' },
    });
    expect(bad.status).toBe(401);
  });

  test('DEV_MOCK_USER_HEADER=1 without DEV_MODE=1 is a configuration error', () => {
    expect(() => loadConfig({ DEV_MOCK_USER_HEADER: '1', JWT_HS256_SECRET: TEST_SECRET })).toThrow(
      /DEV_MOCK_USER_HEADER=1 needs DEV_MODE=1/,
    );
  });
});
