// The documents of the player HTTP surface (docs/API.md) as zod schemas: each request body and each
// answer. components.schemas of the served OpenAPI 3.1 document (app/api/openapi.ts) is generated
// from API_SCHEMAS; the request parsers (app/schemas/requests.ts) check bodies with the request
// schemas; a test holds the text serialisers of app/api/views.ts against the answer schemas.
import { z } from 'zod';
import { MAX_EVENTS_PER_REQUEST, MAX_ID_LENGTH } from '../limits';

const id = () => z.string().min(1).max(MAX_ID_LENGTH);
const nonNegativeInt = () => z.number().int().min(0);
const positiveInt = () => z.number().int().min(1);
/** An ISO 8601 instant as the service writes it (Date.toISOString). */
const instant = () => z.iso.datetime();
const timestamp = (description: string) => instant().nullable().describe(description);

export const ErrorBody = z.object({
  code: z.number().int().describe("Numeric code, from the reference service's error table where one exists."),
  message: z.string().describe('Human-readable text; never internals.'),
  error: z.string().describe('Stable string id of the error, for programs.'),
  details: z.looseObject({}).describe('Structured context, e.g. `available`.'),
});

export const GoalStatus = z.enum(['not_started', 'in_progress', 'completed', 'claimed']);
export const RewardStatus = z
  .enum(['granted', 'pending'])
  .describe('`pending`: the claim is recorded and the reward will be delivered by the outbox relay.');

const Operator = z.enum(['>=', '>', '==', '!=', '<', '<=']);

export const Requirement = z.object({
  statCode: id(),
  operator: Operator,
  targetValue: positiveInt(),
  progressMode: z.enum(['absolute', 'relative']).optional(),
  requirementGroups: z
    .array(
      z.object({
        predicates: z
          .array(z.object({ statCode: id(), operator: Operator, targetValue: positiveInt() }))
          .min(1),
      }),
    )
    .min(1)
    .describe(
      'When the catalog declares groups: an OR of groups, each an AND of predicates (statCode, operator, targetValue are the first predicate of the first group). progress / target are those of the closest group.',
    )
    .optional(),
  evaluateAt: z
    .enum(['periodEnd'])
    .describe(
      "Present when the goal is judged on the stats at its rotation period's end (operators <, <=, != or declared): in_progress while the period runs, completed (claimable in the next period) if the stats satisfied it at the end.",
    )
    .optional(),
});

export const Reward = z.object({
  type: z.enum(['ITEM', 'WALLET']),
  rewardId: id(),
  quantity: positiveInt(),
});

export const GoalView = z.object({
  goalId: id(),
  name: z.string(),
  description: z.string(),
  requirement: Requirement,
  reward: Reward,
  prerequisites: z.array(id()),
  progress: nonNegativeInt().describe('Clamped to [0, target].'),
  target: positiveInt(),
  status: GoalStatus,
  locked: z.boolean().describe('Some prerequisite is neither completed nor claimed.'),
  isActive: z.boolean(),
  assignedAt: timestamp('When the goal became active for the player.'),
  completedAt: timestamp(
    'When progress reached the target (the applied event that made it; for claimed goals never after the claim); null unless completed or claimed.',
  ),
  claimedAt: timestamp('When the reward was claimed in the current period.'),
  expiresAt: timestamp('End of the current rotation period; null for goals that do not rotate.'),
  expiresInSeconds: nonNegativeInt().nullable(),
  period: z.string().nullable().describe('Start of the current rotation period (our addition).').optional(),
  // A goal's claim may also be `dead`: the outbox relay gave up delivering it (app/store/outbox.ts);
  // the claim answer itself is only ever granted or pending.
  rewardStatus: z
    .enum(['granted', 'pending', 'dead'])
    .nullable()
    .describe(
      'Delivery state after a claim, null before one (our addition); `dead`: delivery gave up after its retries (POST /rewards/replay-dead on the ops port sends it again).',
    )
    .optional(),
});

export const Challenge = z.object({
  challengeId: id(),
  name: z.string(),
  description: z.string(),
  goals: z.array(GoalView),
});

export const ChallengeList = z.object({ challenges: z.array(Challenge) });

