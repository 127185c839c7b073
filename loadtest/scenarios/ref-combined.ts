// The reference's scenario3_combined workload (the seeds' verdict): a burst of new players
// initialising (600/s for the first minute), list calls at a constant rate (300/s) and the
// platform's events over gRPC at a constant rate (500/s), on the 500-goal catalog; the reference's
// checks ('API: status 200', 'Event: login OK', 'Event: stat OK', initialise answers with
// assignedGoals) and thresholds. Rates come from params.json (reference rates and 10x).
import http from 'k6/http';
import { check } from 'k6';
import {
  API,
  commonOptions,
  executorFor,
  initMany,
  iterationInTest,
  loadParams,
  newRunId,
  reqParams,
  scenarioDef,
  summaryOutputs,
} from './lib/common.ts';
import { sendGrpcEvent } from './lib/grpcEvents.ts';

const NAME = __ENV.SCENARIO || 'ref-combined';
const params = loadParams(open(__ENV.PARAMS_PATH || '../params.json'));
const ex = executorFor(params, NAME);
const POOL = Number(ex.pool ?? 1000);
const vus = (rate: number) => ({
  preAllocatedVUs: Math.max(10, Math.ceil(rate / 10)),
  maxVUs: Math.max(50, Math.ceil(rate * 2)),
});

export const options = {
  scenarios: {
    init_burst: {
      executor: 'constant-arrival-rate',
      rate: Number(ex.initRate),
      timeUnit: '1s',
      duration: String(ex.initDuration),
      ...vus(Number(ex.initRate)),
      exec: 'initBurst',
      gracefulStop: '5s',
    },
    api_load: {
      executor: 'constant-arrival-rate',
      rate: Number(ex.listRate),
      timeUnit: '1s',
      duration: String(ex.duration),
      ...vus(Number(ex.listRate)),
      exec: 'apiLoad',
      gracefulStop: '5s',
    },
    event_load: {
      executor: 'constant-arrival-rate',
      rate: Number(ex.eventRate),
      timeUnit: '1s',
      duration: String(ex.duration),
      ...vus(Number(ex.eventRate)),
      exec: 'eventLoad',
      gracefulStop: '5s',
    },
  },
  thresholds: scenarioDef(params, NAME).thresholds,
  ...commonOptions(),
};

interface Data {
  runId: string;
}

// Player ids `${RUN_ID}-g<i>`: 0..POOL-1 are known (initialised in setup), the rest arrive new.
export function setup(): Data {
  const runId = newRunId();
  initMany(Array.from({ length: POOL }, (_, i) => `${runId}-g${i}`));
  return { runId };
}

const known = (data: Data) => `${data.runId}-g${Math.floor(Math.random() * POOL)}`;

export function initBurst(data: Data): void {
  const u = `${data.runId}-g${POOL + iterationInTest()}`;
  const res = http.post(`${API}/challenges/initialize`, '{}', {
    ...reqParams(u, 'init'),
    responseType: 'text',
  });
  check(res, {
    'Init: status 200': (r) => r.status === 200,
    'Init: has assignedGoals': (r) => {
      try {
        return Array.isArray((JSON.parse(String(r.body)) as { assignedGoals?: unknown }).assignedGoals);
      } catch {
        return false;
      }
    },
  });
}

export function apiLoad(data: Data): void {
  const res = http.get(`${API}/challenges`, reqParams(known(data), 'list'));
  check(res, { 'API: status 200': (r) => r.status === 200 });
}

export function eventLoad(data: Data): void {
  sendGrpcEvent(known(data));
}

export function handleSummary(data: Record<string, unknown>): Record<string, string> {
  return summaryOutputs(NAME, data);
}
