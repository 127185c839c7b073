// Per-pod adaptive concurrency limit in front of database work, with a bounded deadline queue.
//
// Limit: AIMD on observed latency. A completion slower than the target cuts the limit by
// `decreaseRatio`, at most once per round trip (only requests started after the last cut count,
// as TCP does per RTT); a fast completion while the limit is in use adds 1/limit (+1 per window).
// Queue: one list per priority, each sorted by deadline. Normally the earliest deadline starts
// first; once the queue has stayed non-empty for `lifoAfterMs` (sustained overload) the newest
// starts first, so the requests that are served are still fresh and the old ones expire.
// Queue delay target (CoDel-like): target = the service time (smoothed completion time, bounded by
// the latency target) plus `queueDelaySlackMs`. Once the requests that start have waited longer
// than the target for a whole `queueDelayIntervalMs` (a standing queue, not a spike), a request may
// wait at most the target; until then, target + interval. A newcomer that the queue ahead says could
// not start within that is refused at once; a queued one still waiting then is refused by its timer. The standing queue thus stays a few ms deep instead of
// growing to what the 2 s deadline allows, so the requests that are served stay fast (goodput).
// Refusals are synchronous: no timer, no I/O, so a 503 leaves in microseconds. Their Retry-After is
// spread over 1..1+`retryAfterSpreadS` seconds so refused clients do not come back together.
import { spreadRetryAfter } from '../errors';
import { unavailable } from '../errors';
import {
  admissionInFlight,
  admissionLimit,
  admissionQueueDepth,
  admissionQueueWaitSeconds,
  admissionRejectionsTotal,
  type AdmissionRejectionReason,
} from '../ops/metrics';
import type { Admission, AdmissionClass } from './index';

export interface AdaptiveLimitSettings {
  initialLimit: number;
  minLimit: number;
  maxLimit: number;
  /** A completion slower than this counts as a sign of overload. */
  targetLatencyMs: number;
  /** Multiplier applied on overload, in (0, 1). */
  decreaseRatio: number;
  /** Queued requests across priorities; beyond it the lowest priority is refused. */
  queueMax: number;
  /** Queue non-empty this long -> newest first. */
  lifoAfterMs: number;
  /**
   * Longest a request waits in the queue (0 = until what its deadline allows). Keeps the answers
   * that are served fresh under overload: a request that would wait longer is refused at once.
   */
  maxQueueWaitMs: number;
  /**
   * CoDel-like queue delay target: longest wait = min(service time, targetLatencyMs) + this slack,
   * ms (0 = off: the deadline and maxQueueWaitMs alone bound the wait).
   */
  queueDelaySlackMs?: number;
  /**
   * CoDel's interval, ms (default 100): the target is enforced strictly once the queue delay has
   * stayed above it this long; before that a request may wait target + interval (spikes pass).
   */
  queueDelayIntervalMs?: number;
  /** Retry-After of a refusal is 1 + a uniform whole number of seconds in [0, this]. */
  retryAfterSpreadS?: number;
}

/** Smaller number = served first. Events never share a limiter with the others. */
const PRIORITY: Record<AdmissionClass, number> = { claim: 0, player: 0, read: 0, init: 1, events: 0 };
const PRIORITIES = 2;

interface Waiter {
  cls: AdmissionClass;
  priority: number;
  deadline: number;
  /** Latest start that can still answer in time (the expiry timer's moment). */
  startBy: number;
  enqueuedAt: number;
  timer: NodeJS.Timeout | undefined;
  start(): void;
  refuse(reason: AdmissionRejectionReason): void;
}

/** One limiter: a limit, the permits it hands out, and the queue of requests waiting for one. */
export class AdaptiveLimiter {
  private limitValue: number;
  private inFlightCount = 0;
  private readonly queues: Waiter[][] = Array.from({ length: PRIORITIES }, () => []);
  private queued = 0;
  private busySince = 0;
  private lastDecreaseAt = 0;
  /** CoDel state: since when the queue delay has been above its target (0 = it is not). */
  private aboveSince = 0;
  private dropping = false;
  /** Smoothed service time, for "can this request still start in time". */
  private latencyMs: number;

  constructor(
    readonly pool: string,
    private readonly s: AdaptiveLimitSettings,
    /** Queue depth is one gauge per pod (autoscaling input): every limiter reports its changes. */
    private readonly onQueueChange: (delta: number) => void = (d) => admissionQueueDepth.inc(d),
  ) {
    this.limitValue = Math.min(s.maxLimit, Math.max(s.minLimit, s.initialLimit));
    this.latencyMs = s.targetLatencyMs;
    admissionLimit.set({ pool }, Math.floor(this.limitValue));
  }

  get limit(): number {
    return Math.floor(this.limitValue);
  }
  get inFlight(): number {
    return this.inFlightCount;
  }
  get queueDepth(): number {
    return this.queued;
  }

