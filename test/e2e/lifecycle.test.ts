// Graceful shutdown of real processes (`node dist/app/main.js`, ROLE=api and ROLE=worker, migrations
// by ROLE=migrate) against the PostgreSQL, PgBouncer and Redis of scripts/with-services.sh.
//
// api: SIGTERM while claims are held in flight (their reward webhook does not answer yet) and while
// selection and event-ingest loops keep going: readiness turns false at once, every claim in flight
// is answered 200 and is in PostgreSQL, every other answer is 200/202 or 503 DRAINING, no request
// sent before the signal sees a broken connection, WebSockets get {"type":"reconnect"} then close
// 1012, the process exits 0.
// worker: SIGTERM while its batch is blocked in PostgreSQL: it finishes the batch, acknowledges it
// and exits 0; events accepted while no worker runs are applied by the next one, each exactly once.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { mintToken } from '../../app/api/auth';
import { ROOT } from '../../app/paths';
import { createPool, type Db } from '../../app/store/db';
import { dropEventKeys, eventsEnv, eventually, sql, statEvent } from '../helpers/events';
import { connectWs } from '../helpers/wsClient';
import { completeFirstSteps, WebhookReceiver } from '../integration/rewards-receiver';

jest.setTimeout(180_000);

const SECRET = 'lifecycle-secret-lifecycle-secret-0123456';
const MAIN = path.join(ROOT, 'dist/app/main.js');

interface Proc {
  child: ChildProcess;
  port: number;
  opsPort: number;
  logs: Record<string, unknown>[];
  exited: Promise<number | null>;
}

function startProcess(env: Record<string, string>): Promise<Proc> {
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'service started') {
            resolve({
              child,
              port: Number(entry.port ?? 0),
              opsPort: Number(entry.opsPort),
              logs,
              exited,
            });
          }
        } catch {
          /* not a log line */
        }
      }
    });
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    void exited.then((code) =>
      reject(new Error(`${env.ROLE} exited with ${code} before starting: ${stderr}`)),
    );
  });
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** One HTTP request through `agent` (kept-alive connections); rejects with the socket error code. */
function request(
  agent: http.Agent,
  port: number,
  method: string,
  urlPath: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      { host: '127.0.0.1', port, method, path: urlPath, agent, headers: { ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let parsed: Record<string, unknown> = {};
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
          } catch {
            /* empty or not JSON */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', (e: NodeJS.ErrnoException) => reject(Object.assign(e, { code: e.code ?? 'ERR' })));
      },
    );
    req.on('error', reject);
    if (data !== undefined) req.setHeader('content-type', 'application/json');
    req.end(data);
  });
}

