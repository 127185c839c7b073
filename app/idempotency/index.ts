// Idempotency-Key for player POST/PUT routes, kept in PostgreSQL (table idempotency_keys).
// Scope: (principal, key). The request fingerprint is sha256 over method, path, query and the raw
// body bytes; within the TTL the same fingerprint gets the stored first answer back verbatim
// (status, headers, byte-identical body, plus `Idempotent-Replayed: true`), another fingerprint
// gets 422 IDEMPOTENCY_KEY_REUSED. A duplicate arriving while the first still runs waits for it
// (bounded by its own deadline and IDEMPOTENCY_WAIT_MS), then gets 409 IDEMPOTENCY_KEY_IN_PROGRESS.
// Stored: 2xx and 4xx answers except 408/429. Not stored: 5xx/503, 408, 429 and crashes - the key is
// released so a retry runs the request again.
// One home: the HTTP wrapper (PgIdempotency), its SQL, the factory from config and the prune job.
import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { errorReply, type Ctx, type Handler, type Reply } from '../api/http';
import type { Config } from '../config';
import { ApiError, apiError, badRequest } from '../errors';
import { every } from '../every';
import { MAX_ID_LENGTH } from '../limits';
import { retentionDeletedRowsTotal } from '../ops/metrics';
import type { Db } from '../store/db';

export interface IdempotencyWrapper {
  /** Wrap a POST/PUT handler so a repeated Idempotency-Key replays the first answer. */
  wrap(routeName: string, handler: Handler, principal: (ctx: Ctx) => Promise<string>): Handler;
}

export const noIdempotency: IdempotencyWrapper = { wrap: (_r, h) => h };

export const MAX_IDEMPOTENCY_KEY = MAX_ID_LENGTH;

export interface IdempotencyOptions {
  /** How long a stored answer is replayed (24 h). */
  ttlMs: number;
  /** Longest a concurrent duplicate waits for the first request's answer. */
  waitMs: number;
  /** A key held by a request that died is free again after this long. */
  lockMs: number;
  /** Wall clock (not the dev clock): retention is operational time. */
  now?: () => number;
  pollMs?: number;
}

interface KeyRow {
  owned: boolean;
  request_hash: string;
  owner: string;
  status: number | null;
  response_body: string | null;
  response_headers: Record<string, string> | null;
}

const CLAIM_KEY_SQL = `
WITH ins AS (
  INSERT INTO idempotency_keys AS k (principal, idem_key, request_hash, owner, locked_until, created_at)
  VALUES ($1, $2, $3, $4, $5, $6)
  ON CONFLICT (principal, idem_key) DO UPDATE
     SET request_hash = EXCLUDED.request_hash, owner = EXCLUDED.owner, locked_until = EXCLUDED.locked_until,
         created_at = EXCLUDED.created_at, status = NULL, response_body = NULL, response_headers = NULL,
         completed_at = NULL
   WHERE k.created_at < $7
      OR (k.status IS NULL AND k.locked_until < $6 AND k.request_hash = EXCLUDED.request_hash)
  RETURNING request_hash, owner
)
SELECT true AS owned, request_hash, owner, NULL::int AS status, NULL::text AS response_body,
       NULL::jsonb AS response_headers FROM ins
UNION ALL
SELECT false, request_hash, owner, status, response_body, response_headers
  FROM idempotency_keys WHERE principal = $1 AND idem_key = $2 AND NOT EXISTS (SELECT 1 FROM ins)`;

const READ_KEY_SQL = `
SELECT false AS owned, request_hash, owner, status, response_body, response_headers
  FROM idempotency_keys WHERE principal = $1 AND idem_key = $2 AND created_at >= $3`;

/** The answer statuses a retry must get back rather than run again. */
export function isStorable(status: number): boolean {
  if (status === 408 || status === 429) return false;
  return (status >= 200 && status < 300) || (status >= 400 && status < 500);
}

export function requestFingerprint(ctx: Pick<Ctx, 'method' | 'url' | 'query' | 'body'>): string {
  return createHash('sha256')
    .update(`${ctx.method} ${ctx.url}?${ctx.query.toString()}\n`)
    .update(ctx.body)
    .digest('hex');
}

const reused = () =>
  apiError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was already used with a different request');
const inProgress = () =>
  apiError(
    'IDEMPOTENCY_KEY_IN_PROGRESS',
    'a request with this Idempotency-Key is still being processed; retry shortly',
    {},
    1,
  );

export class PgIdempotency implements IdempotencyWrapper {
  private readonly now: () => number;
  private readonly pollMs: number;

  constructor(
    private readonly db: Db,
    private readonly o: IdempotencyOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.pollMs = o.pollMs ?? 25;
  }

