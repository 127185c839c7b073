// Returning players: a pool is initialised in setup; each iteration initialises (fast path) and lists.
import {
  constantOptions,
  executorFor,
  initMany,
  initialize,
  list,
  loadParams,
  newRunId,
  record,
  summaryOutputs,
} from './lib/common.ts';

const NAME = __ENV.SCENARIO || 'returning';
const params = loadParams(open(__ENV.PARAMS_PATH || '../params.json'));
const POOL = Number(executorFor(params, NAME).pool ?? 1000);

export const options = constantOptions(params, NAME);

export function setup(): { runId: string } {
  const runId = newRunId();
  const ids: string[] = [];
  for (let i = 0; i < POOL; i++) ids.push(`${runId}-r${i}`);
  const ok = initMany(ids);
  if (ok < POOL) console.warn(`seeded ${ok}/${POOL} returning players`);
  return { runId };
}

export default function (data: { runId: string }): void {
  const userId = `${data.runId}-r${Math.floor(Math.random() * POOL)}`;
  record(initialize(userId), 'init');
  record(list(userId), 'list');
}

export function handleSummary(data: Record<string, unknown>): Record<string, string> {
  return summaryOutputs(NAME, data);
}
