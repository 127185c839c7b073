// Events firehose: each iteration posts one batch of stat events (unique eventIds, increment by 1,
// occurredAt = now) for players of a run-prefixed population. k6 measures ingest; the bench tool
// measures apply (rate, lag) afterwards from PostgreSQL or the worker's metrics.
import http from 'k6/http';
import { Counter } from 'k6/metrics';
import {
  API,
  acceptedCount,
  claimCandidates,
  constantOptions,
  executorFor,
  iterationInTest,
  jsonBody,
  loadParams,
  newRunId,
  pick,
  probeCatalog,
  record,
  scenarioDef,
  serviceHeaders,
  summaryOutputs,
} from './lib/common.ts';

const NAME = __ENV.SCENARIO || 'events';
const params = loadParams(open(__ENV.PARAMS_PATH || '../params.json'));
const BATCH = Number(scenarioDef(params, NAME).batchSize ?? 500);
const POPULATION = Number(executorFor(params, NAME).population ?? 10000);

export const options = constantOptions(params, NAME);

const sent = new Counter('events_sent');
const accepted = new Counter('events_accepted');
const rejected = new Counter('events_rejected');

interface Data {
  runId: string;
  stats: string[];
}

export function setup(): Data {
  const runId = newRunId();
  const stats = Array.from(new Set(claimCandidates(probeCatalog(runId)).map((c) => c.statCode)));
  if (stats.length === 0) stats.push('loadtest_stat');
  return { runId, stats };
}

export default function (data: Data): void {
  const it = iterationInTest();
  const now = new Date().toISOString();
  const events = [];
  for (let i = 0; i < BATCH; i++) {
    events.push({
      eventId: `${data.runId}-${it}-${i}`,
      userId: `${data.runId}-e${Math.floor(Math.random() * POPULATION)}`,
      type: 'stat',
      statCode: pick(data.stats),
      value: 1,
      mode: 'increment',
      occurredAt: now,
    });
  }
  const res = http.post(`${API}/events`, JSON.stringify({ events }), {
    headers: serviceHeaders(),
    tags: { endpoint: 'events', name: 'events' },
    responseType: 'text',
  });
  sent.add(BATCH);
  if (record(res, 'events', [202, 200])) {
    const n = acceptedCount(res);
    accepted.add(n);
    const body = jsonBody<{ rejected?: unknown[] }>(res);
    rejected.add(Array.isArray(body?.rejected) ? body.rejected.length : BATCH - n);
  } else {
    rejected.add(BATCH);
  }
}

export function handleSummary(data: Record<string, unknown>): Record<string, string> {
  return summaryOutputs(NAME, data);
}
