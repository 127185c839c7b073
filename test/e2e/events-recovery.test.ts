// The event path recovers by itself from real crashes, with the events sent through HTTP ingest as a
// game server sends them (batches of 250, a batch not answered 202 is sent again with the same ids):
//   1. PostgreSQL's postmaster SIGKILLed mid-stream; its backends exit on their own, then a restart
//      (crash recovery). Ingest only needs Redis: it must go on answering 202 meanwhile.
//   2. Redis SIGKILLed mid-stream and restarted with its append-only file (fsync always): ingest
//      answers 503 QUEUE_UNAVAILABLE while it is down, nothing acknowledged is lost.
//   3. Redis SIGKILLed once the stream drained and restarted empty (a Redis whose data was lost):
//      the worker meets NOGROUP, re-creates its group, and the events sent after it are applied.
// Final stat values must be exact (no event lost or applied twice), the worker never restarted.
// Each fault's time to recover is written to .tmp/reliability/events-recovery.json.
// A private PostgreSQL cluster and private redis-servers, so the kills disturb no other test file;
// the api is the real service (ROLE=api, in process), the worker an EventWorker whose log is read.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import pino from 'pino';
import { CatalogHolder } from '../../app/catalog/holder';
import { loadCatalogFile } from '../../app/catalog/load';
import { AdjustableClock } from '../../app/domain/clock';
import type { GameEvent } from '../../app/events/event';
import { eventsModule } from '../../app/events/module';
import { RedisEventQueue } from '../../app/events/redisQueue';
import { EventWorker } from '../../app/events/worker';
import { ROOT } from '../../app/paths';
import { createPool, type Db } from '../../app/store/db';
import { migrate } from '../../app/store/migrate';
import { eventually, generateWorkload, iso, readStats } from '../helpers/events';
import { freePort } from '../helpers/net';
import { childrenOf } from '../helpers/procs';
import { OwnRedis } from '../helpers/own-redis';
import { startTestService, TEST_API_KEY, type TestService } from '../helpers/service';

jest.setTimeout(240_000);

const STREAM = 'events';
const GROUP = 'g';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run as the postgres user without blocking the event loop (the worker keeps running meanwhile). */
const asPostgresAsync = (cmd: string, args: string[]) =>
  new Promise<number>((resolve) => {
    const [c, a] =
      process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
    const child = spawn(c as string, a as string[], { stdio: 'ignore' });
    child.on('exit', (code) => resolve(code ?? -1));
  });

