// Player routes of API.md. Each handler: authenticate, take the catalog version once, read the
// player's facts (one round trip), decide with pure domain rules, write at most one statement.
import type { Logger } from 'pino';
import type { CatalogHolder } from '../catalog/holder';
import type { Catalog, Challenge, Goal } from '../domain/catalog';
import type { Clock } from '../domain/clock';
import { AdjustableClock } from '../domain/clock';
import { emptyFacts, type PlayerFacts } from '../domain/facts';
import { nextPeriod, periodAt } from '../domain/periods';
import { selectionPeriodKey, ViewBuilder } from '../domain/progress';
import {
  checkClaimable,
  checkSelectable,
  claimPeriodKey,
  findChallenge,
  findGoal,
  isDomainError,
  pickRandom,
  randomSelectCandidates,
  type DomainError,
} from '../domain/rules';
import type { Admission, RateLimits } from '../admission';
import type { KnownPlayers } from '../admission/knownPlayers';
import type { Granter } from '../rewards/granter';
import { grantAfterClaim } from '../rewards/sync';
import { claimsTotal } from '../ops/metrics';
import type { Db } from '../store/db';
import { insertClaim } from '../store/claims';
import { writeGoalStates, type GoalStateWrite } from '../store/goalStates';
import {
  initializePlayer,
  PLAYER_EXISTS_MAX_BACKLOG,
  playerExists,
  playerExistsBacklog,
  readPlayerFacts,
} from '../store/players';
import { mintToken, type Authenticator } from '../auth/auth';
import { playerResolver } from '../auth/devAuth';
import { apiError, badRequest, fromDomain, notFound } from './errors';
import { json, parseJson, type Ctx, type Handler, type HttpServer, type Reply } from './http';
import { openApiDocument } from './openapi';
import type { IdempotencyWrapper } from '../idempotency';
import { assignedGoalJson, assignedGoalText, challengeText, iso } from './views';
import { MAX_ID_LENGTH } from '../limits';
import { orThrow, parseBodyObject, parseDevClockBody, parseDevTokenBody } from '../schemas/requests';

export { noIdempotency, type IdempotencyWrapper } from '../idempotency';

export interface ApiDeps {
  basePath: string;
  catalog: CatalogHolder;
  db: Db;
  clock: Clock;
  auth: Authenticator;
  admission: Admission;
  limits: RateLimits;
  /** Players this pod has seen; absent when admission is off (no new-player budget to take). */
  knownPlayers?: KnownPlayers;
  granter: Granter;
  grantTimeoutMs: number;
  idempotency: IdempotencyWrapper;
  log: Logger;
  devMode: boolean;
  devSecret?: string;
  /** With devMode: X-Mock-User-Id names the player of a request (the reference's auth-off mode). */
  devMockUserHeader?: boolean;
  random?: () => number;
  /** Called after a claim commits (live push of `claimed`). */
  onClaimed?: (userId: string, goal: Goal, claimId: string) => void;
}

const MAX_ID = MAX_ID_LENGTH;

// ---- request validation (clear 400s that name the field) ----------------------------------

/** The reference's HTTP gateway also took the proto field names; its clients send some of them. */
const SNAKE_ALIASES: Record<string, string> = {
  goal_ids: 'goalIds',
  replace_existing: 'replaceExisting',
  exclude_active: 'excludeActive',
  is_active: 'isActive',
};

function bodyObject(ctx: Ctx): Record<string, unknown> {
  const v = parseJson(ctx.body);
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw badRequest('request body must be a JSON object');
  const body = v as Record<string, unknown>;
  for (const [snake, camel] of Object.entries(SNAKE_ALIASES)) {
    if (snake in body && !(camel in body)) body[camel] = body[snake];
  }
  return body;
}

function optionalBool(body: Record<string, unknown>, field: string, def: boolean): boolean {
  const v = body[field];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') throw badRequest(`${field} must be a boolean`, { field });
  return v;
}