export const AssignedGoal = z.object({
  challengeId: id(),
  goalId: id(),
  name: z.string(),
  description: z.string(),
  requirement: Requirement,
  reward: Reward,
  isActive: z.boolean(),
  assignedAt: timestamp('When the goal became active for the player.'),
  expiresAt: timestamp('End of the current rotation period; null for goals that do not rotate.'),
  progress: nonNegativeInt(),
  target: positiveInt(),
  status: GoalStatus,
  completedAt: timestamp('When progress reached the target (same value as in the challenge list).'),
});

export const InitializeResponse = z.object({
  assignedGoals: z.array(AssignedGoal),
  newAssignments: nonNegativeInt().describe('Goals assigned by this call.'),
  totalActive: nonNegativeInt(),
});

export const SetActiveRequest = z.strictObject({ isActive: z.boolean() });

export const SetActiveResponse = z.object({
  challengeId: id(),
  goalId: id(),
  isActive: z.boolean(),
  assignedAt: timestamp('When the goal became active; null after deselection.'),
  message: z.string(),
});

export const BatchSelectRequest = z.strictObject({
  goalIds: z.array(id()).min(1).meta({ uniqueItems: true }),
  replaceExisting: z.boolean().default(false),
});

export const RandomSelectRequest = z.strictObject({
  count: positiveInt().describe('At most the number of goals in the challenge.'),
  replaceExisting: z.boolean().default(false),
  excludeActive: z.boolean().default(false),
});

export const SelectResponse = z.object({
  challengeId: id(),
  selectedGoals: z.array(AssignedGoal),
  totalActiveGoals: nonNegativeInt(),
  replacedGoals: z.array(id()).describe('Goals deactivated by replaceExisting.'),
});

export const ClaimResponse = z.object({
  goalId: id(),
  status: z.literal('claimed'),
  reward: Reward,
  claimedAt: instant(),
  rewardStatus: RewardStatus,
});

export const RotationPeriod = z.object({
  startTime: instant(),
  endTime: instant(),
  expiresInSeconds: nonNegativeInt(),
});

export const RotationResponse = z.object({
  challengeId: id(),
  rotation: z.object({
    enabled: z.boolean().describe('False when no goal of the challenge rotates.'),
    type: z.enum(['global', '']).nullable().describe('Empty when no goal rotates.'),
    schedule: z.enum(['daily', 'weekly', 'monthly', '']).nullable().describe('Empty when no goal rotates.'),
    currentPeriod: RotationPeriod.nullable(),
    nextPeriod: RotationPeriod.nullable(),
  }),
});

export const Event = z
  .object({
    eventId: id().describe('Unique per producer; a replayed id changes nothing.'),
    userId: id(),
    type: z.enum(['login', 'stat']),
    statCode: id().describe('Required for `stat` events.').optional(),
    value: z.number().describe('Required for `stat` events.').optional(),
    mode: z
      .enum(['set', 'increment', 'max', 'min'])
      .describe(
        "Must match the stat's aggregation when the catalog declares one (latest = set, sum = increment, max, min; omitted = the declared one); undeclared stats take set or increment. A mismatch is rejected with its reason.",
      )
      .optional(),
    occurredAt: z.string().meta({ format: 'date-time' }),
  })
  .superRefine((event, ctx) => {
    if (event.type !== 'stat') return;
    for (const field of ['statCode', 'value'] as const) {
      if (event[field] === undefined) ctx.addIssue({ code: 'custom', message: 'is required', path: [field] });
    }
  })
  // The same rule for JSON Schema readers (zod states refinements in no schema).
  .meta({ if: { properties: { type: { const: 'stat' } } }, then: { required: ['statCode', 'value'] } });

export const EventsRequest = z.object({ events: z.array(Event).max(MAX_EVENTS_PER_REQUEST) });

export const EventsResponse = z.object({
  accepted: nonNegativeInt(),
  rejected: z.array(
    z.object({
      index: nonNegativeInt().describe('Position of the event in the request.'),
      reason: z.string(),
    }),
  ),
});

export const WsPush = z.object({
  type: z.enum(['progress', 'completed', 'claimed', 'catalog']),
  challengeId: id(),
  goalId: id(),
  progress: nonNegativeInt(),
  target: positiveInt(),
  status: GoalStatus,
});

export const Health = z.looseObject({ status: z.string().meta({ example: 'ok' }).optional() });

export const DevTokenRequest = z.object({
  userId: id().describe('Player id (`sub`) of the player token to mint.').optional(),
  service: z.boolean().describe('Mint a service token instead.').optional(),
});

