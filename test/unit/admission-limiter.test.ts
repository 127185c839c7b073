// The per-pod adaptive limiter and its deadline queue, around plain async functions.
import { ApiError } from '../../app/api/errors';
import { AdaptiveAdmission, AdaptiveLimiter, type AdaptiveLimitSettings } from '../../app/admission/adaptive';
import type { AdmissionClass } from '../../app/admission';
import { admissionQueueDepth, admissionRejectionsTotal } from '../../app/ops/metrics';

const settings = (over: Partial<AdaptiveLimitSettings> = {}): AdaptiveLimitSettings => ({
  initialLimit: 1,
  minLimit: 1,
  maxLimit: 1,
  targetLatencyMs: 1000,
  decreaseRatio: 0.5,
  queueMax: 100,
  lifoAfterMs: 60_000,
  maxQueueWaitMs: 0,
  ...over,
});

/** A function that runs until released, for holding a permit. */
function gate(): { fn: () => Promise<string>; release: () => void; started: Promise<void> } {
  let release!: () => void;
  let markStarted!: () => void;
  const started = new Promise<void>((r) => (markStarted = r));
  const done = new Promise<void>((r) => (release = r));
  return {
    fn: async () => {
      markStarted();
      await done;
      return 'done';
    },
    release,
    started,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const flush = () => new Promise((r) => setImmediate(r));

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

async function counter(pool: string, reason: string): Promise<number> {
  const m = await admissionRejectionsTotal.get();
  return m.values.find((v) => v.labels.pool === pool && v.labels.reason === reason)?.value ?? 0;
}

describe('adaptive admission limiter', () => {
  test('requests beyond the limit wait for a permit, claims and returning players before init', async () => {
    const limiter = new AdaptiveLimiter('t1', settings());
    const hold = gate();
    const first = limiter.run('read', Date.now() + 10_000, hold.fn);
    await hold.started;
    const order: AdmissionClass[] = [];
    const queued = (['init', 'init', 'player', 'claim'] as AdmissionClass[]).map((cls) =>
      limiter.run(cls, Date.now() + 10_000, async () => {
        order.push(cls);
      }),
    );
    await flush();
    expect(order).toEqual([]);
    expect(limiter.queueDepth).toBe(4);
    hold.release();
    await Promise.all([first, ...queued]);
    expect(order).toEqual(['player', 'claim', 'init', 'init']);
    expect(limiter.queueDepth).toBe(0);
  });

  test('a request that cannot start before its deadline is refused at once with 503 and Retry-After', async () => {
    // Permit held for longer than the newcomer's whole deadline: the observed service time says so.
    const limiter = new AdaptiveLimiter('t2', settings({ targetLatencyMs: 5_000 }));
    const hold = gate();
    const first = limiter.run('player', Date.now() + 60_000, hold.fn);
    await hold.started;
    const before = await counter('init', 'deadline');
    const refused = await rejection(limiter.run('init', Date.now() + 1_000, async () => 'never'));
    // Answered while the permit is still held: it never waited for a permit or a timer.
    expect(refused.status).toBe(503);
    expect(refused.error).toBe('OVERLOADED');
    expect(refused.details).toEqual({ reason: 'deadline' });
    expect(refused.retryAfter).toBeGreaterThanOrEqual(1);
    expect(limiter.queueDepth).toBe(0);
    expect(await counter('init', 'deadline')).toBe(before + 1);
    hold.release();
    await first;
  });

  test('with a queue-wait cap, a request queues at most that long (503 after it), however far its deadline', async () => {
    const limiter = new AdaptiveLimiter('t2b', settings({ targetLatencyMs: 1, maxQueueWaitMs: 40 }));
    const hold = gate();
    const first = limiter.run('player', Date.now() + 60_000, hold.fn);
    await hold.started;
    const refused = await rejection(limiter.run('player', Date.now() + 60_000, async () => 'never'));
    expect(refused.status).toBe(503);
    expect(refused.details).toEqual({ reason: 'deadline' });
    expect(refused.retryAfter).toBeGreaterThanOrEqual(1);
    // refused by the cap while the permit is still held, long before the 60 s deadline
    expect(limiter.queueDepth).toBe(0);
    // a request that the observed service time says cannot start within the cap: refused at once
    const slow = new AdaptiveLimiter('t2c', settings({ targetLatencyMs: 5_000, maxQueueWaitMs: 40 }));
    const hold2 = gate();
    const first2 = slow.run('player', Date.now() + 60_000, hold2.fn);
    await hold2.started;
    const p = slow.run('player', Date.now() + 60_000, async () => 'never');
    expect(slow.queueDepth).toBe(0);
    expect((await rejection(p)).details).toEqual({ reason: 'deadline' });
    hold.release();
    hold2.release();
    await Promise.all([first, first2]);
  });

  test('queue delay target: a request that could not start within service time + slack is refused at once', async () => {
    // Service time 20 ms (the initial estimate, no completion yet), slack 5 ms: the target is 25 ms.
    const limiter = new AdaptiveLimiter(
      't2e',
      // interval 0: the target is enforced from the first request that waits longer than it
      settings({ targetLatencyMs: 20, queueDelaySlackMs: 5, queueDelayIntervalMs: 0, retryAfterSpreadS: 2 }),
    );
    expect(limiter.queueDelayTargetMs()).toBe(25);
    const hold = gate();
    const first = limiter.run('player', Date.now() + 60_000, hold.fn);
    await hold.started;
    // One wave of service time ahead (20 ms <= 25 ms): it may wait.
    const second = limiter.run('player', Date.now() + 60_000, async () => 'served');
    expect(limiter.queueDepth).toBe(1);
    // Two waves ahead (40 ms > 25 ms): refused at once, the permit still held, nothing queued.
    const refused = await rejection(limiter.run('player', Date.now() + 60_000, async () => 'never'));
    expect(refused.status).toBe(503);
    expect(refused.details).toEqual({ reason: 'deadline' });
    expect(refused.retryAfter).toBeGreaterThanOrEqual(1);
    expect(refused.retryAfter).toBeLessThanOrEqual(3);
    expect(limiter.queueDepth).toBe(1);
    // The queued one is still waiting at its target (the permit is never released in time): its
    // timer refuses it, however far its 60 s deadline.
    expect((await rejection(second)).details).toEqual({ reason: 'deadline' });
    expect(limiter.queueDepth).toBe(0);
    hold.release();
    expect(await first).toBe('done');

    // With CoDel's interval (100 ms) and no standing queue yet, a spike may queue longer (target +
    // interval): the same two newcomers both wait.
    const spiky = new AdaptiveLimiter('t2g', settings({ targetLatencyMs: 20, queueDelaySlackMs: 5 }));
    expect(spiky.shedding).toBe(false);
    const hold3 = gate();
    const first3 = spiky.run('player', Date.now() + 60_000, hold3.fn);
    await hold3.started;
    const spike = [1, 2].map(() => spiky.run('player', Date.now() + 60_000, async () => 'served'));
    expect(spiky.queueDepth).toBe(2);
    hold3.release();
    expect(await Promise.all([first3, ...spike])).toEqual(['done', 'served', 'served']);

    // Without the target (slack 0) the same newcomers wait for what their deadline allows.
    const open = new AdaptiveLimiter('t2f', settings({ targetLatencyMs: 20 }));
    const hold2 = gate();
    const first2 = open.run('player', Date.now() + 60_000, hold2.fn);
    await hold2.started;
    const waiting = [1, 2].map(() => open.run('player', Date.now() + 60_000, async () => 'served'));
    expect(open.queueDepth).toBe(2);
    hold2.release();
    expect(await Promise.all([first2, ...waiting])).toEqual(['done', 'served', 'served']);
  });

  test('check/wouldRefuse tell ahead of run what run would refuse at once; only check counts it', async () => {
    const limiter = new AdaptiveLimiter('t2d', settings({ targetLatencyMs: 5_000, queueMax: 1 }));
    const deadline = () => Date.now() + 1_000;
    expect(limiter.wouldRefuse('init', deadline())).toBeNull();
    expect(limiter.check('init', deadline())).toBeNull();
    const hold = gate();
    const first = limiter.run('player', Date.now() + 60_000, hold.fn);
    await hold.started;
    const before = await counter('init', 'deadline');
    // permit held, observed service time 5 s > what a 1 s deadline leaves: run would refuse at once
    expect(limiter.wouldRefuse('init', deadline())).toBe('deadline');
    expect(await counter('init', 'deadline')).toBe(before);
    const refused = limiter.check('init', deadline()) as ApiError;
    expect(refused.status).toBe(503);
    expect(await counter('init', 'deadline')).toBe(before + 1);
    // a far deadline could still wait: nothing to refuse
    expect(limiter.wouldRefuse('player', Date.now() + 60_000)).toBeNull();
    hold.release();
    await first;
  });

  test('a queued request whose start-by time passed while the event loop was busy is refused, not started', async () => {
    const limiter = new AdaptiveLimiter('t3b', settings({ targetLatencyMs: 1 }));
    const hold = gate();
    const first = limiter.run('player', Date.now() + 60_000, hold.fn);
    await hold.started;
    let ran = false;
    const late = limiter.run('player', Date.now() + 200, async () => {
      ran = true;
    });
    // Block the loop past the waiter's start-by time, then free the permit before its timer can run.
    const until = Date.now() + 300;
    while (Date.now() < until) {
      /* busy */
    }
    hold.release();
    const refused = await rejection(late);
    expect(refused.status).toBe(503);
    expect(refused.details).toEqual({ reason: 'deadline' });
    expect(ran).toBe(false);
    await first;
  });

  test('a queued request whose deadline passes is answered 503 while the permit is still held', async () => {
    const limiter = new AdaptiveLimiter('t3', settings({ targetLatencyMs: 1 }));
    const hold = gate();
    const first = limiter.run('player', Date.now() + 60_000, hold.fn);
    await hold.started;
    const deadline = Date.now() + 150;
    const refused = await rejection(limiter.run('player', deadline, async () => 'never'));
    expect(refused.status).toBe(503);
    expect(refused.details).toEqual({ reason: 'deadline' });
    expect(Date.now()).toBeLessThanOrEqual(deadline + 100);
    expect(limiter.queueDepth).toBe(0);
    hold.release();
    await first;
  });

  test('sustained overload serves the newest first; a short queue serves the earliest deadline first', async () => {
    for (const [lifoAfterMs, expected] of [
      [0, ['c', 'b', 'a']],
      [60_000, ['a', 'b', 'c']],
    ] as const) {
      const limiter = new AdaptiveLimiter(`t4-${lifoAfterMs}`, settings({ lifoAfterMs }));
      const hold = gate();
      const first = limiter.run('player', Date.now() + 60_000, hold.fn);
      await hold.started;
      const order: string[] = [];
      const now = Date.now();
      const queued = ['a', 'b', 'c'].map((name, i) =>
        limiter.run('player', now + 10_000 + i, async () => {
          order.push(name);
        }),
      );
      hold.release();
      await Promise.all([first, ...queued]);
      expect(order).toEqual(expected);
    }
  });

  test('queue full: a claim takes the place of a queued init, which gets 503 queue_full', async () => {
    const limiter = new AdaptiveLimiter('t5', settings({ queueMax: 1 }));
    const hold = gate();
    const first = limiter.run('player', Date.now() + 60_000, hold.fn);
    await hold.started;
    const init = rejection(limiter.run('init', Date.now() + 10_000, async () => 'init'));
    const claim = limiter.run('claim', Date.now() + 10_000, async () => 'claimed');
    const refused = await init;
    expect(refused.details).toEqual({ reason: 'queue_full' });
    // Same priority and no sustained overload: the newcomer is the one refused.
    const late = await rejection(limiter.run('claim', Date.now() + 10_000, async () => 'late'));
    expect(late.details).toEqual({ reason: 'queue_full' });
    hold.release();
    await expect(claim).resolves.toBe('claimed');
    await first;
  });

  test('slow completions shrink the limit to its floor; fast ones grow it back', async () => {
    const limiter = new AdaptiveLimiter(
      't6',
      settings({ initialLimit: 16, minLimit: 2, maxLimit: 16, targetLatencyMs: 10 }),
    );
    for (let round = 0; round < 8; round++) {
      await Promise.all(
        Array.from({ length: 4 }, () => limiter.run('player', Date.now() + 60_000, () => sleep(30))),
      );
    }
    expect(limiter.limit).toBe(2);
    for (let round = 0; round < 60; round++) {
      await Promise.all(
        Array.from({ length: limiter.limit }, () =>
          limiter.run('player', Date.now() + 60_000, async () => 1),
        ),
      );
    }
    expect(limiter.limit).toBeGreaterThan(4);
  });

  test('events have their own limiter: a saturated player pool does not hold them back', async () => {
    const admission = new AdaptiveAdmission(settings(), settings());
    const hold = gate();
    const first = admission.run('player', Date.now() + 60_000, hold.fn);
    await hold.started;
    await expect(admission.run('events', Date.now() + 10_000, async () => 'ingested')).resolves.toBe(
      'ingested',
    );
    hold.release();
    await first;
  });

  test('queue depth gauge counts waiting requests and returns to where it was', async () => {
    const depth = async () => (await admissionQueueDepth.get()).values[0]?.value ?? 0;
    const start = await depth();
    const limiter = new AdaptiveLimiter('t7', settings());
    const hold = gate();
    const first = limiter.run('player', Date.now() + 60_000, hold.fn);
    await hold.started;
    const queued = [1, 2, 3].map(() => limiter.run('read', Date.now() + 10_000, async () => 1));
    expect(await depth()).toBe(start + 3);
    hold.release();
    await Promise.all([first, ...queued]);
    expect(await depth()).toBe(start);
  });
});