  run<T>(cls: AdmissionClass, deadline: number, fn: () => Promise<T>): Promise<T> {
    const now = Date.now();
    if (this.permitFree()) return this.execute(cls, fn, now);
    const startBy = this.startBy(deadline, now);
    if (this.tooLate(cls, startBy, now)) return Promise.reject(this.refusal(cls, 'deadline', 0));
    if (this.queued >= this.s.queueMax && !this.evictFor(PRIORITY[cls], now)) {
      return Promise.reject(this.refusal(cls, 'queue_full', 0));
    }
    return new Promise<T>((resolve, reject) => {
      const w: Waiter = {
        cls,
        priority: PRIORITY[cls],
        deadline,
        startBy,
        enqueuedAt: now,
        timer: undefined,
        start: () => this.execute(cls, fn, w.enqueuedAt).then(resolve, reject),
        refuse: (reason) => reject(this.refusal(cls, reason, Date.now() - w.enqueuedAt)),
      };
      w.timer = setTimeout(() => this.expire(w), startBy - now);
      this.enqueue(w, now);
    });
  }

  /**
   * The refusal `run` would answer at once right now, or null. Lets a request be refused before it
   * spends anything else (rate-limiter round trips) on a call that cannot be served.
   */
  check(cls: AdmissionClass, deadline: number): Error | null {
    const reason = this.wouldRefuse(cls, deadline);
    return reason ? this.refusal(cls, reason, 0) : null;
  }

  /** Why `run` would refuse at once right now (nothing counted), or null. */
  wouldRefuse(cls: AdmissionClass, deadline: number): AdmissionRejectionReason | null {
    const now = Date.now();
    if (this.permitFree()) return null;
    if (this.tooLate(cls, this.startBy(deadline, now), now)) return 'deadline';
    if (this.queued >= this.s.queueMax && !this.victimFor(PRIORITY[cls], now)) return 'queue_full';
    return null;
  }

  /** Nobody waiting and a permit free: a request starts at once. */
  private permitFree(): boolean {
    return this.queued === 0 && this.inFlightCount < this.limit;
  }

  /** The queue ahead (in smoothed service times) says a request of `cls` cannot start by `startBy`. */
  private tooLate(cls: AdmissionClass, startBy: number, now: number): boolean {
    return startBy <= now || now + this.expectedWaitMs(PRIORITY[cls]) > startBy;
  }

  /**
   * Must start by then to have a fair chance of answering before the deadline, and to stay fresh:
   * within the queue delay target and the queue-wait cap.
   */
  private startBy(deadline: number, now: number): number {
    let by = deadline - Math.min(this.latencyMs, (deadline - now) / 2);
    if (this.s.maxQueueWaitMs > 0) by = Math.min(by, now + this.s.maxQueueWaitMs);
    const target = this.queueDelayTargetMs();
    if (target <= 0) return by;
    // Not (yet) shedding on delay: a short spike may queue for one interval more than the target.
    return Math.min(by, now + target + (this.dropping ? 0 : (this.s.queueDelayIntervalMs ?? 100)));
  }

  /** The CoDel-like target: service time (at most the latency target) + slack; 0 when off. */
  queueDelayTargetMs(): number {
    const slack = this.s.queueDelaySlackMs ?? 0;
    if (slack <= 0) return 0;
    return Math.min(this.latencyMs, this.s.targetLatencyMs) + slack;
  }

  /** True while the queue delay has stayed above its target for a whole interval (CoDel's state). */
  get shedding(): boolean {
    return this.dropping;
  }

  /**
   * CoDel's state from the time each request waited (sojourn): above the target for a whole
   * interval -> dropping (wait at most the target); one request that waited less -> not dropping.
   */
  private sojourn(waitedMs: number, now: number): void {
    const target = this.queueDelayTargetMs();
    if (target <= 0) return;
    if (waitedMs <= target) {
      this.aboveSince = 0;
      this.dropping = false;
      return;
    }
    if (this.aboveSince === 0) this.aboveSince = now;
    if (now - this.aboveSince >= (this.s.queueDelayIntervalMs ?? 100)) this.dropping = true;
  }

  // ---- permits --------------------------------------------------------------------------------

  private async execute<T>(cls: AdmissionClass, fn: () => Promise<T>, enqueuedAt: number): Promise<T> {
    const started = Date.now();
    this.sojourn(started - enqueuedAt, started);
    this.inFlightCount++;
    admissionInFlight.inc({ pool: cls });
    admissionQueueWaitSeconds.observe({ pool: cls }, (started - enqueuedAt) / 1000);
    try {
      return await fn();
    } finally {
      this.inFlightCount--;
      admissionInFlight.dec({ pool: cls });
      this.observe(Date.now() - started, started);
      this.dispatch();
    }
  }

  private observe(rttMs: number, startedAt: number): void {
    this.latencyMs += (rttMs - this.latencyMs) * 0.1;
    const before = Math.floor(this.limitValue);
    if (rttMs > this.s.targetLatencyMs) {
      if (startedAt >= this.lastDecreaseAt) {
        this.limitValue = Math.max(this.s.minLimit, this.limitValue * this.s.decreaseRatio);
        this.lastDecreaseAt = Date.now();
      }
    } else if ((this.inFlightCount + 1) * 2 >= this.limitValue) {
      this.limitValue = Math.min(this.s.maxLimit, this.limitValue + 1 / this.limitValue);
    }
    if (Math.floor(this.limitValue) !== before)
      admissionLimit.set({ pool: this.pool }, Math.floor(this.limitValue));
  }