const asPostgres = (cmd: string, args: string[]) =>
  process.getuid?.() === 0
    ? execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args])
    : execFileSync(cmd, args);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * The events generateWorkload builds, as a game server would send them over HTTP: ISO times, all
 * in the past (the set events' spread of times is moved back by the whole spread; order kept).
 */
function wire(events: GameEvent[]): Record<string, unknown>[] {
  const back = 1_000_000_000 + 3_600_000;
  return events.map((e) => ({ ...e, occurredAt: iso(e.occurredAt - back) }));
}

interface FaultReport {
  fault: string;
  process: string;
  signal: string;
  /** From the signal to the restart command returning. */
  downMs: number;
  /** From the restart until ingest answered 202 again and the worker applied an event sent after it. */
  recoveryMs: number;
  /** Ingest answers while the process was down or recovering, by status/error. */
  answers: Record<string, number>;
}

describe('event path recovery from real crashes (SIGKILL of the postmaster and of Redis), through HTTP ingest', () => {
  const bin = process.env.TEST_PG_BIN!;
  let dir: string;
  let pgPort: number;
  let pgUrl: string;
  let db: Db;
  let redis: OwnRedis;
  let api: TestService | undefined;
  let poolErrors = 0;
  const conns: Redis[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'events-recovery-'));
    execFileSync('chmod', ['755', dir]);
    if (process.getuid?.() === 0) execFileSync('chown', ['postgres', dir]);
    pgPort = await freePort();
    asPostgres(`${bin}/initdb`, [
      '-D',
      `${dir}/data`,
      '-U',
      'postgres',
      '-A',
      'trust',
      '--no-sync',
      '-E',
      'UTF8',
    ]);
    const conf = [
      `listen_addresses = '127.0.0.1'`,
      `port = ${pgPort}`,
      `unix_socket_directories = '${dir}'`,
      'max_connections = 50',
    ].join('\n');
    asPostgres('sh', ['-c', `printf '%s\\n' "${conf.replace(/"/g, '\\"')}" >> ${dir}/data/postgresql.conf`]);
    asPostgres(`${bin}/pg_ctl`, ['-D', `${dir}/data`, '-l', `${dir}/server.log`, '-w', 'start']);
    pgUrl = `postgres://postgres@127.0.0.1:${pgPort}/postgres`;
    await migrate(pgUrl);
    db = createPool({ connectionString: pgUrl, max: 8, queryTimeoutMs: 5000 });
    // A crash kills the pool's connections: in use (the apply fails and is retried) or idle (the
    // pool reports the error and reconnects); either way the worker's own connections were hit.
    db.on('error', () => poolErrors++);
    redis = await OwnRedis.create();
  });

  afterAll(async () => {
    for (const c of conns) c.disconnect();
    await api?.stop().catch(() => undefined);
    await db?.end().catch(() => undefined);
    await redis?.remove();
    try {
      asPostgres(`${bin}/pg_ctl`, ['-D', `${dir}/data`, '-m', 'immediate', 'stop']);
    } catch {
      /* already down */
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('exact stat values after a postmaster SIGKILL, a Redis SIGKILL and a Redis restarted empty, no worker restart', async () => {
    const connect = () => {
      const r = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: null });
      r.on('error', () => undefined);
      conns.push(r);
      return r;
    };
    const queue = new RedisEventQueue(connect(), connect, {
      stream: STREAM,
      group: GROUP,
      deadLetterMaxLen: 100,
    });
    const warnings: string[] = [];
    const worker = new EventWorker(
      {
        db,
        queue,
        consumerName: 'w1',
        catalog: new CatalogHolder(loadCatalogFile(path.join(ROOT, 'examples/catalog.json'))),
        clock: new AdjustableClock(),
        log: pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) }),
      },
      { readCount: 500, blockMs: 200, claimIdleMs: 1000, claimIntervalMs: 200, maintenanceIntervalMs: 200 },
    );
    await worker.start();

    // The api: the real service, ingest only, on this test's PostgreSQL and Redis.
    api = await startTestService({
      db: { name: 'recovery', pooledUrl: pgUrl, directUrl: pgUrl, drop: async () => undefined },
      viaPgBouncer: false,
      modules: [eventsModule()],
      env: {
        ROLE: 'api',
        REDIS_URL: redis.url,
        EVENTS_STREAM_KEY: STREAM,
        EVENTS_GROUP: GROUP,
        REQUEST_DEADLINE_MS: '2000',
        RATE_LIMIT_REDIS_TIMEOUT_MS: '500',
      },
    });
    const url = `${api.base}/v1/events`;

    /** Ingest answers by status/error since the last reset (the per-fault tally). */
    let answers: Record<string, number> = {};
    const tally = (k: string) => (answers[k] = (answers[k] ?? 0) + 1);
    let first202At = 0;
    const send = async (batch: Record<string, unknown>[]) => {
      for (;;) {
        try {
          const res = await fetch(url, {
            method: 'POST',
            headers: { 'x-api-key': TEST_API_KEY, 'content-type': 'application/json' },
            body: JSON.stringify({ events: batch }),
            signal: AbortSignal.timeout(10_000),
          });
          const body = (await res.json()) as { accepted?: number; rejected?: unknown[]; error?: string };
          if (res.status === 202) {
            // every event of the workload is valid: accepted whole, or it would not be counted
            expect(body).toMatchObject({ accepted: batch.length, rejected: [] });
            if (!first202At) first202At = Date.now();
            tally('202');
            return;
          }
          tally(`${res.status} ${body.error ?? ''}`.trim());
        } catch (e) {
          tally(`no answer (${(e as Error).name})`);
        }
        await sleep(100);
      }
    };

    /** processed_events rows, read on a connection of its own (null while PostgreSQL is down). */
    const processed = async (): Promise<number | null> => {
      try {
        return Number((await db.query('SELECT count(*) AS n FROM processed_events')).rows[0].n);
      } catch {
        return null;
      }
    };

    const reports: FaultReport[] = [];
    /**
     * Recovered: ingest answered 202 after the restart, and the worker applied more events than
     * `applied` (the count before the kill, or at the restart while PostgreSQL stayed up). Events
     * keep coming meanwhile. Measured from the restart.
     */
    const measureRecovery = async (restartedAt: number, applied: number): Promise<number> => {
      await eventually(
        async () => (first202At > 0 && ((await processed()) ?? 0) > applied) || undefined,
        60_000,
        'ingest and an apply after the restart',
      );
      return Date.now() - restartedAt;
    };
    const count = async () => eventually(async () => (await processed()) ?? undefined, 60_000, 'a count');

    const { events, expected } = generateWorkload(20_000, 200, 99, 'rec');
    const batches: Record<string, unknown>[][] = [];
    const all = wire(events);
    for (let i = 0; i < all.length; i += 250) batches.push(all.slice(i, i + 250));

    let pgFault: Promise<void> | undefined;
    let pgDone = false;
    let redisFault: Promise<void> | undefined;
    let pgKilledAtWarning = -1;
    for (let i = 0; i < batches.length; i++) {
      if (i === 16) {
        // 1. PostgreSQL: SIGKILL of the postmaster alone; its backends notice and exit.
        pgFault = (async () => {
          const pm = Number(readFileSync(`${dir}/data/postmaster.pid`, 'utf8').split('\n')[0]);
          const backends = childrenOf(pm);
          answers = {};
          pgKilledAtWarning = warnings.length;
          const applied = await count();
          const killedAt = Date.now();
          process.kill(pm, 'SIGKILL');
          await eventually(
            async () => (![pm, ...backends].some(alive) ? true : undefined),
            30_000,
            'backends gone',
          );
          // pg_ctl start refuses while an old backend still holds the shared memory: try again
          for (let n = 0; ; n++) {
            const code = await asPostgresAsync(`${bin}/pg_ctl`, [
              '-D',
              `${dir}/data`,
              '-l',
              `${dir}/server.log`,
              '-w',
              'start',
            ]);
            if (code === 0) break;
            if (n > 20) throw new Error(`pg_ctl start failed (${code}) after the postmaster SIGKILL`);
            await sleep(250);
          }
          const restartedAt = Date.now();
          first202At = 0;
          const recoveryMs = await measureRecovery(restartedAt, applied);
          pgDone = true;
          reports.push({
            fault: 'PostgreSQL postmaster SIGKILL',
            process: 'PostgreSQL',
            signal: 'SIGKILL of the postmaster, then pg_ctl start (crash recovery)',
            downMs: restartedAt - killedAt,
            recoveryMs,
            answers: { ...answers },
          });
        })();
      }
      if (i >= 40 && pgDone && !redisFault) {
        // 2. Redis: SIGKILL, restarted on its port with its append-only file.
        redisFault = (async () => {
          answers = {};
          const killedAt = Date.now();
          await redis.kill();
          await sleep(1500); // down for a while: ingest must refuse at once, not hang
          await redis.start();
          const restartedAt = Date.now();
          first202At = 0;
          const recoveryMs = await measureRecovery(restartedAt, await count());
          reports.push({
            fault: 'Redis SIGKILL',
            process: 'Redis',
            signal: 'SIGKILL, then restart with its append-only file',
            downMs: restartedAt - killedAt,
            recoveryMs,
            answers: { ...answers },
          });
        })();
      }
      await send(batches[i]!);
      await sleep(50);
    }
    await pgFault;
    expect(redisFault).toBeDefined(); // the load lasted past both faults
    await redisFault;

    const drained = async () => {
      await eventually(
        async () => {
          const s = await queue.stats();
          return s.lag === 0 && s.pending === 0 ? s : undefined;
        },
        120_000,
        'the stream to drain',
      );
    };
    await drained();
    const actual = await readStats(pgUrl, 'rec-');
    expect([...expected].filter(([k, v]) => actual.get(k) !== v)).toEqual([]);
    expect(actual.size).toBe(expected.size);

    // 3. Redis restarted empty, the stream drained before: the worker re-creates its group.
    answers = {};
    const killedAt = Date.now();
    await redis.kill();
    const empty = new OwnRedis(redis.port);
    await redis.remove();
    redis = empty;
    await redis.start();
    const restartedAt = Date.now();
    first202At = 0;
    const appliedBefore = await count();
    const more = generateWorkload(2_000, 50, 7, 'rec2');
    const moreBatches = wire(more.events);
    const sending = (async () => {
      for (let i = 0; i < moreBatches.length; i += 250) await send(moreBatches.slice(i, i + 250));
    })();
    const recoveryMs = await measureRecovery(restartedAt, appliedBefore);
    reports.push({
      fault: 'Redis SIGKILL, data lost',
      process: 'Redis (restarted empty)',
      signal: 'SIGKILL, then restart without its data (NOGROUP)',
      downMs: restartedAt - killedAt,
      recoveryMs,
      answers: { ...answers },
    });
    await sending;
    await drained();
    const actual2 = await readStats(pgUrl, 'rec2-');
    expect([...more.expected].filter(([k, v]) => actual2.get(k) !== v)).toEqual([]);
    expect(actual2.size).toBe(more.expected.size);

    expect(worker.healthy()).toBe(true);
    // The crash reached the worker: its statements failed (and were retried) after the kill, or its
    // pool lost connections.
    expect(pgKilledAtWarning).toBeGreaterThanOrEqual(0);
    const afterKill = warnings.slice(pgKilledAtWarning);
    expect(afterKill.some((w) => w.includes('apply failed (transient)')) || poolErrors > 0).toBe(true);
    const byFault = Object.fromEntries(reports.map((r) => [r.fault, r]));
    // Ingest needs only Redis: a PostgreSQL crash costs it nothing.
    expect(Object.keys(byFault['PostgreSQL postmaster SIGKILL']!.answers)).toEqual(['202']);
    // While Redis is down ingest refuses at once with the error model's QUEUE_UNAVAILABLE.
    for (const f of ['Redis SIGKILL', 'Redis SIGKILL, data lost']) {
      for (const k of Object.keys(byFault[f]!.answers)) expect(['202', '503 QUEUE_UNAVAILABLE']).toContain(k);
    }
    expect(byFault['Redis SIGKILL']!.answers['503 QUEUE_UNAVAILABLE']).toBeGreaterThan(0);

    const out = path.join(ROOT, '.tmp/reliability');
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'events-recovery.json'), JSON.stringify(reports, null, 2));
    console.log(JSON.stringify(reports, null, 2));

    await worker.stop();
    await queue.close();
  });
});
