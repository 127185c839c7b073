// The event queue on Redis Streams (see queue.ts for the contract).
//
// Layout: one stream entry per event (field `e` = compact JSON), a consumer group the workers
// share, and a dead-letter stream `<stream>:dead`. One entry per event (not one per request) so
// that a poison event is dead-lettered alone, lag is counted in events (the autoscaling input),
// and XREADGROUP COUNT sizes apply batches exactly; the cost (one XADD per event) is paid in a
// single MULTI/EXEC round trip per request, which also makes a request all-or-nothing.
//
// Trimming never drops an unacknowledged entry: XTRIM MINID ~ <oldest unacked id>, where the
// oldest unacked id is the smaller of the oldest pending id (XPENDING) and the id right after the
// group's last-delivered-id (everything after it is undelivered). `~` lets Redis trim whole
// macro-nodes only, so it may keep a few acknowledged entries but never removes one at or after
// the threshold. Ids below the threshold were all delivered and acknowledged: safe to drop.
import type Redis from 'ioredis';
import type { GameEvent } from './event';
import { decodeEvent, encodeEvent } from './event';
import type { DeadLetter, EventConsumer, EventQueue, QueueEntry, QueueStats } from './queue';
import { compareIds, idTime } from './queue';

export interface RedisQueueOptions {
  stream: string;
  group: string;
  /** Approximate cap of the dead-letter stream. */
  deadLetterMaxLen: number;
  /**
   * The connection appends go to, built with `enableOfflineQueue: false`: while Redis is down an
   * append fails at once (ingest answers 503 QUEUE_UNAVAILABLE) instead of waiting in ioredis'
   * offline queue until the request deadline. Default: the command connection.
   */
  producer?: Redis;
}

type RawEntry = [string, string[]];

function fieldOf(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function toEntry(raw: RawEntry, deliveries: number): QueueEntry {
  const payload = fieldOf(raw[1], 'e') ?? '';
  return { id: raw[0], raw: payload, event: decodeEvent(payload), deliveries };
}

/** The id right after `id` (first id a consumer group has not delivered yet). */
function nextId(id: string): string {
  const dash = id.indexOf('-');
  return `${id.slice(0, dash)}-${Number(id.slice(dash + 1)) + 1}`;
}

function isNoGroup(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOGROUP');
}

function kv(arr: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < arr.length; i += 2) out[String(arr[i])] = arr[i + 1];
  return out;
}

export class RedisEventQueue implements EventQueue {
  readonly kind = 'redis' as const;
  readonly deadStream: string;
  private readonly blocking = new Set<Redis>();
  private groupReady: Promise<void> | undefined;
  /** Until the producer's first connect, appends wait for it (bounded) rather than fail. */
  private producerFirstReady: Promise<void> | undefined;

  /**
   * @param redis command connection (never blocked)
   * @param newBlockingConnection a dedicated connection per consumer (XREADGROUP BLOCK holds it)
   */
  constructor(
    private readonly redis: Redis,
    private readonly newBlockingConnection: () => Redis,
    private readonly opts: RedisQueueOptions,
  ) {
    this.deadStream = `${opts.stream}:dead`;
    const p = opts.producer;
    if (p && p.status !== 'ready') {
      this.producerFirstReady = new Promise<void>((resolve) => {
        const t = setTimeout(done, 2000);
        t.unref();
        function done(): void {
          clearTimeout(t);
          p!.off('ready', done);
          resolve();
        }
        p.once('ready', done);
      }).then(() => {
        this.producerFirstReady = undefined;
      });
    }
  }

  /** Create the group (and stream) if absent; id 0 so entries appended before any worker count. */
  ensureGroup(force = false): Promise<void> {
    if (force || !this.groupReady) {
      this.groupReady = this.redis
        .call('XGROUP', 'CREATE', this.opts.stream, this.opts.group, '0', 'MKSTREAM')
        .then(
          () => undefined,
          (err: unknown) => {
            if (err instanceof Error && err.message.startsWith('BUSYGROUP')) return;
            this.groupReady = undefined;
            throw err;
          },
        );
    }
    return this.groupReady;
  }

  async append(events: readonly GameEvent[]): Promise<void> {
    if (events.length === 0) return;
    if (this.producerFirstReady) await this.producerFirstReady;
    const m = (this.opts.producer ?? this.redis).multi();
    for (const e of events) m.xadd(this.opts.stream, '*', 'e', encodeEvent(e));
    const res = await m.exec();
    if (!res) throw new Error('event append transaction aborted');
    for (const [err] of res) if (err) throw err;
  }

