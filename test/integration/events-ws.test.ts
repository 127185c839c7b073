// Live pushes end to end: ingest -> Redis stream -> worker -> PostgreSQL -> Redis pub/sub -> uWS socket.
import Redis from 'ioredis';
import { eventsModule } from '../../app/events/module';
import { websocketConnections, websocketMessagesDroppedTotal } from '../../app/ops/metrics';
import { dropEventKeys, eventsEnv, statEvent } from '../helpers/events';
import { startTestService, type TestService } from '../helpers/service';
import { connectWs, UpgradeRefused, type TestSocket } from '../helpers/wsClient';

const gauge = async (g: { get(): Promise<{ values: { value: number }[] }> }) =>
  (await g.get()).values.reduce((a, v) => a + v.value, 0);

describe('WebSocket pushes', () => {
  let t: TestService;
  let env: Record<string, string>;
  let svcToken: string;
  let wsBase: string;
  const open: TestSocket[] = [];

  beforeAll(async () => {
    env = eventsEnv({ WS_AUTH_TIMEOUT_MS: '300', WS_MAX_BUFFERED_BYTES: '1024' });
    t = await startTestService({ modules: [eventsModule()], env });
    svcToken = await t.serviceToken();
    wsBase = `${t.base}/v1/ws`;
  });
  afterAll(async () => {
    for (const s of open) s.close();
    await t.stop();
    await dropEventKeys(env);
  });

  const post = async (events: unknown[]) => {
    const res = await fetch(`${t.base}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${svcToken}` },
      body: JSON.stringify({ events }),
    });
    expect(res.status).toBe(202);
  };
  const connectWithQuery = async (userId: string) => {
    const s = await connectWs(`${wsBase}?token=${await t.token(userId)}`);
    open.push(s);
    await s.waitFor((m) => m.type === 'ready');
    return s;
  };
  const connectWithMessage = async (userId: string) => {
    const s = await connectWs(wsBase);
    open.push(s);
    s.send(JSON.stringify({ token: await t.token(userId) }));
    await s.waitFor((m) => m.type === 'ready');
    return s;
  };

  test('a player receives "completed" within 1 s of the event that completed its goal, and only its own messages', async () => {
    const connectionsBefore = await gauge(websocketConnections);
    const alice = await connectWithQuery('ws-alice');
    const bob = await connectWithMessage('ws-bob');
    expect((await gauge(websocketConnections)) - connectionsBefore).toBe(2);

    const sent = Date.now();
    await post([statEvent('ws-1', 'ws-alice', 'tutorial_steps_done', 1, 'set')]);
    const done = await alice.waitFor((m) => m.type === 'completed' && m.goalId === 'first-steps', 5000);
    expect(Date.now() - sent).toBeLessThan(1000);
    expect(done).toEqual({
      type: 'completed',
      userId: 'ws-alice',
      challengeId: 'starter-path',
      goalId: 'first-steps',
      progress: 1,
      target: 1,
      status: 'completed',
    });

    // progress on a relative daily goal; then a message for bob as a synchronisation point
    await post([statEvent('ws-2', 'ws-alice', 'crates_opened', 1)]);
    await alice.waitFor((m) => m.goalId === 'daily-crates');
    expect(alice.messages).toContainEqual(
      expect.objectContaining({
        type: 'progress',
        goalId: 'daily-crates',
        progress: 1,
        target: 3,
        status: 'in_progress',
      }),
    );
    await post([statEvent('ws-3', 'ws-bob', 'crates_opened', 3)]);
    await bob.waitFor((m) => m.goalId === 'daily-crates' && m.type === 'completed');

    const users = (s: TestSocket) => new Set(s.messages.map((m) => (m as { userId: string }).userId));
    expect(users(alice)).toEqual(new Set(['ws-alice']));
    expect(users(bob)).toEqual(new Set(['ws-bob']));
  });

  test('a stat change that leaves a completed goal completed pushes no second "completed"', async () => {
    const s = await connectWithQuery('ws-carol');
    await post([statEvent('c-1', 'ws-carol', 'tutorial_steps_done', 1, 'set')]);
    await s.waitFor((m) => m.type === 'completed' && m.goalId === 'first-steps');
    await post([statEvent('c-2', 'ws-carol', 'tutorial_steps_done', 2, 'set')]);
    await post([statEvent('c-3', 'ws-carol', 'crates_opened', 1)]);
    await s.waitFor((m) => m.goalId === 'daily-crates');
    expect(s.messages.filter((m) => (m as { goalId?: string }).goalId === 'first-steps')).toHaveLength(1);
  });

  test('bad credentials are refused: invalid token 401, service token 403, bad first message and silence close the socket', async () => {
    await expect(connectWs(`${wsBase}?token=not-a-jwt`)).rejects.toEqual(new UpgradeRefused(401));
    await expect(connectWs(`${wsBase}?token=${svcToken}`)).rejects.toEqual(new UpgradeRefused(403));
    const bad = await connectWs(wsBase);
    bad.send(JSON.stringify({ token: 'nope' }));
    expect((await bad.waitClosed()).code).toBe(4401);
    const silent = await connectWs(wsBase);
    expect((await silent.waitClosed()).code).toBe(4401);
    expect(silent.messages).toEqual([]);
  });

  test('messages to a client that does not read are dropped and counted once its buffer is over the limit', async () => {
    const s = await connectWithQuery('ws-slow');
    s.pause();
    const droppedBefore = await gauge(websocketMessagesDroppedTotal);
    const r = new Redis(env.REDIS_URL!);
    const pad = 'p'.repeat(1000);
    const total = 20_000;
    for (let i = 0; i < total; i += 2000) {
      const batch = Array.from({ length: 2000 }, (_, j) => ({
        type: 'progress',
        userId: 'ws-slow',
        challengeId: pad,
        goalId: `g${i + j}`,
        progress: 0,
        target: 1,
        status: 'in_progress',
      }));
      await r.publish(env.EVENTS_PUSH_CHANNEL!, JSON.stringify(batch));
    }
    r.disconnect();
    const dropped = async () => (await gauge(websocketMessagesDroppedTotal)) - droppedBefore;
    for (let i = 0; i < 200 && (await dropped()) === 0; i++) await new Promise((res) => setTimeout(res, 50));
    expect(await dropped()).toBeGreaterThan(0);
    s.resume();
    await new Promise((res) => setTimeout(res, 500));
    expect(s.messages.length).toBeLessThan(total);
  });
});

