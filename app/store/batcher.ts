// Opportunistic batching of independent single-row statements from concurrent requests.
// While fewer than `maxInFlight` batches are running, an item is sent at once (no added latency
// when idle); while all are busy, items queue and the next free slot sends up to `maxBatch` of them
// in one round trip and one transaction. Under load this trades many tiny commits (each a WAL
// flush and a socket write on both sides) for few larger ones.

export interface BatcherOptions {
  maxBatch: number;
  maxInFlight: number;
}

interface Pending<I, R> {
  item: I;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export class Batcher<I, R> {
  private queue: Pending<I, R>[] = [];
  private inFlight = 0;

  constructor(
    /** Runs one batch; answers are aligned with `items`. */
    private readonly run: (items: I[]) => Promise<R[]>,
    private readonly opts: BatcherOptions,
  ) {}

  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  get queued(): number {
    return this.queue.length;
  }

  private pump(): void {
    while (this.inFlight < this.opts.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.opts.maxBatch);
      this.inFlight++;
      this.run(batch.map((p) => p.item)).then(
        (results) => {
          this.inFlight--;
          batch.forEach((p, i) => p.resolve(results[i]!));
          this.pump();
        },
        (err: unknown) => {
          this.inFlight--;
          for (const p of batch) p.reject(err);
          this.pump();
        },
      );
    }
  }
}

/** One instance per database pool (per service instance), made on first use. */
export function perDb<D extends object, T>(make: (db: D) => T): (db: D) => T {
  const made = new WeakMap<D, T>();
  return (db) => {
    let t = made.get(db);
    if (!t) made.set(db, (t = make(db)));
    return t;
  };
}

/** Most items one statement carries. */
const STATEMENT_MAX_BATCH = 64;
/** Statements of one kind in flight at once per pool; the pool has room for several kinds. */
const STATEMENTS_IN_FLIGHT = 2;

/**
 * A Batcher for one kind of statement on `db`: at most 64 items per statement and two statements in
 * flight (never more than the pool has connections).
 */
export function statementBatcher<I, R>(
  db: { options: { max?: number } },
  run: (items: I[]) => Promise<R[]>,
): Batcher<I, R> {
  return new Batcher(run, {
    maxBatch: STATEMENT_MAX_BATCH,
    maxInFlight: Math.max(1, Math.min(STATEMENTS_IN_FLIGHT, db.options.max ?? 10)),
  });
}