  /** Append an arbitrary payload (tests: a poison entry). */
  async appendRaw(raw: string): Promise<string> {
    return (await this.redis.xadd(this.opts.stream, '*', 'e', raw)) as string;
  }

  async consumer(name: string): Promise<EventConsumer> {
    await this.ensureGroup();
    const { stream, group } = this.opts;
    const block = this.newBlockingConnection();
    this.blocking.add(block);
    let closed = false;
    let reading: Promise<unknown> = Promise.resolve();
    let cursor = '0-0';

    const withGroup = async <T>(fn: () => Promise<T>): Promise<T> => {
      try {
        return await fn();
      } catch (err) {
        // The stream (and its group) vanished, e.g. Redis restarted without persistence.
        if (!isNoGroup(err)) throw err;
        await this.ensureGroup(true);
        return fn();
      }
    };

    return {
      name,
      read: async (count, blockMs) => {
        if (closed) return [];
        const p = withGroup(
          () =>
            block.call(
              'XREADGROUP',
              'GROUP',
              group,
              name,
              'COUNT',
              count,
              'BLOCK',
              blockMs,
              'STREAMS',
              stream,
              '>',
            ) as Promise<[string, RawEntry[]][] | null>,
        );
        reading = p.catch(() => undefined);
        const res = await p;
        if (!res || !res[0]) return [];
        return res[0][1].map((r) => toEntry(r, 1));
      },
      ack: async (ids) => {
        for (let i = 0; i < ids.length; i += 5000) {
          await this.redis.xack(stream, group, ...ids.slice(i, i + 5000));
        }
      },
      claimIdle: async (minIdleMs, count) => {
        if (closed) return [];
        const res = (await withGroup(() =>
          this.redis.call('XAUTOCLAIM', stream, group, name, minIdleMs, cursor, 'COUNT', count),
        )) as [string, (RawEntry | null)[], string[]?];
        cursor = res[0];
        const claimed = res[1].filter((r): r is RawEntry => r !== null);
        if (claimed.length === 0) return [];
        // XAUTOCLAIM does not return delivery counters: read them for exactly the claimed range.
        const first = claimed[0]![0];
        const last = claimed[claimed.length - 1]![0];
        const pend = (await this.redis.call(
          'XPENDING',
          stream,
          group,
          first,
          last,
          claimed.length + 16,
          name,
        )) as [string, string, number, number][];
        const deliveries = new Map(pend.map((p) => [p[0], Number(p[3])]));
        return claimed.map((r) => toEntry(r, deliveries.get(r[0]) ?? 2));
      },
      deadLetter: async (entry, error) => {
        const res = await this.redis
          .multi()
          .xadd(
            this.deadStream,
            'MAXLEN',
            '~',
            this.opts.deadLetterMaxLen,
            '*',
            'e',
            entry.raw,
            'id',
            entry.id,
            'error',
            error.slice(0, 2000),
            'deliveries',
            String(entry.deliveries),
            'consumer',
            name,
          )
          .xack(stream, group, entry.id)
          .exec();
        if (!res) throw new Error('dead-letter transaction aborted');
        for (const [err] of res) if (err) throw err;
      },
      close: async () => {
        closed = true;
        await reading;
        this.blocking.delete(block);
        await block.quit().catch(() => block.disconnect());
      },
    };
  }

  async stats(): Promise<QueueStats> {
    const { stream, group } = this.opts;
    const res = await this.redis
      .multi()
      .xlen(stream)
      .call('XINFO', 'GROUPS', stream)
      .call('XPENDING', stream, group)
      .xlen(this.deadStream)
      .time()
      .exec();
    if (!res) throw new Error('stats transaction aborted');
    const [lenR, groupsR, pendR, deadR, timeR] = res;
    if (lenR?.[0]) throw lenR[0];
    const length = Number(lenR![1]);
    const groups = groupsR?.[0] ? [] : ((groupsR?.[1] as unknown[][]) ?? []);
    const g = groups.map(kv).find((x) => x.name === group);
    const pendSummary = pendR?.[0]
      ? null
      : (pendR?.[1] as [number, string | null, string | null, unknown] | null);
    const pending = pendSummary ? Number(pendSummary[0]) : 0;
    const lastDelivered = g ? String(g['last-delivered-id']) : '0-0';
    let lag = g && g.lag !== null && g.lag !== undefined ? Number(g.lag) : NaN;
    let firstUndelivered: string | undefined;
    if (!Number.isFinite(lag) || lag > 0) {
      const next = (await this.redis.xrange(stream, nextId(lastDelivered), '+', 'COUNT', 1)) as RawEntry[];
      firstUndelivered = next[0]?.[0];
      if (!Number.isFinite(lag)) {
        // Redis reports lag as nil after some deletions: count the undelivered entries instead.
        lag = firstUndelivered ? await this.countFrom(firstUndelivered) : 0;
      }
    }
    const [sec, usec] = (timeR?.[1] as [string, string] | undefined) ?? [String(Date.now() / 1000), '0'];
    const nowMs = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    const candidates = [pendSummary?.[1] ?? undefined, firstUndelivered].filter((x): x is string => !!x);
    const oldest = candidates.sort(compareIds)[0];
    return {
      length,
      lag,
      pending,
      oldestUnackedAgeMs: oldest ? Math.max(0, nowMs - idTime(oldest)) : 0,
      deadLettered: deadR?.[0] ? 0 : Number(deadR?.[1] ?? 0),
    };
  }

