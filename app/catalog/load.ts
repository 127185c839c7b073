// Turns a catalog file (current camelCase or legacy snake_case) into the validated, indexed Catalog.
// Field checks come from the catalog schema (app/schemas/catalog.ts); cross-references are checked here.
// Every problem is collected with its JSON path before refusing, so an operator fixes a file in one pass.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import {
  CatalogInvalidError,
  type Catalog,
  type CatalogProblem,
  type Challenge,
  type Aggregation,
  type Goal,
  type Requirement,
  type RequirementGroup,
  type Rotation,
  type Schedule,
} from '../domain/catalog';
import { requirementStats } from '../domain/requirements';
import { MAX_ID_LENGTH } from '../limits';
import {
  AGGREGATIONS,
  catalogFieldProblems,
  challengeFields,
  EVENT_SOURCES,
  goalFields,
  isObject,
  LEGACY_FIELDS,
  OPERATORS,
  PERIOD_END_OPERATORS,
  PROGRESS_MODES,
  REWARD_TYPES,
  ROTATION_TYPES,
  SCHEDULES,
  type FieldNames,
} from '../schemas/catalog';

export { MAX_ID_LENGTH };

type JsonObject = Record<string, unknown>;
type Problems = CatalogProblem[];

interface GoalDraft {
  readonly goal: Goal;
  readonly path: string;
  readonly idPath: string;
  /** Input index of each entry of goal.prerequisites, for problem paths. */
  readonly prerequisiteIndexes: readonly number[];
}

interface ChallengeDraft {
  readonly challenge: Challenge;
  readonly idPath: string;
  readonly goals: readonly GoalDraft[];
}

// The field checks are the catalog schema's (app/schemas/catalog.ts). What follows reads a document
// into the normalised shape: defaults filled in, legacy names mapped. It also reads documents with
// field problems (a broken field reads as '' or its default), so that duplicate ids, unknown
// prerequisites and cycles are listed in the same pass as the field problems.

const str = (obj: JsonObject, key: string): string => {
  const v = obj[key];
  return typeof v === 'string' ? v : '';
};

function oneOf<T extends string>(obj: JsonObject, key: string, allowed: readonly T[], fallback: T): T {
  const v = obj[key];
  return typeof v === 'string' && (allowed as readonly string[]).includes(v) ? (v as T) : fallback;
}

const int = (obj: JsonObject, key: string): number => {
  const v = obj[key];
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : 1;
};

const flag = (obj: JsonObject, key: string, fallback: boolean): boolean => {
  const v = obj[key];
  return typeof v === 'boolean' ? v : fallback;
};

const sub = (obj: JsonObject, key: string): JsonObject => {
  const v = obj[key];
  return isObject(v) ? v : {};
};

function readRotation(raw: JsonObject, f: FieldNames): Rotation | undefined {
  const rotation = raw.rotation;
  // A disabled rotation has no effect.
  if (!isObject(rotation) || rotation.enabled !== true) return undefined;
  const onExpiry = sub(rotation, f.onExpiry);
  return {
    enabled: true,
    type: oneOf(rotation, 'type', ROTATION_TYPES, 'global'),
    schedule: oneOf(rotation, 'schedule', SCHEDULES, 'daily'),
    onExpiry: {
      resetProgress: flag(onExpiry, f.resetProgress, true),
      allowReselection: flag(onExpiry, f.allowReselection, true),
    },
  };
}

function readPrerequisites(raw: JsonObject): { ids: string[]; indexes: number[] } {
  const ids: string[] = [];
  const indexes: number[] = [];
  if (!Array.isArray(raw.prerequisites)) return { ids, indexes };
  raw.prerequisites.forEach((item: unknown, k) => {
    if (typeof item === 'string' && item.length > 0 && !ids.includes(item)) {
      ids.push(item);
      indexes.push(k);
    }
  });
  return { ids, indexes };
}

function readGroups(raw: JsonObject): RequirementGroup[] | undefined {
  if (!Array.isArray(raw.requirementGroups)) return undefined;
  const groups: RequirementGroup[] = [];
  for (const g of raw.requirementGroups as unknown[]) {
    const predicates: Requirement[] = [];
    const list = isObject(g) && Array.isArray(g.predicates) ? (g.predicates as unknown[]) : [];
    for (const p of list) {
      if (!isObject(p)) continue;
      predicates.push({
        statCode: str(p, 'statCode'),
        operator: oneOf(p, 'operator', OPERATORS, '>='),
        targetValue: int(p, 'targetValue'),
        progressMode: 'absolute',
      });
    }
    if (predicates.length > 0) groups.push({ predicates });
  }
  return groups.length > 0 ? groups : undefined;
}

