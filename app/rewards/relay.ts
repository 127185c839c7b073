// The outbox relay (worker role). One round: lease due rows (FOR UPDATE SKIP LOCKED, lease_until
// committed), grant each outside any transaction with the claim id as idempotency key, then mark it
// granted, or failed with the next attempt time (exponential backoff with jitter), or dead after a
// permanent failure / too many attempts / too old. Several relays never hold the same row at once;
// a relay that dies mid-grant leaves a lease that simply expires, and the row is retried (same key).
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock';
import { rewardGrantFailuresTotal, rewardsGrantedTotal } from '../ops/metrics';
import type { Db } from '../store/db';
import { leaseDue, markFailed, markGranted, type LeasedReward } from '../store/outbox';
import { attemptGrant, type Granter } from './granter';

export interface RelayOptions {
  db: Db;
  granter: Granter;
  clock: Clock;
  log: Logger;
  /** Sleep between rounds when the last round found fewer rows than `batch`. */
  pollMs: number;
  /** Rows leased per round; they are granted in parallel. */
  batch: number;
  leaseMs: number;
  /** Time one grant may take; must leave the lease room for the outcome mark. */
  grantTimeoutMs: number;
  /** Rows younger than this belong to the claim request's own synchronous attempt. */
  freshMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  maxAttempts: number;
  maxAgeMs: number;
  random?: () => number;
}

/** Delay before attempt `attempts + 1`: base * 2^(attempts-1) capped at max, "equal jitter" (half fixed, half random). */
export function retryDelay(
  attempts: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attempts - 1, 52)));
  return Math.round(exp / 2 + random() * (exp / 2));
}

export class OutboxRelay {
  private stopping = false;
  private abandoned = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  private readonly random: () => number;

  constructor(private readonly o: RelayOptions) {
    if (o.grantTimeoutMs + 500 > o.leaseMs) {
      throw new Error(
        `reward relay: lease (${o.leaseMs} ms) must exceed the grant timeout (${o.grantTimeoutMs} ms) by 500 ms`,
      );
    }
    this.random = o.random ?? Math.random;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stop taking rows; resolves once the grants in flight have finished and been recorded. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
  }

  /**
   * Simulates the process dying (tests, drills): no further rounds, and outcomes of grants in flight
   * are dropped unrecorded, exactly as a killed worker would leave them. Their leases expire.
   */
  abandon(): void {
    this.abandoned = true;
    this.stopping = true;
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let handled = 0;
      try {
        handled = await this.runOnce();
      } catch (err) {
        this.o.log.warn({ err }, 'reward relay round failed');
      }
      if (this.stopping) break;
      if (handled < this.o.batch) await this.sleep(this.o.pollMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.wake?.(), ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  /** One round; returns the number of rows leased. */
  async runOnce(): Promise<number> {
    const now = this.o.clock.now();
    const leased = await leaseDue(this.o.db, {
      now,
      leaseMs: this.o.leaseMs,
      limit: this.o.batch,
      freshBefore: now - this.o.freshMs,
    });
    await Promise.all(leased.map((row) => this.deliver(row)));
    return leased.length;
  }

  private async deliver(row: LeasedReward): Promise<void> {
    const { claimId } = row.request;
    const outcome = await attemptGrant(this.o.granter, row.request, this.o.grantTimeoutMs);
    if (this.abandoned) return;
    const now = this.o.clock.now();
    try {
      if (outcome.ok) {
        rewardsGrantedTotal.inc({ path: 'relay' });
        await markGranted(this.o.db, claimId, now);
        return;
      }
      rewardGrantFailuresTotal.inc({ kind: outcome.permanent ? 'permanent' : 'retryable' });
      const reason = outcome.permanent
        ? 'permanent failure'
        : row.attempts >= this.o.maxAttempts
          ? `gave up after ${row.attempts} attempts`
          : now - row.pendingSince >= this.o.maxAgeMs
            ? `gave up: pending longer than ${this.o.maxAgeMs} ms`
            : null;
      const nextAttemptAt =
        now + retryDelay(row.attempts, this.o.retryBaseMs, this.o.retryMaxMs, this.random);
      const recorded = await markFailed(this.o.db, claimId, row.leaseUntil, {
        dead: reason !== null,
        nextAttemptAt,
        error: reason ? `${reason}: ${outcome.message}` : outcome.message,
      });
      const fields = { claimId, attempts: row.attempts, error: outcome.message, recorded };
      if (reason) this.o.log.error({ ...fields, reason }, 'reward dead: needs an operator (admin replay)');
      else
        this.o.log.warn(
          { ...fields, nextAttemptAt: new Date(nextAttemptAt).toISOString() },
          'reward grant failed; will retry',
        );
    } catch (err) {
      // The mark failed (database trouble): the lease expires and the row is retried, same key.
      this.o.log.warn({ err, claimId }, 'could not record reward grant outcome');
    }
  }
}