  private async countFrom(id: string): Promise<number> {
    let n = 0;
    let start = id;
    for (;;) {
      const batch = (await this.redis.xrange(this.opts.stream, start, '+', 'COUNT', 10_000)) as RawEntry[];
      n += batch.length;
      if (batch.length < 10_000) return n;
      start = nextId(batch[batch.length - 1]![0]);
    }
  }

  /** The smallest id that is still pending or undelivered; null when the group is unknown. */
  async oldestUnackedId(): Promise<string | null> {
    const { stream, group } = this.opts;
    const res = await this.redis
      .multi()
      .call('XINFO', 'GROUPS', stream)
      .call('XPENDING', stream, group)
      .exec();
    if (!res || res[0]?.[0] || res[1]?.[0]) return null;
    const g = (res[0]![1] as unknown[][]).map(kv).find((x) => x.name === group);
    if (!g) return null;
    const pend = res[1]![1] as [number, string | null, string | null, unknown];
    const afterDelivered = nextId(String(g['last-delivered-id']));
    const minPending = pend[1];
    return minPending && compareIds(minPending, afterDelivered) < 0 ? minPending : afterDelivered;
  }

  async trim(): Promise<number> {
    const threshold = await this.oldestUnackedId();
    if (!threshold) return 0;
    return Number(await this.redis.call('XTRIM', this.opts.stream, 'MINID', '~', threshold));
  }

  async pruneConsumers(idleMs: number): Promise<number> {
    const { stream, group } = this.opts;
    const consumers = ((await this.redis.call('XINFO', 'CONSUMERS', stream, group)) as unknown[][]).map(kv);
    let n = 0;
    for (const c of consumers) {
      if (Number(c.pending) === 0 && Number(c.idle) > idleMs) {
        await this.redis.call('XGROUP', 'DELCONSUMER', stream, group, String(c.name));
        n++;
      }
    }
    return n;
  }

  async deadLetters(count: number): Promise<DeadLetter[]> {
    const rows = (await this.redis.xrange(this.deadStream, '-', '+', 'COUNT', count)) as RawEntry[];
    return rows.map(([, f]) => ({
      id: fieldOf(f, 'id') ?? '',
      raw: fieldOf(f, 'e') ?? '',
      error: fieldOf(f, 'error') ?? '',
      deliveries: Number(fieldOf(f, 'deliveries') ?? 0),
    }));
  }

  /**
   * GDPR: XDEL (and XACK, for pending ones) every entry of the player in the stream and the
   * dead-letter stream. Scans both streams in pages: cost grows with the backlog, not the history
   * (acknowledged entries are trimmed).
   */
  async deleteForUser(userId: string): Promise<number> {
    // Counted once per event: a dead-lettered entry may still sit acknowledged in the stream too.
    const removed = new Set<string>();
    for (const stream of [this.opts.stream, this.deadStream]) {
      let start = '-';
      for (;;) {
        const page = (await this.redis.xrange(stream, start, '+', 'COUNT', 1000)) as RawEntry[];
        const mine = page.filter((r) => decodeEvent(fieldOf(r[1], 'e') ?? '')?.userId === userId);
        if (mine.length) {
          const ids = mine.map((r) => r[0]);
          if (stream === this.opts.stream) await this.redis.xack(stream, this.opts.group, ...ids);
          await this.redis.xdel(stream, ...ids);
          for (const r of mine)
            removed.add(stream === this.opts.stream ? r[0] : (fieldOf(r[1], 'id') ?? r[0]));
        }
        if (page.length < 1000) break;
        start = `(${page[page.length - 1]![0]}`;
      }
    }
    return removed.size;
  }

  async ping(): Promise<boolean> {
    return (await this.redis.ping()) === 'PONG';
  }

  async close(): Promise<void> {
    for (const b of this.blocking) b.disconnect();
    this.blocking.clear();
  }
}
