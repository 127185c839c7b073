// Which initialize calls take the fleet-wide new-player budget: only players the database does not
// know yet. A bounded LRU of players this pod has seen answers most returning players without I/O;
// a miss costs one primary-key lookup, far cheaper than the insert the budget protects.
import type { Db } from '../store/db';

export const KNOWN_PLAYER_SQL = 'SELECT 1 FROM players WHERE user_id = $1';

export class KnownPlayers {
  private readonly seen = new Map<string, true>();

  constructor(
    private readonly db: Db,
    private readonly maxEntries: number,
  ) {}

  /** True if the player exists. `admit` runs the lookup under admission (it is database work too). */
  async check(userId: string, admit: (fn: () => Promise<boolean>) => Promise<boolean>): Promise<boolean> {
    if (this.seen.has(userId)) {
      this.remember(userId); // refresh recency
      return true;
    }
    const exists = await admit(
      async () => ((await this.db.query(KNOWN_PLAYER_SQL, [userId])).rowCount ?? 0) > 0,
    );
    if (exists) this.remember(userId);
    return exists;
  }

  remember(userId: string): void {
    if (this.maxEntries <= 0) return;
    this.seen.delete(userId);
    this.seen.set(userId, true);
    if (this.seen.size > this.maxEntries) this.seen.delete(this.seen.keys().next().value!);
  }
}

// One cache per database pool (per service instance), without widening the api's dependencies.
const byDb = new WeakMap<Db, KnownPlayers>();

/** Turn the known-player check on for the service that owns `db` (when admission is on). */
export function enableKnownPlayers(db: Db, maxEntries: number): KnownPlayers {
  const k = new KnownPlayers(db, maxEntries);
  byDb.set(db, k);
  return k;
}

/** The check for `db`'s service, or undefined when admission is off (every initialize is 'init'). */
export function knownPlayers(db: Db): KnownPlayers | undefined {
  return byDb.get(db);
}
