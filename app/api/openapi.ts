// The OpenAPI 3.1 document of the HTTP surface in docs API.md, served at GET {base}/openapi.json.
// OPENAPI_ROUTES is written out separately so a test can hold the server's route table against it.
// The schemas of request bodies and answers are generated from their zod schemas (app/schemas/api.ts);
// this file adds the operations (paths, parameters, error responses, security). The generated
// document is committed as docs/openapi.json (test/unit/openapi-generated.test.ts holds them equal).
import {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_EVENTS_BODY_BYTES,
  MAX_EVENTS_PER_REQUEST,
  MAX_ID_LENGTH,
} from '../limits';
import {
  API_SCHEMAS,
  apiComponentSchemas,
  GdprDeleteResponse,
  ID_PARAMETER,
  inlineSchema,
} from '../schemas/api';

/** Method + path template (relative to the base path) of every documented operation. */
export const OPENAPI_ROUTES: ReadonlyArray<{ method: string; path: string }> = [
  { method: 'GET', path: '/v1/challenges' },
  { method: 'GET', path: '/v1/challenges/{challengeId}' },
  { method: 'POST', path: '/v1/challenges/initialize' },
  { method: 'PUT', path: '/v1/challenges/{challengeId}/goals/{goalId}/active' },
  { method: 'POST', path: '/v1/challenges/{challengeId}/goals/batch-select' },
  { method: 'POST', path: '/v1/challenges/{challengeId}/goals/random-select' },
  { method: 'POST', path: '/v1/challenges/{challengeId}/goals/{goalId}/claim' },
  { method: 'GET', path: '/v1/challenges/{challengeId}/rotation' },
  { method: 'POST', path: '/v1/events' },
  { method: 'DELETE', path: '/v1/users/me/data' },
  { method: 'GET', path: '/v1/ws' },
  { method: 'GET', path: '/healthz' },
  { method: 'GET', path: '/openapi.json' },
  { method: 'POST', path: '/dev/token' },
  { method: 'POST', path: '/dev/clock' },
];

type Schema = Record<string, unknown>;

const ref = (kind: 'schemas' | 'responses' | 'parameters' | 'headers', name: string): Schema => ({
  $ref: `#/components/${kind}/${name}`,
});
const schemaRef = (name: keyof typeof API_SCHEMAS): Schema => ref('schemas', name);
const idString: Schema = inlineSchema(ID_PARAMETER);
const MIB = 1024 * 1024;

const errorContent = { 'application/json': { schema: schemaRef('Error') } };
const retryAfter = { 'Retry-After': ref('headers', 'RetryAfter') };

const responses: Record<string, Schema> = {
  BadRequest: {
    description:
      `Malformed JSON, wrong field types, ids over ${MAX_ID_LENGTH} characters, count out of range, ` +
      `more than ${MAX_EVENTS_PER_REQUEST.toLocaleString('en-US')} events.`,
    content: errorContent,
  },
  Unauthorized: { description: 'Missing or invalid credential.', content: errorContent },
  Forbidden: {
    description: 'Wrong kind of credential (e.g. a player token on a service route).',
    content: errorContent,
  },
  NotFound: { description: 'Unknown challenge or goal, or unknown route.', content: errorContent },
  Conflict: {
    description:
      "The goal's state forbids it: already claimed, not completed, not active, locked by prerequisites, period expired.",
    content: errorContent,
  },
  PayloadTooLarge: {
    description:
      `Body over the limit (${DEFAULT_MAX_BODY_BYTES / MIB} MiB; events ${DEFAULT_MAX_EVENTS_BODY_BYTES / MIB} MiB), ` +
      'refused from Content-Length before reading.',
    content: errorContent,
  },
  TooManyRequests: {
    description: 'Per-player or per-client rate limit.',
    headers: retryAfter,
    content: errorContent,
  },
  InternalError: {
    description: 'A bug; logged with a request id, no internals in the body.',
    content: errorContent,
  },
  ServiceUnavailable: {
    description: 'Overload (admission queue full or deadline passed) or draining.',
    headers: retryAfter,
    content: errorContent,
  },
};

