// Every row of one player, deleted in one transaction. The tables and the column naming the player;
// reward_outbox before claims (its foreign key). Tables without player data are listed in
// NO_PLAYER_TABLES; the GDPR test fails on a table in neither list (docs/GDPR.md).
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
  // dedup rows of the player's applied events (rows from before migration 007 have no player)
  { table: 'processed_events', column: 'user_id' },
  { table: 'players', column: 'user_id' },
];

/** Tables that hold no player data: catalogs published by operators, the migrations applied. */
export const NO_PLAYER_TABLES: readonly string[] = ['catalog_versions', 'schema_migrations'];

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
