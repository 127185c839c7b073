// Events benchmark: sustained ingest-to-applied rate and apply lag on this machine, with PostgreSQL,
// PgBouncer and Redis local (scripts/with-services.sh). Not a test.
//
//   npx tsc --outDir .tmp/bench-events --rootDir . --module commonjs --target es2022 \
//       --esModuleInterop --skipLibCheck --resolveJsonModule --strict scripts/bench-events.ts app/main.ts \
//       app/types/embedded-postgres.d.ts
//   scripts/with-services.sh node .tmp/bench-events/scripts/bench-events.js
//
// Processes: this one (producer: POSTs batches of 1,000 events at BENCH_RATE events/s), an api
// process (the built service, ROLE=api) and a worker process (this script with --worker: the
// EventWorker, reporting the lag of every committed entry = commit time - stream entry time).
// Phases: "sustained" (producer at BENCH_RATE for BENCH_SECONDS) and "drain" (BENCH_BACKLOG
// events queued first, then the worker started: its maximum apply rate).
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import pino from 'pino';
import { mintToken } from '../app/api/auth';
import { CatalogHolder } from '../app/catalog/holder';
import { loadCatalogFile } from '../app/catalog/load';
import { AdjustableClock } from '../app/domain/clock';
import type { GameEvent } from '../app/events/event';
import { idTime } from '../app/events/queue';
import { RedisEventQueue } from '../app/events/redisQueue';
import { EventWorker } from '../app/events/worker';
import { ROOT } from '../app/paths';
import { createPool } from '../app/store/db';
import { migrate } from '../app/store/migrate';

const env = (k: string, d: string) => process.env[k] ?? d;
const RATE = Number(env('BENCH_RATE', '12000'));
const SECONDS = Number(env('BENCH_SECONDS', '60'));
const BACKLOG = Number(env('BENCH_BACKLOG', '200000'));
const PLAYERS = Number(env('BENCH_PLAYERS', '100000'));
const READ_COUNT = env('EVENTS_READ_COUNT', '2000');
const PARTITIONS = env('EVENTS_APPLY_PARTITIONS', '4');
const SECRET = 'bench-secret-bench-secret-bench-secret-00';

interface WorkerReport {
  committed: number;
  first: number;
  last: number;
  lags: number[];
}

// ---- worker child ---------------------------------------------------------------------------

async function runWorker(stream: string): Promise<void> {
  const db = createPool({ connectionString: process.env.DATABASE_URL!, max: Number(PARTITIONS) + 4 });
  const conn = () => new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
  const queue = new RedisEventQueue(conn(), conn, {
    stream,
    group: 'challenge-workers',
    deadLetterMaxLen: 1000,
  });
  const rep: WorkerReport = { committed: 0, first: 0, last: 0, lags: [] };
  const worker = new EventWorker(
    {
      db,
      queue,
      consumerName: `bench-${process.pid}`,
      catalog: new CatalogHolder(loadCatalogFile(path.join(ROOT, 'examples/catalog.json'))),
      clock: new AdjustableClock(),
      log: pino({ level: 'warn' }),
      onCommitted: (entries, at) => {
        if (!rep.first) rep.first = at;
        rep.last = at;
        rep.committed += entries.length;
        for (const e of entries) rep.lags.push(at - idTime(e.id));
      },
    },
    { readCount: Number(READ_COUNT), partitions: Number(PARTITIONS), blockMs: 100 },
  );
  await worker.start();
  process.on('message', async (m: string) => {
    if (m === 'report') {
      process.send!(rep);
      rep.committed = 0;
      rep.first = 0;
      rep.lags = [];
    }
    if (m === 'stop') {
      await worker.stop();
      process.exit(0);
    }
  });
  process.send!('ready');
}

// ---- producer / orchestration ----------------------------------------------------------------

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

let seq = 0;
function makeEvents(n: number, now: number): GameEvent[] {
  const out: GameEvent[] = [];
  for (let i = 0; i < n; i++) {
    const userId = `bench-${Math.floor(Math.random() * PLAYERS)}`;
    const eventId = `b${process.pid}-${seq++}`;
    const r = Math.random();
    if (r < 0.5)
      out.push({
        type: 'stat',
        eventId,
        userId,
        statCode: 'matches_finished',
        value: 1,
        mode: 'increment',
        occurredAt: now,
      });
    else if (r < 0.8)
      out.push({
        type: 'stat',
        eventId,
        userId,
        statCode: 'crates_opened',
        value: 1,
        mode: 'increment',
        occurredAt: now,
      });
    else if (r < 0.95)
      out.push({
        type: 'stat',
        eventId,
        userId,
        statCode: 'matches_won',
        value: Math.floor(Math.random() * 100),
        mode: 'set',
        occurredAt: now,
      });
    else out.push({ type: 'login', eventId, userId, occurredAt: now });
  }
  return out;
}

function toWire(e: GameEvent): Record<string, unknown> {
  return { ...e, occurredAt: new Date(e.occurredAt).toISOString() };
}

