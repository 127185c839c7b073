// The two limiter primitives (token bucket, GCRA with reservation) behind one interface, in Redis
// (Lua scripts of ./lua, shared by the fleet) and in process memory (same arithmetic, one pod).
import fs from 'node:fs';
import path from 'node:path';
import type Redis from 'ioredis';
import { ROOT } from '../paths';

export interface BucketAnswer {
  allowed: boolean;
  /** When `cost` tokens will be there, ms (0 when allowed). */
  retryAfterMs: number;
  /** Whole tokens left after this call. */
  remaining: number;
}

export interface GcraAnswer {
  /** true: a slot is booked for this caller, who starts after `waitMs`. false: nothing booked. */
  reserved: boolean;
  /** Reserved: wait before starting. Refused: time until a slot would conform. ms. */
  waitMs: number;
}

export interface LimiterStore {
  /** Take `cost` tokens from bucket `key` (refill `ratePerSec`, capacity `burst`). */
  tokenBucket(key: string, ratePerSec: number, burst: number, cost: number): Promise<BucketAnswer>;
  /** Book the next slot of budget `key` (`ratePerSec`, `burst`) if it starts within `maxWaitMs`. */
  gcraReserve(key: string, ratePerSec: number, burst: number, maxWaitMs: number): Promise<GcraAnswer>;
}

// ---- Redis: scripts loaded once, called by name --------------------------------------------------

/** The Lua scripts of this module, by the command name ioredis defines for them. */
export const LIMITER_SCRIPTS = {
  challengeTokenBucket: 'token_bucket.lua',
  challengeGcra: 'gcra.lua',
} as const;

function luaSource(file: string): string {
  // From app/ (tests, ts) the file sits next to this module; from dist/ it is read from the repo root.
  for (const dir of [path.join(__dirname, 'lua'), path.join(ROOT, 'app', 'admission', 'lua')]) {
    const p = path.join(dir, file);
    if (fs.existsSync(p)) return fs.readFileSync(p, 'utf8');
  }
  throw new Error(`admission Lua script ${file} not found`);
}

type ScriptReply = [number, number, number?];
interface LimiterCommands {
  challengeTokenBucket(key: string, rate: number, burst: number, cost: number): Promise<ScriptReply>;
  challengeGcra(key: string, intervalUs: number, burst: number, maxWaitUs: number): Promise<ScriptReply>;
}

/**
 * Define the limiter scripts on a connection (idempotent). ioredis sends EVALSHA and, on NOSCRIPT
 * (a restarted Redis), EVAL once, which loads the script again.
 */
export function defineLimiterScripts(redis: Redis): Redis & LimiterCommands {
  const r = redis as Redis & Partial<LimiterCommands>;
  for (const [name, file] of Object.entries(LIMITER_SCRIPTS)) {
    if (typeof (r as unknown as Record<string, unknown>)[name] !== 'function') {
      redis.defineCommand(name, { numberOfKeys: 1, lua: luaSource(file) });
    }
  }
  return r as Redis & LimiterCommands;
}

export class RedisLimiterStore implements LimiterStore {
  private readonly redis: Redis & LimiterCommands;

  constructor(
    redis: Redis,
    private readonly prefix = 'challenge:rl:',
  ) {
    this.redis = defineLimiterScripts(redis);
  }

  async tokenBucket(key: string, ratePerSec: number, burst: number, cost: number): Promise<BucketAnswer> {
    const [allowed, retryUs, remaining] = await this.redis.challengeTokenBucket(
      this.prefix + key,
      ratePerSec,
      Math.max(1, burst),
      cost,
    );
    return { allowed: allowed === 1, retryAfterMs: Math.ceil(retryUs / 1000), remaining: remaining ?? 0 };
  }

  async gcraReserve(key: string, ratePerSec: number, burst: number, maxWaitMs: number): Promise<GcraAnswer> {
    const intervalUs = Math.max(1, Math.round(1e6 / ratePerSec));
    const [reserved, waitUs] = await this.redis.challengeGcra(
      this.prefix + key,
      intervalUs,
      Math.max(1, burst),
      Math.max(0, Math.floor(maxWaitMs * 1000)),
    );
    return { reserved: reserved === 1, waitMs: Math.ceil(waitUs / 1000) };
  }
}

// ---- process memory: the same arithmetic, for `make run` and for Redis outages --------------------

const nowUs = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);

export class MemoryLimiterStore implements LimiterStore {
  private readonly buckets = new Map<string, { tokens: number; ts: number }>();
  private readonly tats = new Map<string, number>();

  /** `maxKeys` bounds memory: beyond it the least recently written key is forgotten (= full bucket). */
  constructor(
    private readonly maxKeys = 100_000,
    private readonly clockUs: () => number = nowUs,
  ) {}

  async tokenBucket(key: string, ratePerSec: number, burst: number, cost: number): Promise<BucketAnswer> {
    const cap = Math.max(1, burst);
    const take = Math.min(cost, cap);
    const now = this.clockUs();
    const prev = this.buckets.get(key);
    let tokens = prev ? Math.min(cap, prev.tokens + (Math.max(0, now - prev.ts) * ratePerSec) / 1e6) : cap;
    let retryUs = 0;
    const allowed = tokens >= take;
    if (allowed) tokens -= take;
    else retryUs = Math.ceil(((take - tokens) * 1e6) / ratePerSec);
    this.remember(this.buckets, key, { tokens, ts: now });
    return { allowed, retryAfterMs: Math.ceil(retryUs / 1000), remaining: Math.floor(tokens) };
  }

  async gcraReserve(key: string, ratePerSec: number, burst: number, maxWaitMs: number): Promise<GcraAnswer> {
    const interval = Math.max(1, Math.round(1e6 / ratePerSec));
    const tolerance = interval * (Math.max(1, burst) - 1);
    const now = this.clockUs();
    const tat = Math.max(this.tats.get(key) ?? 0, now);
    const wait = Math.max(0, tat - tolerance - now);
    if (wait > maxWaitMs * 1000) return { reserved: false, waitMs: Math.ceil(wait / 1000) };
    this.remember(this.tats, key, tat + interval);
    return { reserved: true, waitMs: Math.ceil(wait / 1000) };
  }

  private remember<V>(map: Map<string, V>, key: string, value: V): void {
    map.delete(key); // re-insert: Map order is write order, so the first key is the oldest
    map.set(key, value);
    if (map.size > this.maxKeys) map.delete(map.keys().next().value!);
  }
}