export const DevTokenResponse = z.object({ token: z.string(), expiresAt: instant() });

export const DevClockRequest = z.object({
  now: z
    .string()
    .meta({ format: 'date-time', description: 'The clock jumps here, then runs on.' })
    .optional(),
  reset: z.boolean().describe('Back to the real clock.').optional(),
});

export const DevClockResponse = z.object({ now: instant() });

/** DELETE /v1/users/me/data (documented inline, not as a component). */
export const GdprDeleteResponse = z.object({
  userId: id(),
  deleted: z.record(z.string(), nonNegativeInt()),
});

/** components.schemas of the OpenAPI document, by name. */
export const API_SCHEMAS = {
  Error: ErrorBody,
  GoalStatus,
  RewardStatus,
  Requirement,
  Reward,
  GoalView,
  Challenge,
  ChallengeList,
  AssignedGoal,
  InitializeResponse,
  SetActiveRequest,
  SetActiveResponse,
  BatchSelectRequest,
  RandomSelectRequest,
  SelectResponse,
  ClaimResponse,
  RotationPeriod,
  RotationResponse,
  Event,
  EventsRequest,
  EventsResponse,
  WsPush,
  Health,
  DevTokenRequest,
  DevTokenResponse,
  DevClockRequest,
  DevClockResponse,
} as const satisfies Record<string, z.ZodType>;

/** An id path/header parameter's schema (challengeId, goalId, Idempotency-Key). */
export const ID_PARAMETER = id();

// --- JSON Schema (OpenAPI 3.1 = JSON Schema 2020-12) -------------------------------------------

type Json = Record<string, unknown>;
const SAFE = Number.MAX_SAFE_INTEGER;
const REF_PREFIX = '#/components/schemas/';

/** `X | null` as the document always wrote it: `type: [t, 'null']` for a plain type (zod writes
 *  `anyOf: [X, {type: null}]`), `oneOf: [ref, null]` for a reference. */
function nullableForm(obj: Json): Json {
  const any = obj.anyOf;
  if (!Array.isArray(any) || any.length !== 2 || JSON.stringify(any[1]) !== '{"type":"null"}') return obj;
  const { anyOf: _anyOf, ...rest } = obj;
  const inner = any[0] as Json;
  if (typeof inner.$ref === 'string') return { oneOf: any, ...rest };
  if (typeof inner.type !== 'string') return obj;
  return {
    ...inner,
    type: [inner.type, 'null'],
    ...(Array.isArray(inner.enum) ? { enum: [...(inner.enum as unknown[]), null] } : {}),
    ...rest,
  };
}

function tidy(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(tidy);
  if (typeof node !== 'object' || node === null) return node;
  const obj = nullableForm(node as Json);
  const out: Json = {};
  for (const [key, value] of Object.entries(obj)) {
    if (key === '$schema' || key === '$id') continue;
    // zod states the safe-integer range of every integer; the document never did.
    if ((key === 'maximum' && value === SAFE) || (key === 'minimum' && value === -SAFE)) continue;
    // The format says it; zod's date-time regex is not portable between JSON Schema dialects.
    if (key === 'pattern' && obj.format === 'date-time') continue;
    // An open object (z.looseObject) is `additionalProperties: true`, as the document wrote it.
    if (
      key === 'additionalProperties' &&
      typeof value === 'object' &&
      value !== null &&
      Object.keys(value).length === 0
    ) {
      out[key] = true;
      continue;
    }
    // An object open to anything declares no properties.
    if (
      key === 'properties' &&
      Object.keys(value as Json).length === 0 &&
      obj.additionalProperties !== undefined
    )
      continue;
    // A record's keys are strings in JSON anyway.
    if (key === 'propertyNames' && JSON.stringify(value) === '{"type":"string"}') continue;
    out[key] = tidy(value);
  }
  return out;
}

/** components.schemas, generated from API_SCHEMAS (refs between them as #/components/schemas/Name). */
export function apiComponentSchemas(): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [name, schema] of Object.entries(API_SCHEMAS)) registry.add(schema, { id: name });
  const out = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'throw',
    uri: (name) => `${REF_PREFIX}${name}`,
  });
  return tidy(out.schemas) as Record<string, Json>;
}

/** One schema inline (no refs), e.g. a parameter's or a response that is no component. */
export function inlineSchema(schema: z.ZodType): Json {
  return tidy(
    z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'throw' }),
  ) as Json;
}
