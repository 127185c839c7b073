// One contract, two implementations: the Redis Streams queue (real Redis) and the in-memory one.
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import type { GameEvent } from '../../app/events/event';
import { MemoryEventQueue, type EventQueue } from '../../app/events/queue';
import { RedisEventQueue } from '../../app/events/redisQueue';

interface Harness {
  queue: EventQueue;
  appendRaw(raw: string): Promise<string>;
  cleanup(): Promise<void>;
}

const redisUrl = () => {
  const u = process.env.REDIS_URL;
  if (!u) throw new Error('REDIS_URL is not set: run through scripts/with-services.sh');
  return u;
};

const connections: Redis[] = [];
afterAll(async () => {
  for (const c of connections) c.disconnect();
});

function redisHarness(): Harness {
  const conn = () => {
    const r = new Redis(redisUrl(), { maxRetriesPerRequest: null });
    connections.push(r);
    return r;
  };
  const cmd = conn();
  const stream = `test:evq:${randomBytes(4).toString('hex')}`;
  const queue = new RedisEventQueue(cmd, conn, { stream, group: 'g', deadLetterMaxLen: 1000 });
  return {
    queue,
    appendRaw: (raw) => queue.appendRaw(raw),
    cleanup: async () => {
      await queue.close();
      await cmd.del(stream, `${stream}:dead`);
    },
  };
}

function memoryHarness(): Harness {
  const queue = new MemoryEventQueue();
  return { queue, appendRaw: async (raw) => queue.appendRaw(raw), cleanup: () => queue.close() };
}

const ev = (i: number): GameEvent => ({
  type: 'stat',
  eventId: `e${i}`,
  userId: `u${i % 3}`,
  statCode: 'matches_finished',
  value: i,
  mode: 'increment',
  occurredAt: 1_700_000_000_000 + i,
});

const eventIds = (entries: { event: GameEvent | null }[]) => entries.map((e) => e.event?.eventId);

