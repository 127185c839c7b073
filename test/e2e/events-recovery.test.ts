// The worker recovers by itself when PostgreSQL restarts mid-stream and when its Redis connections
// are dropped mid-stream (CLIENT KILL). Uses a private PostgreSQL cluster and a private redis-server
// so that restarting them disturbs no other test file.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import pino from 'pino';
import { CatalogHolder } from '../../app/catalog/holder';
import { loadCatalogFile } from '../../app/catalog/load';
import { AdjustableClock } from '../../app/domain/clock';
import { RedisEventQueue } from '../../app/events/redisQueue';
import { EventWorker } from '../../app/events/worker';
import { ROOT } from '../../app/paths';
import { createPool, type Db } from '../../app/store/db';
import { migrate } from '../../app/store/migrate';
import { eventually, generateWorkload, readStats } from '../helpers/events';
import { freePort } from '../helpers/net';

jest.setTimeout(180_000);

/** Run as the postgres user without blocking the event loop (the worker keeps running meanwhile). */
const asPostgresAsync = (cmd: string, args: string[]) =>
  new Promise<void>((resolve, reject) => {
    const [c, a] =
      process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
    const child = spawn(c as string, a as string[], { stdio: 'ignore' });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}`))));
  });

const asPostgres = (cmd: string, args: string[]) =>
  process.getuid?.() === 0
    ? execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args])
    : execFileSync(cmd, args);

describe('worker recovery from PostgreSQL restart and dropped Redis connections', () => {
  const bin = process.env.TEST_PG_BIN!;
  let dir: string;
  let pgPort: number;
  let redisPort: number;
  let redisProc: ChildProcess;
  let pgUrl: string;
  let db: Db;
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
      'fsync = off',
      'max_connections = 50',
    ].join('\n');
    asPostgres('sh', ['-c', `printf '%s\\n' "${conf.replace(/"/g, '\\"')}" >> ${dir}/data/postgresql.conf`]);
    asPostgres(`${bin}/pg_ctl`, ['-D', `${dir}/data`, '-l', `${dir}/server.log`, '-w', 'start']);
    pgUrl = `postgres://postgres@127.0.0.1:${pgPort}/postgres`;
    await migrate(pgUrl);
    db = createPool({ connectionString: pgUrl, max: 8, queryTimeoutMs: 5000 });
    // A restart kills the pool's connections: in use (the apply fails and is retried) or idle (the
    // pool reports the error and reconnects); either way the worker's own connections were hit.
    db.on('error', () => poolErrors++);

    redisPort = await freePort();
    redisProc = spawn(
      'redis-server',
      ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    await eventually(async () => {
      const r = new Redis(redisPort, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0 });
      try {
        await r.connect();
        return (await r.ping()) === 'PONG' ? true : undefined;
      } finally {
        r.disconnect();
      }
    });
  });

  afterAll(async () => {
    for (const c of conns) c.disconnect();
    await db?.end().catch(() => undefined);
    redisProc?.kill('SIGKILL');
    try {
      asPostgres(`${bin}/pg_ctl`, ['-D', `${dir}/data`, '-m', 'immediate', 'stop']);
    } catch {
      /* already down */
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('final values are exact after a PG restart and a Redis CLIENT KILL mid-stream, with no restart of the worker', async () => {
    const redis = () => {
      const r = new Redis(redisPort, '127.0.0.1', { maxRetriesPerRequest: null });
      r.on('error', () => undefined);
      conns.push(r);
      return r;
    };
    const queue = new RedisEventQueue(redis(), redis, {
      stream: 'events',
      group: 'g',
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

    const { events, expected } = generateWorkload(20_000, 200, 99, 'rec');
    const producerQueue = new RedisEventQueue(redis(), redis, {
      stream: 'events',
      group: 'g',
      deadLetterMaxLen: 100,
    });
    const admin = redis();
    let appended = 0;
    let pgRestarted = -1;
    let redisKilled = 0;
    const append = async (chunk: typeof events) => {
      // a game server retries a failed request (ingest answered 503): duplicates are suppressed downstream
      for (;;) {
        try {
          return await producerQueue.append(chunk);
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    for (let i = 0; i < events.length; i += 250) {
      await append(events.slice(i, i + 250));
      appended += 250;
      if (appended === 6000) {
        // From the moment the restart begins: statements that fail while it is under way count.
        pgRestarted = warnings.length;
        await asPostgresAsync(`${bin}/pg_ctl`, [
          '-D',
          `${dir}/data`,
          '-m',
          'fast',
          '-w',
          'restart',
          '-l',
          `${dir}/server.log`,
        ]);
      }
      if (appended === 13000) {
        redisKilled = Number(await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'));
      }
      await new Promise((r) => setTimeout(r, 20));
    }

    await eventually(
      async () => {
        const s = await queue.stats();
        return s.lag === 0 && s.pending === 0 ? s : undefined;
      },
      120_000,
      'the stream to drain',
    );
    const actual = await readStats(pgUrl, 'rec-');
    const mismatches = [...expected].filter(([k, v]) => actual.get(k) !== v);
    expect(mismatches).toEqual([]);
    expect(actual.size).toBe(expected.size);
    expect(worker.healthy()).toBe(true);
    // both disturbances reached the worker and it got over them alone: its PG statements failed
    // (and were retried) once the restart began, and its Redis connections were among those killed
    expect(pgRestarted).toBeGreaterThanOrEqual(0);
    const afterRestart = warnings.slice(pgRestarted);
    expect(afterRestart.some((w) => w.includes('apply failed (transient)')) || poolErrors > 0).toBe(true);
    expect(redisKilled).toBeGreaterThanOrEqual(3);
    await worker.stop();
    await queue.close();
    await producerQueue.close();
  });
});