function readGoal(raw: unknown, challengeId: string, path: string): GoalDraft | undefined {
  if (!isObject(raw)) return undefined;
  const f = goalFields(raw);
  const legacy = f === LEGACY_FIELDS;
  const req = sub(raw, 'requirement');
  // The legacy format may carry progress_mode on the goal itself rather than in the requirement.
  const modeHolder = legacy && req.progress_mode === undefined && raw.progress_mode !== undefined ? raw : req;
  const rewardRaw = sub(raw, 'reward');
  const rotation = readRotation(raw, f);
  const prerequisites = readPrerequisites(raw);
  const groups = readGroups(raw);
  const requirement: Requirement = groups
    ? groups[0]!.predicates[0]!
    : {
        statCode: str(req, f.statCode),
        operator: oneOf(req, 'operator', OPERATORS, '>='),
        targetValue: int(req, f.targetValue),
        progressMode: oneOf(modeHolder, f.progressMode, PROGRESS_MODES, 'absolute'),
      };
  const periodEnd =
    raw.evaluateAt === 'periodEnd' ||
    (groups ?? [{ predicates: [requirement] }]).some((g) =>
      g.predicates.some((p) => (PERIOD_END_OPERATORS as readonly string[]).includes(p.operator)),
    );
  const goal: Goal = {
    goalId: str(raw, f.goalId),
    challengeId,
    name: str(raw, 'name'),
    description: str(raw, 'description'),
    eventSource: oneOf(raw, f.eventSource, EVENT_SOURCES, 'login'),
    requirement,
    ...(groups ? { requirementGroups: groups } : {}),
    ...(periodEnd ? { evaluateAt: 'periodEnd' as const } : {}),
    reward: {
      type: oneOf(rewardRaw, 'type', REWARD_TYPES, 'ITEM'),
      rewardId: str(rewardRaw, f.rewardId),
      quantity: int(rewardRaw, 'quantity'),
    },
    prerequisites: prerequisites.ids,
    // Legacy catalogs predate selection: the reference's load-test catalog has no default_assigned and
    // every one of its goals was assigned to every player, so a missing flag means assigned there.
    defaultAssigned: flag(raw, f.defaultAssigned, legacy),
    ...(rotation ? { rotation } : {}),
  };
  return { goal, path, idPath: `${path}.${f.goalId}`, prerequisiteIndexes: prerequisites.indexes };
}

function readChallenge(raw: unknown, path: string): ChallengeDraft | undefined {
  if (!isObject(raw)) return undefined;
  const f = challengeFields(raw);
  const challengeId = str(raw, f.challengeId);
  const goals: GoalDraft[] = [];
  if (Array.isArray(raw.goals)) {
    raw.goals.forEach((g: unknown, j) => {
      const draft = readGoal(g, challengeId, `${path}.goals[${j}]`);
      if (draft) goals.push(draft);
    });
  }
  return {
    challenge: {
      challengeId,
      name: str(raw, 'name'),
      description: str(raw, 'description'),
      goals: goals.map((d) => d.goal),
    },
    idPath: `${path}.${f.challengeId}`,
    goals,
  };
}

/** Reports every prerequisite cycle once, as `a -> b -> a` (an arrow reads "requires"). */
function findCycles(
  goals: readonly GoalDraft[],
  byId: ReadonlyMap<string, GoalDraft>,
  problems: Problems,
): void {
  const state = new Map<string, 'visiting' | 'done'>();
  for (const start of goals) {
    if (state.has(start.goal.goalId)) continue;
    // Iterative DFS: a long prerequisite chain must not overflow the call stack.
    const stack: { id: string; next: number }[] = [{ id: start.goal.goalId, next: 0 }];
    state.set(start.goal.goalId, 'visiting');
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const prereqs = byId.get(top.id)?.goal.prerequisites ?? [];
      if (top.next >= prereqs.length) {
        state.set(top.id, 'done');
        stack.pop();
        continue;
      }
      const next = prereqs[top.next++]!;
      if (!byId.has(next)) continue; // reported as a missing prerequisite
      const seen = state.get(next);
      if (seen === undefined) {
        state.set(next, 'visiting');
        stack.push({ id: next, next: 0 });
      } else if (seen === 'visiting') {
        const from = stack.findIndex((s) => s.id === next);
        const cycle = [...stack.slice(from).map((s) => s.id), next];
        problems.push({
          path: `${byId.get(next)!.path}.prerequisites`,
          message: `prerequisite cycle: ${cycle.join(' -> ')}`,
        });
      }
    }
  }
}

