// Mixed realistic sessions over a population of player ids: login event, initialise, list, select
// a goal, a few stat events, claim whatever the list showed completed, with think times between.
// Each VU owns a slice of the population, so one player never runs two sessions at once.
import http from 'k6/http';
import { sleep } from 'k6';
import {
  API,
  type ChallengeView,
  constantOptions,
  executorFor,
  initialize,
  jsonBody,
  list,
  loadParams,
  newRunId,
  pick,
  record,
  reqParams,
  scenarioDef,
  serviceHeaders,
  summaryOutputs,
  vuIdInTest,
} from './lib/common.ts';

const NAME = __ENV.SCENARIO || 'mixed';
const params = loadParams(open(__ENV.PARAMS_PATH || '../params.json'));
const ex = executorFor(params, NAME);
const POPULATION = Number(scenarioDef(params, NAME).population ?? 100000);
const THINK = Number(ex.thinkSeconds ?? 1);
const SLOTS = Math.max(1, Number(ex.maxVUs));

export const options = constantOptions(params, NAME);

function think(): void {
  sleep(THINK * (0.5 + Math.random()));
}

function sendEvents(events: unknown[]): void {
  const res = http.post(`${API}/events`, JSON.stringify({ events }), {
    headers: serviceHeaders(),
    tags: { endpoint: 'events', name: 'events' },
  });
  record(res, 'events', [202, 200]);
}

export function setup(): { runId: string } {
  return { runId: newRunId() };
}

export default function (data: { runId: string }): void {
  const slot = (vuIdInTest() - 1) % SLOTS;
  const perSlot = Math.max(1, Math.floor(POPULATION / SLOTS));
  const userId = `${data.runId}-m${slot + SLOTS * Math.floor(Math.random() * perSlot)}`;
  const now = () => new Date().toISOString();
  const sid = `${userId}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

  sendEvents([{ eventId: `${sid}-login`, userId, type: 'login', occurredAt: now() }]);
  if (!record(initialize(userId), 'init')) return;
  const listed = list(userId, {}, true);
  if (!record(listed, 'list')) return;
  const challenges = jsonBody<{ challenges?: ChallengeView[] }>(listed)?.challenges ?? [];
  think();

  const selectable: { c: string; g: string }[] = [];
  const completed: { c: string; g: string }[] = [];
  const stats = new Set<string>();
  for (const c of challenges) {
    for (const g of c.goals) {
      if (g.locked || g.expiresAt) continue;
      if (g.requirement) stats.add(g.requirement.statCode);
      if (!g.isActive && (g.status === 'not_started' || g.status === 'in_progress'))
        selectable.push({ c: c.challengeId, g: g.goalId });
      if (g.isActive && g.status === 'completed') completed.push({ c: c.challengeId, g: g.goalId });
    }
  }
  if (selectable.length > 0) {
    const s = pick(selectable);
    const url = `${API}/challenges/${encodeURIComponent(s.c)}/goals/${encodeURIComponent(s.g)}/active`;
    record(http.put(url, JSON.stringify({ isActive: true }), reqParams(userId, 'set-active')), 'set-active');
  }

  const statList = Array.from(stats);
  if (statList.length > 0) {
    const n = 1 + Math.floor(Math.random() * 3);
    const events = [];
    for (let i = 0; i < n; i++) {
      events.push({
        eventId: `${sid}-s${i}`,
        userId,
        type: 'stat',
        statCode: pick(statList),
        value: 1 + Math.floor(Math.random() * 3),
        mode: 'increment',
        occurredAt: now(),
      });
    }
    sendEvents(events);
  }
  think();

  for (const c of completed.slice(0, 2)) {
    const url = `${API}/challenges/${encodeURIComponent(c.c)}/goals/${encodeURIComponent(c.g)}/claim`;
    record(http.post(url, '{}', reqParams(userId, 'claim')), 'claim');
  }
}

export function handleSummary(data: Record<string, unknown>): Record<string, string> {
  return summaryOutputs(NAME, data);
}
