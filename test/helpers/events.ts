// Shared bits of the events test suites: per-file Redis key prefixes, event builders, stat reads.
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { Client } from 'pg';

/** Env for a service whose events module uses keys no other test file touches. */
export function eventsEnv(extra: Record<string, string> = {}): Record<string, string> {
  const redis = process.env.REDIS_URL;
  if (!redis) throw new Error('REDIS_URL is not set: run through scripts/with-services.sh');
  const p = `test:${randomBytes(5).toString('hex')}`;
  return {
    REDIS_URL: redis,
    EVENTS_STREAM_KEY: `${p}:events`,
    EVENTS_PUSH_CHANNEL: `${p}:push`,
    EVENTS_PRESENCE_KEY: `${p}:presence`,
    RATE_LIMIT_KEY_PREFIX: `${p}:rl:`,
    EVENTS_READ_BLOCK_MS: '200',
    EVENTS_CLAIM_IDLE_MS: '1000',
    EVENTS_CLAIM_INTERVAL_MS: '200',
    EVENTS_MAINTENANCE_INTERVAL_MS: '200',
    SHUTDOWN_GRACE_MS: '3000',
    ...extra,
  };
}

/** Deletes the stream and presence keys `eventsEnv` gave a test file. */
export async function dropEventKeys(env: Record<string, string>): Promise<void> {
  const r = new Redis(env.REDIS_URL!);
  try {
    await r.del(env.EVENTS_STREAM_KEY!, env.EVENTS_PRESENCE_KEY!);
  } finally {
    r.disconnect();
  }
}

export const iso = (ms: number) => new Date(ms).toISOString();

export function statEvent(
  eventId: string,
  userId: string,
  statCode: string,
  value: number,
  mode: 'set' | 'increment' = 'increment',
  occurredAt = Date.now() - 1000,
): Record<string, unknown> {
  return { eventId, userId, type: 'stat', statCode, value, mode, occurredAt: iso(occurredAt) };
}

/** stat_values as `user|stat` -> value, read directly from PostgreSQL. */
export async function readStats(directUrl: string, userPrefix = ''): Promise<Map<string, number>> {
  const c = new Client({ connectionString: directUrl });
  await c.connect();
  try {
    const res = await c.query<{ user_id: string; stat_code: string; value: string }>(
      'SELECT user_id, stat_code, value FROM stat_values WHERE user_id LIKE $1',
      [`${userPrefix}%`],
    );
    return new Map(res.rows.map((r) => [`${r.user_id}|${r.stat_code}`, Number(r.value)]));
  } finally {
    await c.end();
  }
}

export async function sql<T extends Record<string, unknown>>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

/** Poll `fn` until it returns a value other than undefined (generous deadline; not a timing test). */
export async function eventually<T>(
  fn: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Deterministic PRNG (mulberry32) so a failing chaos run can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A stream of `n` queue events over `players` players (increments, sets with distinct occurredAt,
 * logins), about 5 % of them re-sent duplicates, and the stat values they must produce exactly.
 */
export function generateWorkload(
  n: number,
  players: number,
  seed: number,
  prefix: string,
): { events: import('../../app/events/event').GameEvent[]; expected: Map<string, number> } {
  const rnd = prng(seed);
  const events: import('../../app/events/event').GameEvent[] = [];
  const inc = new Map<string, number>();
  const sets = new Map<string, { at: number; value: number }>();
  const base = Date.now() - 3_600_000;
  let unique = 0;
  while (events.length < n) {
    if (unique > 0 && rnd() < 0.05) {
      events.push(events[Math.floor(rnd() * events.length)]!); // a producer retry: same id, same content
      continue;
    }
    const userId = `${prefix}-${Math.floor(rnd() * players)}`;
    const eventId = `${prefix}-e${unique++}`;
    const kind = rnd();
    if (kind < 0.5) {
      const value = 1 + Math.floor(rnd() * 5);
      events.push({
        type: 'stat',
        eventId,
        userId,
        statCode: 'matches_finished',
        value,
        mode: 'increment',
        occurredAt: base + unique,
      });
      inc.set(`${userId}|matches_finished`, (inc.get(`${userId}|matches_finished`) ?? 0) + value);
    } else if (kind < 0.85) {
      // distinct occurredAt, shuffled relative to stream order
      const at = base + Math.floor(rnd() * 1_000_000) * 1000 + (unique % 1000);
      const value = Math.floor(rnd() * 1000);
      events.push({
        type: 'stat',
        eventId,
        userId,
        statCode: 'matches_won',
        value,
        mode: 'set',
        occurredAt: at,
      });
      const cur = sets.get(`${userId}|matches_won`);
      if (!cur || at > cur.at) sets.set(`${userId}|matches_won`, { at, value });
    } else {
      events.push({ type: 'login', eventId, userId, occurredAt: base + unique });
      inc.set(`${userId}|days_logged_in`, (inc.get(`${userId}|days_logged_in`) ?? 0) + 1);
    }
  }
  const expected = new Map(inc);
  for (const [k, v] of sets) expected.set(k, v.value);
  return { events, expected };
}
