// The catalog document as one zod schema: the source of the loader's field checks (app/catalog/load.ts)
// and of the ChallengeCatalog CRD's openAPIV3Schema (app/catalog/crd.ts). Two input formats: the
// current camelCase one (the CRD's spec is exactly this) and the reference's legacy snake_case one;
// each challenge and each goal is read in the format its own id field names. Every check carries the
// loader's message, so an operator sees the same problem text as before the schema existed.
// Cross-references (duplicate ids, unknown or cyclic prerequisites) are not field checks: load.ts does them.
import { z } from 'zod';
import { MAX_ID_LENGTH } from '../limits';
import { CONDITION_LIST } from './kubernetes';

type JsonObject = Record<string, unknown>;

export const EVENT_SOURCES = ['login', 'statistic'] as const;
export const PROGRESS_MODES = ['absolute', 'relative'] as const;
export const REWARD_TYPES = ['ITEM', 'WALLET'] as const;
export const SCHEDULES = ['daily', 'weekly', 'monthly'] as const;
export const OPERATORS = ['>=', '>', '==', '!=', '<', '<='] as const;
/** Operators judged only at the period's end (they hold before anything happened). */
export const PERIOD_END_OPERATORS = ['<', '<=', '!='] as const;
export const EVALUATE_AT = ['immediate', 'periodEnd'] as const;
export const AGGREGATIONS = ['latest', 'sum', 'max', 'min'] as const;
/** The event mode each aggregation accepts. */
export const AGGREGATION_MODES = { latest: 'set', sum: 'increment', max: 'max', min: 'min' } as const;
export const ROTATION_TYPES = ['global'] as const;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value as problem messages quote it (`nothing` for a missing one, long values cut). */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/** Field names of one input format; the normalised shape is the same for both. */
export interface FieldNames {
  readonly format: 'current' | 'legacy';
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

export const CURRENT_FIELDS: FieldNames = {
  format: 'current',
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

export const LEGACY_FIELDS: FieldNames = {
  format: 'legacy',
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

/** A goal is legacy-shaped when it names itself with `id` rather than `goalId`. */
export function goalFields(raw: JsonObject): FieldNames {
  return raw.goalId === undefined && raw.id !== undefined ? LEGACY_FIELDS : CURRENT_FIELDS;
}

export function challengeFields(raw: JsonObject): FieldNames {
  return raw.challengeId === undefined && raw.id !== undefined ? LEGACY_FIELDS : CURRENT_FIELDS;
}

// --- field builders, each with the loader's messages -------------------------------------------

const requiredOr =
  (wrong: (input: unknown) => string) =>
  (issue: { input?: unknown }): string =>
    issue.input === undefined ? 'is required' : wrong(issue.input);

const nonEmpty = (input: unknown) => `must be a non-empty string (got ${describeValue(input)})`;

/** An id: a non-empty string of at most MAX_ID_LENGTH characters. */
export const idString = (description?: string) => {
  const s = z
    .string({ error: requiredOr(nonEmpty) })
    .min(1, { error: (issue) => nonEmpty(issue.input) })
    .max(MAX_ID_LENGTH, {
      error: (issue) => `must be at most ${MAX_ID_LENGTH} characters (got ${String(issue.input).length})`,
    });
  return description === undefined ? s : s.describe(description);
};

const text = (description: string) =>
  z
    .string({ error: requiredOr((input) => `must be a string (got ${describeValue(input)})`) })
    .describe(description);

function oneOf<const T extends readonly [string, ...string[]]>(values: T, description: string) {
  const list = values.join(', ');
  return z
    .enum(values, {
      error: (issue) =>
        issue.input === undefined
          ? `is required (one of ${list})`
          : `must be one of ${list} (got ${describeValue(issue.input)})`,
    })
    .describe(description);
}

const positiveInt = (description: string) => {
  const wrong = (input: unknown) => `must be an integer > 0 (got ${describeValue(input)})`;
  return z
    .number({ error: requiredOr(wrong) })
    .int({ error: (issue) => wrong(issue.input) })
    .min(1, { error: (issue) => wrong(issue.input) })
    .meta({ format: 'int64', description });
};

const bool = (description: string) =>
  z
    .boolean({ error: (issue) => `must be a boolean (got ${describeValue(issue.input)})` })
    .describe(description);

/** Refinements that run even when a field of the same object failed (the loader lists every problem). */
const ALWAYS = { when: () => true };

const objectError = requiredOr((input) => `must be an object (got ${describeValue(input)})`);

/** Adds `at.field: is required`-style issues for the fields of a missing or mistyped sub-object, as
 *  the loader always did (it read the fields of `{}` in place of the broken object). */
function reportFieldsOfBroken(
  sub: z.ZodType,
  at: string,
): (value: JsonObject, ctx: z.core.$RefinementCtx<JsonObject>) => void {
  return (value, ctx) => {
    if (!isObject(value) || isObject(value[at])) return;
    for (const issue of sub.safeParse({}).error?.issues ?? []) {
      ctx.addIssue({ code: 'custom', message: issue.message, path: [at, ...issue.path] });
    }
  };
}

/** reportFieldsOfBroken for an optional sub-object: only when it is present (a missing one is
 *  checkRequirementRules' to report). */
function reportFieldsOfBrokenIfPresent(
  sub: z.ZodType,
  at: string,
): (value: JsonObject, ctx: z.core.$RefinementCtx<JsonObject>) => void {
  const report = reportFieldsOfBroken(sub, at);
  return (value, ctx) => {
    if (isObject(value) && value[at] !== undefined) report(value, ctx);
  };
}

// --- the document -----------------------------------------------------------------------------

function rotationSchema(f: FieldNames) {
  const onExpiry = z
    .object(
      {
        [f.resetProgress]: bool('Each period is a fresh instance of the goal.').optional(),
        [f.allowReselection]: bool('A selection that ended with its period may be made again.').optional(),
      },
      { error: objectError },
    )
    .describe('What a new period does.');
  const shape = z
    .object(
      {
        enabled: bool('Rotation on.').optional(),
        type: oneOf(ROTATION_TYPES, 'Rotation scope.').optional(),
        schedule: oneOf(SCHEDULES, 'Period length.').optional(),
        [f.onExpiry]: onExpiry.optional(),
      },
      { error: objectError },
    )
    .describe('Calendar rotation (UTC).')
    .superRefine((value, ctx) => {
      if (!isObject(value)) return;
      if (value.enabled === undefined) {
        ctx.addIssue({ code: 'custom', message: 'must be a boolean (got nothing)', path: ['enabled'] });
      } else if (value.enabled && value.schedule === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `is required (one of ${SCHEDULES.join(', ')})`,
          path: ['schedule'],
        });
      }
    }, ALWAYS);
  return shape;
}

/** A rotation that is not on has no effect, so only `enabled` itself is checked. */
const onlyEnabledUnlessOn = (raw: unknown): unknown =>
  isObject(raw) && raw.enabled !== true ? { enabled: raw.enabled } : raw;

function requirementSchema(f: FieldNames) {
  return z
    .object(
      {
        [f.statCode]: idString('Stat the goal tracks.'),
        operator: oneOf(OPERATORS, 'Comparison of the stat value with targetValue (default >=).').optional(),
        [f.targetValue]: positiveInt('Stat value (or gain, for relative goals) that completes the goal.'),
        [f.progressMode]: oneOf(
          PROGRESS_MODES,
          'absolute: the stat value; relative: gain since the goal became active.',
        ).optional(),
      },
      { error: objectError },
    )
    .describe('Completion condition.');
}

/** One predicate of a requirement group: always on the absolute stat value. */
const predicateSchema = z
  .object(
    {
      statCode: idString('Stat the predicate reads.'),
      operator: oneOf(OPERATORS, 'Comparison of the stat value with targetValue (default >=).').optional(),
      targetValue: positiveInt('Value the stat is compared with.'),
    },
    { error: objectError },
  )
  .describe('stat <operator> targetValue, on the absolute stat value.');

const listError = (what: string) =>
  requiredOr((input) => `must be a non-empty array of ${what} (got ${describeValue(input)})`);

const requirementGroupsSchema = z
  .array(
    z
      .object(
        {
          predicates: z
            .array(predicateSchema, { error: listError('predicates') })
            .min(1, { error: () => 'must be a non-empty array of predicates (got [])' })
            .meta({ 'x-kubernetes-list-type': 'atomic' }),
        },
        { error: objectError },
      )
      .describe('An AND of predicates.'),
    { error: listError('groups') },
  )
  .min(1, { error: () => 'must be a non-empty array of groups (got [])' })
  .meta({
    description:
      'An OR of groups, each an AND of predicates; used instead of requirement. Progress is shown for the closest group.',
    'x-kubernetes-list-type': 'atomic',
  });

/** Cross-field rules of a goal's requirement (paths relative to the goal). */
function checkRequirementRules(f: FieldNames) {
  return (value: JsonObject, ctx: z.core.$RefinementCtx<JsonObject>): void => {
    if (!isObject(value)) return;
    const groups = value.requirementGroups;
    const req = value.requirement;
    if (groups !== undefined && req !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'cannot be used together with requirement (declare one of them)',
        path: ['requirementGroups'],
      });
      return;
    }
    if (groups === undefined && req === undefined) {
      ctx.addIssue({ code: 'custom', message: 'is required', path: ['requirement'] });
      for (const issue of requirementSchema(f).safeParse({}).error?.issues ?? []) {
        ctx.addIssue({ code: 'custom', message: issue.message, path: ['requirement', ...issue.path] });
      }
      return;
    }
    // operators that hold at the start can only be judged at the period's end
    const ops: { op: unknown; path: PropertyKey[] }[] = [];
    if (isObject(req)) ops.push({ op: req.operator, path: ['requirement', 'operator'] });
    if (Array.isArray(groups)) {
      groups.forEach((g: unknown, i) => {
        if (isObject(g) && Array.isArray(g.predicates)) {
          g.predicates.forEach((p: unknown, j) => {
            if (isObject(p))
              ops.push({ op: p.operator, path: ['requirementGroups', i, 'predicates', j, 'operator'] });
          });
        }
      });
    }
    const periodEndOp = ops.find((o) => (PERIOD_END_OPERATORS as readonly unknown[]).includes(o.op));
    const periodEnd = value.evaluateAt === 'periodEnd' || periodEndOp !== undefined;
    if (!periodEnd) return;
    if (periodEndOp && value.evaluateAt === 'immediate') {
      ctx.addIssue({
        code: 'custom',
        message: `must be periodEnd: operator ${String(periodEndOp.op)} (at ${periodEndOp.path.join('.')}) holds before anything happened, so it is judged at the period's end`,
        path: ['evaluateAt'],
      });
    }
    const rotation = value.rotation;
    const onExpiry = isObject(rotation) ? rotation[f.onExpiry] : undefined;
    const reset = isObject(onExpiry) ? onExpiry[f.resetProgress] : undefined;
    if (!isObject(rotation) || rotation.enabled !== true || reset === false) {
      const why = periodEndOp ? `operator ${String(periodEndOp.op)}` : 'evaluateAt periodEnd';
      ctx.addIssue({
        code: 'custom',
        message: `must be enabled with ${f.resetProgress} (${why} judges each period at its end)`,
        path: ['rotation'],
      });
    }
    if (isObject(req) && req[f.progressMode] === 'relative') {
      ctx.addIssue({
        code: 'custom',
        message: "must be absolute: a goal judged at its period's end compares the stat values at that end",
        path: ['requirement', f.progressMode],
      });
    }
  };
}

