// Every row of one player, deleted in one transaction. The tables and the column naming the player;
// reward_outbox before claims (its foreign key). processed_events holds opaque event ids and times
// only (no player column) and ages out with PROCESSED_EVENTS_RETENTION_MS (docs/GDPR.md).
import type { Db } from '../store/db';
import { withTransaction } from '../store/db';

export const PLAYER_TABLES: readonly { table: string; column: string }[] = [
  { table: 'reward_outbox', column: 'user_id' },
  { table: 'claims', column: 'user_id' },
  { table: 'goal_completions', column: 'user_id' },
  { table: 'goal_states', column: 'user_id' },
  { table: 'stat_baselines', column: 'user_id' },
  { table: 'stat_values', column: 'user_id' },
  { table: 'idempotency_keys', column: 'principal' },
  { table: 'players', column: 'user_id' },
];

/** Delete the player's rows from every table; answers rows deleted per table. */
export async function deletePlayerRows(db: Db, userId: string): Promise<Record<string, number>> {
  return withTransaction(db, async (c) => {
    const out: Record<string, number> = {};
    for (const { table, column } of PLAYER_TABLES) {
      const res = await c.query(`DELETE FROM ${table} WHERE ${column} = $1`, [userId]);
      out[table] = res.rowCount ?? 0;
    }
    return out;
  });
}
