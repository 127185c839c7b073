// The reference's scenario3_combined as the seeds ran it (600 init/s burst + 300 API/s + 500
// events/s): an initialisation phase of new players (600/s for the first minute), then the gameplay
// phase: API calls at a constant rate (300/s: 10 % initialise again, 15 % activate/deactivate a
// goal, 5 % claim a completed goal, 70 % list, half of them activeOnly) and the platform's events
// over gRPC at a constant rate (500/s), on the 500-goal catalog. The reference's checks
// ('init phase: has assignedGoals', 'gameplay init: fast path' = newAssignments 0, 'challenges: has
// data', 'claim: status 200 or 409', 'Event: login OK' / 'Event: stat OK', ...) and thresholds, on
// the served answers; answers shed by admission are counted in shed_rate (lib/common.ts, served()).
// Rates come from params.json (the reference's rates and 10x).
import http from 'k6/http';
import { check } from 'k6';
import {
  API,
  claimCandidates,
  commonOptions,
  executorFor,
  hasArrayField,
  initMany,
  iterationInTest,
  jsonBody,
  loadParams,
  newRunId,
  numberField,
  pick,
  probeCatalog,
  reqParams,
  scenarioDef,
  served,
  summaryOutputs,
  type Candidate,
  type ChallengeView,
} from './lib/common.ts';
import { sendGrpcEvent } from './lib/grpcEvents.ts';

const NAME = __ENV.SCENARIO || 'ref-combined';
const params = loadParams(open(__ENV.PARAMS_PATH || '../params.json'));
const ex = executorFor(params, NAME);
const POOL = Number(ex.pool ?? 1000);
const INIT_DURATION = String(ex.initDuration);
const vus = (rate: number) => ({
  preAllocatedVUs: Math.max(10, Math.ceil(rate / 10)),
  maxVUs: Math.max(50, Math.ceil(rate * 2)),
});

export const options = {
  scenarios: {
    initialization_phase: {
      executor: 'constant-arrival-rate',
      rate: Number(ex.initRate),
      timeUnit: '1s',
      duration: INIT_DURATION,
      ...vus(Number(ex.initRate)),
      exec: 'initializationPhase',
      tags: { phase: 'init' },
      gracefulStop: '5s',
    },
    api_gameplay: {
      executor: 'constant-arrival-rate',
      rate: Number(ex.listRate),
      timeUnit: '1s',
      startTime: INIT_DURATION,
      duration: String(ex.duration),
      ...vus(Number(ex.listRate)),
      exec: 'apiGameplayPhase',
      tags: { phase: 'gameplay' },
      gracefulStop: '5s',
    },
    event_gameplay: {
      executor: 'constant-arrival-rate',
      rate: Number(ex.eventRate),
      timeUnit: '1s',
      startTime: INIT_DURATION,
      duration: String(ex.duration),
      ...vus(Number(ex.eventRate)),
      exec: 'eventGameplayPhase',
      tags: { phase: 'gameplay' },
      gracefulStop: '5s',
    },
  },
  thresholds: scenarioDef(params, NAME).thresholds,
  ...commonOptions(),
};

interface Data {
  runId: string;
  /** Unlocked goals without prerequisites: what the gameplay phase activates and deactivates. */
  goals: Candidate[];
}

// Player ids `${RUN_ID}-g<i>`: 0..POOL-1 are known (initialised in setup) and play the gameplay
// phase; the initialisation phase brings new ones from POOL on.
export function setup(): Data {
  const runId = newRunId();
  initMany(Array.from({ length: POOL }, (_, i) => `${runId}-g${i}`));
  const all = claimCandidates(probeCatalog(runId));
  if (all.length === 0) throw new Error('the catalog has no unlocked goal to activate');
  // at most 50, spread over the catalog (setup data goes into every summary)
  const step = Math.max(1, Math.floor(all.length / 50));
  return { runId, goals: all.filter((_, i) => i % step === 0).slice(0, 50) };
}

const known = (data: Data) => `${data.runId}-g${Math.floor(Math.random() * POOL)}`;
const text = { responseType: 'text' as const };

export function initializationPhase(data: Data): void {
  const u = `${data.runId}-g${POOL + iterationInTest()}`;
  const res = http.post(`${API}/challenges/initialize`, '{}', { ...reqParams(u, 'init'), ...text });
  if (!served(res, { endpoint: 'init', name: 'init' })) return;
  check(res, {
    'init phase: status 200': (r) => r.status === 200,
    'init phase: has assignedGoals': (r) => hasArrayField(r, 'assignedGoals', true),
  });
}

export function apiGameplayPhase(data: Data): void {
  const u = known(data);
  const roll = Math.random();
  if (roll < 0.1) {
    // a returning player initialises again: nothing new is assigned
    const res = http.post(`${API}/challenges/initialize`, '{}', { ...reqParams(u, 'init'), ...text });
    if (!served(res, { endpoint: 'init', name: 'init' })) return;
    check(res, {
      'gameplay init: status 200': (r) => r.status === 200,
      'gameplay init: fast path': (r) => numberField(r, 'newAssignments') === 0,
    });
  } else if (roll < 0.25) {
    const goal = pick(data.goals);
    const isActive = Math.random() < 0.5;
    // the reference's body, snake_case as its scripts send it
    const res = http.put(
      `${API}/challenges/${goal.challengeId}/goals/${goal.goalId}/active`,
      JSON.stringify({ is_active: isActive }),
      reqParams(u, 'set-active', { action: isActive ? 'activate' : 'deactivate' }),
    );
    if (!served(res, { endpoint: 'set-active', name: 'set-active' })) return;
    check(res, { 'set_active: status 200': (r) => r.status === 200 });
  } else if (roll < 0.3) {
    const list = http.get(`${API}/challenges?active_only=true`, { ...reqParams(u, 'list'), ...text });
    if (!served(list, { endpoint: 'list', name: 'list' }) || list.status !== 200) return;
    const challenges = jsonBody<{ challenges?: ChallengeView[] }>(list)?.challenges ?? [];
    const done = challenges.flatMap((c) =>
      c.goals.filter((g) => g.status === 'completed').map((g) => ({ c: c.challengeId, g: g.goalId })),
    );
    if (done.length === 0) return;
    const claim = http.post(`${API}/challenges/${done[0]!.c}/goals/${done[0]!.g}/claim`, null, {
      ...reqParams(u, 'claim'),
      responseCallback: http.expectedStatuses(200, 409),
    });
    if (!served(claim, { endpoint: 'claim', name: 'claim' }, [200, 409])) return;
    check(claim, { 'claim: status 200 or 409': (r) => r.status === 200 || r.status === 409 });
  } else {
    const activeOnly = Math.random() < 0.5;
    const res = http.get(`${API}/challenges${activeOnly ? '?active_only=true' : ''}`, {
      ...reqParams(u, 'list', { active_only: String(activeOnly) }),
      ...text,
    });
    if (!served(res, { endpoint: 'list', name: 'list' })) return;
    check(res, {
      'challenges: status 200': (r) => r.status === 200,
      // a non-empty challenges array, read without parsing ~200 KB in the load generator
      'challenges: has data': (r) => hasArrayField(r, 'challenges', true),
    });
  }
}

export function eventGameplayPhase(data: Data): void {
  sendGrpcEvent(known(data));
}

export function handleSummary(data: Record<string, unknown>): Record<string, string> {
  return summaryOutputs(NAME, data);
}