function rewardSchema(f: FieldNames) {
  return z
    .object(
      {
        type: oneOf(REWARD_TYPES, 'Reward kind.'),
        [f.rewardId]: idString('Item or currency code.'),
        quantity: positiveInt('Amount granted.'),
      },
      { error: objectError },
    )
    .describe('Granted on claim.');
}

const prerequisitesSchema = z
  .array(
    z
      .string({ error: (issue) => `must be a non-empty goal id (got ${describeValue(issue.input)})` })
      .min(1, { error: (issue) => `must be a non-empty goal id (got ${describeValue(issue.input)})` })
      .max(MAX_ID_LENGTH, {
        error: (issue) => `must be at most ${MAX_ID_LENGTH} characters (got ${String(issue.input).length})`,
      }),
    { error: (issue) => `must be an array of goal ids (got ${describeValue(issue.input)})` },
  )
  .meta({
    description: 'Goal ids that must be completed or claimed first.',
    'x-kubernetes-list-type': 'atomic',
  });

const FORMAT = '$format';
const formatTag = (f: FieldNames, tagged: boolean) => (tagged ? { [FORMAT]: z.literal(f.format) } : {});

function goalShape(f: FieldNames, tagged = false) {
  const requirement = requirementSchema(f);
  const reward = rewardSchema(f);
  const rotation = rotationSchema(f);
  return z
    .object(
      {
        ...formatTag(f, tagged),
        [f.goalId]: idString(f.format === 'current' ? 'Unique across the whole catalog.' : undefined),
        name: text('Display name.'),
        description: text('Display text.').optional(),
        [f.eventSource]: oneOf(EVENT_SOURCES, 'Which events move the stat.'),
        requirement: requirement.optional(),
        requirementGroups: requirementGroupsSchema.optional(),
        evaluateAt: oneOf(
          EVALUATE_AT,
          "immediate: completed once the requirement holds; periodEnd: judged on the stats at the rotation period's end.",
        ).optional(),
        // The legacy format may carry progress_mode on the goal itself rather than in the requirement.
        ...(f.format === 'legacy'
          ? { progress_mode: oneOf(PROGRESS_MODES, 'Progress mode.').optional() }
          : {}),
        reward,
        prerequisites: prerequisitesSchema.optional(),
        [f.defaultAssigned]: bool('Active for every player unless deselected.').optional(),
        rotation: z.preprocess(onlyEnabledUnlessOn, rotation).optional(),
      },
      { error: objectError },
    )
    .describe('One goal: progress comes from a stat, a completed goal is claimed for its reward.')
    .superRefine(reportFieldsOfBrokenIfPresent(requirement, 'requirement'), ALWAYS)
    .superRefine(checkRequirementRules(f), ALWAYS)
    .superRefine(reportFieldsOfBroken(reward, 'reward'), ALWAYS);
}

