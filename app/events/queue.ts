// The event queue between ingest and the worker. Two implementations honour the same contract
// (test/integration/events-queue.test.ts runs one suite against both):
//   - RedisEventQueue (redisQueue.ts): Redis Streams + a consumer group, for production;
//   - MemoryEventQueue (below): the same semantics in process, for embedded mode (no REDIS_URL).
//
// Contract:
//   - append(events) resolves only once every event is stored (Redis: acknowledged by the server,
//     all or nothing: the whole request goes in one MULTI/EXEC); each event is one entry.
//   - read(count, blockMs) hands out entries never delivered before to this consumer group, marking
//     them pending on the calling consumer; waits up to blockMs when there are none.
//   - ack(ids) removes entries from the pending list; an entry is never handed out again after ack.
//   - claimIdle(minIdleMs, count) takes over entries pending on any consumer for at least minIdleMs
//     (a crashed worker's), incrementing their delivery counter.
//   - deadLetter(entry, error) moves an entry (with the error and its delivery count) to the
//     dead-letter list and acks it, atomically.
//   - trim() drops acknowledged entries only: nothing pending or undelivered is ever trimmed.
import type { GameEvent } from './event';
import { decodeEvent, encodeEvent } from './event';

export interface QueueEntry {
  /** Stream id `ms-seq`; ms is the time the entry was appended. */
  readonly id: string;
  /** null when the payload could not be decoded (dead-lettered by the worker). */
  readonly event: GameEvent | null;
  /** The raw stored payload (kept for the dead-letter list). */
  readonly raw: string;
  /** How many times this entry has been handed out, this delivery included. */
  readonly deliveries: number;
}

export interface QueueStats {
  /** Entries held (acknowledged ones not yet trimmed included). */
  length: number;
  /** Entries not yet delivered to the consumer group. */
  lag: number;
  /** Entries delivered but not acknowledged. */
  pending: number;
  /** Age of the oldest entry not yet acknowledged (pending or undelivered), ms; 0 when none. */
  oldestUnackedAgeMs: number;
  /** Entries in the dead-letter list. */
  deadLettered: number;
}

export interface DeadLetter {
  id: string;
  raw: string;
  error: string;
  deliveries: number;
}

export interface EventConsumer {
  readonly name: string;
  read(count: number, blockMs: number): Promise<QueueEntry[]>;
  ack(ids: readonly string[]): Promise<void>;
  claimIdle(minIdleMs: number, count: number): Promise<QueueEntry[]>;
  deadLetter(entry: QueueEntry, error: string): Promise<void>;
  /** Stop a blocked read early (shutdown); later reads return []. */
  close(): Promise<void>;
}

export interface EventQueue {
  readonly kind: 'redis' | 'memory';
  append(events: readonly GameEvent[]): Promise<void>;
  consumer(name: string): Promise<EventConsumer>;
  stats(): Promise<QueueStats>;
  /** Remove acknowledged entries (never pending or undelivered ones); returns entries removed. */
  trim(): Promise<number>;
  /** Forget consumers with nothing pending that have been idle for longer than idleMs. */
  pruneConsumers(idleMs: number): Promise<number>;
  deadLetters(count: number): Promise<DeadLetter[]>;
  /** Remove every entry (undelivered, pending, dead-lettered) of one player (GDPR); returns how many. */
  deleteForUser(userId: string): Promise<number>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Compare stream ids `ms-seq` numerically. */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-');
  const [bm, bs] = b.split('-');
  const d = Number(am) - Number(bm);
  return d !== 0 ? Math.sign(d) : Math.sign(Number(as) - Number(bs));
}