describe.each([
  ['redis streams', redisHarness],
  ['in-memory', memoryHarness],
])('event queue contract: %s', (_name, make) => {
  let h: Harness;
  beforeEach(() => {
    h = make();
  });
  afterEach(async () => h.cleanup());

  test('appended events are read in order, once, with delivery count 1', async () => {
    await h.queue.append([ev(1), ev(2), ev(3)]);
    const c = await h.queue.consumer('c1');
    const got = await c.read(10, 100);
    expect(eventIds(got)).toEqual(['e1', 'e2', 'e3']);
    expect(got.map((e) => e.deliveries)).toEqual([1, 1, 1]);
    expect(got[0]!.event).toEqual(ev(1));
    expect(await c.read(10, 50)).toEqual([]);
    // another consumer of the same group does not see them either
    const c2 = await h.queue.consumer('c2');
    expect(await c2.read(10, 50)).toEqual([]);
    await c.close();
    await c2.close();
  });

  test('read respects count and hands the rest to the next read', async () => {
    await h.queue.append([1, 2, 3, 4, 5].map(ev));
    const c = await h.queue.consumer('c1');
    expect(eventIds(await c.read(2, 100))).toEqual(['e1', 'e2']);
    expect(eventIds(await c.read(10, 100))).toEqual(['e3', 'e4', 'e5']);
    await c.close();
  });

  test('a blocked read returns an entry appended while it waits', async () => {
    const c = await h.queue.consumer('c1');
    const reading = c.read(10, 10_000);
    await new Promise((r) => setTimeout(r, 100));
    await h.queue.append([ev(7)]);
    expect(eventIds(await reading)).toEqual(['e7']);
    await c.close();
  });

  test('unacknowledged entries are claimed by another consumer with a higher delivery count; acked ones never', async () => {
    await h.queue.append([1, 2, 3].map(ev));
    const dead = await h.queue.consumer('dead');
    const got = await dead.read(10, 100);
    await dead.ack([got[1]!.id]);
    const live = await h.queue.consumer('live');
    expect(await live.claimIdle(60_000, 10)).toEqual([]); // not idle long enough yet
    await new Promise((r) => setTimeout(r, 30));
    const claimed = await live.claimIdle(10, 10);
    expect(eventIds(claimed)).toEqual(['e1', 'e3']);
    expect(claimed.map((e) => e.deliveries)).toEqual([2, 2]);
    await live.ack(claimed.map((e) => e.id));
    await new Promise((r) => setTimeout(r, 30));
    expect(await live.claimIdle(10, 10)).toEqual([]);
    await dead.close();
    await live.close();
  });

  test('stats count lag (undelivered), pending (unacked) and the oldest unacked age', async () => {
    await h.queue.append([1, 2, 3, 4, 5].map(ev));
    const c = await h.queue.consumer('c1');
    const got = await c.read(2, 100);
    await new Promise((r) => setTimeout(r, 60));
    let s = await h.queue.stats();
    expect(s).toMatchObject({ length: 5, lag: 3, pending: 2, deadLettered: 0 });
    // Read at least 60 ms ago and not acknowledged: the age is measured, not a constant.
    expect(s.oldestUnackedAgeMs).toBeGreaterThanOrEqual(50);
    await c.ack(got.map((e) => e.id));
    s = await h.queue.stats();
    expect(s).toMatchObject({ lag: 3, pending: 0 });
    await c.ack((await c.read(10, 100)).map((e) => e.id));
    s = await h.queue.stats();
    expect(s).toMatchObject({ lag: 0, pending: 0, oldestUnackedAgeMs: 0 });
    await c.close();
  });

  test('dead-lettering keeps the payload, error and delivery count, and acknowledges the entry', async () => {
    await h.queue.append([ev(1)]);
    const c = await h.queue.consumer('c1');
    const [entry] = await c.read(1, 100);
    await c.deadLetter(entry!, 'value out of range');
    const dl = await h.queue.deadLetters(10);
    expect(dl).toEqual([{ id: entry!.id, raw: entry!.raw, error: 'value out of range', deliveries: 1 }]);
    expect((await h.queue.stats()).deadLettered).toBe(1);
    expect((await h.queue.stats()).pending).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    expect(await c.claimIdle(1, 10)).toEqual([]);
    await c.close();
  });

  test('deleteForUser (GDPR) removes one player entries: undelivered, pending and dead-lettered; others stay', async () => {
    await h.queue.append([0, 1, 2, 3, 4, 5, 6, 7, 8].map(ev)); // users u0, u1, u2 in turn
    const c = await h.queue.consumer('c1');
    const first = await c.read(4, 100); // e0..e3 pending
    await c.deadLetter(first[1]!, 'boom'); // e1 (u1)
    await c.deadLetter(first[0]!, 'boom'); // e0 (u0)
    expect(await h.queue.deleteForUser('u0')).toBe(3); // e0 (dead), e3 (pending), e6 (undelivered)
    expect(eventIds(await c.read(10, 100))).toEqual(['e4', 'e5', 'e7', 'e8']);
    const c2 = await h.queue.consumer('c2');
    const claimed = await c2.claimIdle(0, 100);
    expect(claimed.map((e) => e.event?.userId)).not.toContain('u0');
    expect(eventIds(claimed)).toEqual(expect.arrayContaining(['e2', 'e4', 'e5', 'e7', 'e8']));
    expect((await h.queue.deadLetters(10)).map((d) => d.id)).toEqual([first[1]!.id]);
    expect((await h.queue.stats()).pending).toBe(5);
  });

  test('a payload that is not an event is handed out with event null', async () => {
    await h.appendRaw('{not json');
    const c = await h.queue.consumer('c1');
    const [entry] = await c.read(1, 100);
    expect(entry).toMatchObject({ event: null, raw: '{not json' });
    await c.close();
  });

  test('trim removes acknowledged entries and never a pending or undelivered one', async () => {
    const n = 1000;
    await h.queue.append(Array.from({ length: n }, (_, i) => ev(i)));
    const c = await h.queue.consumer('c1');
    const got = await c.read(900, 100);
    // everything read is acked except two entries in the middle (a stuck batch)
    const keep = new Set([got[450]!.id, got[451]!.id]);
    await c.ack(got.filter((e) => !keep.has(e.id)).map((e) => e.id));
    await h.queue.trim();
    const s = await h.queue.stats();
    expect(s.length).toBeLessThan(n); // something was trimmed
    expect(s).toMatchObject({ lag: 100, pending: 2 });
    await new Promise((r) => setTimeout(r, 20));
    const claimed = await c.claimIdle(1, 10);
    expect(eventIds(claimed)).toEqual(['e450', 'e451']);
    const rest = await c.read(1000, 100);
    expect(eventIds(rest)).toEqual(Array.from({ length: 100 }, (_, i) => `e${900 + i}`));
    // with everything acked, everything may go
    await c.ack([...claimed, ...rest].map((e) => e.id));
    await h.queue.trim();
    expect((await h.queue.stats()).length).toBeLessThan(200);
    await c.close();
  });

  test('consumers with nothing pending that have been idle are forgotten; ones with pending entries stay', async () => {
    await h.queue.append([ev(1), ev(2)]);
    const busy = await h.queue.consumer('busy');
    await busy.read(1, 100);
    const idle = await h.queue.consumer('idle');
    await idle.ack((await idle.read(1, 100)).map((e) => e.id));
    await new Promise((r) => setTimeout(r, 30));
    expect(await h.queue.pruneConsumers(10)).toBe(1);
    // the busy consumer's entry is still claimable (it was not dropped with a consumer)
    expect(eventIds(await idle.claimIdle(1, 10))).toEqual(['e1']);
    await busy.close();
    await idle.close();
  });
});
