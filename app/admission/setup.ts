// Builds admission and rate limits from config: Redis-backed when REDIS_URL is set (with per-pod
// fallback), in-memory otherwise (`make run`), or nothing at all when ADMISSION_ENABLED=0.
import Redis from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { redisUp } from '../ops/metrics';
import { AdaptiveAdmission, type AdaptiveLimitSettings } from './adaptive';
import { admitAll, noLimits, type Admission, type RateLimits } from './index';
import { KnownPlayers } from './knownPlayers';
import { StoreRateLimits, type RateLimitSettings, type SharedLimiter } from './limits';
import { RedisLimiterStore } from './store';

export interface Protection {
  admission: Admission;
  limits: RateLimits;
  /** Players this pod has seen (only with admission on: the new-player budget needs it). */
  knownPlayers?: KnownPlayers;
  close(): Promise<void>;
}

export function admissionSettings(cfg: Config): {
  api: AdaptiveLimitSettings;
  events: AdaptiveLimitSettings;
} {
  const api: AdaptiveLimitSettings = {
    initialLimit: cfg.ADMISSION_INITIAL_LIMIT,
    minLimit: cfg.ADMISSION_MIN_LIMIT,
    maxLimit: Math.max(cfg.ADMISSION_MIN_LIMIT, cfg.ADMISSION_MAX_LIMIT),
    targetLatencyMs: cfg.ADMISSION_TARGET_LATENCY_MS,
    decreaseRatio: 1 - cfg.ADMISSION_DECREASE_PERCENT / 100,
    queueMax: cfg.ADMISSION_QUEUE_MAX,
    lifoAfterMs: cfg.ADMISSION_LIFO_AFTER_MS,
    maxQueueWaitMs: cfg.ADMISSION_MAX_QUEUE_WAIT_MS,
    queueDelaySlackMs: cfg.ADMISSION_QUEUE_DELAY_SLACK_MS,
    queueDelayIntervalMs: cfg.ADMISSION_QUEUE_DELAY_INTERVAL_MS,
    retryAfterSpreadS: cfg.ADMISSION_RETRY_AFTER_SPREAD_S,
  };
  const events: AdaptiveLimitSettings = {
    ...api,
    initialLimit: cfg.ADMISSION_EVENTS_INITIAL_LIMIT,
    minLimit: Math.min(cfg.ADMISSION_MIN_LIMIT, cfg.ADMISSION_EVENTS_MAX_LIMIT),
    maxLimit: cfg.ADMISSION_EVENTS_MAX_LIMIT,
  };
  return { api, events };
}

export function rateLimitSettings(cfg: Config): RateLimitSettings {
  return {
    playerPerSec: cfg.RATE_LIMIT_PLAYER_PER_SEC,
    playerBurst: cfg.RATE_LIMIT_PLAYER_BURST,
    ingestPerSec: cfg.RATE_LIMIT_INGEST_EVENTS_PER_SEC,
    ingestBurst: cfg.RATE_LIMIT_INGEST_BURST,
    newPlayerPerSec: cfg.NEW_PLAYER_BUDGET_PER_SEC,
    newPlayerBurst: cfg.NEW_PLAYER_BUDGET_BURST,
    newPlayerMaxWaitMs: cfg.NEW_PLAYER_BUDGET_MAX_WAIT_MS,
    expectedReplicas: cfg.RATE_LIMIT_EXPECTED_REPLICAS,
    redisTimeoutMs: cfg.RATE_LIMIT_REDIS_TIMEOUT_MS,
    probeIntervalMs: cfg.RATE_LIMIT_REDIS_PROBE_MS,
  };
}

/**
 * A Redis connection for limiter calls only: no offline queue, so a call while disconnected fails at
 * once (and is never replayed later, which would spend budget twice), and a command timeout, so a
 * slow Redis costs a request at most `timeoutMs` once; after that the pod answers from memory until
 * a probe finds Redis back.
 */
export function limiterRedis(url: string, timeoutMs: number): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    retryStrategy: (times) => Math.min(times * 100, 1000),
    // Limiter calls of concurrent requests issued in the same tick share one write.
    enableAutoPipelining: true,
  });
  redis.on('error', () => undefined); // reported through the degraded state, not per reconnect attempt
  redis.on('ready', () => redisUp.set(1));
  redis.on('close', () => redisUp.set(0));
  return redis;
}

export function sharedLimiter(redis: Redis, prefix: string): SharedLimiter {
  return {
    store: new RedisLimiterStore(redis, prefix),
    ping: () => redis.ping(),
    onReady: (cb) => redis.on('ready', cb),
  };
}

export function createProtection(cfg: Config, log: Logger): Protection {
  if (!cfg.ADMISSION_ENABLED) {
    log.warn('admission disabled (ADMISSION_ENABLED=0): no concurrency limit, queue or rate limits');
    return { admission: admitAll, limits: noLimits, close: async () => undefined };
  }
  const { api, events } = admissionSettings(cfg);
  const admission = new AdaptiveAdmission(api, events);
  const redis = cfg.REDIS_URL ? limiterRedis(cfg.REDIS_URL, cfg.RATE_LIMIT_REDIS_TIMEOUT_MS) : undefined;
  const limits = new StoreRateLimits(
    rateLimitSettings(cfg),
    redis ? sharedLimiter(redis, cfg.RATE_LIMIT_KEY_PREFIX) : null,
    log,
  );
  return {
    admission,
    limits,
    knownPlayers: new KnownPlayers(cfg.ADMISSION_KNOWN_PLAYERS_CACHE),
    async close() {
      limits.close();
      redis?.disconnect();
    },
  };
}
