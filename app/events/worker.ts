// The worker loop: read a batch from the queue, expand and filter events, apply them to PostgreSQL
// (applyStatChanges: one statement per partition, duplicate suppression inside it), acknowledge
// only after commit, then push goal changes to connected players.
//
// Failure handling:
//   - transient errors (connection lost, PG restarting, PgBouncer errors, deadlock, timeouts):
//     the batch is retried in place with backoff until it commits (nothing acked meanwhile);
//   - a non-transient error (a data error such as a bigint overflow): the failing partition is
//     re-applied one entry at a time; the entries that still fail stay pending and come back via
//     claimIdle with a higher delivery count; after maxDeliveries they go to the dead-letter list;
//   - a crash anywhere: unacked entries stay pending on the dead consumer and are claimed by a live
//     one after claimIdleMs; re-applying an already committed entry changes nothing (dedup).
import type { Logger } from 'pino';
import type { CatalogHolder } from '../catalog/holder';
import type { Catalog } from '../domain/catalog';
import type { Clock } from '../domain/clock';
import type { PlayerFacts } from '../domain/facts';
import {
  eventApplyBatchSize,
  eventApplyDurationSeconds,
  eventStreamLagEntries,
  eventStreamLagSeconds,
  eventStreamLength,
  eventStreamPendingEntries,
  eventsAppliedTotal,
  eventsDeadLetteredTotal,
  eventsDuplicateTotal,
  eventsUnknownStatTotal,
  retentionDeletedRowsTotal,
} from '../ops/metrics';
import type { Db } from '../store/db';
import { factKey, factsAfter, type FactsDelta } from '../domain/facts';
import { claimPeriodKey, factPeriodKeys, goalPeriod, ViewBuilder } from '../domain/progress';
import { insertCompletions, type CompletionRow } from '../store/completions';
import { readPlayerFacts } from '../store/players';
import { applyStatChanges, type ApplyResult, type StatChange } from '../store/stats';
import type { PushBus, PushMessage } from './bus';
import { baselineNeeds, expandEvent, playerPartition } from './expand';
import { goalChanges } from './pushes';
import type { EventConsumer, EventQueue, QueueEntry } from './queue';
import { isTransientDbError } from '../store/dbErrors';

export interface WorkerOptions {
  /** Entries read per batch (XREADGROUP COUNT). */
  readCount: number;
  /** How long a read waits for new entries; also bounds how long stop() waits for an idle read. */
  blockMs: number;
  /** Concurrent apply statements per batch, players partitioned by hash. */
  partitions: number;
  /** Entries pending this long on any consumer are taken over (crashed worker). */
  claimIdleMs: number;
  claimIntervalMs: number;
  /** Deliveries after which an entry that keeps failing with a data error is dead-lettered. */
  maxDeliveries: number;
  /** Queue gauges, trimming and consumer cleanup. */
  maintenanceIntervalMs: number;
  /** processed_events rows older than this are deleted (must exceed any redelivery delay). */
  retentionMs: number;
  pruneIntervalMs: number;
  pruneBatch: number;
  /** stop() gives up retrying a batch that cannot commit after this long (it stays pending). */
  stopTimeoutMs: number;
}

export const DEFAULT_WORKER_OPTIONS: WorkerOptions = {
  readCount: 2000,
  blockMs: 1000,
  partitions: 4,
  claimIdleMs: 30_000,
  claimIntervalMs: 5_000,
  maxDeliveries: 5,
  maintenanceIntervalMs: 5_000,
  retentionMs: 7 * 86_400_000,
  pruneIntervalMs: 60_000,
  pruneBatch: 5_000,
  stopTimeoutMs: 10_000,
};

export interface WorkerDeps {
  db: Db;
  queue: EventQueue;
  consumerName: string;
  catalog: CatalogHolder;
  clock: Clock;
  log: Logger;
  bus?: PushBus;
  /** Called after a batch committed and was acknowledged (benchmarks, tests). */
  onCommitted?: (entries: readonly QueueEntry[], committedAt: number) => void;
}