function challengeShape(f: FieldNames, goal: z.ZodType, tagged = false) {
  return z
    .object(
      {
        ...formatTag(f, tagged),
        [f.challengeId]: idString('Unique challenge id.'),
        name: text('Display name.'),
        description: text('Display text.').optional(),
        goals: z
          .array(goal, { error: requiredOr((input) => `must be an array (got ${describeValue(input)})`) })
          .meta({ 'x-kubernetes-list-type': 'atomic' }),
      },
      { error: objectError },
    )
    .describe('A group of goals.');
}

/** Per-stat aggregation declarations (stats not declared accept set and increment events). */
const statsSchema = z
  .array(
    z
      .object(
        {
          statCode: idString('Stat code.'),
          aggregation: oneOf(
            AGGREGATIONS,
            'latest: the last value set; sum: increments added; max / min: the highest / lowest value reported.',
          ),
        },
        { error: objectError },
      )
      .describe('How the worker folds the events of one stat.'),
    { error: requiredOr((input) => `must be an array (got ${describeValue(input)})`) },
  )
  .meta({
    description: 'Aggregation of each declared stat; an event whose mode does not match is rejected.',
    'x-kubernetes-list-type': 'atomic',
  });

/** The current format's goal, challenge and catalog: exactly the CRD's spec. */
export const currentGoalSchema = goalShape(CURRENT_FIELDS);
export const currentChallengeSchema = challengeShape(CURRENT_FIELDS, currentGoalSchema);
export const catalogSpecSchema = z
  .object({
    challenges: z.array(currentChallengeSchema).meta({ 'x-kubernetes-list-type': 'atomic' }),
    stats: statsSchema.optional(),
  })
  .describe('The challenge catalog (same format as the catalog file, camelCase).');

