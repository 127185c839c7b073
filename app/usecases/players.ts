// Player operations of API.md (initialize, list, select, claim), knowing nothing of HTTP. Each call:
// admission first (refused before it spends anything), the per-player limit, one catalog version
// and clock reading, the player's facts (one round trip), pure domain rules, at most one statement.
// Everything it uses comes in `PlayerUseCaseDeps`; the api parses requests and writes answers.
import type { Logger } from 'pino';
import type { Admission, AdmissionClass, RateLimits } from '../admission';
import type { KnownPlayers } from '../admission/knownPlayers';
import type { Catalog, Challenge, Goal } from '../domain/catalog';
import type { Clock } from '../domain/clock';
import { emptyFacts, type PlayerFacts } from '../domain/facts';
import { nextPeriod, periodAt, type Period } from '../domain/periods';
import { factPeriodKeys, selectionPeriodKey, ViewBuilder, type GoalView } from '../domain/progress';
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
import { apiError, fromDomain } from '../errors';
import type { Granter } from '../rewards/granter';
import { grantAfterClaim, type RewardStatus } from '../rewards/sync';
import { insertClaim } from '../store/claims';
import type { Db } from '../store/db';
import { writeGoalStates, type GoalStateWrite } from '../store/goalStates';
import {
  initializePlayer,
  PLAYER_EXISTS_MAX_BACKLOG,
  playerExists,
  playerExistsBacklog,
  readPlayerFacts,
} from '../store/players';

export interface PlayerUseCaseDeps {
  /** The pool the store's statements (and their batchers) run on. */
  db: Db;
  catalog: { readonly current: Catalog };
  clock: Clock;
  admission: Admission;
  limits: RateLimits;
  /** Players this pod has seen; absent when admission is off (no new-player budget to take). */
  knownPlayers?: KnownPlayers;
  /** The initialise answer brand-new players of one batch share (see `initialize`). */
  answerMemo?: AnswerMemo<InitializeResult>;
  granter: Granter;
  grantTimeoutMs: number;
  log: Logger;
  metrics: { claims: { inc(labels: { result: 'claimed' | 'conflict' }): void } };
  random?: () => number;
  /** Called after a claim commits (live push of `claimed`). */
  onClaimed?: (userId: string, goal: Goal, claimId: string) => void;
}

/** What a use case needs of the request carrying it: when to give up, and optional hop timings. */
export interface PlayerCall {
  /** epoch ms (wall clock) by which the answer must be sent */
  readonly deadline: number;
  readonly timing?: { mark(name: string): void };
}

/** Classes a player request is admitted under (`init` only inside initialize). */
export type PlayerClass = Extract<AdmissionClass, 'claim' | 'player' | 'read'>;

/** One remembered answer: the last one stored, found again by the same key. */
export class AnswerMemo<T> {
  private key = '';
  private value: T | undefined;
  get(key: string): T | undefined {
    return key === this.key ? this.value : undefined;
  }
  set(key: string, value: T): void {
    this.key = key;
    this.value = value;
  }
}

export interface InitializeResult {
  created: boolean;
  active: readonly GoalView[];
  /** The same object answers every brand-new player of one batch (serialise it once). */
  shared: boolean;
}
export interface ChallengeList {
  now: number;
  challenges: { challenge: Challenge; goals: GoalView[] }[];
}
export interface ChallengeResult {
  now: number;
  challenge: Challenge;
  goals: GoalView[];
}
export interface GoalActiveResult {
  challengeId: string;
  goalId: string;
  isActive: boolean;
  assignedAt: number | null;
}
export interface SelectionResult {
  challengeId: string;
  selected: GoalView[];
  totalActiveGoals: number;
  replacedGoals: string[];
}
export interface ClaimResult {
  goal: Goal;
  claimedAt: number;
  rewardStatus: RewardStatus;
  claimId: string;
}
export interface RotationResult {
  challengeId: string;
  now: number;
  /** null when no goal of the challenge rotates */
  rotation: { type: string; schedule: string; current: Period; next: Period } | null;
}

export interface GoalRef {
  challengeId: string;
  goalId: string;
}
/**
 * A request body, parsed when the use case asks for it: once the challenge (and goal) of the path
 * are found, so that a request to an unknown one is a 404 whatever its body.
 */