export { isTransientDbError };

type Applied = Pick<ApplyResult, 'changed' | 'baselines' | 'newPlayers'>;
const NO_DELTA: FactsDelta = { stats: [], baselines: [] };

function addApplied(into: Applied, r: Applied): void {
  into.changed.push(...r.changed);
  into.baselines.push(...r.baselines);
  into.newPlayers.push(...r.newPlayers);
}

/** What the apply statements changed, per player of `users`. */
function deltasByPlayer(applied: Applied, users: ReadonlySet<string>): Map<string, FactsDelta> {
  const out = new Map<
    string,
    { stats: FactsDelta['stats'][number][]; baselines: FactsDelta['baselines'][number][]; createdAt?: number }
  >();
  const of = (userId: string) => {
    let d = out.get(userId);
    if (!d) out.set(userId, (d = { stats: [], baselines: [] }));
    return d;
  };
  for (const { userId, ...stat } of applied.changed) if (users.has(userId)) of(userId).stats.push(stat);
  for (const { userId, ...b } of applied.baselines) if (users.has(userId)) of(userId).baselines.push(b);
  for (const { userId, createdAt } of applied.newPlayers)
    if (users.has(userId)) of(userId).createdAt = createdAt;
  return out;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const PRUNE_PROCESSED_SQL = `
DELETE FROM processed_events
 WHERE ctid = ANY(ARRAY(
   SELECT ctid FROM processed_events WHERE processed_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED))`;

/** Delete processed-event ids older than `olderThan` in batches of `batch`; returns rows deleted. */
export async function pruneProcessedEvents(db: Db, olderThan: number, batch: number): Promise<number> {
  let total = 0;
  for (;;) {
    const res = await db.query(PRUNE_PROCESSED_SQL, [new Date(olderThan), batch]);
    const n = res.rowCount ?? 0;
    total += n;
    if (n) retentionDeletedRowsTotal.inc({ table: 'processed_events' }, n);
    if (n < batch) return total;
  }
}

interface Unit {
  entry: QueueEntry;
  changes: StatChange[];
}

export class EventWorker {
  private readonly opts: WorkerOptions;
  private consumer: EventConsumer | undefined;
  private stopping = false;
  private abandoned = false;
  private loop: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private maintenance: Promise<unknown> = Promise.resolve();
  private nextClaimAt = 0;
  private lastError: unknown;
  /** `user|goal|period` known to have a completion record (or a claim): no facts read for them. */
  private readonly completionKnown = new Set<string>();

  constructor(
    private readonly deps: WorkerDeps,
    opts: Partial<WorkerOptions> = {},
  ) {
    this.opts = { ...DEFAULT_WORKER_OPTIONS, ...opts };
  }

  async start(): Promise<void> {
    this.consumer = await this.deps.queue.consumer(this.deps.consumerName);
    this.loop = this.run();
    const every = (ms: number, fn: () => Promise<unknown>) => {
      const t = setInterval(() => {
        this.maintenance = this.maintenance.then(fn).catch((err: unknown) => {
          this.deps.log.warn({ err }, 'event worker maintenance failed');
        });
      }, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.opts.maintenanceIntervalMs, () => this.maintain());
    every(this.opts.pruneIntervalMs, () => this.prune());
  }

  /** Finish the batch in hand, acknowledge it, then resolve. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const giveUp = setTimeout(() => (this.abandoned = true), this.opts.stopTimeoutMs);
    try {
      await this.loop;
    } finally {
      clearTimeout(giveUp);
    }
    await this.consumer?.close();
    await this.maintenance;
  }

  /** Readiness: the last loop iteration did not end in an error. */
  healthy(): boolean {
    return this.lastError === undefined;
  }

  private async run(): Promise<void> {
    const consumer = this.consumer!;
    let backoff = 100;
    while (!this.stopping) {
      try {
        let entries: QueueEntry[] = [];
        if (Date.now() >= this.nextClaimAt) {
          this.nextClaimAt = Date.now() + this.opts.claimIntervalMs;
          entries = await consumer.claimIdle(this.opts.claimIdleMs, this.opts.readCount);
        }
        if (entries.length === 0) entries = await consumer.read(this.opts.readCount, this.opts.blockMs);
        if (entries.length > 0) await this.process(consumer, entries);
        this.lastError = undefined;
        backoff = 100;
      } catch (err) {
        this.lastError = err;
        this.deps.log.warn({ err }, 'event worker iteration failed; retrying');
        if (this.stopping) break;
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 2000);
      }
    }
  }

  /** Apply one batch and acknowledge what committed. Exposed for tests. */
  async process(consumer: EventConsumer, entries: readonly QueueEntry[]): Promise<void> {
    const catalog = this.deps.catalog.current;
    const started = performance.now();
    const ackIds: string[] = [];
    const partitions: Unit[][] = Array.from({ length: this.opts.partitions }, () => []);
    let unknown = 0;
    for (const entry of entries) {
      if (!entry.event) {
        await consumer.deadLetter(entry, 'malformed queue entry');
        eventsDeadLetteredTotal.inc();
        continue;
      }
      const { changes, unknownStat } = expandEvent(catalog, entry.event);
      if (unknownStat) unknown++;
      if (changes.length === 0) {
        ackIds.push(entry.id);
        continue;
      }
      partitions[playerPartition(entry.event.userId, this.opts.partitions)]!.push({ entry, changes });
    }
    if (unknown) eventsUnknownStatTotal.inc(unknown);

    const units = partitions.flat();
    const pushes = await this.pushBefore(catalog, units);

    let fresh = 0;
    let duplicates = 0;
    const applied: Applied = { changed: [], baselines: [], newPlayers: [] };
    await Promise.all(
      partitions
        .filter((p) => p.length > 0)
        .map(async (part) => {
          const r = await this.applyPartition(consumer, part);
          fresh += r.fresh;
          duplicates += r.duplicates;
          ackIds.push(...r.committed);
          addApplied(applied, r);
        }),
    );
    eventApplyBatchSize.observe(units.length);
    eventApplyDurationSeconds.observe((performance.now() - started) / 1000);
    if (fresh) eventsAppliedTotal.inc(fresh);
    if (duplicates) eventsDuplicateTotal.inc(duplicates);

    await this.ackWithRetry(consumer, ackIds);
    await this.recordCompletions(catalog, units, applied.changed);
    this.deps.onCommitted?.(entries, Date.now());
    if (pushes) await this.pushAfter(catalog, pushes, applied);
  }

  private async ackWithRetry(consumer: EventConsumer, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    for (let attempt = 0; ; attempt++) {
      try {
        await consumer.ack(ids);
        return;
      } catch (err) {
        // Not acked = redelivered later and suppressed as duplicates: correct, just slower.
        if (attempt >= 5 || this.abandoned) throw err;
        await sleep(100 * 2 ** attempt);
      }
    }
  }

  private async applyPartition(
    consumer: EventConsumer,
    part: Unit[],
  ): Promise<{ committed: string[]; fresh: number; duplicates: number } & Applied> {
    try {
      const r = await this.applyWithRetry(part.flatMap((u) => u.changes));
      return {
        committed: part.map((u) => u.entry.id),
        fresh: r.freshEvents,
        duplicates: r.duplicateEvents,
        changed: r.changed,
        baselines: r.baselines,
        newPlayers: r.newPlayers,
      };
    } catch (err) {
      if (isTransientDbError(err)) throw err; // abandoned on stop: stays pending
      this.deps.log.warn({ err, entries: part.length }, 'batch failed with a data error; isolating entries');
    }
    const out = {
      committed: [] as string[],
      fresh: 0,
      duplicates: 0,
      changed: [],
      baselines: [],
      newPlayers: [],
    } as {
      committed: string[];
      fresh: number;
      duplicates: number;
    } & Applied;
    for (const unit of part) {
      try {
        const r = await this.applyWithRetry(unit.changes);
        out.committed.push(unit.entry.id);
        out.fresh += r.freshEvents;
        out.duplicates += r.duplicateEvents;
        addApplied(out, r);
      } catch (err) {
        if (isTransientDbError(err)) throw err;
        if (unit.entry.deliveries >= this.opts.maxDeliveries) {
          const message = err instanceof Error ? err.message : String(err);
          await consumer.deadLetter(unit.entry, message);
          eventsDeadLetteredTotal.inc();
          this.deps.log.error(
            { id: unit.entry.id, deliveries: unit.entry.deliveries, err },
            'event dead-lettered',
          );
        }
        // else: left pending; claimIdle brings it back with deliveries + 1.
      }
    }
    return out;
  }

  private async applyWithRetry(changes: StatChange[]) {
    let delay = 100;
    for (;;) {
      const now = this.deps.clock.now();
      try {
        return await applyStatChanges(
          this.deps.db,
          changes,
          baselineNeeds(this.deps.catalog.current, changes, now),
          now,
        );
      } catch (err) {
        if (!isTransientDbError(err) || this.abandoned) throw err;
        this.lastError = err;
        this.deps.log.warn({ err: (err as Error).message }, 'apply failed (transient); retrying');
        await sleep(delay);
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  // ---- completion times -----------------------------------------------------------------------

  /**
   * Record when goals were completed: for every (player, stat) this batch changed whose new value
   * could have reached a goal's target (relative progress never exceeds the value while stats stay
   * non-negative), the player's facts are read and each goal on that stat that is now completed and
   * has no record gets one, stamped with the latest occurredAt of the batch's changes to that stat
   * (not before the goal's current period). Best effort after the ack: a read of a goal without a
   * record falls back to the stat's last change (domain/progress.ts completedAt).
   */
  private async recordCompletions(
    catalog: Catalog,
    units: readonly Unit[],
    changed: ApplyResult['changed'],
  ): Promise<void> {
    if (changed.length === 0) return;
    try {
      const now = this.deps.clock.now();
      const candidates = new Map<string, Set<string>>();
      for (const c of changed) {
        const goals = catalog.goalsByStat.get(c.statCode);
        if (!goals) continue;
        const open = goals.some(
          (g) =>
            // periodEnd goals complete at their period's end (no record); groups and other operators
            // are not judged from one stat here: their facts are read
            g.evaluateAt !== 'periodEnd' &&
            (c.value < 0 ||
              g.requirementGroups !== undefined ||
              g.requirement.operator !== '>=' ||
              g.requirement.targetValue <= c.value) &&
            !this.completionKnown.has(`${c.userId}|${g.goalId}|${claimPeriodKey(g, now)}`),
        );
        if (!open) continue;
        let s = candidates.get(c.userId);
        if (!s) candidates.set(c.userId, (s = new Set()));
        s.add(c.statCode);
      }
      if (candidates.size === 0) return;
      const lastAt = new Map<string, number>();
      for (const u of units) {
        for (const ch of u.changes) {
          const k = `${ch.userId}|${ch.statCode}`;
          lastAt.set(k, Math.max(lastAt.get(k) ?? -Infinity, ch.occurredAt));
        }
      }
      const keys = factPeriodKeys(catalog, now);
      const rows: CompletionRow[] = [];
      const known: string[] = [];
      await Promise.all(
        [...candidates].map(async ([userId, stats]) => {
          const facts = await readPlayerFacts(this.deps.db, userId, keys);
          if (!facts) return;
          const views = new ViewBuilder(catalog, facts, now);
          for (const stat of stats) {
            for (const goal of catalog.goalsByStat.get(stat) ?? []) {
              if (goal.evaluateAt === 'periodEnd') continue; // completed at its period's end
              const periodKey = claimPeriodKey(goal, now);
              const k = `${userId}|${goal.goalId}|${periodKey}`;
              if (this.completionKnown.has(k)) continue;
              const v = views.view(goal);
              if (facts.completions?.has(factKey(goal.goalId, periodKey)) || v.status === 'claimed') {
                known.push(k);
                continue;
              }
              if (v.status !== 'completed') continue;
              const periodStart = goal.rotation?.onExpiry.resetProgress
                ? (goalPeriod(goal, now)?.start ?? 0)
                : 0;
              const at = Math.min(now, Math.max(lastAt.get(`${userId}|${stat}`) ?? now, periodStart));
              rows.push({ userId, goalId: goal.goalId, periodKey, completedAt: at });
              known.push(k);
            }
          }
        }),
      );
      await insertCompletions(this.deps.db, rows);
      if (this.completionKnown.size + known.length > 200_000) this.completionKnown.clear();
      for (const k of known) this.completionKnown.add(k);
    } catch (err) {
      this.deps.log.warn(
        { err },
        'recording completion times failed; reads fall back to the stat change time',
      );
    }
  }

  // ---- live pushes: only for players with a socket open somewhere ---------------------------

  private async pushBefore(
    catalog: Catalog,
    units: Unit[],
  ): Promise<{
    before: Map<string, PlayerFacts | null>;
    stats: Map<string, Set<string>>;
    keys: string[];
  } | null> {
    const bus = this.deps.bus;
    if (!bus || units.length === 0) return null;
    try {
      const users = [...new Set(units.map((u) => u.entry.event!.userId))];
      const present = await bus.present(users);
      if (present.size === 0) return null;
      const stats = new Map<string, Set<string>>();
      for (const u of units) {
        const userId = u.entry.event!.userId;
        if (!present.has(userId)) continue;
        let s = stats.get(userId);
        if (!s) stats.set(userId, (s = new Set()));
        for (const c of u.changes) if (catalog.goalsByStat.has(c.statCode)) s.add(c.statCode);
      }
      const keys = factPeriodKeys(catalog, this.deps.clock.now());
      const before = new Map<string, PlayerFacts | null>();
      await Promise.all(
        [...stats.keys()].map(async (u) => before.set(u, await readPlayerFacts(this.deps.db, u, keys))),
      );
      return { before, stats, keys };
    } catch (err) {
      this.deps.log.warn({ err }, 'push preparation failed; no pushes for this batch');
      return null;
    }
  }

  /** The facts after come from the facts before and what the apply statement returned (no second
   *  read); only a player unknown before and not created by the apply (created concurrently by
   *  an initialise) is read. */
  private async pushAfter(
    catalog: Catalog,
    p: { before: Map<string, PlayerFacts | null>; stats: Map<string, Set<string>>; keys: string[] },
    applied: Applied,
  ): Promise<void> {
    try {
      const now = this.deps.clock.now();
      const deltas = deltasByPlayer(applied, new Set(p.stats.keys()));
      const messages: PushMessage[] = [];
      await Promise.all(
        [...p.stats].map(async ([userId, stats]) => {
          const before = p.before.get(userId) ?? null;
          const after =
            factsAfter(before, userId, deltas.get(userId) ?? NO_DELTA, p.keys) ??
            (await readPlayerFacts(this.deps.db, userId, p.keys));
          if (after) messages.push(...goalChanges(catalog, before, after, stats, now));
        }),
      );
      await this.deps.bus!.publish(messages);
    } catch (err) {
      this.deps.log.warn({ err }, 'publishing pushes failed');
    }
  }

  // ---- maintenance -------------------------------------------------------------------------

  private async maintain(): Promise<void> {
    const q = this.deps.queue;
    const s = await q.stats();
    eventStreamLagEntries.set(s.lag);
    eventStreamLagSeconds.set(s.oldestUnackedAgeMs / 1000);
    eventStreamPendingEntries.set(s.pending);
    eventStreamLength.set(s.length);
    await q.trim();
    await q.pruneConsumers(Math.max(10 * 60_000, this.opts.claimIdleMs * 4));
  }

  async prune(): Promise<number> {
    return pruneProcessedEvents(
      this.deps.db,
      this.deps.clock.now() - this.opts.retentionMs,
      this.opts.pruneBatch,
    );
  }
}
