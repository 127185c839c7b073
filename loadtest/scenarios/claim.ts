// Claim: setup selects and completes goals for enough players (stat events with mode "set"),
// waits until the worker has applied them, then every iteration claims one distinct completed goal.
import http from 'k6/http';
import { sleep } from 'k6';
import {
  API,
  type Candidate,
  type ChallengeView,
  claimCandidates,
  constantOptions,
  executorFor,
  initMany,
  jsonBody,
  list,
  loadParams,
  newRunId,
  postEvents,
  probeCatalog,
  record,
  reqParams,
  summaryOutputs,
  iterationInTest,
} from './lib/common.ts';

const NAME = __ENV.SCENARIO || 'claim';
const params = loadParams(open(__ENV.PARAMS_PATH || '../params.json'));
const ex = executorFor(params, NAME);

export const options = constantOptions(params, NAME);

interface Data {
  runId: string;
  users: number;
  goals: Candidate[];
}

function durationSeconds(d: string | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(d ?? '');
  if (!m) return 60;
  const mult: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
  return Number(m[1]) * mult[m[2]!]!;
}

export function setup(): Data {
  const runId = newRunId();
  const goals = claimCandidates(probeCatalog(runId));
  if (goals.length === 0) throw new Error('no claimable goals in the catalog');
  const needed = Math.ceil((ex.rate ?? 100) * durationSeconds(ex.duration) * 1.1) + 10;
  const users = Math.ceil(needed / goals.length);
  const ids: string[] = [];
  for (let i = 0; i < users; i++) ids.push(`${runId}-c${i}`);
  initMany(ids);

  // Activate every candidate that is not active by default, one batch-select per challenge.
  const toSelect: Record<string, string[]> = {};
  for (const g of goals) if (!g.isActive) (toSelect[g.challengeId] ??= []).push(g.goalId);
  const reqs: { method: string; url: string; body: string; params: object }[] = [];
  for (const u of ids) {
    for (const cid of Object.keys(toSelect)) {
      reqs.push({
        method: 'POST',
        url: `${API}/challenges/${encodeURIComponent(cid)}/goals/batch-select`,
        body: JSON.stringify({ goalIds: toSelect[cid], replaceExisting: false }),
        params: reqParams(u, 'seed-select'),
      });
    }
  }
  for (let i = 0; i < reqs.length; i += 100) http.batch(reqs.slice(i, i + 100));

  // One "set" event per (user, stat) to the highest target of that stat.
  const targetByStat: Record<string, number> = {};
  for (const g of goals) targetByStat[g.statCode] = Math.max(targetByStat[g.statCode] ?? 0, g.targetValue);
  const now = new Date().toISOString();
  const events: unknown[] = [];
  for (const u of ids) {
    for (const stat of Object.keys(targetByStat)) {
      events.push({
        eventId: `${u}-${stat}-seed`,
        userId: u,
        type: 'stat',
        statCode: stat,
        value: targetByStat[stat],
        mode: 'set',
        occurredAt: now,
      });
    }
  }
  const accepted = postEvents(events);
  if (accepted < events.length) console.warn(`seed events accepted ${accepted}/${events.length}`);

  // Wait until the last seeded player shows every candidate completed.
  const last = ids[ids.length - 1]!;
  const wanted = new Set(goals.map((g) => g.goalId));
  const deadline = Date.now() + 120000;
  for (;;) {
    const body = jsonBody<{ challenges?: ChallengeView[] }>(list(last, { name: 'seed-wait' }, true));
    let done = 0;
    for (const c of body?.challenges ?? [])
      for (const g of c.goals) if (wanted.has(g.goalId) && g.status === 'completed') done++;
    if (done >= wanted.size) break;
    if (Date.now() > deadline) {
      console.warn(`only ${done}/${wanted.size} goals completed for ${last} after 120 s`);
      break;
    }
    sleep(0.5);
  }
  return { runId, users, goals };
}

export default function (data: Data): void {
  const i = iterationInTest();
  const user = Math.floor(i / data.goals.length);
  if (user >= data.users) return; // pool exhausted: reported as fewer claims than planned
  const g = data.goals[i % data.goals.length]!;
  const url = `${API}/challenges/${encodeURIComponent(g.challengeId)}/goals/${encodeURIComponent(g.goalId)}/claim`;
  record(http.post(url, '{}', reqParams(`${data.runId}-c${user}`, 'claim')), 'claim');
}

export function handleSummary(data: Record<string, unknown>): Record<string, string> {
  return summaryOutputs(NAME, data);
}
