// The platform's gRPC event delivery against the running service (grpc-js server, Redis Streams,
// the worker, PostgreSQL through PgBouncer), driven by a real gRPC client.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import path from 'node:path';
import protobuf from 'protobufjs';
import { mintToken } from '../../app/api/auth';
import { LOGIN_SERVICE, loadProtos, STAT_SERVICE } from '../../app/events/grpc';
import { eventsModule } from '../../app/events/module';
import { dropEventKeys, eventsEnv, eventually, readStats, sql } from '../helpers/events';
import { OwnRedis } from '../helpers/own-redis';
import { startTestService, TEST_API_KEY, TEST_SECRET, type TestService } from '../helpers/service';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- generated client constructors
type AnyClient = any;
const pkg = grpc.loadPackageDefinition(loadProtos()) as AnyClient;

interface Clients {
  login: AnyClient;
  stat: AnyClient;
  health: AnyClient;
  close(): void;
}

function clients(port: number): Clients {
  const addr = `127.0.0.1:${port}`;
  const creds = grpc.credentials.createInsecure();
  const login = new pkg.accelbyte.iam.account.v1.UserAuthenticationUserLoggedInService(addr, creds);
  const stat = new pkg.accelbyte.social.statistic.v1.StatisticStatItemUpdatedService(addr, creds);
  const health = new pkg.grpc.health.v1.Health(addr, creds);
  return {
    login,
    stat,
    health,
    close: () => [login, stat, health].forEach((c: AnyClient) => c.close()),
  };
}

interface CallResult {
  code: grpc.status;
  details: string;
}

function call(
  client: AnyClient,
  method: string,
  msg: unknown,
  md = new grpc.Metadata(),
): Promise<CallResult> {
  return new Promise((resolve) => {
    client[method](msg, md, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null) =>
      resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' }),
    );
  });
}

const OK = { code: grpc.status.OK, details: '' };

