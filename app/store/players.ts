// Players and everything known about one player, read in a single round trip.
import type { Db } from './db';
import type { ClaimFact, GoalStateFact, PlayerFacts, StatFact } from '../domain/facts';
import { factKey } from '../domain/facts';
import { perDb, statementBatcher, type Batcher } from './batcher';

// Both statements call PL/pgSQL functions over arrays of players (migrations/004): their inner
// plans are cached per server connection (through PgBouncer a plain statement is re-planned on
// every call), and concurrent requests share one round trip and one commit (./batcher.ts).
export const READ_FACTS_SQL =
  'SELECT r_user AS user_id, r_created_at AS created_at, r_stats AS stats, r_baselines AS baselines, r_goal_states AS goal_states, r_claims AS claims, r_completions AS completions FROM challenge_players_facts($1::text[], $2::text[])';

export const INITIALIZE_SQL =
  'SELECT r_user AS user_id, r_inserted AS inserted, r_created_at AS created_at, r_stats AS stats, r_baselines AS baselines, r_goal_states AS goal_states, r_claims AS claims, r_completions AS completions FROM challenge_initialize_players($1::text[], $2::boolean[], $3::text[], $4)';

type Row = {
  created_at: string | null;
  stats: [string, string | number, string | number, string | number, string | number][];
  baselines: [string, string, string | number][];
  goal_states: [string, string, boolean | null, string | number | null, string | number | null][];
  claims: [string, string, string, string | number, string | null][];
  completions?: [string, string, string | number][];
};

const num = (v: string | number): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: string | number | null): number | null => (v === null ? null : num(v));

/** The rows of one fact kind, keyed as `PlayerFacts` keys them. */
function keyed<R, T>(rows: readonly R[], entry: (row: R) => [string, T]): Map<string, T> {
  const out = new Map<string, T>();
  for (const row of rows) {
    const [key, value] = entry(row);
    out.set(key, value);
  }
  return out;
}

function toFacts(userId: string, createdAt: number, row: Row): PlayerFacts {
  const stats = keyed(row.stats, ([code, value, firstValue, firstSeenAt, updatedAt]): [string, StatFact] => [
    code,
    {
      value: num(value),
      firstValue: num(firstValue),
      firstSeenAt: num(firstSeenAt),
      updatedAt: num(updatedAt),
    },
  ]);
  const baselines = keyed(row.baselines, ([code, periodKey, value]) => [
    factKey(code, periodKey),
    num(value),
  ]);
  const goalStates = keyed(
    row.goal_states,
    ([goalId, periodKey, isActive, assignedAt, baseline]): [string, GoalStateFact] => [
      factKey(goalId, periodKey),
      { goalId, periodKey, isActive, assignedAt: numOrNull(assignedAt), baseline: numOrNull(baseline) },
    ],
  );
  const claims = keyed(row.claims, ([claimId, goalId, periodKey, claimedAt, status]): [string, ClaimFact] => [
    factKey(goalId, periodKey),
    {
      claimId,
      goalId,
      periodKey,
      claimedAt: num(claimedAt),
      rewardStatus: status === 'granted' || status === 'dead' ? status : 'pending',
    },
  ]);
  const completions = keyed(row.completions ?? [], ([goalId, periodKey, at]) => [
    factKey(goalId, periodKey),
    num(at),
  ]);
  return { userId, createdAt, stats, baselines, goalStates, claims, completions };
}

interface ReadItem {
  userId: string;
  periodKeys: readonly string[];
}
interface InitItem extends ReadItem {
  now: number;
  create: boolean;
}
type InitResult = { created: boolean; facts: PlayerFacts } | null;

/** Items of one batch that share period keys (all of them, except across a period boundary). */
function byPeriods<T extends ReadItem>(items: T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const it of items) {
    const k = it.periodKeys.join(',');
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(it);
  }
  return [...groups.values()];
}

class PlayerBatchers {
  readonly read: Batcher<ReadItem, PlayerFacts | null>;
  readonly init: Batcher<InitItem, InitResult>;

  constructor(db: Db) {
    // Few batches in flight: under load items wait for a slot and go out together, which means
    // fewer round trips (and fewer wake-ups of PgBouncer and PostgreSQL) per request.
    this.read = statementBatcher(db, async (items: ReadItem[]) => {
      const found = new Map<string, PlayerFacts>();
      for (const group of byPeriods(items)) {
        const res = await db.query<Row & { user_id: string }>(READ_FACTS_SQL, [
          group.map((i) => i.userId),
          group[0]!.periodKeys,
        ]);
        for (const row of res.rows) {
          if (row.created_at !== null) found.set(row.user_id, toFacts(row.user_id, num(row.created_at), row));
        }
      }
      return items.map((i) => found.get(i.userId) ?? null);
    });

    this.init = statementBatcher(db, async (items: InitItem[]) => {
      const out: InitResult[] = [];
      const index = new Map<InitItem, number>(items.map((it, i) => [it, i]));
      for (const group of byPeriods(items)) {
        const res = await db.query<Row & { user_id: string; inserted: boolean }>(INITIALIZE_SQL, [
          group.map((i) => i.userId),
          group.map((i) => i.create),
          group[0]!.periodKeys,
          new Date(group[0]!.now),
        ]);
        // Rows come back in input order, one per input.
        group.forEach((item, n) => {
          const row = res.rows[n]!;
          let result: InitResult;
          if (row.created_at === null && !item.create) result = null;
          else {
            // With create=true the row exists after the insert (ours or a concurrent one); the
            // fallback only guards against a row deleted in between.
            const createdAt = row.created_at === null ? item.now : num(row.created_at);
            result = { created: row.inserted, facts: toFacts(item.userId, createdAt, row) };
          }
          out[index.get(item)!] = result;
        });
      }
      return out;
    });
  }
}

const batchersFor = perDb((db: Db) => new PlayerBatchers(db));

/** Facts of a player, or null if the player is unknown. One round trip (shared with concurrent reads). */
export function readPlayerFacts(
  db: Db,
  userId: string,
  periodKeys: readonly string[],
): Promise<PlayerFacts | null> {
  return batchersFor(db).read.submit({ userId, periodKeys });
}

/**
 * Make the player known (at most one row written) and return its facts, in one round trip shared
 * with concurrent initialisations. With `create: false` an unknown player is left unknown: null.
 */
export function initializePlayer(
  db: Db,
  userId: string,
  periodKeys: readonly string[],
  now: number,
  create = true,
): Promise<InitResult> {
  return batchersFor(db).init.submit({ userId, periodKeys, now, create });
}

const existsBatchers = perDb((db: Db) =>
  statementBatcher(db, async (ids: string[]) => {
    const res = await db.query<{ user_id: string }>(
      'SELECT user_id FROM players WHERE user_id = ANY($1::text[])',
      [ids],
    );
    const found = new Set(res.rows.map((r) => r.user_id));
    return ids.map((id) => found.has(id));
  }),
);

/**
 * Whether PostgreSQL knows the player: one primary-key probe, shared with concurrent callers, and at
 * most two statements in flight however many ask (the check stays cheap while new players are shed).
 */
export function playerExists(db: Db, userId: string): Promise<boolean> {
  return existsBatchers(db).submit(userId);
}

/** Lookups waiting for a free statement slot (not yet sent). */
export function playerExistsBacklog(db: Db): number {
  return existsBatchers(db).queued;
}

/** Beyond this backlog a lookup would wait more than two statements' time: shed instead. */
export const PLAYER_EXISTS_MAX_BACKLOG = 64;
