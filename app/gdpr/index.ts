// GDPR erasure of one player (the reference's M6): DELETE {base}/v1/users/me/data (player credential,
// at most once a minute per player) and DELETE /admin/v1/players/{userId}/data on the ops port
// (service credential). In this order: tells every api pod to close the player's WebSockets (an
// `erased` push; an open socket would write the player's presence back), removes the player's
// queued and dead-lettered events (so the worker cannot re-create rows), every PostgreSQL row of the
// player (one transaction), and the Redis keys naming the player (presence, per-player rate limit).
// Answers the counts per place.
import { createHash } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type Redis from 'ioredis';
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/auth';
import { ApiError, jitteredRetryAfter, unavailable } from '../errors';
import type { KnownPlayers } from '../admission/knownPlayers';
import type { Clock } from '../domain/clock';
import type { PushBus } from '../events/bus';
import type { EventQueue } from '../events/queue';
import { gdprDeletionsTotal } from '../ops/metrics';
import type { Db } from '../store/db';
import { deletePlayerRows } from './store';
import { orThrow, parseId } from '../schemas/requests';

export const SELF_DELETE_INTERVAL_MS = 60_000;

export interface GdprDeps {
  db: Db;
  auth: Authenticator;
  queue: EventQueue;
  /** Reaches the api pods holding the player's WebSockets. */
  bus: PushBus;
  clock: Clock;
  log: Logger;
  /** Redis of the service (rate limit across pods, keys to delete); absent in embedded mode. */
  redis?: Redis;
  presenceKey: string;
  /** The api's known-player memory, forgotten on erasure (absent when admission is off). */
  knownPlayers?: KnownPlayers;
  rateLimitPrefix: string;
}

export interface DeletionReport {
  userId: string;
  deleted: Record<string, number>;
}

const hashed = (userId: string) => createHash('sha256').update(userId).digest('hex').slice(0, 32);

export class GdprEraser {
  /** In-memory stand-in of the once-a-minute rule when there is no Redis (one process). */
  private readonly recent = new Map<string, number>();

  constructor(private readonly deps: GdprDeps) {}

  /** true when this player may ask now (and books the minute); the key holds a hash, not the id. */
  async takeSelfDeleteSlot(userId: string): Promise<boolean> {
    const key = `${this.deps.rateLimitPrefix}gdpr:${hashed(userId)}`;
    if (this.deps.redis) {
      return (await this.deps.redis.set(key, '1', 'PX', SELF_DELETE_INTERVAL_MS, 'NX')) === 'OK';
    }
    const now = this.deps.clock.now();
    for (const [k, until] of this.recent) if (until <= now) this.recent.delete(k);
    if ((this.recent.get(key) ?? 0) > now) return false;
    this.recent.set(key, now + SELF_DELETE_INTERVAL_MS);
    return true;
  }

  async releaseSelfDeleteSlot(userId: string): Promise<void> {
    const key = `${this.deps.rateLimitPrefix}gdpr:${hashed(userId)}`;
    this.recent.delete(key);
    await this.deps.redis?.del(key);
  }

  async erase(userId: string, by: 'player' | 'admin'): Promise<DeletionReport> {
    await this.deps.bus.publish([{ type: 'erased', userId }]);
    const queued = await this.deps.queue.deleteForUser(userId);
    const rows = await deletePlayerRows(this.deps.db, userId);
    let redisKeys = 0;
    if (this.deps.redis) {
      const r = this.deps.redis;
      const [zrem, del] = await Promise.all([
        r.zrem(this.deps.presenceKey, userId),
        r.del(`${this.deps.rateLimitPrefix}player:${userId}`),
      ]);
      redisKeys = Number(zrem) + Number(del);
    }
    this.deps.knownPlayers?.forget(userId);
    gdprDeletionsTotal.inc({ by });
    const deleted = { ...rows, queued_events: queued, redis_keys: redisKeys };
    this.deps.log.info({ by, deleted }, 'player data erased'); // no player id in the log
    return { userId, deleted };
  }
}

function checkUserId(userId: string): string {
  return orThrow(parseId(userId, 'userId'));
}

export const storeUnavailable = () =>
  unavailable(
    'storage unavailable; nothing or not all was deleted, retry',
    jitteredRetryAfter(2),
    'STORAGE_UNAVAILABLE',
  );

/** DELETE /admin/v1/players/{userId}/data on the ops port (service credential). */
export function gdprAdminRouter(eraser: GdprEraser, deps: { auth: Authenticator; log: Logger }): Router {
  const router = express.Router();
  router.delete('/players/:userId/data', (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers['x-api-key'];
    const apiKey = Array.isArray(header) ? header[0] : header;
    deps.auth
      .service(req.headers.authorization, apiKey)
      .then(async () => {
        const userId = checkUserId(req.params.userId ?? '');
        try {
          res.json(await eraser.erase(userId, 'admin'));
        } catch (err) {
          deps.log.warn({ err }, 'player data erasure failed');
          throw storeUnavailable();
        }
      })
      .catch((e: unknown) => {
        if (!(e instanceof ApiError)) return next(e);
        if (e.retryAfter !== undefined) res.set('retry-after', String(e.retryAfter));
        res.status(e.status).type('application/json').send(e.body());
      });
  });
  return router;
}