const parameters: Record<string, Schema> = {
  ChallengeId: { name: 'challengeId', in: 'path', required: true, schema: idString },
  GoalId: { name: 'goalId', in: 'path', required: true, schema: idString },
  IdempotencyKey: {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description:
      'The same key with the same body within 24 h returns the first answer (status and body, with header Idempotent-Replayed: true) instead of acting again; the same key with a different request -> 422 IDEMPOTENCY_KEY_REUSED; a duplicate while the first is still running -> 409 IDEMPOTENCY_KEY_IN_PROGRESS.',
    schema: idString,
  },
};

const headers: Record<string, Schema> = {
  RetryAfter: {
    description: 'Seconds to wait before retrying (jittered on 503).',
    schema: { type: 'integer', minimum: 0 },
  },
};

type Status = '400' | '401' | '403' | '404' | '409' | '413' | '422' | '429' | '500' | '503';

const errorResponseNames: Record<Exclude<Status, '422'>, string> = {
  '400': 'BadRequest',
  '401': 'Unauthorized',
  '403': 'Forbidden',
  '404': 'NotFound',
  '409': 'Conflict',
  '413': 'PayloadTooLarge',
  '429': 'TooManyRequests',
  '500': 'InternalError',
  '503': 'ServiceUnavailable',
};

function errors(statuses: Status[], unprocessable?: string): Record<string, Schema> {
  const out: Record<string, Schema> = {};
  for (const status of statuses) {
    out[status] =
      status === '422'
        ? {
            description:
              (unprocessable ?? 'A rule the request cannot meet.') +
              ' Also IDEMPOTENCY_KEY_REUSED: the Idempotency-Key was used with a different request.',
            content: errorContent,
          }
        : ref('responses', errorResponseNames[status]);
  }
  return out;
}

const ok = (
  description: string,
  schemaName: keyof typeof API_SCHEMAS,
  status = '200',
): Record<string, Schema> => ({
  [status]: { description, content: { 'application/json': { schema: schemaRef(schemaName) } } },
});

const jsonBody = (schemaName: keyof typeof API_SCHEMAS, required = true): Schema => ({
  required,
  content: { 'application/json': { schema: schemaRef(schemaName) } },
});

const playerSecurity = [{ bearerAuth: [] }];
const serviceSecurity = [{ bearerAuth: [] }, { apiKey: [] }];
const publicSecurity: unknown[] = [];

// Error statuses every authenticated player call can meet; routes add their own on top.
const PLAYER_READ_ERRORS: Status[] = ['400', '401', '403', '429', '500', '503'];
// 409 IDEMPOTENCY_KEY_IN_PROGRESS and 422 IDEMPOTENCY_KEY_REUSED apply to every write route.
const PLAYER_WRITE_ERRORS: Status[] = [...PLAYER_READ_ERRORS, '413', '409', '422'];

function operation(op: Schema): Schema {
  return { tags: ['player'], security: playerSecurity, ...op };
}

