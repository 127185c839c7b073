// RateLimits on a LimiterStore: per-player token bucket (429), per-client ingest bucket counted in
// events (429), fleet-wide GCRA budget of new-player initialisations (wait for a booked slot within
// the deadline, else 503). With Redis, a call that fails or takes longer than `redisTimeoutMs` is
// answered from per-pod memory instead, and Redis is left alone until a probe finds it back.
import type { Logger } from 'pino';
import { jitteredRetryAfter } from '../errors';
import { tooManyRequests, unavailable } from '../errors';
import { admissionRejectionsTotal, rateLimiterDegraded } from '../ops/metrics';
import type { RateLimits } from './index';
import { MemoryLimiterStore, type LimiterStore } from './store';

export interface RateLimitSettings {
  /** Per-player requests per second (0 = no per-player limit) and bucket size. */
  playerPerSec: number;
  playerBurst: number;
  /** Per service client: events per second (0 = no limit) and bucket size. */
  ingestPerSec: number;
  ingestBurst: number;
  /** Fleet-wide new-player initialisations per second (0 = no budget) and burst. */
  newPlayerPerSec: number;
  newPlayerBurst: number;
  /** Longest a new player waits for a booked slot (also at most half of what is left of its deadline). */
  newPlayerMaxWaitMs: number;
  /** Fleet budgets are divided by this when answered from one pod's memory (Redis down or slow). */
  expectedReplicas: number;
  redisTimeoutMs: number;
  probeIntervalMs: number;
}

export interface SharedLimiter {
  store: LimiterStore;
  /** Cheap round trip that tells whether Redis answers again. */
  ping(): Promise<unknown>;
  /** Called on every (re)connection, so a degraded pod goes back to Redis without waiting for a probe. */
  onReady?(cb: () => void): void;
}

const NEW_PLAYER_KEY = 'new-player';

class RedisTimeout extends Error {
  constructor(ms: number) {
    super(`Redis limiter did not answer within ${ms} ms`);
  }
}

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisTimeout(ms)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A per-key rate limit refused the call: counted, answered 429 with Retry-After. */
function rateLimited(pool: 'player' | 'events', limit: string, message: string, retryAfterMs: number) {
  admissionRejectionsTotal.inc({ pool, reason: 'rate_limited' });
  return tooManyRequests(message, Math.max(1, Math.ceil(retryAfterMs / 1000)), { limit });
}

export class StoreRateLimits implements RateLimits {
  private readonly local = new MemoryLimiterStore();
  private degradedSince: number | null = null;
  private probe: NodeJS.Timeout | undefined;
  private probing = false;

  constructor(
    private readonly settings: RateLimitSettings,
    private readonly shared: SharedLimiter | null,
    private readonly log: Logger,
  ) {
    shared?.onReady?.(() => void this.probeOnce());
  }

  /** True while answers come from this pod's memory although Redis is configured. */
  get degraded(): boolean {
    return this.degradedSince !== null;
  }

  async player(userId: string): Promise<void> {
    const s = this.settings;
    if (s.playerPerSec <= 0) return;
    // Not divided by replicas when local: one player's requests mostly land on few pods.
    const a = await this.decide(
      (store) => store.tokenBucket(`player:${userId}`, s.playerPerSec, s.playerBurst, 1),
      (store) => store.tokenBucket(`player:${userId}`, s.playerPerSec, s.playerBurst, 1),
    );
    if (!a.allowed)
      throw rateLimited('player', 'player', 'too many requests for this player', a.retryAfterMs);
  }

  async ingest(clientId: string, events: number): Promise<void> {
    const s = this.settings;
    if (s.ingestPerSec <= 0 || events <= 0) return;
    const a = await this.decide(
      (store) => store.tokenBucket(`ingest:${clientId}`, s.ingestPerSec, s.ingestBurst, events),
      (store, n) =>
        store.tokenBucket(`ingest:${clientId}`, s.ingestPerSec / n, Math.ceil(s.ingestBurst / n), events),
    );
    if (!a.allowed)
      throw rateLimited('events', 'ingest', 'event ingest rate of this client exceeded', a.retryAfterMs);
  }

  async newPlayer(deadline: number): Promise<void> {
    const s = this.settings;
    if (s.newPlayerPerSec <= 0) return;
    const maxWaitMs = Math.max(0, Math.min(s.newPlayerMaxWaitMs, (deadline - Date.now()) / 2));
    const a = await this.decide(
      (store) => store.gcraReserve(NEW_PLAYER_KEY, s.newPlayerPerSec, s.newPlayerBurst, maxWaitMs),
      (store, n) =>
        store.gcraReserve(NEW_PLAYER_KEY, s.newPlayerPerSec / n, Math.ceil(s.newPlayerBurst / n), maxWaitMs),
    );
    if (!a.reserved) {
      admissionRejectionsTotal.inc({ pool: 'init', reason: 'budget_exhausted' });
      throw unavailable(
        'new-player initialisation budget exhausted; retry later',
        jitteredRetryAfter(Math.max(1, Math.ceil(a.waitMs / 1000))),
        'OVERLOADED',
        { reason: 'budget_exhausted' },
      );
    }
    if (a.waitMs > 0) await sleep(a.waitMs);
  }

  /** Book a new-player slot only if one is free right now (no waiting, no refusal counted). */
  async tryNewPlayer(): Promise<boolean> {
    const s = this.settings;
    if (s.newPlayerPerSec <= 0) return true;
    const a = await this.decide(
      (store) => store.gcraReserve(NEW_PLAYER_KEY, s.newPlayerPerSec, s.newPlayerBurst, 0),
      (store, n) =>
        store.gcraReserve(NEW_PLAYER_KEY, s.newPlayerPerSec / n, Math.ceil(s.newPlayerBurst / n), 0),
    );
    return a.reserved;
  }

  /** Stop the probe; the Redis connection belongs to whoever made it. */
  close(): void {
    if (this.probe) clearInterval(this.probe);
    this.probe = undefined;
  }

  private async decide<T>(
    viaShared: (store: LimiterStore) => Promise<T>,
    /** `share`: pods a fleet budget is split between while each answers alone (1 without Redis). */
    viaLocal: (store: LimiterStore, share: number) => Promise<T>,
  ): Promise<T> {
    if (this.shared && !this.degraded) {
      try {
        return await within(viaShared(this.shared.store), this.settings.redisTimeoutMs);
      } catch (err) {
        this.markDegraded(err);
      }
    }
    return viaLocal(this.local, this.shared ? Math.max(1, this.settings.expectedReplicas) : 1);
  }

  private markDegraded(err: unknown): void {
    if (this.degraded) return;
    this.degradedSince = Date.now();
    rateLimiterDegraded.set(1);
    this.log.warn(
      { err, expectedReplicas: this.settings.expectedReplicas },
      'rate limits degraded: Redis unavailable, using per-pod in-memory limits',
    );
    this.probe = setInterval(() => void this.probeOnce(), this.settings.probeIntervalMs);
    this.probe.unref();
  }

  private async probeOnce(): Promise<void> {
    if (!this.shared || this.probing || !this.degraded) return;
    this.probing = true;
    try {
      await within(this.shared.ping(), Math.max(this.settings.redisTimeoutMs, 250));
      const seconds = (Date.now() - this.degradedSince!) / 1000;
      this.degradedSince = null;
      this.close();
      rateLimiterDegraded.set(0);
      this.log.info(
        { degradedSeconds: seconds },
        'rate limits back on Redis: fleet-wide budgets shared again',
      );
    } catch {
      // still down: keep answering locally
    } finally {
      this.probing = false;
    }
  }
}
