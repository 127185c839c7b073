// Player routes of API.md: each handler parses the request (./requests.ts), calls the player use
// case (app/usecases/players.ts: admission, limits, facts, rules, statements) and writes the answer
// (./views.ts). Edge shedding comes first: a request of a class admission would refuse right now is
// answered 503 before its token is verified, its idempotency key looked up, or any I/O is done.
// Once admitted, a use case calls the route's parser: a malformed request from a player over its
// limit is answered 429, as before it was parsed.
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock';
import { AdjustableClock } from '../domain/clock';
import { mintToken, type Authenticator } from '../auth/auth';
import { playerResolver } from '../auth/devAuth';
import type { IdempotencyWrapper } from '../idempotency';
import type { PlayerClass, PlayerUseCases } from '../usecases/players';
import { apiError, notFound } from './errors';
import { json, parseJson, type Ctx, type Handler, type HttpServer, type Reply } from './http';
import { openApiDocument } from './openapi';
import * as req from './requests';
import * as view from './views';
import { orThrow, parseBodyObject, parseDevClockBody, parseDevTokenBody } from '../schemas/requests';

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

type Method = 'get' | 'put' | 'post';
/** What a player route does once its player is known: call one use case, write its answer. */
type PlayerHandler = (ctx: Ctx, userId: string) => Promise<Reply>;

const text = (body: string): Reply => ({ status: 200, body });
const parts = (pieces: string[]): Reply => ({ status: 200, body: '', parts: pieces });
const asJson =
  <R>(toJson: (r: R) => unknown) =>
  (r: R): Reply =>
    json(200, toJson(r));

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

  http.route('get', `${b}/healthz`, 'healthz', async () => json(200, { status: 'healthy' }));
  const openapi = JSON.stringify(openApiDocument(b));
  http.route('get', `${b}/openapi.json`, 'openapi', async () => ({ status: 200, body: openapi }));

  const handlers = {
    list_challenges: (ctx, u) =>
      players.list(ctx, u, req.listQuery).then((r) => parts(view.challengeListParts(r))),
    get_challenge: (ctx, u) =>
      players.get(ctx, u, req.challengeRef).then((r) => text(view.challengeAnswerText(r))),
    set_goal_active: (ctx, u) =>
      players.setGoalActive(ctx, u, req.goalActive).then(asJson(view.goalActiveJson)),
    batch_select: (ctx, u) => players.batchSelect(ctx, u, req.batchSelect).then(asJson(view.selectionJson)),
    random_select: (ctx, u) =>
      players.randomSelect(ctx, u, req.randomSelect).then(asJson(view.selectionJson)),
    claim: (ctx, u) => players.claim(ctx, u, req.goalRef).then(asJson(view.claimJson)),
  } satisfies Record<string, PlayerHandler>;

  // Method, path, route name (metrics, idempotency scope), admission class, Idempotency-Key taken.
  // Bodies: active {isActive}; batch-select {goalIds, replaceExisting}; random-select {count,
  // replaceExisting, excludeActive}; list ?activeOnly=true.
  const routes: [Method, string, keyof typeof handlers, PlayerClass, boolean][] = [
    ['get', '/v1/challenges', 'list_challenges', 'read', false],
    ['get', '/v1/challenges/:challengeId', 'get_challenge', 'read', false],
    ['put', '/v1/challenges/:challengeId/goals/:goalId/active', 'set_goal_active', 'player', true],
    ['post', '/v1/challenges/:challengeId/goals/batch-select', 'batch_select', 'player', true],
    ['post', '/v1/challenges/:challengeId/goals/random-select', 'random_select', 'player', true],
    ['post', '/v1/challenges/:challengeId/goals/:goalId/claim', 'claim', 'claim', true],
  ];
  for (const [method, path, name, cls, idempotent] of routes) {
    const h = handlers[name];
    // Shed before the token is verified (for a mutation again after the idempotency lookup; the
    // use case sheds once more after it).
    const authed: Handler = (ctx) => {
      players.shed(cls, ctx.deadline);
      return player(ctx).then((userId) => h(ctx, userId));
    };
    const handler = idempotent ? edge(cls, deps.idempotency.wrap(name, authed, player)) : authed;
    http.route(method, `${b}${path}`, name, handler);
  }

  // POST /v1/challenges/initialize: shed at the edge; then the use case, by what it learns of the player.
  const initialize: Handler = (ctx) =>
    player(ctx).then((userId) => players.initialize(ctx, userId).then((r) => text(view.initializeText(r))));
  http.route(
    'post',
    `${b}/v1/challenges/initialize`,
    'initialize',
    edge('player', deps.idempotency.wrap('initialize', initialize, player)),
  );

  // GET /v1/challenges/{challengeId}/rotation: catalog and clock only
  http.route('get', `${b}/v1/challenges/:challengeId/rotation`, 'rotation', (ctx) =>
    player(ctx).then(() => json(200, view.rotationJson(players.rotation(req.challengeRef(ctx).challengeId)))),
  );

  if (deps.devMode) registerDevRoutes(http, deps);
}

function registerDevRoutes(http: HttpServer, deps: ApiDeps): void {
  const b = deps.basePath;
  http.route('post', `${b}/dev/token`, 'dev_token', async (ctx) => {
    const { userId, service } = orThrow(parseDevTokenBody(parseJson(ctx.body)));
    if (!deps.devSecret) throw apiError('ROUTE_NOT_FOUND', 'dev token issuer needs an HS256 secret');
    return json(200, await mintToken(deps.devSecret, userId, { service, ttlSeconds: 24 * 3600 }));
  });
  http.route('post', `${b}/dev/clock`, 'dev_clock', async (ctx) => {
    const body = orThrow(parseBodyObject(parseJson(ctx.body)));
    if (!(deps.clock instanceof AdjustableClock)) throw notFound('the clock is not adjustable');
    const set = orThrow(parseDevClockBody(body));
    if (set.reset) deps.clock.reset();
    else deps.clock.set(set.now);
    return json(200, { now: new Date(deps.clock.now()).toISOString() });
  });
}