/** The millisecond part of a stream id. */
export function idTime(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

// ---- in-memory implementation ---------------------------------------------------------------

interface MemEntry {
  id: string;
  raw: string;
  acked: boolean;
  consumer?: string;
  deliveredAt: number;
  deliveries: number;
}

export class MemoryEventQueue implements EventQueue {
  readonly kind = 'memory' as const;
  /** Undelivered and delivered entries in id order; acked ones are removed by trim(). */
  private entries: MemEntry[] = [];
  private readonly byId = new Map<string, MemEntry>();
  /** Index of the first entry never delivered. */
  private nextUndelivered = 0;
  private lastMs = 0;
  private seq = 0;
  private waiters: (() => void)[] = [];
  private readonly dead: DeadLetter[] = [];
  private readonly consumerSeen = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  private nextId(): string {
    const ms = Math.max(this.now(), this.lastMs);
    if (ms === this.lastMs) this.seq++;
    else this.seq = 0;
    this.lastMs = ms;
    return `${ms}-${this.seq}`;
  }

  async append(events: readonly GameEvent[]): Promise<void> {
    for (const e of events) this.appendRaw(encodeEvent(e));
  }

  /** Append an arbitrary payload (tests: a poison entry). */
  appendRaw(raw: string): string {
    const entry: MemEntry = { id: this.nextId(), raw, acked: false, deliveredAt: 0, deliveries: 0 };
    this.entries.push(entry);
    this.byId.set(entry.id, entry);
    const w = this.waiters;
    this.waiters = [];
    for (const wake of w) wake();
    return entry.id;
  }

  private deliver(e: MemEntry, consumer: string): QueueEntry {
    e.consumer = consumer;
    e.deliveredAt = this.now();
    e.deliveries++;
    return { id: e.id, raw: e.raw, event: decodeEvent(e.raw), deliveries: e.deliveries };
  }

  async consumer(name: string): Promise<EventConsumer> {
    let closed = false;
    let wakeSelf: (() => void) | undefined;
    this.consumerSeen.set(name, this.now());
    const take = (count: number): QueueEntry[] => {
      const out: QueueEntry[] = [];
      while (out.length < count && this.nextUndelivered < this.entries.length) {
        const e = this.entries[this.nextUndelivered++]!;
        if (!e.acked) out.push(this.deliver(e, name)); // acked before delivery: erased (GDPR)
      }
      return out;
    };
    return {
      name,
      read: async (count, blockMs) => {
        if (closed) return [];
        this.consumerSeen.set(name, this.now());
        let got = take(count);
        if (got.length || blockMs <= 0) return got;
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(timer);
            wakeSelf = undefined;
            this.waiters = this.waiters.filter((w) => w !== done);
            resolve();
          };
          const timer = setTimeout(done, blockMs);
          wakeSelf = done;
          this.waiters.push(done);
        });
        if (closed) return [];
        got = take(count);
        return got;
      },
      ack: async (ids) => {
        for (const id of ids) {
          const e = this.byId.get(id);
          if (e && e.deliveries > 0) e.acked = true;
        }
      },
      claimIdle: async (minIdleMs, count) => {
        if (closed) return [];
        const now = this.now();
        const out: QueueEntry[] = [];
        for (let i = 0; i < this.nextUndelivered && out.length < count; i++) {
          const e = this.entries[i]!;
          if (!e.acked && now - e.deliveredAt >= minIdleMs) out.push(this.deliver(e, name));
        }
        return out;
      },
      deadLetter: async (entry, error) => {
        const e = this.byId.get(entry.id);
        if (!e || e.acked) return;
        this.dead.push({ id: e.id, raw: e.raw, error, deliveries: e.deliveries });
        e.acked = true;
      },
      close: async () => {
        closed = true;
        wakeSelf?.();
      },
    };
  }

  async stats(): Promise<QueueStats> {
    let pending = 0;
    let oldest: MemEntry | undefined;
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.acked) continue;
      oldest ??= e;
      if (i < this.nextUndelivered) pending++;
    }
    return {
      length: this.entries.length,
      lag: this.entries.length - this.nextUndelivered,
      pending,
      oldestUnackedAgeMs: oldest ? Math.max(0, this.now() - idTime(oldest.id)) : 0,
      deadLettered: this.dead.length,
    };
  }

  async trim(): Promise<number> {
    let n = 0;
    while (n < this.nextUndelivered && this.entries[n]!.acked) n++;
    for (let i = 0; i < n; i++) this.byId.delete(this.entries[i]!.id);
    this.entries = this.entries.slice(n);
    this.nextUndelivered -= n;
    return n;
  }

  async pruneConsumers(idleMs: number): Promise<number> {
    const now = this.now();
    let n = 0;
    for (const [name, seen] of this.consumerSeen) {
      const hasPending = this.entries.some(
        (e, i) => i < this.nextUndelivered && !e.acked && e.consumer === name,
      );
      if (!hasPending && now - seen > idleMs) {
        this.consumerSeen.delete(name);
        n++;
      }
    }
    return n;
  }

  async deadLetters(count: number): Promise<DeadLetter[]> {
    return this.dead.slice(0, count);
  }

  async deleteForUser(userId: string): Promise<number> {
    let n = 0;
    for (const e of this.entries) {
      if (decodeEvent(e.raw)?.userId !== userId) continue;
      if (!e.acked) n++; // an acked one was counted as a dead letter, or is done
      e.acked = true;
      e.raw = '';
    }
    for (let i = this.dead.length - 1; i >= 0; i--) {
      if (decodeEvent(this.dead[i]!.raw)?.userId === userId) {
        this.dead.splice(i, 1);
        n++;
      }
    }
    return n;
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    const w = this.waiters;
    this.waiters = [];
    for (const wake of w) wake();
  }
}
