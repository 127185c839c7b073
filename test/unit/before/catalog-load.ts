// The catalog loader as it was before the catalog schema (commit 50109f8, app/catalog/load.ts), kept
// verbatim as the reference the schema-based loader is held against (test/unit/catalog-schema.test.ts).
// Turns a catalog file (current camelCase or legacy snake_case) into the validated, indexed Catalog.
// Every problem is collected with its JSON path before refusing, so an operator fixes a file in one pass.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import {
  CatalogInvalidError,
  type Catalog,
  type CatalogProblem,
  type Challenge,
  type EventSource,
  type Goal,
  type Operator,
  type ProgressMode,
  type RewardType,
  type Rotation,
  type Schedule,
} from '../../../app/domain/catalog';
import { MAX_ID_LENGTH } from '../../../app/limits';

export { MAX_ID_LENGTH };

const EVENT_SOURCES: readonly EventSource[] = ['login', 'statistic'];
const PROGRESS_MODES: readonly ProgressMode[] = ['absolute', 'relative'];
const REWARD_TYPES: readonly RewardType[] = ['ITEM', 'WALLET'];
const SCHEDULES: readonly Schedule[] = ['daily', 'weekly', 'monthly'];
// #18 widened the operators (the schema's list); the message lists them, so this copy lists them too.
const OPERATORS: readonly Operator[] = ['>=', '>', '==', '!=', '<', '<='];
const ROTATION_TYPES: readonly 'global'[] = ['global'];

type JsonObject = Record<string, unknown>;
type Problems = CatalogProblem[];

/** Field names of one input format; the normalised shape is the same for both. */
interface FieldNames {
  readonly challengeId: string;
  readonly goalId: string;
  readonly eventSource: string;
  readonly statCode: string;
  readonly targetValue: string;
  readonly progressMode: string;
  readonly rewardId: string;
  readonly defaultAssigned: string;
  readonly onExpiry: string;
  readonly resetProgress: string;
  readonly allowReselection: string;
}

const CURRENT_FIELDS: FieldNames = {
  challengeId: 'challengeId',
  goalId: 'goalId',
  eventSource: 'eventSource',
  statCode: 'statCode',
  targetValue: 'targetValue',
  progressMode: 'progressMode',
  rewardId: 'rewardId',
  defaultAssigned: 'defaultAssigned',
  onExpiry: 'onExpiry',
  resetProgress: 'resetProgress',
  allowReselection: 'allowReselection',
};

const LEGACY_FIELDS: FieldNames = {
  challengeId: 'id',
  goalId: 'id',
  eventSource: 'event_source',
  statCode: 'stat_code',
  targetValue: 'target_value',
  progressMode: 'progress_mode',
  rewardId: 'reward_id',
  defaultAssigned: 'default_assigned',
  onExpiry: 'on_expiry',
  resetProgress: 'reset_progress',
  allowReselection: 'allow_reselection',
};

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function readId(obj: JsonObject, key: string, path: string, problems: Problems): string {
  const value = obj[key];
  const at = `${path}.${key}`;
  if (value === undefined) {
    problems.push({ path: at, message: 'is required' });
    return '';
  }
  if (typeof value !== 'string' || value.length === 0) {
    problems.push({ path: at, message: `must be a non-empty string (got ${describe(value)})` });
    return '';
  }
  if (value.length > MAX_ID_LENGTH) {
    problems.push({ path: at, message: `must be at most ${MAX_ID_LENGTH} characters (got ${value.length})` });
  }
  return value;
}

function readText(obj: JsonObject, key: string, path: string, problems: Problems, optional: boolean): string {
  const value = obj[key];
  if (value === undefined && optional) return '';
  if (typeof value !== 'string') {
    problems.push({
      path: `${path}.${key}`,
      message: value === undefined ? 'is required' : `must be a string (got ${describe(value)})`,
    });
    return '';
  }
  return value;
}

function readEnum<T extends string>(
  obj: JsonObject,
  key: string,
  path: string,
  allowed: readonly T[],
  fallback: T | undefined,
  problems: Problems,
): T {
  const value = obj[key];
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  problems.push({
    path: `${path}.${key}`,
    message:
      value === undefined
        ? `is required (one of ${allowed.join(', ')})`
        : `must be one of ${allowed.join(', ')} (got ${describe(value)})`,
  });
  return allowed[0]!;
}

function readPositiveInt(obj: JsonObject, key: string, path: string, problems: Problems): number {
  const value = obj[key];
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  problems.push({
    path: `${path}.${key}`,
    message: value === undefined ? 'is required' : `must be an integer > 0 (got ${describe(value)})`,
  });
  return 1;
}