function checkId(value: string, field: string): string {
  if (value.length === 0) throw badRequest(`${field} must not be empty`, { field });
  if (value.length > MAX_ID)
    throw badRequest(`${field} is longer than ${MAX_ID} characters`, { field, max: MAX_ID });
  return value;
}

function unwrap<T>(x: T | DomainError): T {
  if (isDomainError(x)) throw fromDomain(x);
  return x;
}

/** Period keys current now for every schedule: bounds the baselines and claims a read ships. */
function currentPeriodKeys(now: number): string[] {
  return [periodAt('daily', now).key, periodAt('weekly', now).key, periodAt('monthly', now).key];
}

function activationWrite(goal: Goal, now: number, isActive: boolean): GoalStateWrite {
  return {
    goalId: goal.goalId,
    periodKey: selectionPeriodKey(goal, now),
    isActive,
    baselineStat: isActive && goal.requirement.progressMode === 'relative' ? goal.requirement.statCode : null,
  };
}

// ---- routes ------------------------------------------------------------------------------

function isEmptyFacts(f: PlayerFacts): boolean {
  return f.stats.size === 0 && f.goalStates.size === 0 && f.claims.size === 0 && f.baselines.size === 0;
}

/**
 * `p`, started ahead of need: a refused call or a refused input may drop it unawaited, so its
 * rejection must not count as unhandled (whoever awaits it still gets the error).
 */
function startedEarly<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** Facts read this long before the call was admitted are read again (admission made it wait). */
const PREFETCH_FRESH_MS = 50;

