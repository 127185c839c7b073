// The normalised, validated catalog every other module reads. Loaders turn either
// file format (camelCase current, snake_case legacy) into these shapes.

export type EventSource = 'login' | 'statistic';
export type ProgressMode = 'absolute' | 'relative';
export type RewardType = 'ITEM' | 'WALLET';
export type Schedule = 'daily' | 'weekly' | 'monthly';

export type Operator = '>=' | '>' | '==' | '!=' | '<' | '<=';
/** When a goal's requirement is judged: at once (reaching it completes the goal), or on the facts as
 *  they stood at the end of its rotation period (`<`, `<=`, `!=` always are: they hold at the start). */
export type EvaluateAt = 'immediate' | 'periodEnd';
/** How the worker folds a stat's events: latest = set, sum = increment, max, min. */
export type Aggregation = 'latest' | 'sum' | 'max' | 'min';

/** One predicate on a stat: `value <operator> targetValue`. */
export interface Requirement {
  readonly statCode: string;
  readonly operator: Operator;
  readonly targetValue: number;
  readonly progressMode: ProgressMode;
}

/** An AND of predicates; a goal's groups are an OR. */
export interface RequirementGroup {
  readonly predicates: readonly Requirement[];
}

export interface Reward {
  readonly type: RewardType;
  readonly rewardId: string;
  readonly quantity: number;
}

export interface Rotation {
  readonly enabled: boolean;
  readonly type: 'global';
  readonly schedule: Schedule;
  readonly onExpiry: { readonly resetProgress: boolean; readonly allowReselection: boolean };
}

export interface Goal {
  readonly goalId: string;
  readonly challengeId: string;
  readonly name: string;
  readonly description: string;
  readonly eventSource: EventSource;
  /** The single requirement, or the first predicate of the first group when `requirementGroups` is set. */
  readonly requirement: Requirement;
  /** Present only when the catalog declares groups (else the goal is the one group [[requirement]]). */
  readonly requirementGroups?: readonly RequirementGroup[];
  /** Present only when periodEnd (declared, or implied by a `<`, `<=` or `!=` predicate). */
  readonly evaluateAt?: 'periodEnd';
  readonly reward: Reward;
  readonly prerequisites: readonly string[];
  readonly defaultAssigned: boolean;
  /** Present only when rotation.enabled is true. */
  readonly rotation?: Rotation;
}

export interface Challenge {
  readonly challengeId: string;
  readonly name: string;
  readonly description: string;
  readonly goals: readonly Goal[];
}

/** A period schedule a stat needs a baseline for (relative goals that rotate with resetProgress). */
export interface Catalog {
  /** Content hash of the normalised catalog (hex, 16 chars). */
  readonly version: string;
  readonly challenges: readonly Challenge[];
  readonly challengeById: ReadonlyMap<string, Challenge>;
  /** Goal ids are unique across the whole catalog. */
  readonly goalById: ReadonlyMap<string, Goal>;
  /** statCode -> declared aggregation (stats the catalog does not declare accept set and increment). */
  readonly statAggregations?: ReadonlyMap<string, Aggregation>;
  /** statCode -> goals whose requirement (any predicate of any group) uses it. */
  readonly goalsByStat: ReadonlyMap<string, readonly Goal[]>;
  /** Stat codes incremented by a login event (used by eventSource=login goals). */
  readonly loginStats: readonly string[];
  /** statCode -> schedules for which the worker must record a period baseline. */
  readonly baselineSchedulesByStat: ReadonlyMap<string, readonly Schedule[]>;
  /** Schedules of periodEnd goals (present when there are some): reads also ship the claims of
   *  the period before the current one, where those goals' claims belong. */
  readonly periodEndSchedules?: readonly Schedule[];
  /** Goals with defaultAssigned=true, in catalog order. */
  readonly defaultGoals: readonly Goal[];
}

export interface CatalogProblem {
  /** JSON path of the offending value, e.g. `challenges[2].goals[0].requirement.targetValue`. */
  readonly path: string;
  readonly message: string;
}

export class CatalogInvalidError extends Error {
  constructor(readonly problems: readonly CatalogProblem[]) {
    super(`catalog invalid: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
    this.name = 'CatalogInvalidError';
  }
}