function readBool(
  obj: JsonObject,
  key: string,
  path: string,
  fallback: boolean,
  problems: Problems,
): boolean {
  const value = obj[key];
  if (value === undefined) return fallback;
  if (typeof value === 'boolean') return value;
  problems.push({ path: `${path}.${key}`, message: `must be a boolean (got ${describe(value)})` });
  return fallback;
}

function readObject(obj: JsonObject, key: string, path: string, problems: Problems): JsonObject {
  const value = obj[key];
  if (isObject(value)) return value;
  problems.push({
    path: `${path}.${key}`,
    message: value === undefined ? 'is required' : `must be an object (got ${describe(value)})`,
  });
  return {};
}

/** A goal is legacy-shaped when it names itself with `id` rather than `goalId`. */
function goalFields(raw: JsonObject): FieldNames {
  return raw.goalId === undefined && raw.id !== undefined ? LEGACY_FIELDS : CURRENT_FIELDS;
}

function challengeFields(raw: JsonObject): FieldNames {
  return raw.challengeId === undefined && raw.id !== undefined ? LEGACY_FIELDS : CURRENT_FIELDS;
}

function readRotation(
  raw: JsonObject,
  path: string,
  f: FieldNames,
  problems: Problems,
): Rotation | undefined {
  if (raw.rotation === undefined) return undefined;
  const at = `${path}.rotation`;
  if (!isObject(raw.rotation)) {
    problems.push({ path: at, message: `must be an object (got ${describe(raw.rotation)})` });
    return undefined;
  }
  const rotation = raw.rotation;
  if (typeof rotation.enabled !== 'boolean') {
    problems.push({
      path: `${at}.enabled`,
      message: `must be a boolean (got ${describe(rotation.enabled)})`,
    });
    return undefined;
  }
  // A disabled rotation has no effect, so its other fields are not checked.
  if (!rotation.enabled) return undefined;
  const type = readEnum(rotation, 'type', at, ROTATION_TYPES, 'global', problems);
  const schedule = readEnum(rotation, 'schedule', at, SCHEDULES, undefined, problems);
  let onExpiry: JsonObject = {};
  if (rotation[f.onExpiry] !== undefined) onExpiry = readObject(rotation, f.onExpiry, at, problems);
  const expiryPath = `${at}.${f.onExpiry}`;
  return {
    enabled: true,
    type,
    schedule,
    onExpiry: {
      resetProgress: readBool(onExpiry, f.resetProgress, expiryPath, true, problems),
      allowReselection: readBool(onExpiry, f.allowReselection, expiryPath, true, problems),
    },
  };
}

interface GoalDraft {
  readonly goal: Goal;
  readonly path: string;
  readonly idPath: string;
  /** Input index of each entry of goal.prerequisites, for problem paths. */
  readonly prerequisiteIndexes: readonly number[];
}

function readPrerequisites(
  raw: JsonObject,
  path: string,
  problems: Problems,
): { ids: string[]; indexes: number[] } {
  const value = raw.prerequisites;
  const ids: string[] = [];
  const indexes: number[] = [];
  if (value === undefined) return { ids, indexes };
  if (!Array.isArray(value)) {
    problems.push({
      path: `${path}.prerequisites`,
      message: `must be an array of goal ids (got ${describe(value)})`,
    });
    return { ids, indexes };
  }
  value.forEach((item, k) => {
    if (typeof item !== 'string' || item.length === 0) {
      problems.push({
        path: `${path}.prerequisites[${k}]`,
        message: `must be a non-empty goal id (got ${describe(item)})`,
      });
    } else if (!ids.includes(item)) {
      ids.push(item);
      indexes.push(k);
    }
  });
  return { ids, indexes };
}