// Either format, chosen per object by the id field it names (the loader's rule since the first
// version): a preprocess tags the object with its format, a discriminated union checks that format.
const tagFormat = (fieldsOf: (raw: JsonObject) => FieldNames) => (raw: unknown) =>
  isObject(raw) ? { ...raw, [FORMAT]: fieldsOf(raw).format } : raw;

function eitherFormat(
  current: z.ZodObject,
  legacy: z.ZodObject,
  fieldsOf: (raw: JsonObject) => FieldNames,
): z.ZodType {
  return z.preprocess(
    tagFormat(fieldsOf),
    z.discriminatedUnion(FORMAT, [current, legacy], { error: objectError }),
  );
}

/** Drops a legacy goal's own progress_mode when its requirement carries one: the requirement's is
 *  the one that counts, and the goal's was never checked then. */
const legacyGoalInput = (raw: unknown): unknown => {
  if (!isObject(raw) || !isObject(raw.requirement) || raw.requirement.progress_mode === undefined) return raw;
  const { progress_mode: _ignored, ...rest } = raw;
  return rest;
};

const anyGoal = z.preprocess(
  legacyGoalInput,
  eitherFormat(goalShape(CURRENT_FIELDS, true), goalShape(LEGACY_FIELDS, true), goalFields),
);
const anyChallenge = eitherFormat(
  challengeShape(CURRENT_FIELDS, anyGoal, true),
  challengeShape(LEGACY_FIELDS, anyGoal, true),
  challengeFields,
);