function checkCrossReferences(drafts: readonly ChallengeDraft[], problems: Problems): Map<string, GoalDraft> {
  const challengeIdPaths = new Map<string, string>();
  for (const d of drafts) {
    const id = d.challenge.challengeId;
    if (id === '') continue;
    const first = challengeIdPaths.get(id);
    if (first !== undefined) {
      problems.push({ path: d.idPath, message: `duplicate challenge id "${id}" (first at ${first})` });
    } else {
      challengeIdPaths.set(id, d.idPath);
    }
  }

  const goalsById = new Map<string, GoalDraft>();
  const allGoals = drafts.flatMap((d) => d.goals);
  for (const g of allGoals) {
    const id = g.goal.goalId;
    if (id === '') continue;
    const first = goalsById.get(id);
    if (first !== undefined) {
      problems.push({ path: g.idPath, message: `duplicate goal id "${id}" (first at ${first.idPath})` });
    } else {
      goalsById.set(id, g);
    }
  }

  for (const g of allGoals) {
    g.goal.prerequisites.forEach((p, k) => {
      if (!goalsById.has(p)) {
        problems.push({
          path: `${g.path}.prerequisites[${g.prerequisiteIndexes[k]}]`,
          message: `unknown goal id "${p}"`,
        });
      }
    });
  }
  findCycles(allGoals, goalsById, problems);
  return goalsById;
}

/** JSON with object keys sorted, so the hash does not depend on key order in the input. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const hashOf = (value: unknown): string =>
  createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);

export function catalogVersion(challenges: readonly Challenge[]): string {
  return hashOf(challenges);
}

function readStats(raw: JsonObject): Map<string, Aggregation> {
  const out = new Map<string, Aggregation>();
  if (!Array.isArray(raw.stats)) return out;
  for (const d of raw.stats as unknown[]) {
    if (isObject(d) && typeof d.statCode === 'string' && !out.has(d.statCode)) {
      out.set(d.statCode, oneOf(d, 'aggregation', AGGREGATIONS, 'latest'));
    }
  }
  return out;
}

/** Duplicate declarations, and login goals on a stat not declared sum (a login increments it). */
function checkStats(raw: JsonObject, challenges: readonly Challenge[], problems: Problems): void {
  if (!Array.isArray(raw.stats)) return;
  const first = new Map<string, number>();
  const loginGoal = new Map<string, string>();
  for (const c of challenges)
    for (const g of c.goals)
      if (g.eventSource === 'login')
        for (const grp of g.requirementGroups ?? [{ predicates: [g.requirement] }])
          for (const p of grp.predicates) if (!loginGoal.has(p.statCode)) loginGoal.set(p.statCode, g.goalId);
  (raw.stats as unknown[]).forEach((d, i) => {
    if (!isObject(d) || typeof d.statCode !== 'string') return;
    const at = first.get(d.statCode);
    if (at !== undefined) {
      problems.push({
        path: `stats[${i}].statCode`,
        message: `duplicate stat "${d.statCode}" (first at stats[${at}])`,
      });
      return;
    }
    first.set(d.statCode, i);
    const login = loginGoal.get(d.statCode);
    if (
      login !== undefined &&
      d.aggregation !== 'sum' &&
      (AGGREGATIONS as readonly unknown[]).includes(d.aggregation)
    ) {
      problems.push({
        path: `stats[${i}].aggregation`,
        message: `must be sum: login goal "${login}" counts logins on this stat (a login increments it)`,
      });
    }
  });
}