const readyz = async (opsPort: number): Promise<{ status: number; body: Record<string, unknown> }> => {
  const res = await fetch(`http://127.0.0.1:${opsPort}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

interface Outcome {
  kind: 'select' | 'events';
  requestId: string;
  startedAfterSigterm: boolean;
  startedAfterNotReady: boolean;
  status?: number;
  error?: string;
  errorCode?: string;
  /** select: the player; events: the event ids of the batch */
  keys: string[];
}

describe('graceful shutdown of the api and worker processes (SIGTERM under load)', () => {
  let dbName: string;
  let directUrl: string;
  let pooledUrl: string;
  let env: Record<string, string>;
  let receiver: WebhookReceiver;
  let db: Db;
  let playerToken: (userId: string) => Promise<string>;
  let serviceToken: string;
  const procs: Proc[] = [];
  /** Event ids answered 202, across the whole file. */
  const accepted = new Set<string>();
  let holdGrants: Promise<void> | null = null;
  let releaseGrants: () => void = () => undefined;

  const start = async (role: 'api' | 'worker'): Promise<Proc> => {
    const p = await startProcess({ ...env, ROLE: role });
    procs.push(p);
    return p;
  };

  const postEvents = async (port: number, ids: string[]): Promise<number> => {
    const res = await request(
      new http.Agent(),
      port,
      'POST',
      '/challenge/v1/events',
      { authorization: `Bearer ${serviceToken}` },
      { events: ids.map((id, i) => statEvent(id, `life-ev-player-${i % 7}`, 'matches_finished', 1)) },
    );
    if (res.status === 202) for (const id of ids) accepted.add(id);
    return res.status;
  };

  beforeAll(async () => {
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'ignore' });

    const adminUrl = process.env.DATABASE_DIRECT_URL;
    if (!adminUrl || !process.env.DATABASE_URL) throw new Error('run through scripts/with-services.sh');
    dbName = `lifecycle_${randomBytes(4).toString('hex')}`;
    const admin = new Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    await admin.end();
    const withDb = (url: string) => Object.assign(new URL(url), { pathname: `/${dbName}` }).toString();
    directUrl = withDb(adminUrl);
    pooledUrl = withDb(process.env.DATABASE_URL);

    receiver = await new WebhookReceiver().start();
    receiver.behaviour = async () => {
      if (holdGrants) await holdGrants;
      return { status: 200 };
    };
    env = {
      ...eventsEnv({ EVENTS_GROUP: 'lifecycle-workers' }),
      DATABASE_URL: pooledUrl,
      DATABASE_DIRECT_URL: directUrl,
      HOST: '127.0.0.1',
      PORT: '0',
      OPS_PORT: '0',
      GRPC_PORT: '0',
      LOG_LEVEL: 'info',
      JWT_HS256_SECRET: SECRET,
      GRANTER: 'webhook',
      WEBHOOK_URL: receiver.url,
      WEBHOOK_SECRET: 'lifecycle-webhook-secret',
      GRANT_TIMEOUT_MS: '30000',
      REQUEST_DEADLINE_MS: '30000',
      SHUTDOWN_GRACE_MS: '20000',
      RATE_LIMIT_PLAYER_PER_SEC: '1000',
      RATE_LIMIT_PLAYER_BURST: '1000',
      RATE_LIMIT_INGEST_EVENTS_PER_SEC: '100000',
      RATE_LIMIT_INGEST_BURST: '100000',
      NEW_PLAYER_BUDGET_PER_SEC: '10000',
      NEW_PLAYER_BUDGET_BURST: '10000',
      // The claims held in flight keep their admission permits: a limit that shrinks under a slow
      // machine must not leave the load loops queued behind them (overload is not this test's topic).
      ADMISSION_INITIAL_LIMIT: '64',
      ADMISSION_MIN_LIMIT: '64',
      ADMISSION_EVENTS_INITIAL_LIMIT: '64',
      ADMISSION_TARGET_LATENCY_MS: '10000',
    };

    // Migrations by the migrate role, as the Helm hook Job runs them.
    const migrate = spawn(process.execPath, [MAIN], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env, ROLE: 'migrate' },
      stdio: 'ignore',
    });
    expect(await new Promise((r) => migrate.once('exit', r))).toBe(0);

    db = createPool({ connectionString: directUrl, max: 2, queryTimeoutMs: 10_000 });
    const tokens = new Map<string, string>();
    playerToken = async (userId) => {
      let tok = tokens.get(userId);
      if (!tok) tokens.set(userId, (tok = (await mintToken(SECRET, userId)).token));
      return tok;
    };
    serviceToken = (await mintToken(SECRET, 'game-server-1', { service: true })).token;
  });

  afterAll(async () => {
    releaseGrants();
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await receiver?.stop();
    await db?.end().catch(() => undefined);
    if (env) await dropEventKeys(env);
    if (dbName) {
      const admin = new Client({ connectionString: process.env.DATABASE_DIRECT_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
      await admin.end();
    }
  });

  test('api: readiness false at once, in-flight claims answered and stored, drain answers 200/202/503 DRAINING, WebSockets told to reconnect, exit 0', async () => {
    await start('worker');
    const api = await start('api');
    const base = '/challenge';

    // Claims that will be in flight at SIGTERM: committed, waiting on the reward webhook.
    const claimers = Array.from({ length: 4 }, (_, i) => `life-claimer-${i}`);
    await completeFirstSteps(db, claimers);

    const ws = await connectWs(
      `http://127.0.0.1:${api.port}${base}/v1/ws?token=${await playerToken('life-ws-player')}`,
    );
    await ws.waitFor((m) => m.type === 'ready');

    // Continuous load on kept-alive connections: selections (verifiable rows) and event batches.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 6 });
    const outcomes: Outcome[] = [];
    let sigtermSent = false;
    let notReadySeen = false;
    let stopLoad = false;
    let seq = 0;
    const loop = async (kind: 'select' | 'events') => {
      while (!stopLoad) {
        const n = seq++;
        const requestId = `life-req-${n}`;
        const o: Outcome = {
          kind,
          requestId,
          startedAfterSigterm: sigtermSent,
          startedAfterNotReady: notReadySeen,
          keys: [],
        };
        try {
          let res: Answer;
          if (kind === 'select') {
            const userId = `life-sel-${n}`;
            o.keys = [userId];
            res = await request(
              agent,
              api.port,
              'PUT',
              `${base}/v1/challenges/daily-bounties/goals/daily-duels/active`,
              { authorization: `Bearer ${await playerToken(userId)}`, 'x-request-id': requestId },
              { isActive: true },
            );
          } else {
            o.keys = [0, 1, 2].map((i) => `life-ev-${n}-${i}`);
            res = await request(
              agent,
              api.port,
              'POST',
              `${base}/v1/events`,
              { authorization: `Bearer ${serviceToken}`, 'x-request-id': requestId },
              { events: o.keys.map((id, i) => statEvent(id, `life-ev-player-${i}`, 'matches_finished', 1)) },
            );
            if (res.status === 202) for (const id of o.keys) accepted.add(id);
          }
          o.status = res.status;
          o.error = typeof res.body.error === 'string' ? res.body.error : undefined;
        } catch (e) {
          o.errorCode = (e as NodeJS.ErrnoException).code ?? String(e);
          // The process is going away: stop this loop once the socket errors.
          if (o.startedAfterSigterm) stopLoad = stopLoad || api.child.exitCode !== null;
          await new Promise((r) => setTimeout(r, 5));
        }
        outcomes.push(o);
      }
    };
    const loops = [
      ...Array.from({ length: 3 }, () => loop('select')),
      ...Array.from({ length: 3 }, () => loop('events')),
    ];
    await eventually(async () => (outcomes.filter((o) => o.status).length >= 30 ? true : undefined));

    holdGrants = new Promise<void>((r) => (releaseGrants = r));
    const claims = claimers.map(async (userId) =>
      request(
        new http.Agent(),
        api.port,
        'POST',
        `${base}/v1/challenges/starter-path/goals/first-steps/claim`,
        { authorization: `Bearer ${await playerToken(userId)}` },
      ),
    );
    // All claims committed and waiting on the webhook (a claim answered early would be a setup bug).
    const early = Promise.race(claims).then((a) => {
      throw new Error(`a claim was answered before SIGTERM: ${JSON.stringify(a)}`);
    });
    early.catch(() => undefined);
    await Promise.race([
      eventually(async () => (receiver.deliveries.length >= claimers.length ? true : undefined)),
      early,
    ]);

    sigtermSent = true;
    api.child.kill('SIGTERM');
    const notReady = await eventually(async () => {
      const r = await readyz(api.opsPort);
      return r.status === 503 ? r : undefined;
    });
    notReadySeen = true;
    expect(notReady.body).toMatchObject({ ready: false, draining: true });
    expect((await fetch(`http://127.0.0.1:${api.opsPort}/healthz`)).status).toBe(200);
    // Every loop sends at least one request after readiness went false before the claims finish.
    const seqAtNotReady = seq;
    await eventually(async () =>
      outcomes.filter((o) => o.startedAfterNotReady).length >= 6 ? true : undefined,
    );

    holdGrants = null;
    releaseGrants();
    const claimAnswers = await Promise.all(claims);
    const ws1012 = await ws.waitClosed(10_000);
    expect(await api.exited).toBe(0);
    stopLoad = true;
    await Promise.all(loops);
    agent.destroy();

    // In-flight claims: answered 200 and committed.
    for (const a of claimAnswers) expect(a.status).toBe(200);
    const claimIds = claimAnswers.map((a) => String(a.body.claimId));
    const stored = await sql<{ claim_id: string }>(
      directUrl,
      'SELECT claim_id::text FROM claims WHERE claim_id = ANY($1::uuid[])',
      [claimIds],
    );
    expect(stored.map((r) => r.claim_id).sort()).toEqual([...claimIds].sort());

    // Every answer was a success or 503 DRAINING; drain answers were seen.
    const answered = outcomes.filter((o) => o.status !== undefined);
    const unexpected = answered.filter(
      (o) =>
        !(o.kind === 'select' && o.status === 200) &&
        !(o.kind === 'events' && o.status === 202) &&
        !(o.status === 503 && o.error === 'DRAINING'),
    );
    expect(unexpected).toEqual([]);
    const drained = answered.filter((o) => o.status === 503);
    expect(drained.length).toBeGreaterThan(0);
    expect(drained.every((o) => o.startedAfterSigterm)).toBe(true);
    expect(seq).toBeGreaterThan(seqAtNotReady);

    // No connection failure for any request sent before the signal.
    const broken = outcomes.filter((o) => o.errorCode !== undefined);
    expect(broken.filter((o) => !o.startedAfterSigterm)).toEqual([]);

    // Every selection answered 200 is in PostgreSQL.
    const selected = answered.filter((o) => o.kind === 'select' && o.status === 200).map((o) => o.keys[0]!);
    expect(selected.length).toBeGreaterThan(0);
    const rows = await sql<{ user_id: string }>(
      directUrl,
      `SELECT user_id FROM goal_states WHERE goal_id = 'daily-duels' AND is_active AND user_id = ANY($1)`,
      [selected],
    );
    expect(new Set(rows.map((r) => r.user_id))).toEqual(new Set(selected));

    // WebSocket: reconnect hint, then close 1012 "service restart".
    expect(ws.messages).toContainEqual(expect.objectContaining({ type: 'reconnect' }));
    expect(ws1012.code).toBe(1012);

    // Logs: 503 DRAINING answers logged at warn with route, status and the propagated request id.
    const warned = new Set(
      api.logs
        .filter((l) => l.level === 40 && l.msg === 'request failed' && l.status === 503)
        .map((l) => String(l.requestId)),
    );
    for (const o of drained) expect(warned).toContain(o.requestId);
    expect(api.logs.some((l) => l.msg === 'drained')).toBe(true);
  });

  test('worker: finishes and acknowledges its batch on SIGTERM, exits 0; events accepted meanwhile are applied once by the next worker', async () => {
    // Its own worker when an earlier test's is gone (the test runs alone with -t too).
    const worker = procs.find((p) => p.child.exitCode === null && p.port === 0) ?? (await start('worker'));
    const api = await start('api');

    // Block the worker's batch in PostgreSQL, then signal it while the batch is in hand.
    const lock = new Client({ connectionString: directUrl });
    await lock.connect();
    await lock.query('BEGIN');
    await lock.query('LOCK TABLE processed_events IN ACCESS EXCLUSIVE MODE');
    const batch = Array.from({ length: 30 }, (_, i) => `life-batch-${i}`);
    expect(await postEvents(api.port, batch)).toBe(202);
    await eventually(async () => {
      const waiting = await sql<{ n: number }>(
        directUrl,
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      return waiting[0]!.n > 0 ? true : undefined;
    });
    worker!.child.kill('SIGTERM');
    await eventually(async () => ((await readyz(worker!.opsPort)).status === 503 ? true : undefined));
    await lock.query('ROLLBACK');
    await lock.end();
    expect(await worker!.exited).toBe(0);

    // Its batch was applied and acknowledged before it exited.
    const redis = new Redis(env.REDIS_URL!);
    try {
      const pending = (await redis.xpending(env.EVENTS_STREAM_KEY!, 'lifecycle-workers')) as [number];
      expect(Number(pending[0])).toBe(0);
    } finally {
      redis.disconnect();
    }
    const applied = await sql<{ event_id: string }>(
      directUrl,
      'SELECT event_id FROM processed_events WHERE event_id = ANY($1)',
      [batch],
    );
    expect(applied).toHaveLength(batch.length);

    // Accepted while no worker runs; the next worker applies everything accepted in this file.
    const later = Array.from({ length: 20 }, (_, i) => `life-later-${i}`);
    expect(await postEvents(api.port, later)).toBe(202);
    const next = await start('worker');
    const ids = [...accepted];
    await eventually(
      async () => {
        const rows = await sql<{ n: number }>(
          directUrl,
          'SELECT count(*)::int AS n FROM processed_events WHERE event_id = ANY($1)',
          [ids],
        );
        return rows[0]!.n === ids.length ? true : undefined;
      },
      60_000,
      'every accepted event applied',
    );
    // Exactly once: each accepted event added 1 to matches_finished.
    const total = await sql<{ s: string }>(
      directUrl,
      `SELECT coalesce(sum(value), 0)::text AS s FROM stat_values
        WHERE user_id LIKE 'life-ev-player-%' AND stat_code = 'matches_finished'`,
    );
    expect(Number(total[0]!.s)).toBe(ids.length);

    api.child.kill('SIGTERM');
    next.child.kill('SIGTERM');
    expect(await api.exited).toBe(0);
    expect(await next.exited).toBe(0);
  });
});