/** The catalog document in either format (what a catalog file, an admin publish or a CRD spec holds). */
export const catalogDocumentSchema = z.object(
  {
    challenges: z.array(anyChallenge, {
      error: requiredOr((input) => `must be an array (got ${describeValue(input)})`),
    }),
    stats: statsSchema.optional(),
  },
  { error: (issue) => `catalog must be an object (got ${describeValue(issue.input)})` },
);

/** Key order of the loader's reading, for listing problems in document order. */
const KEY_ORDER = [
  'id',
  'challengeId',
  'goalId',
  'name',
  'description',
  'eventSource',
  'event_source',
  'requirement',
  'requirementGroups',
  'predicates',
  'evaluateAt',
  'statCode',
  'stat_code',
  'operator',
  'targetValue',
  'target_value',
  'progressMode',
  'progress_mode',
  'reward',
  'enabled',
  'type',
  'rewardId',
  'reward_id',
  'quantity',
  'schedule',
  'onExpiry',
  'on_expiry',
  'resetProgress',
  'reset_progress',
  'allowReselection',
  'allow_reselection',
  'defaultAssigned',
  'default_assigned',
  'rotation',
  'prerequisites',
  'goals',
  'challenges',
  'stats',
  'aggregation',
];

function comparePaths(a: readonly PropertyKey[], b: readonly PropertyKey[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return KEY_ORDER.indexOf(String(x)) - KEY_ORDER.indexOf(String(y));
  }
  return a.length - b.length;
}

/** `challenges[0].goals[1].requirement.targetValue` (the loader's JSON path form). */
export function jsonPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '$' : out;
}

export interface FieldProblem {
  readonly path: string;
  readonly message: string;
}

/** The field problems of a catalog document, one per path, in document order (empty when it is valid). */
export function catalogFieldProblems(raw: unknown): FieldProblem[] {
  const result = catalogDocumentSchema.safeParse(raw);
  if (result.success) return [];
  const seen = new Set<string>();
  const problems: FieldProblem[] = [];
  const issues = [...result.error.issues].sort((a, b) => comparePaths(a.path, b.path));
  for (const issue of issues) {
    const path = jsonPath(issue.path);
    if (seen.has(path)) continue;
    seen.add(path);
    problems.push({ path, message: issue.message });
  }
  return problems;
}

// --- the ChallengeCatalog status (written by the elected pod) ------------------------------------

const conditionSchema = z
  .object({
    type: z.string().describe('Valid or Published.'),
    status: z.enum(['True', 'False', 'Unknown']).describe('True, False or Unknown.'),
    observedGeneration: z.number().int().min(0).meta({ format: 'int64' }).optional(),
    lastTransitionTime: z.string().meta({ format: 'date-time', description: 'When status last changed.' }),
    reason: z.string().max(1024).describe('CamelCase reason.'),
    message: z.string().max(32768).describe('Human readable detail.'),
  })
  .describe('metav1.Condition.');

export const catalogStatusSchema = z
  .object({
    observedGeneration: z
      .number()
      .int()
      .meta({ format: 'int64', description: 'metadata.generation last evaluated.' })
      .optional(),
    version: z
      .string()
      .describe('Content hash of the catalog this resource made live (empty when it never was valid).')
      .optional(),
    challenges: z.number().int().describe('Challenges in the live version.').optional(),
    goals: z.number().int().describe('Goals in the live version.').optional(),
    problems: z
      .array(
        z
          .object({
            path: z.string().describe('JSON path in spec.'),
            message: z.string().describe('What is wrong.'),
          })
          .describe('One problem.'),
      )
      .meta({
        description: 'Why the current spec is refused; empty when valid.',
        'x-kubernetes-list-type': 'atomic',
      })
      .optional(),
    conditions: z.array(conditionSchema).meta(CONDITION_LIST).optional(),
  })
  .describe('Written by the elected service pod.');