export type Body<B> = () => B;
/** A body whose bounds depend on the challenge: parsed with the number of goals it has. */
export type SizedBody<B> = (goalCount: number) => B;
export interface GoalActiveInput extends GoalRef {
  body: Body<{ isActive: boolean }>;
}
export interface BatchSelectInput {
  challengeId: string;
  /** goalIds: each a valid id, at most the challenge's goal count; duplicates are ignored */
  body: SizedBody<{ goalIds: string[]; replaceExisting: boolean }>;
}
export interface RandomSelectInput {
  challengeId: string;
  /** count: an integer from 1 to the challenge's goal count */
  body: SizedBody<{ count: number; replaceExisting: boolean; excludeActive: boolean }>;
}

/**
 * Inputs come as `parse` functions of the call, called once it is admitted: a malformed request from
 * a player over its limit, or while its class is shed, is answered 429/503 as before it was parsed.
 */
export type Parse<C, I> = (call: C) => I;

/** What an admitted call works with: one catalog version, one clock reading, the player's facts. */
interface Session {
  userId: string;
  catalog: Catalog;
  now: number;
  facts: Promise<PlayerFacts>;
}

export type PlayerUseCases = ReturnType<typeof playerUseCases>;

function unwrap<T>(x: T | DomainError): T {
  if (isDomainError(x)) throw fromDomain(x);
  return x;
}

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

function activationWrite(goal: Goal, now: number, isActive: boolean): GoalStateWrite {
  return {
    goalId: goal.goalId,
    periodKey: selectionPeriodKey(goal, now),
    isActive,
    baselineStat: isActive && goal.requirement.progressMode === 'relative' ? goal.requirement.statCode : null,
  };
}