describe('embedded mode (no REDIS_URL): in-memory queue and bus', () => {
  test('an ingested event is applied by the in-process worker and pushed to the player socket', async () => {
    const t = await startTestService({
      inMemoryMode: true,
      modules: [eventsModule()],
      env: { EVENTS_READ_BLOCK_MS: '200', SHUTDOWN_GRACE_MS: '3000' },
    });
    try {
      expect(t.cfg.REDIS_URL).toBeUndefined();
      const s = await connectWs(`${t.base}/v1/ws?token=${await t.token('emb-1')}`);
      await s.waitFor((m) => m.type === 'ready');
      const res = await fetch(`${t.base}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await t.serviceToken()}` },
        body: JSON.stringify({ events: [statEvent('emb-e1', 'emb-1', 'tutorial_steps_done', 1, 'set')] }),
      });
      expect(res.status).toBe(202);
      expect(await s.waitFor((m) => m.type === 'completed')).toMatchObject({
        userId: 'emb-1',
        goalId: 'first-steps',
      });
      const me = await t.call('emb-1', 'GET', '/v1/challenges/starter-path');
      expect(me.body.goals[0]).toMatchObject({ goalId: 'first-steps', status: 'completed' });
      s.close();
    } finally {
      await t.stop();
    }
  });
});
