// Shared helpers for the k6 scenarios: parameters, offline tokens, request recording, summaries.
// Run by k6 directly (TypeScript is stripped by k6); not part of the tsc project.
import http from 'k6/http';
import { SharedArray } from 'k6/data';
import crypto from 'k6/crypto';
import exec from 'k6/execution';
import { check } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
import { TokenCache } from '../../tools/jwt.ts';

export interface Executor {
  rate?: number;
  duration?: string;
  preAllocatedVUs: number;
  maxVUs: number;
  [key: string]: unknown;
}

export interface ScenarioDef {
  script: string;
  thresholds: Record<string, string[]>;
  [key: string]: unknown;
}

export interface Params {
  scenarios: Record<string, ScenarioDef>;
  profiles: Record<string, { scenarios: Record<string, Executor> }>;
}

export interface GoalView {
  goalId: string;
  status?: string;
  isActive?: boolean;
  locked?: boolean;
  expiresAt?: string | null;
  prerequisites?: string[];
  requirement?: { statCode: string; operator: string; targetValue: number };
}

export interface ChallengeView {
  challengeId: string;
  goals: GoalView[];
}

export interface Candidate {
  challengeId: string;
  goalId: string;
  statCode: string;
  targetValue: number;
  isActive: boolean;
}

export const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8080/challenge').replace(/\/$/, '');
export const API = `${BASE_URL}/v1`;
export const PROFILE = __ENV.PROFILE || 'quick';
const SECRET = __ENV.JWT_SECRET || __ENV.JWT_HS256_SECRET || 'dev-secret-change-me-dev-secret-change-me';
const SERVICE_API_KEY = __ENV.SERVICE_API_KEY || '';
const SERVICE_SCOPE = __ENV.SERVICE_TOKEN_SCOPE || 'challenge:service';

// Counters for overload answers, split by endpoint via tags.
export const status429 = new Counter('status_429');
export const status503 = new Counter('status_503');
export const retryAfterMissing = new Counter('retry_after_missing');
export const unexpectedStatus = new Counter('unexpected_status');
export const okLatency = new Trend('ok_latency', true);

// The reference's scenarios (ref-*.ts) count an answer shed by admission (429 or 503 with
// Retry-After, UNAVAILABLE or RESOURCE_EXHAUSTED with retry-after over gRPC: "come back later",
// sent before any work) in shed_rate, not as a failure, and apply the reference's checks and
// thresholds to the served answers: served_req_duration / served_req_failed (HTTP, tagged like
// the request) and served_grpc_duration stand in for http_req_duration / http_req_failed /
// grpc_req_duration, which k6 fills with every answer. A 429/503 without Retry-After is served,
// and fails.
export const shedRate = new Rate('shed_rate');
export const servedDuration = new Trend('served_req_duration', true);
export const servedFailed = new Rate('served_req_failed');
export const servedGrpcDuration = new Trend('served_grpc_duration', true);
export const servedAnswers = new Counter('served_answers');

interface Answer {
  status: number;
  headers: Record<string, string>;
  timings: { duration: number };
}

/**
 * Books one HTTP answer of a reference scenario: shed (returns false; the caller skips its checks)
 * or served (returns true; counted in the served metrics, a failure unless its status is in `ok`).
 */
export function served(res: Answer, tags: Record<string, string>, ok: number[] = [200]): boolean {
  const retryAfter = res.headers['Retry-After'] ?? res.headers['retry-after'];
  if (res.status === 429 || res.status === 503) {
    if (res.status === 429) status429.add(1, tags);
    else status503.add(1, tags);
    if (!retryAfter) retryAfterMissing.add(1, tags);
  }
  const shed = (res.status === 429 || res.status === 503) && !!retryAfter;
  shedRate.add(shed, tags);
  if (shed) return false;
  servedAnswers.add(1, tags);
  servedDuration.add(res.timings.duration, tags);
  servedFailed.add(ok.indexOf(res.status) < 0, tags);
  return true;
}

const tokens = new TokenCache({
  secret: SECRET,
  ttlSeconds: 4 * 3600,
  issuer: __ENV.JWT_ISSUER || undefined,
  audience: __ENV.JWT_AUDIENCE || undefined,
  hmac: (secret: string, data: string) => String(crypto.hmac('sha256', secret, data, 'base64rawurl')),
});