/** The facts after our own goal-state writes, for building the answer without a second read. */
function factsAfterWrites(facts: PlayerFacts, writes: GoalStateWrite[], now: number): PlayerFacts {
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

/** Facts read this long before the call was admitted are read again (admission made it wait). */
const PREFETCH_FRESH_MS = 50;

export function playerUseCases(deps: PlayerUseCaseDeps) {
  const answerMemo = deps.answerMemo ?? new AnswerMemo<InitializeResult>();
  const random = deps.random ?? Math.random;

  /** Refuse at once, before any limiter round trip, when admission would refuse the call anyway. */
  function shed(cls: AdmissionClass, deadline: number): void {
    const refused = deps.admission.check(cls, deadline);
    if (refused) throw refused;
  }

  async function loadFacts(userId: string, now: number): Promise<PlayerFacts> {
    return (
      (await readPlayerFacts(deps.db, userId, factPeriodKeys(deps.catalog.current, now))) ??
      emptyFacts(userId, now)
    );
  }

  /**
   * A player operation admitted under `cls`: shed, per-player limit, admission; `fn` gets the parsed
   * input and the session. The facts read starts alongside the per-player limit's round trip (one hop
   * less per call; the read is batched, at most two statements in flight per pod, so it needs no
   * admission of its own). If admission made the call wait, the facts are read again.
   */
  const op =
    <I, R>(cls: PlayerClass, fn: (input: I, s: Session) => Promise<R>) =>
    async <C extends PlayerCall>(call: C, userId: string, parse: Parse<C, I>): Promise<R> => {
      shed(cls, call.deadline);
      const t0 = deps.clock.now();
      const early = startedEarly(loadFacts(userId, t0));
      await deps.limits.player(userId);
      const catalog = deps.catalog.current;
      // async: a parse error is a rejection inside admission (the slot is given back), not a throw
      return deps.admission.run(cls, call.deadline, async () => {
        const input = parse(call);
        const now = deps.clock.now();
        if (now - t0 <= PREFETCH_FRESH_MS) return fn(input, { userId, catalog, now: t0, facts: early });
        return fn(input, { userId, catalog, now, facts: startedEarly(loadFacts(userId, now)) });
      });
    };

  /**
   * Make the player known and answer its active goals. The fleet-wide new-player budget is for
   * players PostgreSQL does not know. A player this pod has seen goes straight to the statement. For
   * one it has not seen: while the budget has a free slot, take it and initialise in one statement (a
   * returning player new to this pod costs one slot once); when the budget is in use, look the
   * player up first so that returning players are never refused by it, and only an unknown one
   * waits for a slot.
   */
  async function initialize(call: PlayerCall, userId: string): Promise<InitializeResult> {
    const hop = call.timing;
    hop?.mark('auth');
    const catalog = deps.catalog.current;
    const known = deps.knownPlayers;
    let result: { created: boolean; facts: PlayerFacts } | null = null;
    let now = deps.clock.now();
    const create = () =>
      deps.admission.run('init', call.deadline, () => {
        hop?.mark('admit');
        now = deps.clock.now();
        const p = initializePlayer(deps.db, userId, factPeriodKeys(deps.catalog.current, now), now);
        return hop ? p.then((r) => (hop.mark('db'), r)) : p;
      });
    let returning = !known || known.has(userId);
    if (!returning && deps.admission.wouldRefuse('init', call.deadline)) {
      // New-player work is being shed right now: a player PostgreSQL knows goes on as a returning
      // one; any other is refused here, before any limiter round trip. The lookups are bounded:
      // with a statement's worth already waiting, the call is refused without one (a returning
      // player unknown to this pod may then get a 503 too, and its retry finds the pod less busy).
      if (playerExistsBacklog(deps.db) >= PLAYER_EXISTS_MAX_BACKLOG) shed('init', call.deadline);
      if (await playerExists(deps.db, userId)) returning = true;
      else shed('init', call.deadline);
    }
    if (returning) {
      // The per-player limit's round trip and the statement go together (for a known player the
      // statement writes nothing): one hop less; a refused call's answer is dropped.
      shed('player', call.deadline);
      const work = startedEarly(
        deps.admission.run('player', call.deadline, () =>
          initializePlayer(deps.db, userId, factPeriodKeys(deps.catalog.current, now), now),
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
        result = await deps.admission.run('player', call.deadline, () =>
          initializePlayer(deps.db, userId, factPeriodKeys(deps.catalog.current, now), now, false),
        );
        if (!result) {
          await deps.limits.newPlayer(call.deadline);
          result = await create();
        }
      }
    }
    const { created, facts } = result!;
    known?.remember(userId);
    // Brand-new players created in one batch share their creation instant and have no facts, so
    // their answers are identical: build it once per batch (the 500-goal catalog's answer is
    // ~200 KB). The key holds everything the answer depends on.
    const fresh = created && isEmptyFacts(facts);
    const key = fresh
      ? `${catalog.version}|${facts.createdAt}|${factPeriodKeys(catalog, now).join(',')}`
      : '';
    const remembered = fresh ? answerMemo.get(key) : undefined;
    if (remembered) {
      hop?.mark('view');
      return remembered;
    }
    const out: InitializeResult = {
      created,
      active: new ViewBuilder(catalog, facts, now).activeViews(),
      shared: fresh,
    };
    if (fresh) answerMemo.set(key, out);
    hop?.mark('view');
    return out;
  }

  const list = op('read', async (input: { activeOnly: boolean }, s): Promise<ChallengeList> => {
    const views = new ViewBuilder(s.catalog, await s.facts, s.now);
    const challenges = s.catalog.challenges.map((c) => ({
      challenge: c,
      goals: views.challengeViews(c, input.activeOnly),
    }));
    return { now: s.now, challenges };
  });

  const get = op('read', async (input: { challengeId: string }, s): Promise<ChallengeResult> => {
    const challenge = unwrap(findChallenge(s.catalog, input.challengeId));
    const views = new ViewBuilder(s.catalog, await s.facts, s.now);
    return { now: s.now, challenge, goals: views.challengeViews(challenge) };
  });

  const setGoalActive = op('player', async (input: GoalActiveInput, s): Promise<GoalActiveResult> => {
    const challenge = unwrap(findChallenge(s.catalog, input.challengeId));
    const goal = unwrap(findGoal(challenge, input.goalId));
    const { isActive } = input.body();
    const facts = await s.facts;
    if (isActive) {
      const problem = checkSelectable(new ViewBuilder(s.catalog, facts, s.now), facts, goal);
      if (problem) throw fromDomain(problem);
    }
    const written = await writeGoalStates(deps.db, s.userId, s.now, [activationWrite(goal, s.now, isActive)]);
    const assignedAt = isActive ? (written.get(goal.goalId) ?? s.now) : null;
    return { challengeId: challenge.challengeId, goalId: goal.goalId, isActive, assignedAt };
  });

  /** Activate `selected` (and with `replaceExisting` deactivate the challenge's other active goals). */
  async function applySelection(
    s: Session,
    challenge: Challenge,
    facts: PlayerFacts,
    views: ViewBuilder,
    selected: Goal[],
    replaceExisting: boolean,
  ): Promise<SelectionResult> {
    const { now } = s;
    const chosen = new Set(selected.map((g) => g.goalId));
    const replaced = replaceExisting
      ? challenge.goals.filter((g) => !chosen.has(g.goalId) && views.view(g).isActive)
      : [];
    const writes = [
      ...selected.map((g) => activationWrite(g, now, true)),
      ...replaced.map((g) => activationWrite(g, now, false)),
    ];
    await writeGoalStates(deps.db, s.userId, now, writes);
    // Re-derive the answer from the facts as written, without another read.
    const afterViews = new ViewBuilder(s.catalog, factsAfterWrites(facts, writes, now), now);
    return {
      challengeId: challenge.challengeId,
      selected: selected.map((g) => afterViews.view(g)),
      totalActiveGoals: challenge.goals.filter((g) => afterViews.view(g).isActive).length,
      replacedGoals: replaced.map((g) => g.goalId),
    };
  }

  const batchSelect = op('player', async (input: BatchSelectInput, s) => {
    const challenge = unwrap(findChallenge(s.catalog, input.challengeId));
    const { goalIds, replaceExisting } = input.body(challenge.goals.length);
    const goals = [...new Set(goalIds)].map((id) => unwrap(findGoal(challenge, id)));
    const facts = await s.facts;
    const views = new ViewBuilder(s.catalog, facts, s.now);
    for (const g of goals) {
      const problem = checkSelectable(views, facts, g);
      if (problem) throw fromDomain(problem);
    }
    return applySelection(s, challenge, facts, views, goals, replaceExisting);
  });

  const randomSelect = op('player', async (input: RandomSelectInput, s) => {
    const challenge = unwrap(findChallenge(s.catalog, input.challengeId));
    const { count, replaceExisting, excludeActive } = input.body(challenge.goals.length);
    const facts = await s.facts;
    const views = new ViewBuilder(s.catalog, facts, s.now);
    const exclude = excludeActive || replaceExisting;
    const candidates = randomSelectCandidates(views, facts, challenge, exclude);
    if (candidates.length < count) {
      const details = { available: candidates.length, requested: count };
      throw apiError(
        'INSUFFICIENT_GOALS',
        `only ${candidates.length} eligible goals, ${count} requested`,
        details,
      );
    }
    const picked = pickRandom(candidates, count, random);
    return applySelection(s, challenge, facts, views, picked, replaceExisting);
  });

  const claim = op('claim', async (input: GoalRef, { userId, catalog, now, facts }): Promise<ClaimResult> => {
    const challenge = unwrap(findChallenge(catalog, input.challengeId));
    const goal = unwrap(findGoal(challenge, input.goalId));
    const problem = checkClaimable(new ViewBuilder(catalog, await facts, now).view(goal));
    if (problem) {
      deps.metrics.claims.inc({ result: 'conflict' });
      throw fromDomain(problem);
    }
    const periodKey = claimPeriodKey(goal, now);
    const { challengeId } = challenge;
    const req = { userId, challengeId, goalId: goal.goalId, periodKey, reward: goal.reward };
    const claimId = await insertClaim(deps.db, { ...req, now });
    if (claimId === null) {
      // Lost the race to a concurrent claim of the same goal and period.
      deps.metrics.claims.inc({ result: 'conflict' });
      const message = `reward of goal ${goal.goalId} has already been claimed`;
      throw apiError('GOAL_ALREADY_CLAIMED', message, { goalId: goal.goalId });
    }
    deps.metrics.claims.inc({ result: 'claimed' });
    deps.onClaimed?.(userId, goal, claimId);
    // One short attempt; on failure the outbox relay (or an operator, if dead) takes over.
    const { db, granter, clock, log, grantTimeoutMs: timeoutMs } = deps;
    const rewardStatus = await grantAfterClaim({ db, granter, clock, log, timeoutMs }, { claimId, ...req });
    return { goal, claimedAt: now, rewardStatus, claimId };
  });

  /** The rotation schedule of a challenge: catalog and clock only, no player state. */
  function rotation(challengeId: string): RotationResult {
    const catalog = deps.catalog.current;
    const now = deps.clock.now();
    const challenge = unwrap(findChallenge(catalog, challengeId));
    const rotating = challenge.goals.find((g) => g.rotation)?.rotation;
    if (!rotating) return { challengeId: challenge.challengeId, now, rotation: null };
    const { schedule, type } = rotating;
    return {
      challengeId: challenge.challengeId,
      now,
      rotation: { type, schedule, current: periodAt(schedule, now), next: nextPeriod(schedule, now) },
    };
  }

  return { shed, initialize, list, get, setGoalActive, batchSelect, randomSelect, claim, rotation };
}
