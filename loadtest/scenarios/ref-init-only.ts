// The reference's scenario3_init_only: initialise at a warm-up ramp, a ramp-up and a sustained rate
// (10 -> 50 -> 300 -> 300/s over 2 + 3 + 5 minutes in the reference; the durations and the
// sustained rate come from params.json), over a pool of players (so most calls are returning
// players, as with the reference's fixture users), with its checks and per-phase thresholds, on
// the served answers; answers shed by admission are counted in shed_rate (lib/common.ts, served()).
import http from 'k6/http';
import { check } from 'k6';
import {
  API,
  commonOptions,
  executorFor,
  hasArrayField,
  loadParams,
  newRunId,
  reqParams,
  scenarioDef,
  served,
  summaryOutputs,
} from './lib/common.ts';

const NAME = __ENV.SCENARIO || 'ref-init-only';
const params = loadParams(open(__ENV.PARAMS_PATH || '../params.json'));
const ex = executorFor(params, NAME);
const POOL = Number(ex.pool ?? 1000);
const RATE = Number(ex.rate);
const [warm, ramp, hold] = [String(ex.warmup), String(ex.rampUp), String(ex.hold)];
const seconds = (d: string) => Number(d.replace(/s$/, ''));
const VUS = { preAllocatedVUs: Math.max(10, Math.ceil(RATE / 5)), maxVUs: Math.max(50, RATE * 2) };

export const options = {
  scenarios: {
    warmup_phase: {
      executor: 'ramping-arrival-rate',
      startRate: Math.max(1, Math.round(RATE / 30)),
      timeUnit: '1s',
      stages: [{ duration: warm, target: Math.max(1, Math.round(RATE / 6)) }],
      ...VUS,
      exec: 'initializeEndpoint',
      tags: { phase: 'warmup' },
    },
    rampup_phase: {
      executor: 'ramping-arrival-rate',
      startRate: Math.max(1, Math.round(RATE / 6)),
      timeUnit: '1s',
      startTime: warm,
      stages: [{ duration: ramp, target: RATE }],
      ...VUS,
      exec: 'initializeEndpoint',
      tags: { phase: 'rampup' },
    },
    sustained_phase: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      startTime: `${seconds(warm) + seconds(ramp)}s`,
      duration: hold,
      ...VUS,
      exec: 'initializeEndpoint',
      tags: { phase: 'sustained' },
    },
  },
  thresholds: scenarioDef(params, NAME).thresholds,
  ...commonOptions(),
};

export function setup(): { runId: string } {
  return { runId: newRunId() };
}

export function initializeEndpoint(data: { runId: string }): void {
  const u = `${data.runId}-i${Math.floor(Math.random() * POOL)}`;
  const res = http.post(`${API}/challenges/initialize`, '{}', {
    ...reqParams(u, 'init'),
    responseType: 'text',
  });
  if (!served(res, { endpoint: 'init', name: 'init' })) return;
  check(res, {
    'status is 200': (r) => r.status === 200,
    'response has assignedGoals': (r) => hasArrayField(r, 'assignedGoals'),
    'response time < 200ms': (r) => r.timings.duration < 200,
    'response time < 1s': (r) => r.timings.duration < 1000,
  });
}

export function handleSummary(data: Record<string, unknown>): Record<string, string> {
  return summaryOutputs(NAME, data);
}
