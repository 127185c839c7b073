// Player routes of API.md: each handler parses the request (./requests.ts), calls the player use
// case (app/usecases/players.ts: admission, limits, facts, rules, statements) and writes the answer
// (./views.ts). Edge shedding comes first: a request of a class admission would refuse right now is
// answered 503 before its token is verified, its idempotency key looked up, or any I/O is done.
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock';
import { AdjustableClock } from '../domain/clock';
import { mintToken, type Authenticator } from '../auth/auth';
import { playerResolver } from '../auth/devAuth';
import type { IdempotencyWrapper } from '../idempotency';
import type { PlayerClass, PlayerUseCases } from '../usecases/players';
import { apiError, badRequest, notFound } from './errors';
import { json, type Ctx, type Handler, type HttpServer, type Reply } from './http';
import { openApiDocument } from './openapi';
import * as req from './requests';
import * as view from './views';

export { noIdempotency, type IdempotencyWrapper } from '../idempotency';

export interface ApiDeps {
  basePath: string;
  players: PlayerUseCases;
  auth: Authenticator;
  idempotency: IdempotencyWrapper;
  log: Logger;
  /** The service clock (the dev routes may set it). */
  clock: Clock;
  devMode: boolean;
  devSecret?: string;
  /** With devMode: X-Mock-User-Id names the player of a request (the reference's auth-off mode). */
  devMockUserHeader?: boolean;
}

export function registerPlayerRoutes(http: HttpServer, deps: ApiDeps): void {
  const { players } = deps;
  const b = deps.basePath;
  const resolvePlayer = playerResolver(deps.auth, deps.devMode && deps.devMockUserHeader === true);
  const player = (ctx: Ctx) => resolvePlayer(ctx.headers);
  const edge =
    (cls: PlayerClass, h: Handler): Handler =>
    (ctx) => {
      players.shed(cls, ctx.deadline);
      return h(ctx);
    };
  const idem = (name: string, cls: PlayerClass, h: Handler) =>
    edge(cls, deps.idempotency.wrap(name, h, player));
  /** Shed (before the token is verified), authenticate, run the use case, write its answer. */
  const call =
    <R>(cls: PlayerClass, run: (ctx: Ctx, userId: string) => Promise<R>, write: (r: R) => Reply): Handler =>
    (ctx) => {
      players.shed(cls, ctx.deadline);
      return player(ctx).then((userId) => run(ctx, userId).then(write));
    };
  const ok =
    <R>(toJson: (r: R) => unknown) =>
    (r: R) =>
      json(200, toJson(r));

  http.route('get', `${b}/healthz`, 'healthz', async () => json(200, { status: 'healthy' }));
  const openapi = JSON.stringify(openApiDocument(b));
  http.route('get', `${b}/openapi.json`, 'openapi', async () => ({ status: 200, body: openapi }));

  // GET /v1/challenges?activeOnly=true
  http.route(
    'get',
    `${b}/v1/challenges`,
    'list_challenges',
    call(
      'read',
      (ctx, userId) => players.list(ctx, userId, () => req.listQuery(ctx)),
      (r) => ({ status: 200, body: '', parts: view.challengeListParts(r) }),
    ),
  );

  // GET /v1/challenges/{challengeId}
  http.route(
    'get',
    `${b}/v1/challenges/:challengeId`,
    'get_challenge',
    call(
      'read',
      (ctx, userId) => players.get(ctx, userId, () => req.challengeRef(ctx)),
      (r) => ({ status: 200, body: view.challengeText(r.challenge, r.goals, r.now) }),
    ),
  );

  // POST /v1/challenges/initialize
  http.route(
    'post',
    `${b}/v1/challenges/initialize`,
    'initialize',
    idem('initialize', 'player', (ctx) =>
      player(ctx)
        .then((userId) => players.initialize(ctx, userId))
        .then((r) => ({ status: 200, body: view.initializeText(r) })),
    ),
  );

  // PUT /v1/challenges/{challengeId}/goals/{goalId}/active  {isActive}
  http.route(
    'put',
    `${b}/v1/challenges/:challengeId/goals/:goalId/active`,
    'set_goal_active',
    idem(
      'set_goal_active',
      'player',
      call(
        'player',
        (ctx, userId) => players.setGoalActive(ctx, userId, () => req.goalActiveRequest(ctx)),
        ok(view.goalActiveJson),
      ),
    ),
  );

  // POST /v1/challenges/{challengeId}/goals/batch-select {goalIds, replaceExisting}
  http.route(
    'post',
    `${b}/v1/challenges/:challengeId/goals/batch-select`,
    'batch_select',
    idem(
      'batch_select',
      'player',
      call(
        'player',
        (ctx, userId) => players.batchSelect(ctx, userId, () => req.batchSelectRequest(ctx)),
        ok(view.selectionJson),
      ),
    ),
  );

  // POST /v1/challenges/{challengeId}/goals/random-select {count, replaceExisting, excludeActive}
  http.route(
    'post',
    `${b}/v1/challenges/:challengeId/goals/random-select`,
    'random_select',
    idem(
      'random_select',
      'player',
      call(
        'player',
        (ctx, userId) => players.randomSelect(ctx, userId, () => req.randomSelectRequest(ctx)),
        ok(view.selectionJson),
      ),
    ),
  );

  // POST /v1/challenges/{challengeId}/goals/{goalId}/claim
  http.route(
    'post',
    `${b}/v1/challenges/:challengeId/goals/:goalId/claim`,
    'claim',
    idem(
      'claim',
      'claim',
      call('claim', (ctx, userId) => players.claim(ctx, userId, () => req.goalRef(ctx)), ok(view.claimJson)),
    ),
  );

  // GET /v1/challenges/{challengeId}/rotation
  http.route('get', `${b}/v1/challenges/:challengeId/rotation`, 'rotation', (ctx) =>
    player(ctx).then(() => json(200, view.rotationJson(players.rotation(req.challengeRef(ctx).challengeId)))),
  );

  if (deps.devMode) registerDevRoutes(http, deps);
}

function registerDevRoutes(http: HttpServer, deps: ApiDeps): void {
  const b = deps.basePath;
  http.route('post', `${b}/dev/token`, 'dev_token', async (ctx) => {
    const body = req.bodyObject(ctx);
    const service = req.optionalBool(body, 'service', false);
    const userId = body.userId ?? (service ? 'dev-game-server' : undefined);
    if (typeof userId !== 'string') throw badRequest('userId must be a string', { field: 'userId' });
    req.checkId(userId, 'userId');
    if (!deps.devSecret) throw apiError('ROUTE_NOT_FOUND', 'dev token issuer needs an HS256 secret');
    return json(200, await mintToken(deps.devSecret, userId, { service, ttlSeconds: 24 * 3600 }));
  });
  http.route('post', `${b}/dev/clock`, 'dev_clock', async (ctx) => {
    const body = req.bodyObject(ctx);
    if (!(deps.clock instanceof AdjustableClock)) throw notFound('the clock is not adjustable');
    if (body.reset === true) deps.clock.reset();
    else {
      if (typeof body.now !== 'string' || Number.isNaN(Date.parse(body.now))) {
        throw badRequest('now must be an ISO 8601 time', { field: 'now' });
      }
      deps.clock.set(Date.parse(body.now));
    }
    return json(200, { now: new Date(deps.clock.now()).toISOString() });
  });
}
