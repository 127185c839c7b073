// Rate limits on real Redis: the Lua scripts' atomicity, the same contract for the Redis and the
// in-memory implementations, and the fallback to per-pod limits while Redis is down or slow.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import pino from 'pino';
import { ApiError } from '../../app/api/errors';
import { StoreRateLimits, type RateLimitSettings, type SharedLimiter } from '../../app/admission/limits';
import { limiterRedis, sharedLimiter } from '../../app/admission/setup';
import { MemoryLimiterStore, RedisLimiterStore, type LimiterStore } from '../../app/admission/store';
import { rateLimiterDegraded } from '../../app/ops/metrics';
import { freePort } from '../helpers/net';

const log = pino({ level: 'silent' });
const REDIS_URL = process.env.REDIS_URL;
if (!REDIS_URL) throw new Error('REDIS_URL is not set: run through scripts/with-services.sh');

const prefix = () => `test:rl:${randomBytes(4).toString('hex')}:`;
const connections: Redis[] = [];
function connect(url = REDIS_URL!): Redis {
  const r = new Redis(url);
  connections.push(r);
  return r;
}
afterAll(() => connections.forEach((r) => r.disconnect()));

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

const settings = (over: Partial<RateLimitSettings> = {}): RateLimitSettings => ({
  playerPerSec: 0.001,
  playerBurst: 5,
  ingestPerSec: 0.001,
  ingestBurst: 100,
  newPlayerPerSec: 0.001,
  newPlayerBurst: 20,
  newPlayerMaxWaitMs: 0,
  expectedReplicas: 4,
  redisTimeoutMs: 50,
  probeIntervalMs: 50,
  ...over,
});

// ---- the same contract for both stores -------------------------------------------------------

const stores: [string, () => LimiterStore][] = [
  ['in-memory', () => new MemoryLimiterStore()],
  ['Redis', () => new RedisLimiterStore(connect(), prefix())],
];

describe.each(stores)('limiter store contract (%s)', (_name, make) => {
  test('token bucket: burst passes, the next call is refused with the time until a token', async () => {
    const s = make();
    for (let i = 0; i < 3; i++) expect((await s.tokenBucket('p', 10, 3, 1)).allowed).toBe(true);
    const refused = await s.tokenBucket('p', 10, 3, 1);
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(100);
    expect((await s.tokenBucket('other', 10, 3, 1)).allowed).toBe(true);
  });

  test('token bucket: cost counts (events), a batch larger than the bucket passes on a full one', async () => {
    const s = make();
    expect(await s.tokenBucket('c', 0.001, 100, 60)).toMatchObject({ allowed: true, remaining: 40 });
    expect((await s.tokenBucket('c', 0.001, 100, 60)).allowed).toBe(false);
    expect((await s.tokenBucket('c', 0.001, 100, 40)).allowed).toBe(true);
    expect((await s.tokenBucket('big', 0.001, 100, 1000)).allowed).toBe(true);
    expect((await s.tokenBucket('big', 0.001, 100, 1)).allowed).toBe(false);
  });

  test('GCRA: burst slots start at once, later slots are booked with a wait, refusals book nothing', async () => {
    const s = make();
    // 1 slot per second, 2 back to back.
    expect(await s.gcraReserve('g', 1, 2, 0)).toEqual({ reserved: true, waitMs: 0 });
    expect(await s.gcraReserve('g', 1, 2, 0)).toEqual({ reserved: true, waitMs: 0 });
    const refused = await s.gcraReserve('g', 1, 2, 0);
    expect(refused.reserved).toBe(false);
    expect(refused.waitMs).toBeGreaterThan(900);
    expect(refused.waitMs).toBeLessThanOrEqual(1000);
    // The refusal booked nothing: the next caller that can wait gets the first free slot, not the second.
    const booked = await s.gcraReserve('g', 1, 2, 5000);
    expect(booked.reserved).toBe(true);
    expect(booked.waitMs).toBeGreaterThan(900);
    expect(booked.waitMs).toBeLessThanOrEqual(1000);
    const next = await s.gcraReserve('g', 1, 2, 5000);
    expect(next.waitMs).toBeGreaterThan(1900);
  });
});

// ---- RateLimits: the same contract in memory and on Redis -----------------------------------------

const limitsVariants: [string, () => SharedLimiter | null][] = [
  ['in-memory (make run)', () => null],
  ['Redis', () => sharedLimiter(connect(), prefix())],
];

