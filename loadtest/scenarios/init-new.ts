// New players: every iteration initialises a user id never seen before (run id prefix).
// SCENARIO selects the params entry: init-new-typical (default) or init-new-heavy.
import {
  constantOptions,
  initialize,
  iterationInTest,
  loadParams,
  newRunId,
  record,
  summaryOutputs,
} from './lib/common.ts';

const NAME = __ENV.SCENARIO || 'init-new-typical';
const params = loadParams(open(__ENV.PARAMS_PATH || '../params.json'));

export const options = constantOptions(params, NAME);

export function setup(): { runId: string } {
  return { runId: newRunId() };
}

export default function (data: { runId: string }): void {
  const userId = `${data.runId}-n${iterationInTest()}`;
  record(initialize(userId), 'init');
}

export function handleSummary(data: Record<string, unknown>): Record<string, string> {
  return summaryOutputs(NAME, data);
}
