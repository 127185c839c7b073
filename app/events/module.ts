// The events module: ingest route + WebSocket push on api pods, the worker loop on worker pods.
// With REDIS_URL: Redis Streams queue and Redis pub/sub; without: in-memory stand-ins shared by the
// api and worker roles of the same process (embedded mode, ROLE=all).
import { hostname } from 'node:os';
import Redis from 'ioredis';
import type { Module, ModuleContext, ModuleFactory } from '../runtime';
import type { Goal } from '../domain/catalog';
import type { Config } from '../config';
import { redisUp } from '../ops/metrics';
import { MemoryPushBus, RedisPushBus, type PushBus } from './bus';
import { playerResolver } from '../auth/devAuth';
import { RetentionJob } from '../gdpr/retention';
import { GdprEraser, gdprAdminRouter } from '../gdpr';
import { registerGdprRoutes, type GdprRouteDeps } from '../api/gdpr';
import { startGrpcIngest, type GrpcIngest } from './grpc';
import { registerIngestRoute } from '../api/ingest';
import { MemoryEventQueue, type EventQueue } from './queue';
import { RedisEventQueue } from './redisQueue';
import { EventWorker, type WorkerOptions } from './worker';
import { PushHub } from '../api/ws';

export interface EventsInfra {
  queue: EventQueue;
  bus: PushBus;
  /** The command connection (GDPR erasure: its once-a-minute rule and the player's keys). */
  redis?: Redis;
  close(): Promise<void>;
}

function redisClient(
  url: string,
  opts: { blocking?: boolean; failFast?: boolean; onState?: (up: boolean) => void } = {},
): Redis {
  const r = new Redis(url, {
    // The producer (appends): no offline queue, so an append while Redis is down fails at once.
    ...(opts.failFast ? { enableOfflineQueue: false } : {}),
    // Fail a command after two reconnect attempts instead of queueing it for ever: ingest answers
    // 503 quickly and the worker loop retries with its own backoff.
    maxRetriesPerRequest: opts.blocking ? null : 2,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(50 * 2 ** times, 2000),
    enableAutoPipelining: !opts.blocking,
  });
  r.on('error', () => undefined); // reconnects by itself; state goes to the gauge
  if (opts.onState) {
    r.on('ready', () => opts.onState!(true));
    r.on('close', () => opts.onState!(false));
  }
  return r;
}

export function createEventsInfra(cfg: Config): EventsInfra {
  if (!cfg.REDIS_URL) {
    const queue = new MemoryEventQueue();
    const bus = new MemoryPushBus(cfg.WS_PRESENCE_REFRESH_MS * 3);
    return { queue, bus, close: async () => Promise.all([queue.close(), bus.close()]).then(() => undefined) };
  }
  const url = cfg.REDIS_URL;
  const cmd = redisClient(url, { onState: (up) => redisUp.set(up ? 1 : 0) });
  const producer = redisClient(url, { failFast: true });
  const queue = new RedisEventQueue(cmd, () => redisClient(url, { blocking: true }), {
    producer,
    stream: cfg.EVENTS_STREAM_KEY,
    group: cfg.EVENTS_GROUP,
    deadLetterMaxLen: cfg.EVENTS_DEAD_LETTER_MAXLEN,
  });
  const bus = new RedisPushBus(cmd, () => redisClient(url, { blocking: true }), {
    channel: cfg.EVENTS_PUSH_CHANNEL,
    presenceKey: cfg.EVENTS_PRESENCE_KEY,
    ttlMs: cfg.WS_PRESENCE_REFRESH_MS * 3,
  });
  return {
    queue,
    bus,
    redis: cmd,
    async close() {
      await queue.close();
      await bus.close();
      await producer.quit().catch(() => producer.disconnect());
      await cmd.quit().catch(() => cmd.disconnect());
    },
  };
}

export function workerOptions(cfg: Config): Partial<WorkerOptions> {
  return {
    readCount: cfg.EVENTS_READ_COUNT,
    blockMs: cfg.EVENTS_READ_BLOCK_MS,
    partitions: cfg.EVENTS_APPLY_PARTITIONS,
    claimIdleMs: cfg.EVENTS_CLAIM_IDLE_MS,
    claimIntervalMs: cfg.EVENTS_CLAIM_INTERVAL_MS,
    maxDeliveries: cfg.EVENTS_MAX_DELIVERIES,
    maintenanceIntervalMs: cfg.EVENTS_MAINTENANCE_INTERVAL_MS,
    retentionMs: cfg.PROCESSED_EVENTS_RETENTION_MS,
    pruneIntervalMs: cfg.PROCESSED_EVENTS_PRUNE_INTERVAL_MS,
    pruneBatch: cfg.PROCESSED_EVENTS_PRUNE_BATCH,
    stopTimeoutMs: cfg.SHUTDOWN_GRACE_MS,
  };
}

/**
 * One factory per service: the api and worker roles of one process share the queue and bus (and
 * their Redis connections), closed when the last of them stops.
 */
export interface EventsModuleOptions {
  /** Also serve the platform's gRPC event delivery (GRPC_PORT) on api pods; told the bound port. */
  grpc?: boolean | { onListening?: (port: number) => void };
}