describe.each(limitsVariants)('rate limits contract (%s)', (_name, shared) => {
  test('per-player bucket: over the burst -> 429 with Retry-After; other players unaffected', async () => {
    const limits = new StoreRateLimits(settings(), shared(), log);
    for (let i = 0; i < 5; i++) await limits.player('alice');
    const e = await rejection(limits.player('alice'));
    expect(e.status).toBe(429);
    expect(e.error).toBe('RATE_LIMITED');
    expect(e.retryAfter).toBeGreaterThanOrEqual(1);
    await expect(limits.player('bob')).resolves.toBeUndefined();
  });

  test('per-client ingest counts events, not requests', async () => {
    const limits = new StoreRateLimits(settings(), shared(), log);
    await limits.ingest('game-1', 60);
    await limits.ingest('game-1', 40);
    const e = await rejection(limits.ingest('game-1', 1));
    expect(e.status).toBe(429);
    await expect(limits.ingest('game-2', 100)).resolves.toBeUndefined();
  });

  test('new-player budget: burst passes, then 503 with Retry-After when no slot is free in time', async () => {
    const limits = new StoreRateLimits(settings(), shared(), log);
    for (let i = 0; i < 20; i++) await limits.newPlayer(Date.now() + 2000);
    const e = await rejection(limits.newPlayer(Date.now() + 2000));
    expect(e.status).toBe(503);
    expect(e.details).toEqual({ reason: 'budget_exhausted' });
    expect(e.retryAfter).toBeGreaterThanOrEqual(1);
  });

  test('new-player budget: a request waits for a booked slot within its deadline instead of failing', async () => {
    const limits = new StoreRateLimits(
      settings({ newPlayerPerSec: 10, newPlayerBurst: 1, newPlayerMaxWaitMs: 500 }),
      shared(),
      log,
    );
    await limits.newPlayer(Date.now() + 2000);
    let waited = false;
    const second = limits.newPlayer(Date.now() + 2000).then(() => (waited = true));
    await new Promise((r) => setImmediate(r));
    expect(waited).toBe(false);
    await second;
    expect(waited).toBe(true);
  });

  test('rate 0 turns a limit off', async () => {
    const limits = new StoreRateLimits(
      settings({ playerPerSec: 0, ingestPerSec: 0, newPlayerPerSec: 0 }),
      shared(),
      log,
    );
    // Far past every burst of settings(): with the limits on, the 6th player call would be refused.
    for (let i = 0; i < 50; i++) {
      await expect(limits.player('p')).resolves.toBeUndefined();
      await expect(limits.ingest('c', 1000)).resolves.toBeUndefined();
      await expect(limits.newPlayer(Date.now() + 1000)).resolves.toBeUndefined();
    }
    const on = new StoreRateLimits(settings(), shared(), log);
    for (let i = 0; i < 5; i++) await on.player('p');
    expect((await rejection(on.player('p'))).status).toBe(429);
  });
});

// ---- atomicity: many callers over several connections -----------------------------------------

describe('Lua scripts are atomic under concurrent callers', () => {
  const pool = () => Array.from({ length: 6 }, () => new RedisLimiterStore(connect(), ''));

  test('token bucket: 600 parallel takes over 6 connections -> exactly the 50 tokens of the burst', async () => {
    const key = prefix();
    const stores = pool();
    const answers = await Promise.all(
      Array.from({ length: 600 }, (_, i) => stores[i % stores.length]!.tokenBucket(key, 0.001, 50, 1)),
    );
    expect(answers.filter((a) => a.allowed)).toHaveLength(50);
  });

  test('GCRA: 400 parallel callers over 6 connections -> exactly the 25 burst slots', async () => {
    const key = prefix();
    const stores = pool();
    const answers = await Promise.all(
      Array.from({ length: 400 }, (_, i) => stores[i % stores.length]!.gcraReserve(key, 0.001, 25, 0)),
    );
    expect(answers.filter((a) => a.reserved)).toHaveLength(25);
  });

  test('GCRA with waiting: every booked slot is distinct, none beyond the max wait', async () => {
    const key = prefix();
    const stores = pool();
    // 1 slot per second, no burst, callers wait up to 10 s: slots at 0, 1, ..., 10 s.
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => stores[i % stores.length]!.gcraReserve(key, 1, 1, 10_000)),
    );
    const booked = answers.filter((a) => a.reserved).map((a) => Math.round(a.waitMs / 1000));
    expect(booked.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });
});

