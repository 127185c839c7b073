// Burst: new players at a steady base rate, then `burstFactor` x capacity for the hold time, then
// back to the base rate. Every answer must be 200, or 429/503 with Retry-After, within the deadline.
// CAPACITY (env, new-player inits/s, the bench passes the rate init-new-typical achieved) sets
// base = capacity / 2 and burst = capacity x factor; without it the profile's baseRate is used.
import http from 'k6/http';
import {
  commonOptions,
  executorFor,
  initialize,
  iterationInTest,
  loadParams,
  newRunId,
  record,
  scenarioDef,
  summaryOutputs,
} from './lib/common.ts';

const NAME = __ENV.SCENARIO || 'burst';
const params = loadParams(open(__ENV.PARAMS_PATH || '../params.json'));
const def = scenarioDef(params, NAME);
const ex = executorFor(params, NAME);
const factor = Number(def.burstFactor ?? 4);
const capacity = Number(__ENV.CAPACITY || 0) || Number(ex.baseRate) * 2;
const baseRate = Math.max(1, Math.round(capacity / 2));
const burstRate = Math.max(1, Math.round(capacity * factor));

function seconds(d: unknown): number {
  const m = /^(\d+(?:\.\d+)?)(s|m)$/.exec(String(d));
  return m ? Number(m[1]) * (m[2] === 'm' ? 60 : 1) : 0;
}
const warmup = seconds(ex.warmup);
const rampUp = seconds(ex.rampUp);
const hold = seconds(ex.hold);
const recovery = seconds(ex.recovery);

http.setResponseCallback(http.expectedStatuses(200, 429, 503));

export const options = {
  scenarios: {
    [NAME]: {
      executor: 'ramping-arrival-rate',
      startRate: baseRate,
      timeUnit: '1s',
      preAllocatedVUs: ex.preAllocatedVUs,
      maxVUs: ex.maxVUs,
      gracefulStop: '5s',
      stages: [
        { target: baseRate, duration: `${warmup}s` },
        { target: burstRate, duration: `${rampUp}s` },
        { target: burstRate, duration: `${hold}s` },
        { target: baseRate, duration: '1s' },
        { target: baseRate, duration: `${recovery}s` },
      ],
    },
  },
  thresholds: {
    ...def.thresholds,
    'ok_latency{phase:burst}': ['p(95)<20'],
    'http_req_duration{phase:recovery}': ['max<2100'],
  },
  ...commonOptions(),
};

export function setup(): { runId: string; t0: number; baseRate: number; burstRate: number } {
  console.log(`burst: base ${baseRate}/s, burst ${burstRate}/s for ${hold}s`);
  return { runId: newRunId(), t0: Date.now(), baseRate, burstRate };
}

export default function (data: { runId: string; t0: number }): void {
  const t = (Date.now() - data.t0) / 1000;
  const phase = t < warmup ? 'warmup' : t < warmup + rampUp + hold + 1 ? 'burst' : 'recovery';
  const userId = `${data.runId}-b${iterationInTest()}`;
  record(initialize(userId, { phase }), 'init', [200], { phase });
}

export function handleSummary(data: Record<string, unknown>): Record<string, string> {
  return summaryOutputs(NAME, data);
}