function readGoal(
  raw: unknown,
  challengeId: string,
  path: string,
  problems: Problems,
): GoalDraft | undefined {
  if (!isObject(raw)) {
    problems.push({ path, message: `must be an object (got ${describe(raw)})` });
    return undefined;
  }
  const f = goalFields(raw);
  const legacy = f === LEGACY_FIELDS;
  const goalId = readId(raw, f.goalId, path, problems);
  const name = readText(raw, 'name', path, problems, false);
  const description = readText(raw, 'description', path, problems, true);
  const eventSource = readEnum(raw, f.eventSource, path, EVENT_SOURCES, undefined, problems);

  const reqPath = `${path}.requirement`;
  const req = readObject(raw, 'requirement', path, problems);
  const statCode = readId(req, f.statCode, reqPath, problems);
  const operator = readEnum(req, 'operator', reqPath, OPERATORS, '>=', problems);
  const targetValue = readPositiveInt(req, f.targetValue, reqPath, problems);
  // The legacy format may carry progress_mode on the goal itself rather than in the requirement.
  const modeHolder = legacy && req.progress_mode === undefined && raw.progress_mode !== undefined ? raw : req;
  const modePath = modeHolder === raw ? path : reqPath;
  const progressMode = readEnum(modeHolder, f.progressMode, modePath, PROGRESS_MODES, 'absolute', problems);

  const rewardPath = `${path}.reward`;
  const rewardRaw = readObject(raw, 'reward', path, problems);
  const reward = {
    type: readEnum(rewardRaw, 'type', rewardPath, REWARD_TYPES, undefined, problems),
    rewardId: readId(rewardRaw, f.rewardId, rewardPath, problems),
    quantity: readPositiveInt(rewardRaw, 'quantity', rewardPath, problems),
  };

  // Legacy catalogs predate selection: the reference's load-test catalog has no default_assigned and
  // every one of its goals was assigned to every player, so a missing flag means assigned there.
  const defaultAssigned = readBool(raw, f.defaultAssigned, path, legacy, problems);
  const rotation = readRotation(raw, path, f, problems);
  const prerequisites = readPrerequisites(raw, path, problems);

  const goal: Goal = {
    goalId,
    challengeId,
    name,
    description,
    eventSource,
    requirement: { statCode, operator, targetValue, progressMode },
    reward,
    prerequisites: prerequisites.ids,
    defaultAssigned,
    ...(rotation ? { rotation } : {}),
  };
  return { goal, path, idPath: `${path}.${f.goalId}`, prerequisiteIndexes: prerequisites.indexes };
}

interface ChallengeDraft {
  readonly challenge: Challenge;
  readonly idPath: string;
  readonly goals: readonly GoalDraft[];
}

function readChallenge(raw: unknown, path: string, problems: Problems): ChallengeDraft | undefined {
  if (!isObject(raw)) {
    problems.push({ path, message: `must be an object (got ${describe(raw)})` });
    return undefined;
  }
  const f = challengeFields(raw);
  const challengeId = readId(raw, f.challengeId, path, problems);
  const name = readText(raw, 'name', path, problems, false);
  const description = readText(raw, 'description', path, problems, true);
  const goals: GoalDraft[] = [];
  if (!Array.isArray(raw.goals)) {
    problems.push({
      path: `${path}.goals`,
      message: raw.goals === undefined ? 'is required' : `must be an array (got ${describe(raw.goals)})`,
    });
  } else {
    raw.goals.forEach((g, j) => {
      const draft = readGoal(g, challengeId, `${path}.goals[${j}]`, problems);
      if (draft) goals.push(draft);
    });
  }
  return {
    challenge: { challengeId, name, description, goals: goals.map((d) => d.goal) },
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

export function catalogVersion(challenges: readonly Challenge[]): string {
  return createHash('sha256').update(canonicalJson(challenges)).digest('hex').slice(0, 16);
}

function buildIndex(challenges: readonly Challenge[]): Catalog {
  const challengeById = new Map<string, Challenge>();
  const goalById = new Map<string, Goal>();
  const goalsByStat = new Map<string, Goal[]>();
  const loginStats: string[] = [];
  const baselineSchedules = new Map<string, Set<Schedule>>();
  const defaultGoals: Goal[] = [];

  for (const challenge of challenges) {
    challengeById.set(challenge.challengeId, challenge);
    for (const goal of challenge.goals) {
      const stat = goal.requirement.statCode;
      goalById.set(goal.goalId, goal);
      const sameStat = goalsByStat.get(stat);
      if (sameStat) sameStat.push(goal);
      else goalsByStat.set(stat, [goal]);
      if (goal.eventSource === 'login' && !loginStats.includes(stat)) loginStats.push(stat);
      if (goal.requirement.progressMode === 'relative' && goal.rotation?.onExpiry.resetProgress) {
        const schedules = baselineSchedules.get(stat) ?? new Set<Schedule>();
        schedules.add(goal.rotation.schedule);
        baselineSchedules.set(stat, schedules);
      }
      if (goal.defaultAssigned) defaultGoals.push(goal);
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
    version: catalogVersion(challenges),
    challenges,
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
  const problems: Problems = [];
  if (!isObject(raw)) {
    throw new CatalogInvalidError([
      { path: '$', message: `catalog must be an object (got ${describe(raw)})` },
    ]);
  }
  if (!Array.isArray(raw.challenges)) {
    throw new CatalogInvalidError([
      {
        path: 'challenges',
        message:
          raw.challenges === undefined ? 'is required' : `must be an array (got ${describe(raw.challenges)})`,
      },
    ]);
  }
  const drafts: ChallengeDraft[] = [];
  raw.challenges.forEach((c, i) => {
    const draft = readChallenge(c, `challenges[${i}]`, problems);
    if (draft) drafts.push(draft);
  });
  checkCrossReferences(drafts, problems);
  if (problems.length > 0) throw new CatalogInvalidError(problems);
  return buildIndex(drafts.map((d) => d.challenge));
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