export function eventsModule(infraOverride?: EventsInfra, opts: EventsModuleOptions = {}): ModuleFactory {
  let infra: EventsInfra | undefined;
  let users = 0;
  const acquire = (cfg: Config): EventsInfra => {
    infra ??= infraOverride ?? createEventsInfra(cfg);
    users++;
    return infra;
  };
  const release = async (): Promise<void> => {
    if (--users === 0 && infra) {
      const i = infra;
      infra = undefined;
      if (!infraOverride) await i.close();
    }
  };

  return async (ctx: ModuleContext): Promise<Module | null> => {
    const { cfg } = ctx;
    if (!cfg.REDIS_URL && cfg.ROLE !== 'all' && users === 0) {
      ctx.log.warn(
        { role: cfg.ROLE },
        'events: no REDIS_URL, so the in-memory queue only links the api and worker roles of one process',
      );
    }
    const shared = acquire(cfg);
    if (ctx.role === 'api') {
      const hub = new PushHub({
        basePath: cfg.BASE_PATH,
        auth: ctx.auth,
        bus: shared.bus,
        log: ctx.log,
        maxBufferedBytes: cfg.WS_MAX_BUFFERED_BYTES,
        authTimeoutMs: cfg.WS_AUTH_TIMEOUT_MS,
        presenceRefreshMs: cfg.WS_PRESENCE_REFRESH_MS,
      });
      await hub.start();
      let grpcIngest: GrpcIngest | undefined;
      if (opts.grpc && cfg.GRPC_ENABLED) {
        grpcIngest = await startGrpcIngest({
          host: cfg.HOST,
          port: cfg.GRPC_PORT,
          namespace: cfg.AB_NAMESPACE,
          devMode: cfg.DEV_MODE,
          catalog: ctx.catalog,
          auth: ctx.auth,
          queue: shared.queue,
          clock: ctx.clock,
          limits: ctx.limits,
          admission: ctx.admission,
          deadlineMs: cfg.REQUEST_DEADLINE_MS,
          log: ctx.log.child({ module: 'events-grpc' }),
        });
        ctx.log.info(
          { grpcPort: grpcIngest.port, namespace: cfg.AB_NAMESPACE },
          'gRPC event ingest listening',
        );
        if (!cfg.AB_NAMESPACE)
          ctx.log.warn('AB_NAMESPACE is not set: gRPC events are refused until it is configured');
        if (typeof opts.grpc === 'object') opts.grpc.onListening?.(grpcIngest.port);
      }
      // `claimed` pushes come from the api pod that committed the claim.
      const onClaimed = (userId: string, goal: Goal): void => {
        const target = goal.requirement.targetValue;
        shared.bus
          .publish([
            {
              type: 'claimed',
              userId,
              challengeId: goal.challengeId,
              goalId: goal.goalId,
              progress: target,
              target,
              status: 'claimed',
            },
          ])
          .catch((err: unknown) => ctx.log.warn({ err }, 'claimed push failed'));
      };
      ctx.claimListeners.add(onClaimed);
      const resolvePlayer = playerResolver(ctx.auth, cfg.DEV_MODE && cfg.DEV_MOCK_USER_HEADER);
      const gdprDeps: GdprRouteDeps = {
        basePath: cfg.BASE_PATH,
        db: ctx.db,
        auth: ctx.auth,
        queue: shared.queue,
        bus: shared.bus,
        clock: ctx.clock,
        log: ctx.log.child({ module: 'gdpr' }),
        redis: shared.redis,
        presenceKey: cfg.EVENTS_PRESENCE_KEY,
        rateLimitPrefix: cfg.RATE_LIMIT_KEY_PREFIX,
        knownPlayers: ctx.knownPlayers,
        player: (c) => resolvePlayer(c.headers),
      };
      const eraser = new GdprEraser(gdprDeps);
      return {
        name: 'events-api',
        admin: gdprAdminRouter(eraser, { auth: ctx.auth, log: gdprDeps.log }),
        routes: (http) => {
          registerGdprRoutes(http, eraser, gdprDeps);
          registerIngestRoute(http, {
            basePath: cfg.BASE_PATH,
            auth: ctx.auth,
            queue: shared.queue,
            clock: ctx.clock,
            catalog: ctx.catalog,
            maxBody: cfg.MAX_EVENTS_BODY_BYTES,
            limits: ctx.limits,
            admission: ctx.admission,
            onAppendError: (err) => ctx.log.warn({ err }, 'event append failed'),
          });
          hub.register(http);
        },
        stop: async () => {
          ctx.claimListeners.delete(onClaimed);
          await grpcIngest?.stop(cfg.SHUTDOWN_GRACE_MS);
          await hub.stop();
          await release();
        },
      };
    }

    const worker = new EventWorker(
      {
        db: ctx.db,
        queue: shared.queue,
        consumerName: cfg.EVENTS_CONSUMER ?? `${hostname()}-${process.pid}`,
        catalog: ctx.catalog,
        clock: ctx.clock,
        log: ctx.log.child({ module: 'events-worker' }),
        bus: shared.bus,
      },
      workerOptions(cfg),
    );
    await worker.start();
    const retention = new RetentionJob(
      { db: ctx.db, clock: ctx.clock, log: ctx.log.child({ module: 'retention' }) },
      cfg.RETENTION_INTERVAL_MS,
      cfg.RETENTION_BATCH,
    );
    retention.start();
    return {
      name: 'events-worker',
      readiness: { name: 'event-queue', check: () => shared.queue.ping() },
      stop: async () => {
        await retention.stop();
        await worker.stop();
        await release();
      },
    };
  };
}
