// The facts stored for a player. Views (progress, status, locked, ...) are derived from these
// and the catalog at read time; nothing here is per (player, goal) unless the player acted on it.

export interface StatFact {
  readonly value: number;
  /** Value at the first observation (set: the value set; increment: 0). Baseline of relative goals
   *  that were active before the stat was ever seen. */
  readonly firstValue: number;
  /** Epoch ms of the first change. */
  readonly firstSeenAt: number;
  /** Epoch ms of the last change (any mode), by the time it was applied. */
  readonly updatedAt: number;
}

export interface GoalStateFact {
  readonly goalId: string;
  /** '' for goals that do not rotate, else the rotation period key. */
  readonly periodKey: string;
  /** null: no explicit choice (defaultAssigned decides). */
  readonly isActive: boolean | null;
  /** Epoch ms when the goal was last activated by the player. */
  readonly assignedAt: number | null;
  /** Stat value when a relative goal became active; null when the stat was unseen then. */
  readonly baseline: number | null;
}

export interface ClaimFact {
  readonly claimId: string;
  readonly goalId: string;
  readonly periodKey: string;
  readonly claimedAt: number;
  readonly rewardStatus: 'granted' | 'pending' | 'dead';
}

export interface PlayerFacts {
  readonly userId: string;
  /** Epoch ms; default goals count as assigned from here. */
  readonly createdAt: number;
  readonly stats: ReadonlyMap<string, StatFact>;
  /** key `${statCode}|${periodKey}` -> stat value at the start of that period. */
  readonly baselines: ReadonlyMap<string, number>;
  /** key `${goalId}|${periodKey}`. */
  readonly goalStates: ReadonlyMap<string, GoalStateFact>;
  /** key `${goalId}|${periodKey}`. */
  readonly claims: ReadonlyMap<string, ClaimFact>;
  /** key `${goalId}|${periodKey}` (claim period) -> epoch ms the worker saw the goal completed. */
  readonly completions?: ReadonlyMap<string, number>;
}

export const factKey = (a: string, periodKey: string): string => `${a}|${periodKey}`;

/** Facts of a player who has never been seen: what initialise of a new player returns views for. */
export function emptyFacts(userId: string, createdAt: number): PlayerFacts {
  return {
    userId,
    createdAt,
    stats: new Map(),
    baselines: new Map(),
    goalStates: new Map(),
    claims: new Map(),
    completions: new Map(),
  };
}

/** What one apply statement changed for one player (app/store/stats.ts returns it). */
export interface FactsDelta {
  readonly stats: readonly ({ readonly statCode: string } & StatFact)[];
  readonly baselines: readonly {
    readonly statCode: string;
    readonly periodKey: string;
    readonly value: number;
  }[];
  /** Epoch ms, when the apply created the player. */
  readonly createdAt?: number;
}

/**
 * The facts after an apply, from the facts before it and what the apply statement returned (no
 * second read). Baselines are kept only for `periodKeys` (what a read for those keys would return).
 * Null when there is nothing to start from (unknown before and not created by the apply).
 */
export function factsAfter(
  before: PlayerFacts | null,
  userId: string,
  delta: FactsDelta,
  periodKeys: readonly string[],
): PlayerFacts | null {
  const base = before ?? (delta.createdAt === undefined ? null : emptyFacts(userId, delta.createdAt));
  if (!base) return null;
  const stats = new Map(base.stats);
  for (const { statCode, ...fact } of delta.stats) stats.set(statCode, fact);
  const baselines = new Map(base.baselines);
  const keys = new Set(periodKeys);
  for (const b of delta.baselines) {
    const k = factKey(b.statCode, b.periodKey);
    if (keys.has(b.periodKey) && !baselines.has(k)) baselines.set(k, b.value);
  }
  return { ...base, stats, baselines };
}
