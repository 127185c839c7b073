// Retention of rows that stop mattering when their rotation period is over: period baselines,
// selections (goal_states) and completion records of past periods. Only the current period of each
// schedule is ever read; the previous one is kept as a grace for clocks around a boundary. Runs on
// worker pods every RETENTION_INTERVAL_MS, each table in batches of RETENTION_BATCH rows (short
// transactions, SKIP LOCKED so replicas share the work). Processed-event ids and idempotency keys
// have their own pruning on the same pattern (docs/GDPR.md lists the whole schedule). Claims are
// kept: they are the record of rewards given.
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock';
import type { Schedule } from '../domain/catalog';
import { periodAt } from '../domain/periods';
import {
  retentionDeletedRowsTotal,
  retentionLastSuccessSeconds,
  retentionRunDurationSeconds,
} from '../ops/metrics';
import type { Db } from '../store/db';

export const RETENTION_TABLES = ['stat_baselines', 'goal_states', 'goal_completions'] as const;
const SCHEDULES: Schedule[] = ['daily', 'weekly', 'monthly'];

/** Period keys still live at `now`: the current and the previous period of every schedule. */
export function livePeriodKeys(now: number): string[] {
  const keys: string[] = [];
  for (const s of SCHEDULES) {
    const cur = periodAt(s, now);
    keys.push(cur.key, periodAt(s, cur.start - 1).key);
  }
  return keys;
}

const sqlFor = (table: string) => `
DELETE FROM ${table}
 WHERE ctid = ANY(ARRAY(
   SELECT ctid FROM ${table} WHERE period_key <> '' AND period_key <> ALL($1::text[])
    LIMIT $2 FOR UPDATE SKIP LOCKED))`;

/** One retention pass over every table; returns rows deleted per table. */
export async function runRetention(db: Db, now: number, batch: number): Promise<Record<string, number>> {
  const live = livePeriodKeys(now);
  const out: Record<string, number> = {};
  for (const table of RETENTION_TABLES) {
    let total = 0;
    for (;;) {
      const res = await db.query(sqlFor(table), [live, batch]);
      const n = res.rowCount ?? 0;
      total += n;
      if (n) retentionDeletedRowsTotal.inc({ table }, n);
      if (n < batch) break;
    }
    out[table] = total;
  }
  return out;
}

export class RetentionJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly deps: { db: Db; clock: Clock; log: Logger },
    private readonly intervalMs: number,
    private readonly batch: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.runOnce());
    }, this.intervalMs);
    this.timer.unref();
  }

  async runOnce(): Promise<Record<string, number> | null> {
    const end = retentionRunDurationSeconds.startTimer();
    try {
      const deleted = await runRetention(this.deps.db, this.deps.clock.now(), this.batch);
      retentionLastSuccessSeconds.set(Date.now() / 1000);
      if (Object.values(deleted).some((n) => n > 0)) this.deps.log.info({ deleted }, 'retention run');
      return deleted;
    } catch (err) {
      this.deps.log.warn({ err }, 'retention run failed; next run retries');
      return null;
    } finally {
      end();
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
