// List heavy: known players list every challenge with their goal views (500 on the heavy catalog).
import {
  constantOptions,
  executorFor,
  initMany,
  list,
  loadParams,
  newRunId,
  record,
  summaryOutputs,
} from './lib/common.ts';

const NAME = __ENV.SCENARIO || 'list-heavy';
const params = loadParams(open(__ENV.PARAMS_PATH || '../params.json'));
const POOL = Number(executorFor(params, NAME).pool ?? 500);

export const options = constantOptions(params, NAME);

export function setup(): { runId: string } {
  const runId = newRunId();
  const ids: string[] = [];
  for (let i = 0; i < POOL; i++) ids.push(`${runId}-l${i}`);
  const ok = initMany(ids);
  if (ok < POOL) console.warn(`seeded ${ok}/${POOL} players`);
  return { runId };
}

export default function (data: { runId: string }): void {
  const userId = `${data.runId}-l${Math.floor(Math.random() * POOL)}`;
  record(list(userId), 'list');
}

export function handleSummary(data: Record<string, unknown>): Record<string, string> {
  return summaryOutputs(NAME, data);
}