  private dispatch(): void {
    while (this.queued > 0 && this.inFlightCount < this.limit) {
      const w = this.dequeue();
      clearTimeout(w.timer);
      // Past its start-by time (the event loop was too busy for its timer to fire first): it can
      // no longer answer in time, so it is refused rather than started.
      if (Date.now() > w.startBy) w.refuse('deadline');
      else w.start();
    }
  }

  // ---- queue ----------------------------------------------------------------------------------

  /** Rough time until a new request of `priority` would start: whole waves of the limit ahead of it. */
  private expectedWaitMs(priority: number): number {
    let ahead = 0;
    for (let p = 0; p < priority; p++) ahead += this.queues[p]!.length;
    // In LIFO mode a newcomer jumps its own priority's queue; in FIFO mode it waits behind it.
    if (!this.lifo(Date.now())) ahead += this.queues[priority]!.length;
    const slotsFree = this.inFlightCount < this.limit;
    const waves = slotsFree ? Math.floor(ahead / this.limit) : Math.floor(ahead / this.limit) + 1;
    return waves * this.latencyMs;
  }

  private lifo(now: number): boolean {
    return this.queued > 0 && now - this.busySince >= this.s.lifoAfterMs;
  }

  private enqueue(w: Waiter, now: number): void {
    if (this.queued === 0) this.busySince = now;
    const q = this.queues[w.priority]!;
    // Sorted by deadline; deadlines mostly arrive in order, so search from the back.
    let i = q.length;
    while (i > 0 && q[i - 1]!.deadline > w.deadline) i--;
    q.splice(i, 0, w);
    this.queued++;
    this.onQueueChange(1);
  }

  private dequeue(): Waiter {
    const lifo = this.lifo(Date.now());
    const q = this.queues.find((x) => x.length > 0)!;
    const w = lifo ? q.pop()! : q.shift()!;
    this.queued--;
    this.onQueueChange(-1);
    return w;
  }

  private remove(w: Waiter): boolean {
    const q = this.queues[w.priority]!;
    const i = q.indexOf(w);
    if (i < 0) return false;
    q.splice(i, 1);
    this.queued--;
    this.onQueueChange(-1);
    return true;
  }

  private expire(w: Waiter): void {
    if (this.remove(w)) w.refuse('deadline');
  }

  /**
   * Queue full. A lower priority gives way to a higher one; under sustained overload (LIFO) the
   * oldest entry, the one least likely to be served in time, gives way to the newcomer.
   */
  private evictFor(priority: number, now: number): boolean {
    const victim = this.victimFor(priority, now);
    if (!victim) return false;
    this.remove(victim);
    clearTimeout(victim.timer);
    victim.refuse('queue_full');
    return true;
  }

  private victimFor(priority: number, now: number): Waiter | undefined {
    const lifo = this.lifo(now);
    for (let p = PRIORITIES - 1; p >= priority; p--) {
      const q = this.queues[p]!;
      if (q.length === 0 || (p === priority && !lifo)) continue;
      return lifo ? q[0]! : q[q.length - 1]!;
    }
    return undefined;
  }

  private refusal(cls: AdmissionClass, reason: AdmissionRejectionReason, waitedMs: number) {
    admissionRejectionsTotal.inc({ pool: cls, reason });
    if (waitedMs > 0) admissionQueueWaitSeconds.observe({ pool: cls }, waitedMs / 1000);
    const message =
      reason === 'queue_full'
        ? 'server is at capacity; retry later'
        : 'request could not start before its deadline; retry later';
    return unavailable(message, spreadRetryAfter(1, this.s.retryAfterSpreadS ?? 1), 'OVERLOADED', {
      reason,
    });
  }
}

/** Player classes share one limiter (claims and returning players ahead of init); events have their own. */
export class AdaptiveAdmission implements Admission {
  readonly api: AdaptiveLimiter;
  readonly events: AdaptiveLimiter;

  constructor(api: AdaptiveLimitSettings, events: AdaptiveLimitSettings) {
    this.api = new AdaptiveLimiter('api', api);
    this.events = new AdaptiveLimiter('events', events);
  }

  run<T>(cls: AdmissionClass, deadline: number, fn: () => Promise<T>): Promise<T> {
    return this.limiterFor(cls).run(cls, deadline, fn);
  }

  check(cls: AdmissionClass, deadline: number): Error | null {
    return this.limiterFor(cls).check(cls, deadline);
  }

  wouldRefuse(cls: AdmissionClass, deadline: number): boolean {
    return this.limiterFor(cls).wouldRefuse(cls, deadline) !== null;
  }

  private limiterFor(cls: AdmissionClass): AdaptiveLimiter {
    return cls === 'events' ? this.events : this.api;
  }
}
