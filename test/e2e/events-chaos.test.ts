// Chaos: worker processes (the built service, ROLE=worker) are SIGKILLed at random points while
// 50,000 events flow through Redis Streams into PostgreSQL (via PgBouncer) and restarted; the final
// stat values must equal the expected ones exactly (no event lost, none applied twice).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Redis from 'ioredis';
import { RedisEventQueue } from '../../app/events/redisQueue';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { eventually, generateWorkload, prng, readStats } from '../helpers/events';

const ROOT = path.resolve(__dirname, '../..');
const BUILD = path.join(ROOT, '.tmp', `e2e-events-${process.pid}`);

jest.setTimeout(240_000);

describe('worker killed with SIGKILL while 50,000 events flow', () => {
  let db: TestDatabase;
  const stream = `test:chaos:${randomBytes(4).toString('hex')}`;
  const conns: Redis[] = [];
  const redis = () => {
    const r = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
    conns.push(r);
    return r;
  };
  const children = new Set<ChildProcess>();

  beforeAll(async () => {
    // The worker runs from compiled JS, like production; built next to node_modules so it resolves them.
    execFileSync(path.join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json', '--outDir', BUILD], {
      cwd: ROOT,
      stdio: 'ignore',
    });
    db = await createTestDatabase('chaos');
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await redis().del(stream, `${stream}:dead`);
    for (const c of conns) c.disconnect();
    await db?.drop();
    execFileSync('rm', ['-rf', BUILD]);
  });

  function startWorker(): ChildProcess {
    const child = spawn(process.execPath, [path.join(BUILD, 'app/main.js')], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        ROLE: 'worker',
        PORT: '0',
        OPS_PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'error',
        DATABASE_URL: db.pooledUrl,
        DATABASE_DIRECT_URL: db.directUrl,
        REDIS_URL: process.env.REDIS_URL,
        EVENTS_STREAM_KEY: stream,
        EVENTS_READ_COUNT: '1000',
        EVENTS_READ_BLOCK_MS: '200',
        EVENTS_CLAIM_IDLE_MS: '1500',
        EVENTS_CLAIM_INTERVAL_MS: '250',
        EVENTS_MAINTENANCE_INTERVAL_MS: '300',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.add(child);
    child.on('exit', () => children.delete(child));
    return child;
  }

  test('final stat values equal the expected values exactly', async () => {
    const { events, expected } = generateWorkload(50_000, 500, 20240501, 'chaos');
    const queue = new RedisEventQueue(redis(), redis, {
      stream,
      group: 'challenge-workers',
      deadLetterMaxLen: 1000,
    });
    await queue.ensureGroup();

    const workers: ChildProcess[] = [startWorker(), startWorker()];
    let producing = true;
    const producer = (async () => {
      for (let i = 0; i < events.length; i += 500) {
        await queue.append(events.slice(i, i + 500));
        await new Promise((r) => setTimeout(r, 40));
      }
      producing = false;
    })();

    const rnd = prng(7);
    let kills = 0;
    while (producing || kills < 8) {
      await new Promise((r) => setTimeout(r, 300 + rnd() * 1200));
      const i = Math.floor(rnd() * workers.length);
      workers[i]!.kill('SIGKILL');
      kills++;
      workers[i] = startWorker();
    }
    await producer;

    await eventually(
      async () => {
        const s = await queue.stats();
        return s.lag === 0 && s.pending === 0 ? s : undefined;
      },
      120_000,
      'the stream to drain',
    );
    const actual = await readStats(db.directUrl, 'chaos-');
    expect(kills).toBeGreaterThanOrEqual(8);
    expect((await queue.stats()).deadLettered).toBe(0);
    expect(actual.size).toBe(expected.size);
    const mismatches = [...expected].filter(([k, v]) => actual.get(k) !== v);
    expect(mismatches).toEqual([]);
    for (const w of workers) w.kill('SIGTERM');
    await queue.close();
  });
});