function paths(): Record<string, Record<string, Schema>> {
  const challengeParam = ref('parameters', 'ChallengeId');
  const goalParam = ref('parameters', 'GoalId');
  const idempotency = ref('parameters', 'IdempotencyKey');
  const activeOnly = (name: string, deprecatedAlias: boolean): Schema => ({
    name,
    in: 'query',
    required: false,
    description: deprecatedAlias
      ? 'Alias of activeOnly (reference clients send it).'
      : 'Keep active goals only.',
    schema: { type: 'boolean', default: false },
  });

  return {
    '/v1/challenges': {
      get: operation({
        operationId: 'listChallenges',
        summary: "All challenges with the player's goal views.",
        parameters: [activeOnly('activeOnly', false), activeOnly('active_only', true)],
        responses: { ...ok('Challenges.', 'ChallengeList'), ...errors(PLAYER_READ_ERRORS) },
      }),
    },
    '/v1/challenges/{challengeId}': {
      get: operation({
        operationId: 'getChallenge',
        summary: "One challenge with the player's goal views.",
        parameters: [challengeParam],
        responses: { ...ok('The challenge.', 'Challenge'), ...errors([...PLAYER_READ_ERRORS, '404']) },
      }),
    },
    '/v1/challenges/initialize': {
      post: operation({
        operationId: 'initializePlayer',
        summary: 'Make the player known and assign default goals. Idempotent.',
        parameters: [idempotency],
        responses: { ...ok('Assigned goals.', 'InitializeResponse'), ...errors(PLAYER_WRITE_ERRORS) },
      }),
    },
    '/v1/challenges/{challengeId}/goals/{goalId}/active': {
      put: operation({
        operationId: 'setGoalActive',
        summary: 'Select or deselect one goal. Idempotent.',
        parameters: [challengeParam, goalParam, idempotency],
        requestBody: jsonBody('SetActiveRequest'),
        responses: {
          ...ok('New state.', 'SetActiveResponse'),
          ...errors([...PLAYER_WRITE_ERRORS, '404', '409']),
        },
      }),
    },
    '/v1/challenges/{challengeId}/goals/batch-select': {
      post: operation({
        operationId: 'batchSelectGoals',
        summary: 'Select several goals; all or nothing.',
        parameters: [challengeParam, idempotency],
        requestBody: jsonBody('BatchSelectRequest'),
        responses: {
          ...ok('Selection.', 'SelectResponse'),
          ...errors([...PLAYER_WRITE_ERRORS, '404', '409']),
        },
      }),
    },
    '/v1/challenges/{challengeId}/goals/random-select': {
      post: operation({
        operationId: 'randomSelectGoals',
        summary: 'Select `count` goals at random among eligible ones.',
        parameters: [challengeParam, idempotency],
        requestBody: jsonBody('RandomSelectRequest'),
        responses: {
          ...ok('Selection.', 'SelectResponse'),
          ...errors(
            [...PLAYER_WRITE_ERRORS, '404', '422'],
            'Fewer eligible goals than asked; `details.available` holds how many there are.',
          ),
        },
      }),
    },
    '/v1/challenges/{challengeId}/goals/{goalId}/claim': {
      post: operation({
        operationId: 'claimGoalReward',
        summary: 'Claim the reward of a completed goal, once per goal and period.',
        parameters: [challengeParam, goalParam, idempotency],
        responses: { ...ok('Claimed.', 'ClaimResponse'), ...errors([...PLAYER_WRITE_ERRORS, '404', '409']) },
      }),
    },
    '/v1/challenges/{challengeId}/rotation': {
      get: operation({
        operationId: 'getChallengeRotation',
        summary: "Current and next period of the challenge's rotating goals.",
        parameters: [challengeParam],
        responses: { ...ok('Rotation.', 'RotationResponse'), ...errors([...PLAYER_READ_ERRORS, '404']) },
      }),
    },
    '/v1/events': {
      post: {
        tags: ['service'],
        operationId: 'ingestEvents',
        summary: 'Ingest up to 1,000 login/stat events (service credential).',
        description:
          'Bad events are rejected with their index and reason; good ones in the same batch are accepted.',
        security: serviceSecurity,
        requestBody: jsonBody('EventsRequest'),
        responses: {
          ...ok('Accepted (also when some events were rejected).', 'EventsResponse', '202'),
          ...errors(['400', '401', '403', '413', '429', '500', '503']),
        },
      },
    },
    '/v1/users/me/data': {
      delete: operation({
        operationId: 'deleteMyData',
        summary: 'GDPR erasure: every row, queued event and Redis key of the calling player (once a minute).',
        description:
          'Answers `{userId, deleted: {<table>: rows, queued_events, redis_keys}}`. A second call within 60 s is 429 (docs/GDPR.md).',
        responses: {
          '200': {
            description: 'Erased; rows deleted per place.',
            content: {
              'application/json': { schema: inlineSchema(GdprDeleteResponse) },
            },
          },
          ...errors(['400', '401', '403', '429', '500', '503']),
        },
      }),
    },
    '/v1/ws': {
      get: {
        tags: ['player'],
        operationId: 'openWebSocket',
        summary: "WebSocket of pushes for the player's active goals.",
        description:
          'Upgrade with `Connection: Upgrade` and `Upgrade: websocket`. The player JWT comes as `?token=` or as the ' +
          'first message; the server then pushes `WsPush` messages (see `x-websocket-message`). After a GDPR ' +
          'erasure of the player it sends `{"type": "erased", "userId": ...}` and closes with code 4410.',
        security: [{ bearerAuth: [] }, { wsToken: [] }, {}],
        'x-websocket-message': schemaRef('WsPush'),
        responses: {
          '101': { description: 'Switching Protocols: the WebSocket is open.' },
          ...errors(['400', '401', '429', '500', '503']),
        },
      },
    },
    '/healthz': {
      get: {
        tags: ['ops'],
        operationId: 'healthz',
        summary: 'Liveness.',
        security: publicSecurity,
        responses: { ...ok('Alive.', 'Health') },
      },
    },
    '/openapi.json': {
      get: {
        tags: ['ops'],
        operationId: 'getOpenApiDocument',
        summary: 'This document.',
        security: publicSecurity,
        responses: {
          '200': {
            description: 'OpenAPI 3.1 document.',
            content: { 'application/json': { schema: { type: 'object' } } },
          },
          ...errors(['429', '500', '503']),
        },
      },
    },
    '/dev/token': {
      post: {
        tags: ['dev'],
        operationId: 'devMintToken',
        summary: 'Dev mode only: mint a player token (`userId`) or a service token (`service: true`).',
        security: publicSecurity,
        requestBody: jsonBody('DevTokenRequest'),
        responses: {
          ...ok('Token.', 'DevTokenResponse'),
          ...errors(['400', '404', '413', '429', '500', '503']),
        },
      },
    },
    '/dev/clock': {
      post: {
        tags: ['dev'],
        operationId: 'devSetClock',
        summary: "Dev mode only: set the service's clock (`now`), or `reset: true` back to real time.",
        security: publicSecurity,
        requestBody: jsonBody('DevClockRequest'),
        responses: {
          ...ok('Clock set.', 'DevClockResponse'),
          ...errors(['400', '404', '413', '429', '500', '503']),
        },
      },
    },
  };
}

export function openApiDocument(basePath: string): object {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Challenge service',
      version: '1',
      description:
        'Player routes keep the reference service paths and field names. Ops-port routes (metrics, readiness, admin) ' +
        'are not part of this document. `/dev/` routes answer 404 unless dev mode is on.',
    },
    servers: [{ url: basePath, description: 'Paths below are relative to the configured base path.' }],
    security: playerSecurity,
    tags: [
      { name: 'player', description: 'Player JWT (`sub` = player id).' },
      { name: 'service', description: 'Game servers and trusted backends: service JWT or API key.' },
      { name: 'ops', description: 'Unauthenticated health and documentation.' },
      { name: 'dev', description: 'Dev mode only.' },
    ],
    paths: paths(),
    components: {
      schemas: apiComponentSchemas(),
      responses,
      parameters,
      headers,
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'Player token, or on service routes a service token carrying the configured scope.',
        },
        apiKey: {
          type: 'apiKey',
          in: 'header',
          name: 'X-Api-Key',
          description: 'Service API key (service routes).',
        },
        wsToken: {
          type: 'apiKey',
          in: 'query',
          name: 'token',
          description: 'Player JWT for the WebSocket upgrade.',
        },
      },
    },
  };
}
