// Live pushes from the worker to the api pods: pub/sub of progress messages, plus presence (which
// players have a socket open on some pod) so the worker only computes pushes for those players.
//
// Redis: one channel; each publish carries every message of one applied batch (a JSON array), and
// every api pod filters by the players connected to it. Presence is a sorted set member=userId,
// score=expiry (ms): pods refresh their connected players periodically, entries expire on their
// own, so a pod that dies leaves nothing behind for longer than the TTL.
import type Redis from 'ioredis';

export type PushType = 'progress' | 'completed' | 'claimed' | 'catalog';

export interface GoalPush {
  type: PushType;
  userId: string;
  challengeId: string;
  goalId: string;
  progress: number;
  target: number;
  status: string;
}

/** The player's data was erased (GDPR): every pod closes that player's sockets. */
export interface ErasedPush {
  type: 'erased';
  userId: string;
}

export type PushMessage = GoalPush | ErasedPush;

export type PushHandler = (messages: PushMessage[]) => void;

export interface PushBus {
  publish(messages: readonly PushMessage[]): Promise<void>;
  /** Resolves once subscribed; the returned function unsubscribes. */
  subscribe(handler: PushHandler): Promise<() => Promise<void>>;
  /** Mark players as connected (to this pod) until now + ttl. */
  markPresent(userIds: readonly string[]): Promise<void>;
  /** Of `userIds`, those with a socket open somewhere. */
  present(userIds: readonly string[]): Promise<Set<string>>;
  close(): Promise<void>;
}

export class MemoryPushBus implements PushBus {
  private handlers = new Set<PushHandler>();
  private readonly presence = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async publish(messages: readonly PushMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const copy = [...messages];
    // Delivered asynchronously, as Redis would.
    for (const h of this.handlers) setImmediate(() => h(copy));
  }

  async subscribe(handler: PushHandler): Promise<() => Promise<void>> {
    this.handlers.add(handler);
    return async () => {
      this.handlers.delete(handler);
    };
  }

  async markPresent(userIds: readonly string[]): Promise<void> {
    const until = this.now() + this.ttlMs;
    for (const u of userIds) this.presence.set(u, until);
  }

  async present(userIds: readonly string[]): Promise<Set<string>> {
    const now = this.now();
    const out = new Set<string>();
    for (const u of userIds) if ((this.presence.get(u) ?? 0) > now) out.add(u);
    return out;
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }
}

export class RedisPushBus implements PushBus {
  private sub: Redis | undefined;
  private readonly handlers = new Set<PushHandler>();
  private lastCleanup = 0;

  constructor(
    private readonly redis: Redis,
    private readonly newSubscriberConnection: () => Redis,
    private readonly opts: { channel: string; presenceKey: string; ttlMs: number },
  ) {}

  async publish(messages: readonly PushMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.redis.publish(this.opts.channel, JSON.stringify(messages));
  }

  async subscribe(handler: PushHandler): Promise<() => Promise<void>> {
    if (!this.sub) {
      const sub = this.newSubscriberConnection();
      this.sub = sub;
      sub.on('message', (_channel: string, payload: string) => {
        let msgs: PushMessage[];
        try {
          msgs = JSON.parse(payload) as PushMessage[];
        } catch {
          return;
        }
        if (!Array.isArray(msgs)) return;
        for (const h of this.handlers) h(msgs);
      });
      // ioredis re-subscribes by itself after a reconnect.
      await sub.subscribe(this.opts.channel);
    }
    this.handlers.add(handler);
    return async () => {
      this.handlers.delete(handler);
    };
  }

  async markPresent(userIds: readonly string[]): Promise<void> {
    const now = Date.now();
    const until = now + this.opts.ttlMs;
    for (let i = 0; i < userIds.length; i += 1000) {
      const args: (string | number)[] = [];
      for (const u of userIds.slice(i, i + 1000)) args.push(until, u);
      await this.redis.zadd(this.opts.presenceKey, ...args);
    }
    if (now - this.lastCleanup > this.opts.ttlMs) {
      this.lastCleanup = now;
      await this.redis.zremrangebyscore(this.opts.presenceKey, '-inf', now);
    }
  }

  async present(userIds: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    if (userIds.length === 0) return out;
    const now = Date.now();
    for (let i = 0; i < userIds.length; i += 5000) {
      const chunk = userIds.slice(i, i + 5000);
      const scores = (await this.redis.call('ZMSCORE', this.opts.presenceKey, ...chunk)) as (string | null)[];
      chunk.forEach((u, j) => {
        const s = scores[j];
        if (s !== null && s !== undefined && Number(s) > now) out.add(u);
      });
    }
    return out;
  }

  async close(): Promise<void> {
    this.handlers.clear();
    if (this.sub) {
      const sub = this.sub;
      this.sub = undefined;
      await sub.quit().catch(() => sub.disconnect());
    }
  }
}