function buildIndex(challenges: readonly Challenge[], statAggregations: Map<string, Aggregation>): Catalog {
  const challengeById = new Map<string, Challenge>();
  const goalById = new Map<string, Goal>();
  const goalsByStat = new Map<string, Goal[]>();
  const loginStats: string[] = [];
  const baselineSchedules = new Map<string, Set<Schedule>>();
  const defaultGoals: Goal[] = [];
  const periodEndSchedules = new Set<Schedule>();

  for (const challenge of challenges) {
    challengeById.set(challenge.challengeId, challenge);
    for (const goal of challenge.goals) {
      goalById.set(goal.goalId, goal);
      for (const stat of requirementStats(goal)) {
        const sameStat = goalsByStat.get(stat);
        if (sameStat) sameStat.push(goal);
        else goalsByStat.set(stat, [goal]);
        if (goal.eventSource === 'login' && !loginStats.includes(stat)) loginStats.push(stat);
        // relative rotating goals count from the period's start; periodEnd goals read the value at
        // the end of the period before (the next period's baseline)
        const needsBaseline =
          (goal.requirement.progressMode === 'relative' || goal.evaluateAt === 'periodEnd') &&
          goal.rotation?.onExpiry.resetProgress;
        if (needsBaseline && goal.rotation) {
          const schedules = baselineSchedules.get(stat) ?? new Set<Schedule>();
          schedules.add(goal.rotation.schedule);
          baselineSchedules.set(stat, schedules);
        }
      }
      if (goal.defaultAssigned) defaultGoals.push(goal);
      if (goal.evaluateAt === 'periodEnd' && goal.rotation) periodEndSchedules.add(goal.rotation.schedule);
    }
  }

  const baselineSchedulesByStat = new Map<string, readonly Schedule[]>();
  for (const [stat, schedules] of baselineSchedules) {
    baselineSchedulesByStat.set(
      stat,
      SCHEDULES.filter((s) => schedules.has(s)),
    );
  }

  return {
    // declared stats count in the version; a catalog without them keeps the hash it always had
    version:
      statAggregations.size === 0
        ? catalogVersion(challenges)
        : hashOf({ challenges, stats: [...statAggregations] }),
    challenges,
    ...(statAggregations.size > 0 ? { statAggregations } : {}),
    ...(periodEndSchedules.size > 0
      ? { periodEndSchedules: SCHEDULES.filter((s) => periodEndSchedules.has(s)) }
      : {}),
    challengeById,
    goalById,
    goalsByStat,
    loginStats,
    baselineSchedulesByStat,
    defaultGoals,
  };
}

/** Validates and normalises an already-parsed catalog document; throws CatalogInvalidError listing every problem. */
export function parseCatalog(raw: unknown): Catalog {
  // Without a challenges array there is nothing else to check: that one problem is the answer.
  if (!isObject(raw) || !Array.isArray(raw.challenges)) {
    throw new CatalogInvalidError(catalogFieldProblems(raw).slice(0, 1));
  }
  const problems: Problems = catalogFieldProblems(raw);
  const drafts: ChallengeDraft[] = [];
  raw.challenges.forEach((c: unknown, i) => {
    const draft = readChallenge(c, `challenges[${i}]`);
    if (draft) drafts.push(draft);
  });
  checkCrossReferences(drafts, problems);
  const challenges = drafts.map((d) => d.challenge);
  checkStats(raw, challenges, problems);
  if (problems.length > 0) throw new CatalogInvalidError(problems);
  return buildIndex(challenges, readStats(raw));
}

function looksLikeJson(text: string): boolean {
  const first = text.trimStart()[0];
  return first === '{' || first === '[';
}

/** Parses JSON, or YAML when the file name says so or the text is not JSON. */
export function parseCatalogText(text: string, fileName?: string): Catalog {
  const body = text.replace(/^\uFEFF/, '');
  const yamlByName = fileName !== undefined && /\.ya?ml$/i.test(fileName);
  let raw: unknown;
  try {
    raw = !yamlByName && looksLikeJson(body) ? JSON.parse(body) : YAML.parse(body);
  } catch (err) {
    const kind = !yamlByName && looksLikeJson(body) ? 'JSON' : 'YAML';
    const reason = err instanceof Error ? err.message : String(err);
    throw new CatalogInvalidError([{ path: '$', message: `not valid ${kind}: ${reason}` }]);
  }
  return parseCatalog(raw);
}

export function loadCatalogFile(path: string): Catalog {
  return parseCatalogText(readFileSync(path, 'utf8'), path);
}