// ---- Redis down or slow: per-pod limits, then back to the shared budget ----------------------------

/** A redis-server of this test's own, to kill and bring back. */
class OwnRedis {
  private proc: ChildProcess | undefined;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.proc) return;
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    this.proc = spawn('redis-server', [...args, '--enable-debug-command', 'yes'], { stdio: 'ignore' });
    const probe = new Redis(this.url, {
      lazyConnect: true,
      retryStrategy: () => 50,
      maxRetriesPerRequest: null,
    });
    probe.on('error', () => undefined);
    await probe.connect().catch(() => undefined);
    await probe.ping();
    probe.disconnect();
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const degradedGauge = async () => (await rateLimiterDegraded.get()).values[0]?.value;

/** Outcome of one newPlayer call: admitted, refused by a limit, or failed some other way. */
async function outcome(p: Promise<void>): Promise<'ok' | 'budget' | 'error'> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return e instanceof ApiError && e.status === 503 && e.details.reason === 'budget_exhausted'
      ? 'budget'
      : 'error';
  }
}

describe('Redis down or slow', () => {
  let redis: OwnRedis;
  const closers: (() => void)[] = [];
  beforeAll(async () => {
    redis = new OwnRedis(await freePort());
    await redis.start();
  });
  afterAll(async () => {
    closers.forEach((c) => c());
    await redis.stop();
  });

  const connOf = new Map<StoreRateLimits, Redis>();
  async function pod(): Promise<StoreRateLimits> {
    const conn = limiterRedis(redis.url, 50);
    await new Promise((r) => conn.once('ready', r));
    const limits = new StoreRateLimits(settings(), sharedLimiter(conn, 'down:'), log);
    connOf.set(limits, conn);
    closers.push(() => {
      limits.close();
      conn.disconnect();
    });
    return limits;
  }

  test('Redis killed -> requests served under per-pod limits; Redis back -> the shared budget resumes', async () => {
    const a = await pod();
    const b = await pod();
    // Shared: two pods draw on one budget of 20.
    const shared = await Promise.all(
      Array.from({ length: 30 }, (_, i) => outcome((i % 2 ? a : b).newPlayer(Date.now() + 2000))),
    );
    expect(shared.filter((o) => o === 'ok')).toHaveLength(20);
    expect(shared).not.toContain('error');

    await redis.stop();
    // Down: no call fails because of Redis; each pod answers alone with budget / expected replicas (20 / 4).
    const down = await Promise.all(Array.from({ length: 10 }, () => outcome(a.newPlayer(Date.now() + 2000))));
    expect(down).not.toContain('error');
    expect(down.filter((o) => o === 'ok')).toHaveLength(5);
    for (let i = 0; i < 3; i++) await expect(a.player(`player-${i}`)).resolves.toBeUndefined();
    await expect(a.ingest('game-1', 10)).resolves.toBeUndefined();
    expect(a.degraded).toBe(true);
    expect(await degradedGauge()).toBe(1);

    // Back (empty, scripts not loaded): the probe finds it, both pods share one budget of 20 again.
    await redis.start();
    await until(() => !a.degraded);
    await until(() => connOf.get(b)!.status === 'ready');
    expect(b.degraded).toBe(false);
    expect(await degradedGauge()).toBe(0);
    const again = await Promise.all(
      Array.from({ length: 30 }, (_, i) => outcome((i % 2 ? a : b).newPlayer(Date.now() + 2000))),
    );
    expect(again).not.toContain('error');
    expect(again.filter((o) => o === 'ok')).toHaveLength(20);
  });

  test('Redis slower than the timeout -> answered from memory well before the deadline', async () => {
    await redis.start();
    const a = await pod();
    await a.player('warm-up');
    const sleeper = new Redis(redis.url);
    closers.push(() => sleeper.disconnect());
    const busy = sleeper.call('DEBUG', 'SLEEP', '0.5');
    await new Promise((r) => setTimeout(r, 20));
    const deadline = Date.now() + 2000;
    await expect(a.player('slow-redis')).resolves.toBeUndefined();
    expect(Date.now()).toBeLessThan(deadline);
    expect(a.degraded).toBe(true);
    await busy;
    await until(() => !a.degraded);
  });
});