export function registerPlayerRoutes(http: HttpServer, deps: ApiDeps): void {
  const freshAnswer = { key: '', body: '' };
  const b = deps.basePath;
  const random = deps.random ?? Math.random;
  const resolvePlayer = playerResolver(deps.auth, deps.devMode && deps.devMockUserHeader === true);
  const player = (ctx: Ctx) => resolvePlayer(ctx.headers);
  /**
   * Shed at the edge: a request of a class admission would refuse right now is answered 503 before
   * its token is verified, its idempotency key looked up, or any Redis or PostgreSQL work is done.
   */
  const edge =
    (cls: 'claim' | 'player' | 'read', h: Handler): Handler =>
    (ctx) => {
      shedNow(cls, ctx);
      return h(ctx);
    };
  const idem = (name: string, cls: 'claim' | 'player', h: Handler) =>
    edge(cls, deps.idempotency.wrap(name, h, player));

  async function loadFacts(userId: string, now: number): Promise<PlayerFacts> {
    return (await readPlayerFacts(deps.db, userId, currentPeriodKeys(now))) ?? emptyFacts(userId, now);
  }

  /** Refuse at once, before any limiter round trip, when admission would refuse the call anyway. */
  function shedNow(cls: 'claim' | 'player' | 'read' | 'init', ctx: Ctx): void {
    const refused = deps.admission.check(cls, ctx.deadline);
    if (refused) throw refused;
  }

  /**
   * Authenticate + per-player limit + admission; `fn` gets the player id, a consistent catalog and
   * clock, and the player's facts. The facts read starts alongside the per-player limit's round trip
   * (one hop less per call; the read is batched, at most two statements in flight per pod, so it
   * needs no admission of its own). If admission made the call wait, the facts are read again.
   */
  function playerCall(
    cls: 'claim' | 'player' | 'read',
    ctx: Ctx,
    fn: (userId: string, catalog: Catalog, now: number, facts: Promise<PlayerFacts>) => Promise<Reply>,
  ): Promise<Reply> {
    shedNow(cls, ctx); // at the edge, before the token is verified
    return player(ctx).then(async (userId) => {
      shedNow(cls, ctx);
      const t0 = deps.clock.now();
      const early = startedEarly(loadFacts(userId, t0));
      await deps.limits.player(userId);
      const catalog = deps.catalog.current;
      return deps.admission.run(cls, ctx.deadline, () => {
        const now = deps.clock.now();
        if (now - t0 <= PREFETCH_FRESH_MS) return fn(userId, catalog, t0, early);
        return fn(userId, catalog, now, startedEarly(loadFacts(userId, now)));
      });
    });
  }

  http.route('get', `${b}/healthz`, 'healthz', async () => json(200, { status: 'healthy' }));
  const openapi = JSON.stringify(openApiDocument(b));
  http.route('get', `${b}/openapi.json`, 'openapi', async () => ({ status: 200, body: openapi }));

  // GET /v1/challenges?activeOnly=true
  http.route('get', `${b}/v1/challenges`, 'list_challenges', (ctx) =>
    playerCall('read', ctx, async (userId, catalog, now, pending) => {
      const raw = ctx.query.get('activeOnly') ?? ctx.query.get('active_only');
      if (raw !== null && raw !== 'true' && raw !== 'false' && raw !== '1' && raw !== '0' && raw !== '') {
        throw badRequest('activeOnly must be true or false', { field: 'activeOnly' });
      }
      const activeOnly = raw === 'true' || raw === '1';
      const facts = await pending;
      const views = new ViewBuilder(catalog, facts, now);
      // One piece per challenge (a 500-goal catalog's answer is ~200 KB), see Reply.parts.
      const parts = catalog.challenges.map(
        (c, i) => (i ? ',' : '{"challenges":[') + challengeText(c, views.challengeViews(c, activeOnly), now),
      );
      if (parts.length === 0) parts.push('{"challenges":[');
      parts.push(']}');
      return { status: 200, body: '', parts };
    }),
  );

  // GET /v1/challenges/{challengeId}
  http.route('get', `${b}/v1/challenges/:challengeId`, 'get_challenge', (ctx) =>
    playerCall('read', ctx, async (userId, catalog, now, pending) => {
      const challenge = unwrap(findChallenge(catalog, checkId(ctx.params[0]!, 'challengeId')));
      const facts = await pending;
      const views = new ViewBuilder(catalog, facts, now);
      return { status: 200, body: challengeText(challenge, views.challengeViews(challenge), now) };
    }),
  );

  // POST /v1/challenges/initialize
  http.route(
    'post',
    `${b}/v1/challenges/initialize`,
    'initialize',
    idem('initialize', 'player', (ctx) =>
      player(ctx).then(async (userId) => {
        const hop = ctx.timing;
        hop?.mark('auth');
        const catalog = deps.catalog.current;
        // The fleet-wide new-player budget is for players PostgreSQL does not know. A player this
        // pod has seen goes straight to the statement. For one it has not seen: while the budget
        // has a free slot, take it and initialise in one statement (a returning player new to this
        // pod costs one slot once); when the budget is in use, look the player up first so that
        // returning players are never refused by it, and only an unknown one waits for a slot.
        const known = deps.knownPlayers;
        let result: { created: boolean; facts: PlayerFacts } | null = null;
        let now = deps.clock.now();
        const create = () =>
          deps.admission.run('init', ctx.deadline, () => {
            hop?.mark('admit');
            now = deps.clock.now();
            const p = initializePlayer(deps.db, userId, currentPeriodKeys(now), now);
            return hop ? p.then((r) => (hop.mark('db'), r)) : p;
          });
        let returning = !known || known.has(userId);
        if (!returning && deps.admission.wouldRefuse('init', ctx.deadline)) {
          // New-player work is being shed right now: a player PostgreSQL knows goes on as a returning
          // one; any other is refused here, before any limiter round trip. The lookups are bounded:
          // with a statement's worth already waiting, the call is refused without one (a returning
          // player unknown to this pod may then get a 503 too, and its retry finds the pod less busy).
          if (playerExistsBacklog(deps.db) >= PLAYER_EXISTS_MAX_BACKLOG) shedNow('init', ctx);
          if (await playerExists(deps.db, userId)) returning = true;
          else shedNow('init', ctx);
        }
        if (returning) {
          // The per-player limit's round trip and the statement go together (for a known player the
          // statement writes nothing): one hop less; a refused call's answer is dropped.
          shedNow('player', ctx);
          const work = startedEarly(
            deps.admission.run('player', ctx.deadline, () =>
              initializePlayer(deps.db, userId, currentPeriodKeys(now), now),
            ),
          );
          await deps.limits.player(userId);
          hop?.mark('limits');
          result = await work;
          hop?.mark('db');
        } else {
          // The fleet budget answers before a new player is written, however idle this pod is: the
          // budget protects PostgreSQL across the fleet, and a write cannot be taken back.
          const [, slot] = await Promise.all([deps.limits.player(userId), deps.limits.tryNewPlayer()]);
          hop?.mark('limits');
          if (slot) result = await create();
          else {
            result = await deps.admission.run('player', ctx.deadline, () =>
              initializePlayer(deps.db, userId, currentPeriodKeys(now), now, false),
            );
            if (!result) {
              await deps.limits.newPlayer(ctx.deadline);
              result = await create();
            }
          }
        }
        const { created, facts } = result!;
        known?.remember(userId);
        // Brand-new players created in one batch share their creation instant and have no facts,
        // so their answers are identical: build it once per batch (the 500-goal catalog's answer
        // is ~200 KB). The key holds everything the answer depends on.
        const fresh = created && isEmptyFacts(facts);
        const key = fresh ? `${catalog.version}|${facts.createdAt}|${currentPeriodKeys(now).join(',')}` : '';
        if (fresh && key === freshAnswer.key) {
          hop?.mark('view');
          return { status: 200, body: freshAnswer.body };
        }
        const views = new ViewBuilder(catalog, facts, now).activeViews();
        const body = `{"assignedGoals":[${views.map(assignedGoalText).join(',')}],"newAssignments":${created ? views.length : 0},"totalActive":${views.length}}`;
        if (fresh) {
          freshAnswer.key = key;
          freshAnswer.body = body;
        }
        hop?.mark('view');
        return { status: 200, body };
      }),
    ),
  );

  // PUT /v1/challenges/{challengeId}/goals/{goalId}/active  {isActive}
  http.route(
    'put',
    `${b}/v1/challenges/:challengeId/goals/:goalId/active`,
    'set_goal_active',
    idem('set_goal_active', 'player', (ctx) =>
      playerCall('player', ctx, async (userId, catalog, now, pending) => {
        const challenge = unwrap(findChallenge(catalog, checkId(ctx.params[0]!, 'challengeId')));
        const goal = unwrap(findGoal(challenge, checkId(ctx.params[1]!, 'goalId')));
        const body = bodyObject(ctx);
        if (typeof body.isActive !== 'boolean')
          throw badRequest('isActive must be a boolean', { field: 'isActive' });
        const isActive = body.isActive;
        const facts = await pending;
        if (isActive) {
          const problem = checkSelectable(new ViewBuilder(catalog, facts, now), facts, goal);
          if (problem) throw fromDomain(problem);
        }
        const written = await writeGoalStates(deps.db, userId, now, [activationWrite(goal, now, isActive)]);
        return json(200, {
          challengeId: challenge.challengeId,
          goalId: goal.goalId,
          isActive,
          assignedAt: iso(isActive ? (written.get(goal.goalId) ?? now) : null),
          message: isActive ? 'goal activated' : 'goal deactivated',
        });
      }),
    ),
  );

  async function applySelection(
    userId: string,
    catalog: Catalog,
    challenge: Challenge,
    facts: PlayerFacts,
    views: ViewBuilder,
    selected: Goal[],
    replaceExisting: boolean,
    now: number,
  ): Promise<Reply> {
    const chosen = new Set(selected.map((g) => g.goalId));
    const replaced = replaceExisting
      ? challenge.goals.filter((g) => !chosen.has(g.goalId) && views.view(g).isActive)
      : [];
    const writes = [
      ...selected.map((g) => activationWrite(g, now, true)),
      ...replaced.map((g) => activationWrite(g, now, false)),
    ];
    await writeGoalStates(deps.db, userId, now, writes);
    // Re-derive the answer from the facts as written, without another read.
    const after = await loadFactsAfter(facts, writes, now);
    const afterViews = new ViewBuilder(catalog, after, now);
    return json(200, {
      challengeId: challenge.challengeId,
      selectedGoals: selected.map((g) => assignedGoalJson(afterViews.view(g))),
      totalActiveGoals: challenge.goals.filter((g) => afterViews.view(g).isActive).length,
      replacedGoals: replaced.map((g) => g.goalId),
    });
  }

  // POST /v1/challenges/{challengeId}/goals/batch-select {goalIds, replaceExisting}
  http.route(
    'post',
    `${b}/v1/challenges/:challengeId/goals/batch-select`,
    'batch_select',
    idem('batch_select', 'player', (ctx) =>
      playerCall('player', ctx, async (userId, catalog, now, pending) => {
        const challenge = unwrap(findChallenge(catalog, checkId(ctx.params[0]!, 'challengeId')));
        const body = bodyObject(ctx);
        const ids = body.goalIds;
        if (!Array.isArray(ids) || ids.length === 0) {
          throw badRequest('goalIds must be a non-empty array of goal ids', { field: 'goalIds' });
        }
        if (ids.length > challenge.goals.length) {
          throw badRequest(
            `goalIds has more entries than the challenge has goals (${challenge.goals.length})`,
            {
              field: 'goalIds',
            },
          );
        }
        const replaceExisting = optionalBool(body, 'replaceExisting', false);
        const goals: Goal[] = [];
        const seen = new Set<string>();
        ids.forEach((id, i) => {
          if (typeof id !== 'string')
            throw badRequest(`goalIds[${i}] must be a string`, { field: `goalIds[${i}]` });
          checkId(id, `goalIds[${i}]`);
          if (seen.has(id)) return;
          seen.add(id);
          goals.push(unwrap(findGoal(challenge, id)));
        });
        const facts = await pending;
        const views = new ViewBuilder(catalog, facts, now);
        for (const g of goals) {
          const problem = checkSelectable(views, facts, g);
          if (problem) throw fromDomain(problem);
        }
        return applySelection(userId, catalog, challenge, facts, views, goals, replaceExisting, now);
      }),
    ),
  );

  // POST /v1/challenges/{challengeId}/goals/random-select {count, replaceExisting, excludeActive}
  http.route(
    'post',
    `${b}/v1/challenges/:challengeId/goals/random-select`,
    'random_select',
    idem('random_select', 'player', (ctx) =>
      playerCall('player', ctx, async (userId, catalog, now, pending) => {
        const challenge = unwrap(findChallenge(catalog, checkId(ctx.params[0]!, 'challengeId')));
        const body = bodyObject(ctx);
        const count = body.count;
        if (typeof count !== 'number' || !Number.isInteger(count)) {
          throw badRequest('count must be an integer', { field: 'count' });
        }
        if (count < 1 || count > challenge.goals.length) {
          throw badRequest(`count must be between 1 and ${challenge.goals.length}`, {
            field: 'count',
            min: 1,
            max: challenge.goals.length,
          });
        }
        const replaceExisting = optionalBool(body, 'replaceExisting', false);
        const excludeActive = optionalBool(body, 'excludeActive', false);
        const facts = await pending;
        const views = new ViewBuilder(catalog, facts, now);
        const candidates = randomSelectCandidates(views, facts, challenge, excludeActive || replaceExisting);
        if (candidates.length < count) {
          throw apiError(
            'INSUFFICIENT_GOALS',
            `only ${candidates.length} eligible goals, ${count} requested`,
            {
              available: candidates.length,
              requested: count,
            },
          );
        }
        const picked = pickRandom(candidates, count, random);
        return applySelection(userId, catalog, challenge, facts, views, picked, replaceExisting, now);
      }),
    ),
  );

  // POST /v1/challenges/{challengeId}/goals/{goalId}/claim
  http.route(
    'post',
    `${b}/v1/challenges/:challengeId/goals/:goalId/claim`,
    'claim',
    idem('claim', 'claim', (ctx) =>
      playerCall('claim', ctx, async (userId, catalog, now, pending) => {
        const challenge = unwrap(findChallenge(catalog, checkId(ctx.params[0]!, 'challengeId')));
        const goal = unwrap(findGoal(challenge, checkId(ctx.params[1]!, 'goalId')));
        const facts = await pending;
        const view = new ViewBuilder(catalog, facts, now).view(goal);
        const problem = checkClaimable(view);
        if (problem) {
          claimsTotal.inc({ result: 'conflict' });
          throw fromDomain(problem);
        }
        const periodKey = claimPeriodKey(goal, now);
        const claimId = await insertClaim(deps.db, {
          userId,
          challengeId: challenge.challengeId,
          goalId: goal.goalId,
          periodKey,
          reward: goal.reward,
          now,
        });
        if (claimId === null) {
          // Lost the race to a concurrent claim of the same goal and period.
          claimsTotal.inc({ result: 'conflict' });
          throw apiError('GOAL_ALREADY_CLAIMED', `reward of goal ${goal.goalId} has already been claimed`, {
            goalId: goal.goalId,
          });
        }
        claimsTotal.inc({ result: 'claimed' });
        deps.onClaimed?.(userId, goal, claimId);
        // One short attempt; on failure the outbox relay (or an operator, if dead) takes over.
        const rewardStatus = await grantAfterClaim(
          {
            db: deps.db,
            granter: deps.granter,
            clock: deps.clock,
            log: deps.log,
            timeoutMs: deps.grantTimeoutMs,
          },
          {
            claimId,
            userId,
            challengeId: challenge.challengeId,
            goalId: goal.goalId,
            periodKey,
            reward: goal.reward,
          },
        );
        return json(200, {
          goalId: goal.goalId,
          status: 'claimed',
          reward: { type: goal.reward.type, rewardId: goal.reward.rewardId, quantity: goal.reward.quantity },
          claimedAt: new Date(now).toISOString(),
          rewardStatus,
          claimId,
        });
      }),
    ),
  );

  // GET /v1/challenges/{challengeId}/rotation
  http.route('get', `${b}/v1/challenges/:challengeId/rotation`, 'rotation', (ctx) =>
    player(ctx).then(async () => {
      const catalog = deps.catalog.current;
      const now = deps.clock.now();
      const challenge = unwrap(findChallenge(catalog, checkId(ctx.params[0]!, 'challengeId')));
      const rotating = challenge.goals.find((g) => g.rotation);
      if (!rotating?.rotation) {
        return json(200, {
          challengeId: challenge.challengeId,
          rotation: { enabled: false, type: '', schedule: '', currentPeriod: null, nextPeriod: null },
        });
      }
      const { schedule, type } = rotating.rotation;
      const period = (p: { start: number; end: number }) => ({
        startTime: new Date(p.start).toISOString(),
        endTime: new Date(p.end).toISOString(),
        expiresInSeconds: Math.max(0, Math.floor((p.end - now) / 1000)),
      });
      return json(200, {
        challengeId: challenge.challengeId,
        rotation: {
          enabled: true,
          type,
          schedule,
          currentPeriod: period(periodAt(schedule, now)),
          nextPeriod: period(nextPeriod(schedule, now)),
        },
      });
    }),
  );

  if (deps.devMode) registerDevRoutes(http, deps);
}

/** The facts after our own goal-state writes, for building the answer without a second read. */
async function loadFactsAfter(
  facts: PlayerFacts,
  writes: GoalStateWrite[],
  now: number,
): Promise<PlayerFacts> {
  const goalStates = new Map(facts.goalStates);
  for (const w of writes) {
    const key = `${w.goalId}|${w.periodKey}`;
    const prev = goalStates.get(key);
    const keepAssigned = w.isActive && prev?.isActive === true;
    let baseline = prev?.baseline ?? null;
    if (w.isActive && baseline === null && w.baselineStat)
      baseline = facts.stats.get(w.baselineStat)?.value ?? null;
    goalStates.set(key, {
      goalId: w.goalId,
      periodKey: w.periodKey,
      isActive: w.isActive,
      assignedAt: w.isActive ? (keepAssigned ? prev.assignedAt : now) : null,
      baseline,
    });
  }
  return { ...facts, goalStates };
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
