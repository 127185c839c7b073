// Real load that holds a pod's admission for tests of what it refuses: one admission slot (the
// pod's ADMISSION_*_LIMIT set to 1) taken by a new player's initialize whose insert waits on a lock
// of the players table, and, when asked, a second new player's initialize waiting in the queue.
import type Redis from 'ioredis';
import { Client } from 'pg';
import { admissionQueueDepth } from '../../app/ops/metrics';
import type { TestService } from './service';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Requests waiting in admission queues of this process (the gauge the autoscaler reads). */
export async function queueDepth(): Promise<number> {
  return (await admissionQueueDepth.get()).values[0]?.value ?? 0;
}

export async function until(what: string, ok: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * The pod settings HeldSlot needs: one admission slot and one queue place, no queue-delay shedding
 * and no LIFO eviction (only the held load decides), deadlines and statement timeout of `ms`, and
 * the limiter kept on Redis on a busy machine (the suites read its keys).
 */
export function oneSlotEnv(ms: number): Record<string, string> {
  return {
    REQUEST_DEADLINE_MS: String(ms),
    ADMISSION_INITIAL_LIMIT: '1',
    ADMISSION_MIN_LIMIT: '1',
    ADMISSION_MAX_LIMIT: '1',
    ADMISSION_QUEUE_MAX: '1',
    ADMISSION_QUEUE_DELAY_SLACK_MS: '0',
    ADMISSION_LIFO_AFTER_MS: '600000',
    PG_STATEMENT_TIMEOUT_MS: String(ms),
    RATE_LIMIT_REDIS_TIMEOUT_MS: '5000',
  };
}

/** Holds the pod's only admission slot with a real request, and fills its queue when asked. */
export class HeldSlot {
  private lock?: Client;
  holder?: Promise<{ status: number }>;
  queued?: Promise<{ status: number }>;
  /**
   * `lockMode`: SHARE lets reads go on (only inserts wait); ACCESS EXCLUSIVE holds every statement
   * on the table, player lookups too.
   */
  constructor(
    private readonly t: TestService,
    private readonly name: string,
    private readonly lockMode: 'SHARE' | 'ACCESS EXCLUSIVE' = 'SHARE',
  ) {}

  /** Statements waiting on the lock. */
  async lockWaiters(): Promise<number> {
    const r = await this.lock!.query(
      `SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND relation = 'players'::regclass`,
    );
    return Number(r.rows[0].n);
  }

  /** The slot held (an insert waiting on the lock); with `fill`, a new player's init queued too. */
  async hold(fill: boolean): Promise<void> {
    this.lock = new Client({ connectionString: this.t.db.directUrl });
    await this.lock.connect();
    await this.lock.query('BEGIN');
    await this.lock.query(`LOCK TABLE players IN ${this.lockMode} MODE`);
    this.holder = this.t.call(`${this.name}-holder`, 'POST', '/v1/challenges/initialize');
    await until('the slot holder waiting on the lock', async () => (await this.lockWaiters()) >= 1);
    if (!fill) return;
    const before = await queueDepth();
    this.queued = this.t.call(`${this.name}-queued`, 'POST', '/v1/challenges/initialize');
    await until('a new player queued in admission', async () => (await queueDepth()) > before);
  }

  async release(): Promise<void> {
    await this.lock?.query('COMMIT');
    await this.lock?.end();
    this.lock = undefined;
    expect((await this.holder!).status).toBe(200);
  }
}

export interface LimiterCalls {
  calls: number;
  booked: number;
}

/**
 * Limiter decisions made so far on a Redis the suite has to itself (every decision is one script
 * call; INFO commandstats counts them) and new-player budget slots booked (the budget's key holds
 * its next free time in microseconds; at one slot a second each booking moves it one second on).
 */
export async function limiterCalls(redis: Redis, budgetKey: string): Promise<LimiterCalls> {
  const stats = await redis.info('commandstats');
  let calls = 0;
  for (const m of stats.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) calls += Number(m[2]);
  return { calls, booked: Math.round(Number(await redis.get(budgetKey)) / 1e6) };
}

/** Per-player limit calls and budget bookings since `from`. */
export async function limiterCallsSince(
  redis: Redis,
  budgetKey: string,
  from: LimiterCalls,
): Promise<{ player: number; budget: number }> {
  const now = await limiterCalls(redis, budgetKey);
  const budget = now.booked - from.booked;
  return { player: now.calls - from.calls - budget, budget };
}