function waitMessage<T>(child: ChildProcess, pred: (m: unknown) => boolean): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: unknown) => {
      if (pred(m)) {
        child.off('message', on);
        resolve(m as T);
      }
    };
    child.on('message', on);
  });
}

async function main(): Promise<void> {
  const stream = `bench:events:${Date.now()}`;
  if (process.argv[2] === '--worker') return runWorker(process.argv[3]!);

  await migrate(process.env.DATABASE_DIRECT_URL!);
  const apiPort = 18000 + Math.floor(Math.random() * 1000);
  const api = spawn(process.execPath, [path.join(__dirname, '../app/main.js')], {
    env: {
      ...process.env,
      ROLE: 'api',
      PORT: String(apiPort),
      OPS_PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      JWT_HS256_SECRET: SECRET,
      EVENTS_STREAM_KEY: stream,
      ADMISSION_ENABLED: '0',
      RATE_LIMIT_INGEST_EVENTS_PER_SEC: '0',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${apiPort}/challenge`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      /* starting */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const token = (await mintToken(SECRET, 'bench', { service: true })).token;
  const redis = new Redis(process.env.REDIS_URL!);

  const startWorker = async () => {
    const w = fork(__filename, ['--worker', stream], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    await waitMessage(w, (m) => m === 'ready');
    return w;
  };
  const report = async (w: ChildProcess) => {
    w.send('report');
    return waitMessage<WorkerReport>(w, (m) => typeof m === 'object' && m !== null && 'lags' in m);
  };
  const waitDrained = async () => {
    for (;;) {
      const groups = (await redis.call('XINFO', 'GROUPS', stream)) as unknown[][];
      const g = groups[0]!;
      const lag = Number(g[g.indexOf('lag') + 1]);
      const pending = Number(g[g.indexOf('pending') + 1]);
      if (lag === 0 && pending === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  // --- phase 1: sustained rate through the HTTP API ---
  const worker = await startWorker();
  const batch = 1000;
  const started = Date.now();
  let sent = 0;
  let offered = 0;
  let refused = 0;
  let inFlight = 0;
  const httpLat: number[] = [];
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = (Date.now() - started) / 1000;
      if (elapsed >= SECONDS) {
        clearInterval(tick);
        const wait = setInterval(() => {
          if (inFlight === 0) {
            clearInterval(wait);
            resolve();
          }
        }, 10);
        return;
      }
      while (offered < RATE * elapsed && inFlight < 16) {
        inFlight++;
        offered += batch;
        const body = JSON.stringify({ events: makeEvents(batch, Date.now()).map(toWire) });
        const t0 = performance.now();
        fetch(`${base}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body })
          .then(async (res) => {
            await res.arrayBuffer();
            httpLat.push(performance.now() - t0);
            if (res.status === 202) sent += batch;
            else refused += batch;
          })
          .catch(() => (refused += batch))
          .finally(() => inFlight--);
      }
    }, 5);
  });
  const produceSeconds = (Date.now() - started) / 1000;
  await waitDrained();
  const sustained = await report(worker);
  const exited = new Promise((r) => worker.once('exit', r));
  worker.send('stop');
  await exited;

  // --- phase 2: drain a backlog (worker capacity) ---
  const q = new RedisEventQueue(redis, () => new Redis(process.env.REDIS_URL!), {
    stream,
    group: 'challenge-workers',
    deadLetterMaxLen: 1000,
  });
  for (let i = 0; i < BACKLOG; i += 1000) await q.append(makeEvents(1000, Date.now()));
  const drainStart = Date.now();
  const worker2 = await startWorker();
  await waitDrained();
  const drainSeconds = (Date.now() - drainStart) / 1000;
  const drained = await report(worker2);
  worker2.send('stop');

  api.kill('SIGTERM');
  await redis.del(stream);
  redis.disconnect();

  const lags = sustained.lags.sort((a, b) => a - b);
  httpLat.sort((a, b) => a - b);
  const res = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    config: { RATE, SECONDS, BACKLOG, PLAYERS, READ_COUNT, PARTITIONS },
    sustained: {
      offeredPerSec: RATE,
      acceptedEvents: sent,
      refusedEvents: refused,
      ingestPerSec: Math.round(sent / produceSeconds),
      appliedEvents: sustained.committed,
      appliedPerSec: Math.round(sustained.committed / ((sustained.last - sustained.first) / 1000 || 1)),
      lagMs: { p50: pct(lags, 50), p95: pct(lags, 95), p99: pct(lags, 99), max: lags[lags.length - 1] },
      ingestHttpMs: { p50: Math.round(pct(httpLat, 50)), p95: Math.round(pct(httpLat, 95)) },
    },
    drain: {
      events: drained.committed,
      seconds: drainSeconds,
      appliedPerSec: Math.round(drained.committed / drainSeconds),
    },
  };
  process.stdout.write(JSON.stringify(res, null, 2) + '\n');
  const dir = path.join(ROOT, 'loadtest/results', `${res.date.slice(0, 10)}-events`);
  mkdirSync(dir, { recursive: true });
  const tag = `rate-${RATE}`;
  writeFileSync(path.join(dir, `result-${tag}.json`), JSON.stringify(res, null, 2) + '\n');
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