describe('gRPC event ingest (dev mode: no credential, namespace "test")', () => {
  let t: TestService;
  let env: Record<string, string>;
  let c: Clients;
  let port = 0;

  beforeAll(async () => {
    env = eventsEnv({ GRPC_PORT: '0' });
    t = await startTestService({
      modules: [eventsModule(undefined, { grpc: { onListening: (p) => (port = p) } })],
      env,
    });
    c = clients(port);
  });
  afterAll(async () => {
    c.close();
    await t.stop();
    await dropEventKeys(env);
  });

  const stats = async (user: string) => Object.fromEntries(await readStats(t.db.directUrl, user));
  const login = (msg: unknown) => call(c.login, 'OnMessage', msg);
  const stat = (msg: unknown) => call(c.stat, 'OnMessage', msg);

  test('a login and a stat message change the player progress the API shows', async () => {
    const u = 'grpc-progress';
    expect(await login({ id: 'gp-1', userId: u, namespace: 'test' })).toEqual(OK);
    expect(
      await stat({
        id: 'gp-2',
        userId: u,
        namespace: 'test',
        payload: { statCode: 'matches_finished', latestValue: 1 },
      }),
    ).toEqual(OK);
    await eventually(async () => {
      const s = await stats(u);
      return s[`${u}|days_logged_in`] === 1 && s[`${u}|matches_finished`] === 1 ? true : undefined;
    });
    const res = await t.call(u, 'GET', '/v1/challenges');
    expect(res.status).toBe(200);
    const goals = (
      res.body.challenges as { goals: { goalId: string; progress: number; status: string }[] }[]
    ).flatMap((ch) => ch.goals);
    expect(goals.find((g) => g.goalId === 'first-match')).toMatchObject({ progress: 1, status: 'completed' });
    expect(goals.find((g) => g.goalId === 'first-login')).toMatchObject({ progress: 1, status: 'completed' });
  });

  test('the same message id twice is applied once', async () => {
    const u = 'grpc-dup';
    const msg = {
      id: 'gd-1',
      userId: u,
      namespace: 'test',
      payload: { statCode: 'matches_finished', inc: 2 },
    };
    expect(await stat(msg)).toEqual(OK);
    expect(await stat(msg)).toEqual(OK);
    expect(await stat({ ...msg, id: 'gd-2' })).toEqual(OK);
    await eventually(async () => ((await stats(u))[`${u}|matches_finished`] === 4 ? true : undefined));
    // a later marker proves the worker is past the duplicates: still 4 (2 + 2, the repeat ignored)
    expect(await login({ id: 'gd-3', userId: u, namespace: 'test' })).toEqual(OK);
    await eventually(async () => ((await stats(u))[`${u}|days_logged_in`] === 1 ? true : undefined));
    expect((await stats(u))[`${u}|matches_finished`]).toBe(4);
  });

  test('latestValue sets the stat (truncated), only inc adds to it, the message timestamp orders sets', async () => {
    const u = 'grpc-modes';
    const base = { userId: u, namespace: 'test' };
    expect(
      await stat({ ...base, id: 'gm-1', payload: { statCode: 'matches_won', latestValue: 7.9 } }),
    ).toEqual(OK);
    expect(await stat({ ...base, id: 'gm-2', payload: { statCode: 'matches_finished', inc: 3 } })).toEqual(
      OK,
    );
    expect(await stat({ ...base, id: 'gm-3', payload: { statCode: 'matches_finished', inc: 2 } })).toEqual(
      OK,
    );
    await eventually(async () => {
      const s = await stats(u);
      return s[`${u}|matches_won`] === 7 && s[`${u}|matches_finished`] === 5 ? true : undefined;
    });
    // A set stamped earlier than the applied one loses (last writer wins by occurredAt = timestamp).
    const older = new Date(Date.now() - 3_600_000).toISOString();
    expect(
      await stat({
        ...base,
        id: 'gm-4',
        timestamp: older,
        payload: { statCode: 'matches_won', latestValue: 2 },
      }),
    ).toEqual(OK);
    const newer = new Date(Date.now() + 60_000).toISOString(); // after gm-1's receive time
    expect(
      await stat({
        ...base,
        id: 'gm-5',
        timestamp: newer,
        payload: { statCode: 'matches_won', latestValue: 9 },
      }),
    ).toEqual(OK);
    await eventually(async () => ((await stats(u))[`${u}|matches_won`] === 9 ? true : undefined));
    const rows = await sql<{ set_at: Date }>(
      t.db.directUrl,
      `SELECT set_at FROM stat_values WHERE user_id = $1 AND stat_code = 'matches_won'`,
      [u],
    );
    expect(rows[0]!.set_at.toISOString()).toBe(newer);
  });

  test('bad messages get INVALID_ARGUMENT naming the field, and nothing is queued', async () => {
    const u = 'grpc-bad';
    const cases: [() => Promise<CallResult>, string][] = [
      [() => login({ userId: u, namespace: 'test' }), 'id'],
      [() => login({ id: 'gb-1', namespace: 'test' }), 'userId'],
      [() => login({ id: 'gb-2', userId: u, namespace: 'test', timestamp: 'yesterday' }), 'timestamp'],
      [() => login({ id: 'gb-3', userId: 'x'.repeat(129), namespace: 'test' }), 'userId'],
      [() => stat({ id: 'gb-4', userId: u, namespace: 'test' }), 'payload'],
      [
        () => stat({ id: 'gb-5', userId: u, namespace: 'test', payload: { latestValue: 1 } }),
        'payload.statCode',
      ],
      [
        () =>
          stat({
            id: 'gb-6',
            userId: u,
            namespace: 'test',
            payload: { statCode: 'matches_won', latestValue: 1e300 },
          }),
        'payload.latestValue',
      ],
      [
        () =>
          stat({
            id: 'gb-7',
            userId: u,
            namespace: 'test',
            payload: { statCode: 'matches_won', inc: Infinity },
          }),
        'payload.inc',
      ],
    ];
    for (const [send, field] of cases) {
      const res = await send();
      expect(res.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(res.details).toContain(field);
    }
    // A good message afterwards is the only thing this player ever gets.
    expect(await login({ id: 'gb-ok', userId: u, namespace: 'test' })).toEqual(OK);
    await eventually(async () => ((await stats(u))[`${u}|days_logged_in`] === 1 ? true : undefined));
    expect(Object.keys(await stats(u))).toEqual([`${u}|days_logged_in`]);
  });

  test('a message of another namespace is acknowledged and not applied (as the reference)', async () => {
    const u = 'grpc-ns';
    expect(await login({ id: 'gn-1', userId: u, namespace: 'other-game' })).toEqual(OK);
    expect(await login({ id: 'gn-2', userId: u, namespace: 'test' })).toEqual(OK);
    await eventually(async () => ((await stats(u))[`${u}|days_logged_in`] === 1 ? true : undefined));
    expect(await login({ id: 'gn-3', userId: u, namespace: 'test' })).toEqual(OK);
    await eventually(async () => ((await stats(u))[`${u}|days_logged_in`] === 2 ? true : undefined));
  });

  test('field numbers are the platform wire format: a hand-encoded StatItemUpdated is understood', async () => {
    const u = 'grpc-wire';
    const payload = protobuf.Writer.create();
    payload.uint32((2 << 3) | 2).string('matches_won'); // stat_code = 2
    payload.uint32((4 << 3) | 1).double(42.0); // latest_value = 4 (double)
    const w = protobuf.Writer.create();
    w.uint32((1 << 3) | 2).bytes(payload.finish()); // payload = 1
    w.uint32((2 << 3) | 2).string('gw-1'); // id = 2
    w.uint32((5 << 3) | 2).string('test'); // namespace = 5
    w.uint32((9 << 3) | 2).string(u); // user_id = 9
    const bytes = Buffer.from(w.finish());
    const raw = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const res = await new Promise<grpc.ServiceError | null>((resolve) =>
      raw.makeUnaryRequest(
        `/${STAT_SERVICE}/OnMessage`,
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        (err) => resolve(err),
      ),
    );
    raw.close();
    expect(res).toBeNull();
    await eventually(async () => ((await stats(u))[`${u}|matches_won`] === 42 ? true : undefined));
  });

  test('reflection lists both event services and health; health answers SERVING', async () => {
    const def = protoLoader.loadSync('grpc/reflection/v1alpha/reflection.proto', {
      includeDirs: [path.join(require.resolve('@grpc/reflection'), '../../proto')],
    });
    const refl = grpc.loadPackageDefinition(def) as AnyClient;
    const client = new refl.grpc.reflection.v1alpha.ServerReflection(
      `127.0.0.1:${port}`,
      grpc.credentials.createInsecure(),
    );
    const names = await new Promise<string[]>((resolve, reject) => {
      const stream = client.ServerReflectionInfo();
      stream.on('data', (r: { listServicesResponse?: { service: { name: string }[] } }) => {
        resolve((r.listServicesResponse?.service ?? []).map((s) => s.name));
        stream.end();
      });
      stream.on('error', reject);
      stream.write({ listServices: '' });
    });
    client.close();
    expect(names).toEqual(expect.arrayContaining([LOGIN_SERVICE, STAT_SERVICE, 'grpc.health.v1.Health']));

    const health = await new Promise<{ status: string }>((resolve, reject) =>
      c.health.Check({ service: '' }, (err: Error | null, r: { status: string }) =>
        err ? reject(err) : resolve(r),
      ),
    );
    expect(health.status).toBe('SERVING');
  });
});

describe('gRPC event ingest (production mode: service credential, own Redis)', () => {
  let t: TestService;
  let redis: OwnRedis;
  let c: Clients;
  let port = 0;

  beforeAll(async () => {
    redis = await OwnRedis.create();
    const env = eventsEnv({
      REDIS_URL: redis.url,
      GRPC_PORT: '0',
      DEV_MODE: '0',
      AB_NAMESPACE: 'game-ns',
      RATE_LIMIT_INGEST_EVENTS_PER_SEC: '1',
      RATE_LIMIT_INGEST_BURST: '100',
    });
    t = await startTestService({
      modules: [eventsModule(undefined, { grpc: { onListening: (p) => (port = p) } })],
      env,
    });
    c = clients(port);
  });
  afterAll(async () => {
    c.close();
    await t.stop();
    await redis.remove();
  });

  const stats = async (user: string) => Object.fromEntries(await readStats(t.db.directUrl, user));
  const keyMd = () => {
    const md = new grpc.Metadata();
    md.set('x-api-key', TEST_API_KEY);
    return md;
  };

  test('refused without a credential (UNAUTHENTICATED) or with a player token (PERMISSION_DENIED)', async () => {
    const msg = { id: 'pa-1', userId: 'grpc-auth', namespace: 'game-ns' };
    expect((await call(c.login, 'OnMessage', msg)).code).toBe(grpc.status.UNAUTHENTICATED);
    const wrong = new grpc.Metadata();
    wrong.set('x-api-key', 'not-the-key');
    expect((await call(c.login, 'OnMessage', msg, wrong)).code).toBe(grpc.status.UNAUTHENTICATED);
    const player = new grpc.Metadata();
    player.set('authorization', `Bearer ${(await mintToken(TEST_SECRET, 'grpc-auth')).token}`);
    expect((await call(c.login, 'OnMessage', msg, player)).code).toBe(grpc.status.PERMISSION_DENIED);
    const svc = new grpc.Metadata();
    svc.set('authorization', `Bearer ${(await mintToken(TEST_SECRET, 'platform', { service: true })).token}`);
    expect(await call(c.login, 'OnMessage', msg, svc)).toEqual(OK);
    expect(await call(c.login, 'OnMessage', { ...msg, id: 'pa-2' }, keyMd())).toEqual(OK);
    await eventually(async () =>
      (await stats('grpc-auth'))['grpc-auth|days_logged_in'] === 2 ? true : undefined,
    );
  });

  test('a queue outage answers UNAVAILABLE and loses nothing; the retried message is applied once', async () => {
    const u = 'grpc-outage';
    const msg = (i: number) => ({
      id: `po-${i}`,
      userId: u,
      namespace: 'game-ns',
      payload: { statCode: 'matches_finished', inc: 1 },
    });
    for (let i = 0; i < 5; i++) expect(await call(c.stat, 'OnMessage', msg(i), keyMd())).toEqual(OK);
    await redis.kill();
    const down = await call(c.stat, 'OnMessage', msg(5), keyMd());
    expect(down.code).toBe(grpc.status.UNAVAILABLE);
    await redis.start();
    // The platform retries the refused message (and, say, one already acknowledged) after the outage.
    await eventually(async () => {
      const r = await call(c.stat, 'OnMessage', msg(5), keyMd());
      return r.code === grpc.status.OK ? true : undefined;
    });
    expect(await call(c.stat, 'OnMessage', msg(4), keyMd())).toEqual(OK);
    await eventually(
      async () => ((await stats(u))[`${u}|matches_finished`] === 6 ? true : undefined),
      60_000,
    );
    expect(
      await call(c.login, 'OnMessage', { id: 'po-m', userId: u, namespace: 'game-ns' }, keyMd()),
    ).toEqual(OK);
    await eventually(async () => ((await stats(u))[`${u}|days_logged_in`] === 1 ? true : undefined), 60_000);
    expect((await stats(u))[`${u}|matches_finished`]).toBe(6);
  });
  test('over the per-client ingest budget: RESOURCE_EXHAUSTED, nothing queued', async () => {
    const u = 'grpc-rate';
    let exhausted = 0;
    let ok = 0;
    // the limiter may answer from per-pod memory when Redis is slow (a second, full bucket): room for both
    for (let i = 0; i < 600 && exhausted === 0; i++) {
      const r = await call(c.login, 'OnMessage', { id: `pr-${i}`, userId: u, namespace: 'game-ns' }, keyMd());
      if (r.code === grpc.status.RESOURCE_EXHAUSTED) exhausted++;
      else if (r.code === grpc.status.OK) ok++;
    }
    expect(exhausted).toBe(1);
    await eventually(async () => ((await stats(u))[`${u}|days_logged_in`] === ok ? true : undefined));
  });
});