/** Parses params.json text (read with open() in the scenario's init context). */
export function loadParams(text: string): Params {
  return JSON.parse(text) as Params;
}

/** The executor settings of `name` in the active profile, with RATE / DURATION / PRE_VUS / MAX_VUS env overrides. */
export function executorFor(params: Params, name: string): Executor {
  const profile = params.profiles[PROFILE];
  if (!profile) throw new Error(`unknown profile ${PROFILE}`);
  const ex = profile.scenarios[name];
  if (!ex) throw new Error(`profile ${PROFILE} has no scenario ${name}`);
  const out: Executor = { ...ex };
  if (__ENV.RATE) out.rate = Number(__ENV.RATE);
  if (__ENV.DURATION) out.duration = __ENV.DURATION;
  if (__ENV.PRE_VUS) out.preAllocatedVUs = Number(__ENV.PRE_VUS);
  if (__ENV.MAX_VUS) out.maxVUs = Number(__ENV.MAX_VUS);
  return out;
}

export function scenarioDef(params: Params, name: string): ScenarioDef {
  const def = params.scenarios[name];
  if (!def) throw new Error(`params.json has no scenario ${name}`);
  return def;
}

/** k6 options for a constant-arrival-rate scenario named `name`. */
export function constantOptions(
  params: Params,
  name: string,
  extraThresholds: Record<string, string[]> = {},
) {
  const ex = executorFor(params, name);
  return {
    scenarios: {
      [name]: {
        executor: 'constant-arrival-rate',
        rate: ex.rate,
        timeUnit: '1s',
        duration: ex.duration,
        preAllocatedVUs: ex.preAllocatedVUs,
        maxVUs: ex.maxVUs,
        gracefulStop: '5s',
      },
    },
    thresholds: { ...scenarioDef(params, name).thresholds, ...extraThresholds },
    ...commonOptions(),
  };
}

export function commonOptions() {
  return {
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'],
    setupTimeout: '300s',
    teardownTimeout: '60s',
    // Bodies cost the load generator CPU it shares with the service; requests that read one ask
    // for it with responseType: 'text'.
    discardResponseBodies: true,
    noConnectionReuse: false,
    userAgent: 'challenge-loadtest/1',
  };
}

