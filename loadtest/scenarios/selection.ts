// Selection: known players set one goal active/inactive, or batch-select a few goals (replacing).
import http from 'k6/http';
import {
  API,
  claimCandidates,
  constantOptions,
  executorFor,
  initMany,
  loadParams,
  newRunId,
  pick,
  probeCatalog,
  record,
  reqParams,
  summaryOutputs,
} from './lib/common.ts';

const NAME = __ENV.SCENARIO || 'selection';
const params = loadParams(open(__ENV.PARAMS_PATH || '../params.json'));
const POOL = Number(executorFor(params, NAME).pool ?? 1000);

export const options = constantOptions(params, NAME);

interface Data {
  runId: string;
  challengeId: string;
  goalIds: string[];
}

export function setup(): Data {
  const runId = newRunId();
  // The challenge with the most freely selectable goals.
  const byChallenge: Record<string, string[]> = {};
  for (const c of claimCandidates(probeCatalog(runId))) (byChallenge[c.challengeId] ??= []).push(c.goalId);
  let best = '';
  for (const id of Object.keys(byChallenge))
    if (!best || byChallenge[id]!.length > byChallenge[best]!.length) best = id;
  if (!best) throw new Error('no selectable goals in the catalog');
  const ids: string[] = [];
  for (let i = 0; i < POOL; i++) ids.push(`${runId}-s${i}`);
  initMany(ids);
  return { runId, challengeId: best, goalIds: byChallenge[best]! };
}

export default function (data: Data): void {
  const userId = `${data.runId}-s${Math.floor(Math.random() * POOL)}`;
  const base = `${API}/challenges/${encodeURIComponent(data.challengeId)}/goals`;
  if (Math.random() < 0.5) {
    const goalId = pick(data.goalIds);
    const body = JSON.stringify({ isActive: Math.random() < 0.7 });
    record(
      http.put(`${base}/${encodeURIComponent(goalId)}/active`, body, reqParams(userId, 'set-active')),
      'set-active',
    );
  } else {
    const n = Math.min(data.goalIds.length, 1 + Math.floor(Math.random() * 3));
    const chosen = data.goalIds
      .slice()
      .sort(() => Math.random() - 0.5)
      .slice(0, n);
    const body = JSON.stringify({ goalIds: chosen, replaceExisting: true });
    record(http.post(`${base}/batch-select`, body, reqParams(userId, 'batch-select')), 'batch-select');
  }
}

export function handleSummary(data: Record<string, unknown>): Record<string, string> {
  return summaryOutputs(NAME, data);
}