  wrap(_routeName: string, handler: Handler, principal: (ctx: Ctx) => Promise<string>): Handler {
    return async (ctx) => {
      const key = ctx.headers['idempotency-key'];
      if (key === undefined) return handler(ctx);
      if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY) {
        throw badRequest(`Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY} characters`, {
          field: 'Idempotency-Key',
          max: MAX_IDEMPOTENCY_KEY,
        });
      }
      const who = await principal(ctx);
      const hash = requestFingerprint(ctx);
      const owner = randomUUID();
      const now = this.now();
      const res = await this.db.query<KeyRow>(CLAIM_KEY_SQL, [
        who,
        key,
        hash,
        owner,
        new Date(now + this.o.lockMs),
        new Date(now),
        new Date(now - this.o.ttlMs),
      ]);
      let row = res.rows[0];
      if (row?.owned) return this.runAndStore(ctx, handler, who, key, owner);
      // A concurrent first request committed after this statement's snapshot: read it again.
      row ??= (await this.db.query<KeyRow>(READ_KEY_SQL, [who, key, new Date(now - this.o.ttlMs)])).rows[0];
      return this.answerDuplicate(ctx, row, who, key, hash);
    };
  }

  private async runAndStore(
    ctx: Ctx,
    handler: Handler,
    who: string,
    key: string,
    owner: string,
  ): Promise<Reply> {
    let reply: Reply;
    try {
      reply = await handler(ctx);
    } catch (e) {
      if (!(e instanceof ApiError) || !isStorable(e.status)) {
        await this.release(who, key, owner);
        throw e;
      }
      reply = errorReply(e);
    }
    if (!isStorable(reply.status)) {
      await this.release(who, key, owner);
      return reply;
    }
    await this.db.query(
      `UPDATE idempotency_keys
          SET status = $4, response_body = $5, response_headers = $6, completed_at = $7, locked_until = NULL
        WHERE principal = $1 AND idem_key = $2 AND owner = $3`,
      [who, key, owner, reply.status, reply.body, JSON.stringify(reply.headers ?? {}), new Date(this.now())],
    );
    return reply;
  }

  private async release(who: string, key: string, owner: string): Promise<void> {
    await this.db
      .query(
        'DELETE FROM idempotency_keys WHERE principal = $1 AND idem_key = $2 AND owner = $3 AND status IS NULL',
        [who, key, owner],
      )
      .catch(() => undefined); // the lock expires on its own
  }

  private async answerDuplicate(
    ctx: Ctx,
    first: KeyRow | undefined,
    who: string,
    key: string,
    hash: string,
  ): Promise<Reply> {
    const waitUntil = Math.min(ctx.deadline - 100, Date.now() + this.o.waitMs);
    let row = first;
    for (;;) {
      if (row === undefined) {
        // Released (the first request failed with 5xx) between our statements: let the client retry.
        throw inProgress();
      }
      if (row.request_hash !== hash) throw reused();
      if (row.status !== null) return replay(row);
      if (Date.now() + this.pollMs > waitUntil || ctx.signal.aborted) throw inProgress();
      await new Promise((r) => setTimeout(r, this.pollMs));
      row = (await this.db.query<KeyRow>(READ_KEY_SQL, [who, key, new Date(this.now() - this.o.ttlMs)]))
        .rows[0];
    }
  }

  /** Delete keys older than the TTL, `batch` rows per statement; returns how many. */
  async prune(batch: number): Promise<number> {
    return pruneIdempotencyKeys(this.db, this.now() - this.o.ttlMs, batch);
  }
}

function replay(row: KeyRow): Reply {
  return {
    status: row.status!,
    body: row.response_body ?? '',
    headers: { ...(row.response_headers ?? {}), 'idempotent-replayed': 'true' },
  };
}

export async function pruneIdempotencyKeys(db: Db, olderThan: number, batch: number): Promise<number> {
  let total = 0;
  for (;;) {
    const res = await db.query(
      `DELETE FROM idempotency_keys k USING (
         SELECT principal, idem_key FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at LIMIT $2
       ) old WHERE k.principal = old.principal AND k.idem_key = old.idem_key`,
      [new Date(olderThan), batch],
    );
    const n = res.rowCount ?? 0;
    total += n;
    if (n) retentionDeletedRowsTotal.inc({ table: 'idempotency_keys' }, n);
    if (n < batch) return total;
  }
}

export function createIdempotency(db: Db, cfg: Config): PgIdempotency {
  return new PgIdempotency(db, {
    ttlMs: cfg.IDEMPOTENCY_TTL_MS,
    waitMs: cfg.IDEMPOTENCY_WAIT_MS,
    lockMs: cfg.IDEMPOTENCY_LOCK_MS,
  });
}

/** Deletes answers older than the TTL every IDEMPOTENCY_PRUNE_INTERVAL_MS (worker role). */
export function idempotencyPruneJob(db: Db, cfg: Config, log: Logger): { stop(): Promise<void> } {
  return every(cfg.IDEMPOTENCY_PRUNE_INTERVAL_MS, log, 'idempotency key pruning', () =>
    pruneIdempotencyKeys(db, Date.now() - cfg.IDEMPOTENCY_TTL_MS, cfg.IDEMPOTENCY_PRUNE_BATCH),
  );
}