/** A run id shared by all VUs: from RUN_ID, else made once in setup(). */
export function newRunId(): string {
  if (__ENV.RUN_ID) return __ENV.RUN_ID;
  return `lt${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

// Tokens can be minted before the run (TOKENS_FILE, written by the bench for user ids
// `${TOKENS_PREFIX}-<letter><i>`, one array per letter in TOKENS_LETTERS), so the load generator
// does not spend its share of the two cores signing tokens. Shared by every VU, read once.
const PREMINT_PREFIX = __ENV.TOKENS_FILE ? `${__ENV.TOKENS_PREFIX || ''}-` : '';
const preminted: Record<string, string[]> = {};
if (__ENV.TOKENS_FILE) {
  for (const letter of (__ENV.TOKENS_LETTERS || 'n').split(',')) {
    preminted[letter] = new SharedArray(
      `preminted-${letter}`,
      () => (JSON.parse(open(__ENV.TOKENS_FILE)) as Record<string, string[]>)[letter] ?? [],
    ) as unknown as string[];
  }
}

function playerToken(userId: string): string {
  if (PREMINT_PREFIX && userId.startsWith(PREMINT_PREFIX)) {
    const rest = userId.slice(PREMINT_PREFIX.length);
    const t = preminted[rest.charAt(0)]?.[Number(rest.slice(1))];
    if (t) return t;
  }
  return tokens.player(userId);
}

export function playerHeaders(userId: string): Record<string, string> {
  return { Authorization: `Bearer ${playerToken(userId)}`, 'Content-Type': 'application/json' };
}

export function serviceHeaders(): Record<string, string> {
  if (SERVICE_API_KEY) return { 'X-Api-Key': SERVICE_API_KEY, 'Content-Type': 'application/json' };
  return {
    Authorization: `Bearer ${tokens.service('loadtest', SERVICE_SCOPE)}`,
    'Content-Type': 'application/json',
  };
}

export function reqParams(userId: string, endpoint: string, extraTags: Record<string, string> = {}) {
  return { headers: playerHeaders(userId), tags: { endpoint, name: endpoint, ...extraTags } };
}

interface Res {
  status: number;
  headers: Record<string, string>;
  timings: { duration: number };
  body: unknown;
}

/**
 * Checks the status, counts 429/503 (and whether Retry-After came with them) and unexpected statuses.
 * Returns true when the status was one of `ok`.
 */
export function record(
  res: Res,
  endpoint: string,
  ok: number[] = [200],
  tags: Record<string, string> = {},
): boolean {
  const t = { endpoint, ...tags };
  const good = ok.indexOf(res.status) >= 0;
  check(res, { [`${endpoint} status ${ok.join('|')}`]: () => good }, t);
  if (res.status === 429 || res.status === 503) {
    if (res.status === 429) status429.add(1, t);
    else status503.add(1, t);
    const ra = res.headers['Retry-After'] ?? res.headers['retry-after'];
    if (!ra) retryAfterMissing.add(1, t);
  } else if (!good) {
    unexpectedStatus.add(1, { ...t, status: String(res.status) });
  }
  if (res.status >= 200 && res.status < 300) okLatency.add(res.timings.duration, t);
  return good;
}

export function jsonBody<T>(res: Res): T | undefined {
  try {
    return JSON.parse(String(res.body)) as T;
  } catch {
    return undefined;
  }
}

/**
 * Answer checks that the generator can afford at the reference's rates. A 500-goal answer is about
 * 200 KB; JSON.parse of it in k6's JS engine costs milliseconds, so parsing every one took k6 to 1.4
 * of this machine's 2 cores at 300 initialise calls/s while the api used 0.17 (loadtest/results/
 * 2026-12-02-ref, ref-init-only). Every FULL_CHECK_EVERY-th answer (default 20, 1 = all) is parsed
 * in full; the others are checked by the opening and end of the text our serialiser writes
 * (`{"<field>":[` first, a closing `}` last), which a truncated, error or differently shaped answer
 * fails. A parsed sample that fails fails the check like any other.
 */
const FULL_CHECK_EVERY = Math.max(1, Number(__ENV.FULL_CHECK_EVERY || 20));
let answersChecked = 0;
const fullCheckNow = () => ++answersChecked % FULL_CHECK_EVERY === 0;

/** The top-level `field` is an array (non-empty when `nonEmpty`). */
export function hasArrayField(res: Res, field: string, nonEmpty = false): boolean {
  if (res.status !== 200) return false;
  const body = String(res.body);
  if (fullCheckNow()) {
    const v = jsonBody<Record<string, unknown>>(res)?.[field];
    return Array.isArray(v) && (!nonEmpty || v.length > 0);
  }
  const open = `{"${field}":[`;
  if (!body.startsWith(open) || !body.endsWith('}')) return false;
  return !nonEmpty || body.charAt(open.length) === '{';
}

/** The top-level number `field` (the last occurrence in the text, where our answers write it). */
export function numberField(res: Res, field: string): number | undefined {
  if (res.status !== 200) return undefined;
  if (fullCheckNow()) {
    const v = jsonBody<Record<string, unknown>>(res)?.[field];
    return typeof v === 'number' ? v : undefined;
  }
  const body = String(res.body);
  const key = `"${field}":`;
  const at = body.lastIndexOf(key);
  if (at < 0 || !body.endsWith('}')) return undefined;
  const m = /^-?\d+(\.\d+)?/.exec(body.slice(at + key.length, at + key.length + 24));
  return m ? Number(m[0]) : undefined;
}

export function initialize(userId: string, tags: Record<string, string> = {}): Res {
  return http.post(`${API}/challenges/initialize`, '{}', reqParams(userId, 'init', tags)) as unknown as Res;
}

/** `withBody`: keep the answer's body (bodies are discarded by default). */
export function list(userId: string, tags: Record<string, string> = {}, withBody = false): Res {
  const params = reqParams(userId, 'list', tags);
  return http.get(
    `${API}/challenges`,
    withBody ? { ...params, responseType: 'text' } : params,
  ) as unknown as Res;
}

/** Initialises `userIds` with http.batch in chunks; returns how many answered 200. */
export function initMany(userIds: string[], chunk = 100): number {
  let ok = 0;
  for (let i = 0; i < userIds.length; i += chunk) {
    const reqs = userIds.slice(i, i + chunk).map((u) => ({
      method: 'POST',
      url: `${API}/challenges/initialize`,
      body: '{}',
      params: reqParams(u, 'seed-init'),
    }));
    const out = http.batch(reqs) as unknown as Res[];
    for (const r of out) if (r.status === 200) ok++;
  }
  return ok;
}

/** Posts events in batches of at most `batch`; returns the number accepted. */
export function postEvents(events: unknown[], endpoint = 'seed-events', batch = 500): number {
  let accepted = 0;
  for (let i = 0; i < events.length; i += batch) {
    const res = http.post(`${API}/events`, JSON.stringify({ events: events.slice(i, i + batch) }), {
      headers: serviceHeaders(),
      tags: { endpoint, name: endpoint },
      responseType: 'text',
    }) as unknown as Res;
    accepted += acceptedCount(res);
  }
  return accepted;
}

/** `accepted` of an events answer, whether a number or an array. */
export function acceptedCount(res: Res): number {
  if (res.status !== 202 && res.status !== 200) return 0;
  const body = jsonBody<{ accepted?: number | unknown[] }>(res);
  if (!body) return 0;
  if (typeof body.accepted === 'number') return body.accepted;
  if (Array.isArray(body.accepted)) return body.accepted.length;
  return 0;
}

/** The challenges a fresh probe player sees, used to pick goal ids without parsing the catalog. */
export function probeCatalog(runId: string): ChallengeView[] {
  const probe = `${runId}-probe`;
  http.post(`${API}/challenges/initialize`, '{}', reqParams(probe, 'probe'));
  const res = http.get(`${API}/challenges`, {
    ...reqParams(probe, 'probe'),
    responseType: 'text',
  }) as unknown as Res;
  const body = jsonBody<{ challenges?: ChallengeView[] }>(res);
  if (res.status !== 200 || !body || !Array.isArray(body.challenges)) {
    throw new Error(`probe list failed: ${res.status} ${String(res.body).slice(0, 200)}`);
  }
  return body.challenges;
}

/** Goals that can be driven to completion by setting one stat: unlocked, absolute, not rotating. */
export function claimCandidates(challenges: ChallengeView[]): Candidate[] {
  const out: Candidate[] = [];
  for (const c of challenges) {
    for (const g of c.goals) {
      if (g.locked || !g.requirement || g.expiresAt) continue;
      if (g.prerequisites && g.prerequisites.length > 0) continue;
      out.push({
        challengeId: c.challengeId,
        goalId: g.goalId,
        statCode: g.requirement.statCode,
        targetValue: g.requirement.targetValue,
        isActive: g.isActive === true,
      });
    }
  }
  return out;
}

export function pick<T>(items: T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

export function iterationInTest(): number {
  return exec.scenario.iterationInTest;
}

export function vuIdInTest(): number {
  return exec.vu.idInTest;
}

/**
 * Writes the end-of-test summary as JSON to SUMMARY_PATH (when set) and prints it on one marked
 * stdout line, which the cluster CLI collects from runner pod logs.
 */
export function summaryOutputs(name: string, data: Record<string, unknown>): Record<string, string> {
  const json = JSON.stringify({ scenario: name, profile: PROFILE, ...data });
  const out: Record<string, string> = {};
  const metrics = (data.metrics ?? {}) as Record<string, { values?: Record<string, number> }>;
  const lines: string[] = [`scenario ${name} (${PROFILE})`];
  for (const key of Object.keys(metrics).sort()) {
    if (
      !/^(http_req_duration|http_reqs|iterations|dropped_iterations|checks|status_|events_|ok_latency|shed_rate|served_)/.test(
        key,
      )
    )
      continue;
    const v = metrics[key]?.values ?? {};
    const parts = Object.keys(v).map((k) => `${k}=${Math.round((v[k] ?? 0) * 100) / 100}`);
    lines.push(`  ${key}: ${parts.join(' ')}`);
  }
  out.stdout = `${lines.join('\n')}\nK6_SUMMARY_JSON ${json}\n`;
  if (__ENV.SUMMARY_PATH) out[__ENV.SUMMARY_PATH] = json;
  return out;
}
