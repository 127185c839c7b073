// GDPR erasure on the real service (PostgreSQL through PgBouncer, Redis Streams, the worker): after
// DELETE /v1/users/me/data no row of the player is left in any table (every text column of every
// table is searched, and every table of the schema must be either erased or declared free of player
// data) nor in any Redis key, and the player's open WebSocket is closed; another player is
// untouched; a second call within a minute is 429; the admin route erases a given player.
import Redis from 'ioredis';
import { CLOSE_PLAYER_ERASED } from '../../app/api/ws';
import { encodeEvent } from '../../app/events/event';
import { eventsModule } from '../../app/events/module';
import { NO_PLAYER_TABLES, PLAYER_TABLES } from '../../app/gdpr/store';
import { dropEventKeys, eventsEnv, eventually, iso, sql } from '../helpers/events';
import { startTestService, TEST_API_KEY, type TestService } from '../helpers/service';
import { connectWs, type TestSocket } from '../helpers/wsClient';

describe('GDPR erasure', () => {
  let t: TestService;
  let env: Record<string, string>;
  let redis: Redis;
  let svcToken: string;
  const sockets: TestSocket[] = [];

  beforeAll(async () => {
    env = eventsEnv();
    t = await startTestService({ modules: [eventsModule()], env });
    redis = new Redis(env.REDIS_URL!);
    svcToken = await t.serviceToken();
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t.stop();
    await redis.del(`${env.EVENTS_STREAM_KEY}:dead`);
    await dropEventKeys(env);
    redis.disconnect();
  });

  const send = async (events: Record<string, unknown>[]) => {
    const res = await fetch(`${t.base}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${svcToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    expect(res.status).toBe(202);
  };

  /** Tables (with the column) holding `needle` in any text-like column. */
  async function tablesMentioning(needle: string): Promise<string[]> {
    const cols = await sql<{ table_name: string; column_name: string }>(
      t.db.directUrl,
      `SELECT c.table_name, c.column_name FROM information_schema.columns c
         JOIN information_schema.tables tb ON tb.table_name = c.table_name AND tb.table_schema = c.table_schema
        WHERE c.table_schema = 'public' AND tb.table_type = 'BASE TABLE'
          AND c.data_type IN ('text', 'character varying', 'jsonb', 'json', 'uuid')`,
    );
    expect(new Set(cols.map((c) => c.table_name)).size).toBeGreaterThanOrEqual(10);
    const found = new Set<string>();
    for (const { table_name, column_name } of cols) {
      const [row] = await sql<{ n: number }>(
        t.db.directUrl,
        `SELECT count(*)::int AS n FROM "${table_name}" WHERE "${column_name}"::text LIKE $1`,
        [`%${needle}%`],
      );
      if (row!.n > 0) found.add(table_name);
    }
    return [...found].sort();
  }

  /** Redis keys whose name or content mentions `needle` (the whole server is scanned). */
  async function redisMentioning(needle: string): Promise<string[]> {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
      cursor = next;
      for (const k of keys) {
        const type = await redis.type(k);
        let content = '';
        if (type === 'string') content = (await redis.get(k)) ?? '';
        else if (type === 'hash') content = JSON.stringify(await redis.hgetall(k));
        else if (type === 'zset') content = JSON.stringify(await redis.zrange(k, 0, -1));
        else if (type === 'set') content = JSON.stringify(await redis.smembers(k));
        else if (type === 'list') content = JSON.stringify(await redis.lrange(k, 0, -1));
        else if (type === 'stream') content = JSON.stringify(await redis.xrange(k, '-', '+'));
        if (k.includes(needle) || content.includes(needle)) out.push(k);
      }
    } while (cursor !== '0');
    return out.sort();
  }

  /**
   * Everything a player can leave behind: facts, selections, baselines, completion, claim, keys,
   * processed event ids, an open WebSocket (and its presence), a dead-lettered event.
   */
  async function playerWithData(u: string): Promise<TestSocket> {
    expect((await t.call(u, 'POST', '/v1/challenges/initialize')).status).toBe(200);
    const sel = await t.call(u, 'PUT', '/v1/challenges/daily-bounties/goals/daily-duels/active', {
      isActive: true,
    });
    expect(sel.status).toBe(200);
    const now = Date.now() - 1000;
    await send([
      { eventId: `ev-${Math.random()}`, userId: u, type: 'login', occurredAt: iso(now) },
      {
        eventId: `ev-${Math.random()}`,
        userId: u,
        type: 'stat',
        statCode: 'tutorial_steps_done',
        value: 1,
        mode: 'set',
        occurredAt: iso(now),
      },
      {
        eventId: `ev-${Math.random()}`,
        userId: u,
        type: 'stat',
        statCode: 'crates_opened',
        value: 1,
        mode: 'increment',
        occurredAt: iso(now),
      },
    ]);
    await eventually(async () => {
      const res = await t.call(u, 'GET', '/v1/challenges/starter-path');
      return res.body.goals?.find((g: { goalId: string }) => g.goalId === 'first-steps')?.status ===
        'completed'
        ? true
        : undefined;
    });
    const claim = await t.call(u, 'POST', '/v1/challenges/starter-path/goals/first-steps/claim', undefined, {
      'idempotency-key': `claim-${Math.random()}`,
    });
    expect(claim.status).toBe(200);
    const ws = await connectWs(`${t.base}/v1/ws?token=${await t.token(u)}`);
    sockets.push(ws);
    await ws.waitFor((m) => m.type === 'ready');
    await eventually(async () => ((await redis.zscore(env.EVENTS_PRESENCE_KEY!, u)) ? true : undefined));
    await redis.xadd(
      `${env.EVENTS_STREAM_KEY}:dead`,
      '*',
      'e',
      encodeEvent({ type: 'login', eventId: `dead-${Math.random()}`, userId: u, occurredAt: now }),
      'error',
      'test',
    );
    return ws;
  }

  const EXPECTED_TABLES = [
    'claims',
    'goal_completions',
    'goal_states',
    'idempotency_keys',
    'players',
    'processed_events',
    'reward_outbox',
    'stat_baselines',
    'stat_values',
  ];

  test('every table of the schema is erased per player or declared to hold no player data', async () => {
    const tables = (
      await sql<{ table_name: string }>(
        t.db.directUrl,
        `SELECT table_name FROM information_schema.tables
          WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`,
      )
    ).map((r) => r.table_name);
    const erased = PLAYER_TABLES.map((p) => p.table);
    expect(tables.filter((n) => !erased.includes(n) && !NO_PLAYER_TABLES.includes(n))).toEqual([]);
    // the fixture below leaves a row in every erased table, so each delete is exercised
    expect([...erased].sort()).toEqual(EXPECTED_TABLES);
  });

  test('DELETE /v1/users/me/data leaves nothing of the player in PostgreSQL or Redis; others untouched', async () => {
    const victim = 'gdpr-victim-7f3a';
    const other = 'gdpr-other-91bc';
    const victimWs = await playerWithData(victim);
    const otherWs = await playerWithData(other);
    expect(await tablesMentioning(victim)).toEqual(EXPECTED_TABLES);
    expect(await redisMentioning(victim)).toEqual(
      expect.arrayContaining([env.EVENTS_PRESENCE_KEY, `${env.EVENTS_STREAM_KEY}:dead`]),
    );
    // the answer minus the one field that moves with the clock
    const view = async (u: string) =>
      JSON.stringify((await t.call(u, 'GET', '/v1/challenges')).body, (k, v: unknown) =>
        k === 'expiresInSeconds' ? undefined : v,
      );
    const otherBefore = await view(other);

    const res = await t.call(victim, 'DELETE', '/v1/users/me/data');
    expect(res.status).toBe(200);
    expect(res.body.userId).toBe(victim);
    expect(res.body.deleted).toMatchObject({
      players: 1,
      stat_values: 3,
      claims: 1,
      reward_outbox: 1,
      goal_completions: expect.any(Number),
      idempotency_keys: expect.any(Number),
      queued_events: 1,
    });
    for (const table of EXPECTED_TABLES) expect(res.body.deleted[table]).toBeGreaterThan(0);
    // the erased player's socket was told and closed; the other player's stays open
    expect(await victimWs.waitClosed()).toEqual({ code: CLOSE_PLAYER_ERASED, reason: 'player data erased' });
    expect(victimWs.messages).toContainEqual({ type: 'erased', userId: victim });
    expect(otherWs.closed).toBeNull();

    expect(await tablesMentioning(victim)).toEqual([]);
    expect(await redisMentioning(victim)).toEqual([]);
    expect(await tablesMentioning(other)).toEqual(EXPECTED_TABLES);
    expect(await redisMentioning(other)).toEqual(
      expect.arrayContaining([env.EVENTS_PRESENCE_KEY, `${env.EVENTS_STREAM_KEY}:dead`]),
    );
    expect(await view(other)).toBe(otherBefore);

    // Second call within the minute: 429 with Retry-After, nothing else done.
    const again = await t.call(victim, 'DELETE', '/v1/users/me/data');
    expect(again.status).toBe(429);
    expect(again.headers.get('retry-after')).toBe('60');
  });

  test('events queued for the player before the erasure are not applied after it', async () => {
    const u = 'gdpr-queued-55d1';
    await playerWithData(u);
    const res = await t.call(u, 'DELETE', '/v1/users/me/data');
    expect(res.status).toBe(200);
    // A marker event of another player proves the worker is past anything queued before.
    await send([
      {
        eventId: `mark-${Math.random()}`,
        userId: 'gdpr-marker',
        type: 'login',
        occurredAt: iso(Date.now() - 500),
      },
    ]);
    await eventually(async () =>
      (await sql(t.db.directUrl, `SELECT 1 FROM players WHERE user_id = 'gdpr-marker'`)).length
        ? true
        : undefined,
    );
    expect(await tablesMentioning(u)).toEqual([]);
  });

  test('admin route erases a given player with a service credential; refused without', async () => {
    const u = 'gdpr-admin-0c2e';
    const ws = await playerWithData(u);
    const url = `${t.ops}/admin/v1/players/${u}/data`;
    expect((await fetch(url, { method: 'DELETE' })).status).toBe(401);
    const res = await fetch(url, { method: 'DELETE', headers: { 'x-api-key': TEST_API_KEY } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { userId: string; deleted: Record<string, number> };
    expect(body.userId).toBe(u);
    expect(body.deleted.players).toBe(1);
    expect((await ws.waitClosed()).code).toBe(CLOSE_PLAYER_ERASED);
    expect(await tablesMentioning(u)).toEqual([]);
    expect(await redisMentioning(u)).toEqual([]);
    // erasing again answers zeros, not an error
    const again = await fetch(url, { method: 'DELETE', headers: { 'x-api-key': TEST_API_KEY } });
    expect(((await again.json()) as { deleted: Record<string, number> }).deleted.players).toBe(0);
  });
});
