// The reference's scenario4 (realistic M4 sessions): each VU plays sessions of initialise, browse
// (list), a random-select (60 %) or batch-select (40 %) in daily-challenges, a progress check
// (list), and a claim of daily-login in 30 % of them, with the reference's think times scaled by
// THINK (1 = theirs); meanwhile the platform's events arrive over gRPC at a constant rate. Same
// checks ('assignedGoals', 'challenges', 'selectedGoals', claim 200 or 409: the reference answered
// 400 for a goal not completed, we answer 409) and thresholds, on the served answers. An answer
// shed by admission is counted in shed_rate and ends the session (the client comes back after
// Retry-After), so no check reads the consequences of a shed request (lib/common.ts, served()).
import http from 'k6/http';
import { check, sleep } from 'k6';
import {
  API,
  commonOptions,
  executorFor,
  loadParams,
  newRunId,
  reqParams,
  scenarioDef,
  served,
  summaryOutputs,
  vuIdInTest,
} from './lib/common.ts';
import { sendGrpcEvent } from './lib/grpcEvents.ts';

const NAME = __ENV.SCENARIO || 'ref-sessions';
const params = loadParams(open(__ENV.PARAMS_PATH || '../params.json'));
const ex = executorFor(params, NAME);
const VUS = Number(ex.vus);
const THINK = Number(ex.thinkScale ?? 1);
const CHALLENGE_ID = 'daily-challenges';
const EVENT_RATE = Number(ex.eventRate);

export const options = {
  scenarios: {
    user_sessions: {
      executor: 'per-vu-iterations',
      vus: VUS,
      iterations: Number(ex.iterations),
      maxDuration: String(ex.maxDuration),
      exec: 'userSession',
    },
    event_load: {
      executor: 'constant-arrival-rate',
      rate: EVENT_RATE,
      timeUnit: '1s',
      duration: String(ex.maxDuration),
      preAllocatedVUs: Math.max(10, Math.ceil(EVENT_RATE / 10)),
      maxVUs: Math.max(50, EVENT_RATE * 2),
      exec: 'eventLoad',
    },
  },
  thresholds: scenarioDef(params, NAME).thresholds,
  ...commonOptions(),
};

const think = (min: number, max: number) => sleep((min + Math.random() * (max - min)) * THINK);
const body = <T>(r: { body: unknown }): T | undefined => {
  try {
    return JSON.parse(String(r.body)) as T;
  } catch {
    return undefined;
  }
};
const text = { responseType: 'text' as const };

export function setup(): { runId: string } {
  return { runId: newRunId() };
}

export function userSession(data: { runId: string }): void {
  const u = `${data.runId}-v${vuIdInTest() - 1}`;
  const init = http.post(`${API}/challenges/initialize`, '{}', {
    ...reqParams(u, 'init', { name: 'initialize' }),
    ...text,
  });
  if (!served(init, { endpoint: 'init', name: 'initialize' })) return;
  check(init, {
    'Initialize: status 200': (r) => r.status === 200,
    'Initialize: has assigned_goals': (r) =>
      Array.isArray(body<{ assignedGoals?: unknown[] }>(r)?.assignedGoals),
  });
  think(1, 2);
  const browse = http.get(`${API}/challenges`, {
    ...reqParams(u, 'list', { name: 'browse_challenges' }),
    ...text,
  });
  if (!served(browse, { endpoint: 'list', name: 'browse_challenges' })) return;
  check(browse, {
    'Browse: status 200': (r) => r.status === 200,
    'Browse: has challenges': (r) => (body<{ challenges?: unknown[] }>(r)?.challenges?.length ?? 0) > 0,
  });
  think(2, 4);
  const random = Math.random() < 0.6;
  const sel = random
    ? http.post(
        `${API}/challenges/${CHALLENGE_ID}/goals/random-select`,
        JSON.stringify({ count: 5, replaceExisting: false, excludeActive: true }),
        { ...reqParams(u, 'random-select'), ...text },
      )
    : http.post(
        `${API}/challenges/${CHALLENGE_ID}/goals/batch-select`,
        JSON.stringify({
          goalIds: ['daily-login', 'daily-10-kills', 'daily-3-matches'],
          replaceExisting: false,
        }),
        { ...reqParams(u, 'batch-select'), ...text },
      );
  const label = random ? 'Random Select' : 'Batch Select';
  const selEndpoint = random ? 'random-select' : 'batch-select';
  if (!served(sel, { endpoint: selEndpoint, name: selEndpoint })) return;
  check(sel, {
    [`${label}: status 200`]: (r) => r.status === 200,
    [`${label}: has selected_goals`]: (r) =>
      (body<{ selectedGoals?: unknown[] }>(r)?.selectedGoals?.length ?? 0) > 0,
  });
  think(8, 15);
  const progress = http.get(`${API}/challenges`, {
    ...reqParams(u, 'list', { name: 'check_progress' }),
    ...text,
  });
  if (!served(progress, { endpoint: 'list', name: 'check_progress' })) return;
  check(progress, {
    'Progress: status 200': (r) => r.status === 200,
    'Progress: has challenge data': (r) =>
      (body<{ challenges?: { challengeId: string }[] }>(r)?.challenges ?? []).some(
        (c) => c.challengeId === CHALLENGE_ID,
      ),
  });
  think(2, 3);
  if (Math.random() < 0.3) {
    const claim = http.post(`${API}/challenges/${CHALLENGE_ID}/goals/daily-login/claim`, null, {
      ...reqParams(u, 'claim'),
      responseCallback: http.expectedStatuses(200, 409),
    });
    if (!served(claim, { endpoint: 'claim', name: 'claim' }, [200, 409])) return;
    check(claim, { 'Claim: status 200 or 409': (r) => r.status === 200 || r.status === 409 });
  }
  think(5, 10);
}

export function eventLoad(data: { runId: string }): void {
  sendGrpcEvent(`${data.runId}-v${Math.floor(Math.random() * VUS)}`);
}

export function handleSummary(data: Record<string, unknown>): Record<string, string> {
  return summaryOutputs(NAME, data);
}
