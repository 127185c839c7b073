// Launch-day bench (issue 20): vegeta drives new players at POST /challenge/v1/challenges/initialize
// on the local stack (nginx in front of the api, scripts/stack.sh), one token per player.
//   low           300/s, keep-alive, directly at the api: low-load latency
//   capacity      rate stepped up: highest with p95 < target and 0 errors (typical and 500-goal catalog)
//   ceiling       the same steps against the bare server (loadtest/tools/bare.ts): the machine's limit
//   burst-api     0.5 x capacity, then 3 x capacity, then 0.5 x capacity, directly at the api
//   burst-nginx   the same through the local nginx
//   storm         no connection reuse (a new TCP connection per request), directly at the api
// Every line: planned and achieved rate, generator CPU per request; FAILED when achieved < 0.95 x
// planned. Also per-process CPU of each run, loadavg before it, and an SVG of the bursts and storm.
//   node .tmp/bench-build/launch.js [--profile quick|full] [--only a,b] [--out DIR] [--pin] [--note TEXT]
//     [--flame]  (V8 CPU profile of the api over the typical-catalog scenarios -> api-flame-N.svg)
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { buildTree, renderSvg } from './flamegraph';
import { cpuSecondsOr, treeCpuSeconds } from './procstat';
import { bucketDelta, histogramBuckets, histogramQuantile, parsePrometheus } from './prom';
import {
  analyse,
  answersSvg,
  attack,
  generatorVerdict,
  hopStats,
  readResults,
  recoveryAfter,
  RUN_TABLE_HEAD,
  runLine,
  writeTargets,
  type Analysis,
  type Answer,
  type GeneratorVerdict,
} from './openmodel';
import { mintPlayerToken } from './tokens';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const root = path.resolve(arg('root') ?? process.cwd());
const profileName = arg('profile') ?? 'quick';
const only = arg('only')?.split(',').filter(Boolean);
const pin = process.argv.includes('--pin');
const note = arg('note') ?? '';
const flame = process.argv.includes('--flame');
const spec = JSON.parse(readFileSync(path.join(root, 'loadtest/launch.json'), 'utf8')) as LaunchSpec;
const prof = spec.profiles[profileName];
if (!prof) throw new Error(`unknown profile ${profileName}`);
const date = new Date().toISOString().slice(0, 10);
const outDir = path.resolve(
  arg('out') ?? path.join(root, 'loadtest/results', `${date}-launch-${profileName}`),
);
const fixtures = path.resolve(process.env.BENCH_FIXTURES ?? path.join(root, '../shared/fixtures'));
const CATALOGS: Record<string, string> = {
  typical: path.join(fixtures, 'anchor-challenges.json'),
  heavy: path.join(fixtures, 'anchor-loadtest-500-default.json'),
};
const vegeta = process.env.VEGETA ?? path.join(root, '.tools/bin/vegeta');
const INIT_PATH = '/v1/challenges/initialize';

interface Steps {
  steps: number[];
  stepSeconds: number;
}
interface Profile {
  apiProcesses: number;
  low: { rate: number; seconds: number };
  capacity: Record<'typical' | 'heavy', Steps>;
  ceiling: Steps;
  burst: {
    factor: number;
    baseShare: number;
    warmupSeconds: number;
    holdSeconds: number;
    recoverySeconds: number;
  };
  storm: { rate: number; seconds: number; retryAtCpuBudget: boolean };
  maxConnections: number;
  assumedCapacity: number;
}
interface LaunchSpec {
  criteria: {
    capacityP95Ms: Record<'typical' | 'heavy', number>;
    lowLoadP95Ms: number;
    burstOkP95Ms: number;
    goodputShareOfCapacity: number;
    maxAnswerMs: number;
    recoverySeconds: number;
    stormGeneratorCores: number;
  };
  profiles: Record<string, Profile>;
}

const log = (m: string) => process.stdout.write(`[launch ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    c.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

// ---- the stack ---------------------------------------------------------------------------------

class Stack {
  env: Record<string, string> = {};
  pids: Record<string, number[]> = {};
  constructor(
    readonly catalog: 'typical' | 'heavy',
    readonly dir: string,
  ) {}

  async up(): Promise<void> {
    const [port, apiPort, ops, wops, grpc] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const env = {
      ...process.env,
      CHALLENGE_CATALOG: CATALOGS[this.catalog],
      STACK_PORT: String(port),
      STACK_API_PORT: String(apiPort),
      STACK_OPS_PORT: String(ops),
      STACK_WORKER_OPS_PORT: String(wops),
      STACK_GRPC_PORT: String(grpc),
      STACK_API_PROCESSES: String(prof!.apiProcesses),
      // --flame: V8 CPU profile of the api process(es), written when they exit (stack down)
      ...(flame && this.catalog === 'typical'
        ? { STACK_API_NODE_ARGS: `--cpu-prof --cpu-prof-dir=${path.join(outDir, 'cpuprof')}` }
        : {}),
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    };
    await sh(path.join(root, 'scripts/stack.sh'), ['down', this.dir], env);
    log(`stack up (${this.catalog}, ${prof!.apiProcesses} api process(es), nginx in front)`);
    const r = await sh(path.join(root, 'scripts/stack.sh'), ['up', this.dir], env);
    if (r.code !== 0) throw new Error(`scripts/stack.sh up failed:\n${r.out}`);
    for (const line of readFileSync(path.join(this.dir, 'env'), 'utf8').split('\n')) {
      const m = /^export\s+([A-Z0-9_]+)=(.*)$/.exec(line.trim());
      if (m) this.env[m[1]!] = m[2]!;
    }
    const first = (f: string) => Number(readFileSync(f, 'utf8').split('\n')[0]!.trim());
    const apis = [path.join(this.dir, 'api.pid')];
    for (let i = 1; i < prof!.apiProcesses; i++) apis.push(path.join(this.dir, `api-${i}.pid`));
    const s = path.join(this.dir, 'services');
    this.pids = {
      api: apis.map(first),
      worker: [first(path.join(this.dir, 'worker.pid'))],
      postgres: [first(path.join(s, 'pg/data/postmaster.pid'))],
      pgbouncer: [first(path.join(s, 'pgbouncer/pgbouncer.pid'))],
      redis: [first(path.join(s, 'redis/redis.pid'))],
      nginx: [first(path.join(this.dir, 'nginx/nginx.pid'))],
    };
    if (pin) {
      const all = Object.values(this.pids).flat();
      for (const pid of all) await sh('taskset', ['-a', '-c', '-p', '0', String(pid)], process.env);
      await sh('taskset', ['-a', '-c', '-p', '1', String(process.pid)], process.env);
    }
  }

  /** CPU seconds so far per process group (trees: PostgreSQL backends, nginx workers). */
  cpu(extra: Record<string, number[]> = {}): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, pids] of Object.entries({ ...this.pids, ...extra })) {
      out[k] = pids.reduce(
        (a, p) => a + (k === 'postgres' || k === 'nginx' ? treeCpuSeconds(p) : cpuSecondsOr(p, 0)),
        0,
      );
    }
    return out;
  }

  async metrics(): Promise<string> {
    try {
      return await (await fetch(`${this.env.API_OPS_URL}/metrics`)).text();
    } catch {
      return '';
    }
  }

  async down(): Promise<void> {
    if (process.argv.includes('--keep-stack')) return;
    await sh(path.join(root, 'scripts/stack.sh'), ['down', this.dir], process.env);
  }
}

// ---- one run: mint, attack (one or more phases), analyse -----------------------------------------

interface Phase {
  name: string;
  rate: number;
  seconds: number;
}

interface RunResult {
  scenario: string;
  target: string;
  url: string;
  keepalive: boolean;
  phases: { phase: Phase; verdict: GeneratorVerdict; cpuSeconds: number; a: Analysis; startS: number }[];
  all: Analysis;
  generatorCpuSeconds: number;
  cores: Record<string, number>;
  loadavg: number[];
  server: { acceptToAnswerP95Ms: number | null; answersOver2s: number | null };
  /** Server-Timing hops (only runs that asked for them). */
  hops: ReturnType<typeof hopStats>;
  checks: { name: string; ok: boolean; detail: string }[];
  svg?: string;
  pass: boolean;
}

let runSeq = 0;

async function runPhases(
  stack: Stack | null,
  scenario: string,
  target: string,
  base: string,
  phases: Phase[],
  keepalive: boolean,
  extraPids: Record<string, number[]> = {},
  headers?: Record<string, string>,
): Promise<RunResult> {
  const runId = `L${Date.now().toString(36)}${runSeq++}`;
  const secret = stack?.env.JWT_SECRET ?? 'bare';
  const url = `${base}${INIT_PATH}`;
  const files: string[] = [];
  // Tokens for every planned request of every phase (+5 %), minted before anything is measured.
  const prepared: { phase: Phase; targets: string; results: string }[] = [];
  let n = 0;
  for (const [i, phase] of phases.entries()) {
    const count = Math.ceil(phase.rate * phase.seconds * 1.05) + 50;
    const now = Date.now();
    const tokens = Array.from({ length: count }, () =>
      mintPlayerToken(`${runId}-${n++}`, secret, 4 * 3600, now),
    );
    const targets = path.join(outDir, `.${scenario}-${i}.targets`);
    await writeTargets(targets, { method: 'POST', url, tokens, body: '{}', headers });
    const results = path.join(outDir, `.${scenario}-${i}.bin`);
    files.push(targets, results);
    prepared.push({ phase, targets, results });
  }
  const loadavg = os.loadavg().map((v) => Math.round(v * 100) / 100);
  const m0 = stack ? await stack.metrics() : '';
  const cpu0 = stack ? stack.cpu(extraPids) : {};
  const t0 = Date.now();
  const ran: { phase: Phase; cpuSeconds: number; startMs: number; results: string }[] = [];
  for (const p of prepared) {
    log(
      `${scenario} (${target}): ${p.phase.name} ${p.phase.rate}/s for ${p.phase.seconds} s${keepalive ? '' : ', no keep-alive'}`,
    );
    const startMs = Date.now();
    const r = await attack({
      vegeta,
      targetsFile: p.targets,
      resultsFile: p.results,
      rate: p.phase.rate,
      durationS: p.phase.seconds,
      keepalive,
      maxConnections: keepalive ? prof!.maxConnections : 0,
      timeoutS: 10,
      name: p.phase.name,
      wrap: pin ? ['taskset', '-c', '1'] : undefined,
    });
    if (r.exitCode !== 0) log(`vegeta exited ${r.exitCode}: ${r.log.trim().split('\n').slice(-3).join(' ')}`);
    ran.push({ phase: p.phase, cpuSeconds: r.cpuSeconds, startMs, results: p.results });
  }
  const wall = (Date.now() - t0) / 1000;
  const cpu1 = stack ? stack.cpu(extraPids) : {};
  const m1 = stack ? await stack.metrics() : '';
  const generatorCpuSeconds = ran.reduce((a, r) => a + r.cpuSeconds, 0);
  const cores: Record<string, number> = { generator: generatorCpuSeconds / wall };
  for (const k of Object.keys(cpu1)) cores[k] = (cpu1[k]! - (cpu0[k] ?? 0)) / wall;

  const allAnswers: Answer[] = [];
  const phaseResults: RunResult['phases'] = [];
  for (const r of ran) {
    const answers = readResults(vegeta, r.results);
    for (const x of answers) allAnswers.push(x); // spread overflows the stack past ~100k answers
    const a = analyse(answers, r.phase.seconds, r.startMs);
    phaseResults.push({
      phase: r.phase,
      verdict: generatorVerdict(r.phase.rate, a.achievedRate),
      cpuSeconds: r.cpuSeconds,
      a,
      startS: (r.startMs - t0) / 1000,
    });
  }
  for (const f of files) rmSync(f, { force: true });
  const all = analyse(allAnswers, wall, t0);
  const hops = hopStats(allAnswers);
  const server = { acceptToAnswerP95Ms: null as number | null, answersOver2s: null as number | null };
  if (stack) {
    const name = 'challenge_http_accept_to_answer_seconds';
    const d = bucketDelta(
      histogramBuckets(parsePrometheus(m0), name),
      histogramBuckets(parsePrometheus(m1), name),
    );
    const total = d.find((b) => b.le === Infinity)?.count ?? 0;
    if (total > 0) {
      server.acceptToAnswerP95Ms = Math.round((histogramQuantile(0.95, d) ?? 0) * 100000) / 100;
      server.answersOver2s = total - (d.find((b) => b.le === 2)?.count ?? 0);
    }
  }
  return {
    scenario,
    target,
    url,
    keepalive,
    phases: phaseResults,
    all,
    generatorCpuSeconds,
    cores,
    loadavg,
    server,
    hops,
    checks: [],
    pass: false,
  };
}

const generatorOk = (r: RunResult) => r.phases.every((p) => p.verdict.ok);
const transportErrors = (a: Analysis) =>
  a.errors.reset + a.errors.refused + a.errors.timeout + a.errors.other;

// ---- scenarios ---------------------------------------------------------------------------------------

async function low(stack: Stack): Promise<RunResult> {
  const r = await runPhases(
    stack,
    'low',
    'api',
    stack.env.API_DIRECT_URL!,
    [{ name: 'steady', rate: prof!.low.rate, seconds: prof!.low.seconds }],
    true,
    {},
    // Per-hop timings of every request (a few performance.now() calls and one header each).
    { 'X-Server-Timing': '1' },
  );
  const p95 = r.all.okLatencyMs.p95;
  r.checks.push(
    {
      name: `p95 <= ${spec.criteria.lowLoadP95Ms} ms at ${prof!.low.rate}/s`,
      ok: p95 <= spec.criteria.lowLoadP95Ms,
      detail: `${p95.toFixed(2)} ms`,
    },
    {
      name: 'only 200',
      ok: (r.all.statusCounts['200'] ?? 0) === r.all.requests,
      detail: JSON.stringify(r.all.statusCounts),
    },
  );
  r.pass = generatorOk(r) && r.checks.every((c) => c.ok);
  return r;
}

/** Steps the rate up; capacity = highest step with p95 < target, only 200s and no errors. */
async function capacity(
  stack: Stack | null,
  scenario: string,
  base: string,
  steps: Steps,
  p95Ms: number,
  extraPids: Record<string, number[]> = {},
  target = 'api',
): Promise<{ capacity: number | null; runs: RunResult[] }> {
  const runs: RunResult[] = [];
  let best: number | null = null;
  for (const rate of steps.steps) {
    const r = await runPhases(
      stack,
      scenario,
      target,
      base,
      [{ name: `step ${rate}/s`, rate, seconds: steps.stepSeconds }],
      true,
      extraPids,
    );
    const only200 = (r.all.statusCounts['200'] ?? 0) === r.all.requests && r.all.requests > 0;
    r.checks.push(
      {
        name: `p95 < ${p95Ms} ms`,
        ok: r.all.latencyMs.p95 < p95Ms,
        detail: `${r.all.latencyMs.p95.toFixed(2)} ms`,
      },
      {
        name: '0 errors, only 200',
        ok: only200 && transportErrors(r.all) === 0,
        detail: JSON.stringify(r.all.statusCounts),
      },
    );
    r.pass = generatorOk(r) && r.checks.every((c) => c.ok);
    runs.push(r);
    if (!r.pass) break;
    best = rate;
    await sleep(2000);
  }
  return { capacity: best, runs };
}

function burstChecks(
  r: RunResult,
  cap: number,
  hold: RunResult['phases'][number] | undefined,
  endS: number,
): void {
  const c = spec.criteria;
  const allowed = new Set(['200', '429', '503']);
  const other = Object.entries(r.all.statusCounts).filter(([k]) => !allowed.has(k));
  const e = r.all.errors;
  const h = hold?.a ?? r.all;
  const rec = recoveryAfter(r.all.perSecond, Math.ceil(endS), spec.criteria.capacityP95Ms.typical);
  r.checks.push(
    {
      name: '0 connection resets / refusals / timeouts',
      ok: transportErrors(r.all) === 0,
      detail: `${e.reset} / ${e.refused} / ${e.timeout} (other ${e.other})`,
    },
    {
      name: `slowest answer < ${c.maxAnswerMs} ms`,
      ok: r.all.latencyMs.max < c.maxAnswerMs,
      detail: `${r.all.latencyMs.max.toFixed(0)} ms`,
    },
    {
      name: 'only 200 / 429 / 503, each 429/503 with Retry-After',
      ok: other.length === 0 && r.all.retryAfterMissing === 0,
      detail: `${other.map(([k, v]) => `${k}: ${v}`).join(', ') || 'ok'}; Retry-After missing ${r.all.retryAfterMissing}`,
    },
    {
      name: `goodput >= ${c.goodputShareOfCapacity} x capacity (${cap}/s)`,
      ok: h.goodput >= c.goodputShareOfCapacity * cap,
      detail: `${h.goodput.toFixed(0)}/s`,
    },
    {
      name: `p95 of the 200s < ${c.burstOkP95Ms} ms`,
      ok: h.okLatencyMs.p95 < c.burstOkP95Ms,
      detail: `${h.okLatencyMs.p95.toFixed(2)} ms`,
    },
  );
  if (endS > 0) {
    r.checks.push({
      name: `back to normal (only 200s, p95 <= ${spec.criteria.capacityP95Ms.typical} ms) < ${c.recoverySeconds} s after the burst`,
      ok: rec !== null && rec < c.recoverySeconds,
      detail: rec === null ? 'not within the recovery window' : `${rec} s`,
    });
  }
}

async function burst(stack: Stack, target: 'api' | 'nginx', cap: number): Promise<RunResult> {
  const b = prof!.burst;
  const base = target === 'api' ? stack.env.API_DIRECT_URL! : stack.env.BASE_URL!;
  const phases: Phase[] = [
    { name: 'before', rate: Math.round(cap * b.baseShare), seconds: b.warmupSeconds },
    { name: 'burst', rate: Math.round(cap * b.factor), seconds: b.holdSeconds },
    { name: 'after', rate: Math.round(cap * b.baseShare), seconds: b.recoverySeconds },
  ];
  const r = await runPhases(stack, `burst-${target}`, target, base, phases, true);
  const hold = r.phases[1];
  const endS = hold ? hold.startS + hold.phase.seconds : 0;
  burstChecks(r, cap, hold, endS);
  r.svg = `burst-${target}.svg`;
  writeFileSync(
    path.join(outDir, r.svg),
    answersSvg(
      `burst ${b.factor}x capacity (${cap}/s) ${target === 'api' ? 'directly at the api' : 'through nginx'}`,
      r.all.perSecond,
      r.phases.map((p) => ({ t: p.startS, label: p.phase.name })),
    ),
  );
  r.pass = generatorOk(r) && r.checks.every((c) => c.ok);
  return r;
}

async function storm(stack: Stack, cap: number | null, rate: number, tag = 'storm'): Promise<RunResult> {
  const r = await runPhases(
    stack,
    tag,
    'api',
    stack.env.API_DIRECT_URL!,
    [{ name: `storm ${rate}/s`, rate, seconds: prof!.storm.seconds }],
    false,
  );
  burstChecks(r, cap ?? 0, r.phases[0], 0);
  r.checks.push({
    name: `generator <= ${spec.criteria.stormGeneratorCores} cores (else the rate where it is)`,
    ok: (r.cores.generator ?? 0) <= spec.criteria.stormGeneratorCores,
    detail: `${(r.cores.generator ?? 0).toFixed(2)} cores at ${rate}/s`,
  });
  r.svg = `${tag}.svg`;
  writeFileSync(
    path.join(outDir, r.svg),
    answersSvg(`${tag}: ${rate} new connections/s directly at the api`, r.all.perSecond),
  );
  r.pass = generatorOk(r) && r.checks.every((c) => c.ok);
  return r;
}

async function startBare(stack: Stack): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(__dirname, 'bare.js')], {
    cwd: root,
    env: { ...process.env, ROOT: root, PORT: String(port), DATABASE_URL: stack.env.DATABASE_URL },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (pin && child.pid) await sh('taskset', ['-a', '-c', '-p', '0', String(child.pid)], process.env);
  const url = `http://127.0.0.1:${port}/challenge`;
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`${url}/healthz`);
      return { url, child };
    } catch {
      await sleep(100);
    }
  }
  child.kill('SIGTERM');
  throw new Error('bare server did not start');
}

// ---- report ------------------------------------------------------------------------------------------

function cores(c: Record<string, number>): string {
  return Object.entries(c)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');
}

function section(r: RunResult): string[] {
  const lines = [`### ${r.scenario} (${r.target}${r.keepalive ? '' : ', no connection reuse'})`, ''];
  lines.push(...RUN_TABLE_HEAD);
  for (const p of r.phases) {
    // One phase: the run's verdict. Several (burst): each line says only whether the generator kept up.
    const pass = r.phases.length === 1 ? r.pass : p.verdict.ok;
    lines.push(
      runLine({
        scenario: `${r.scenario}: ${p.phase.name}`,
        target: r.target,
        verdict: p.verdict,
        generatorCpuSeconds: p.cpuSeconds,
        a: p.a,
        pass,
      }),
    );
  }
  lines.push(
    '',
    `Per-process CPU (mean cores over the run): ${cores(r.cores)}. loadavg before: ${r.loadavg.join(' / ')}.`,
    r.server.acceptToAnswerP95Ms !== null
      ? `Server accept-to-answer p95 ${r.server.acceptToAnswerP95Ms} ms, answers over 2 s: ${r.server.answersOver2s}.`
      : '',
    '',
  );
  if (r.checks.length) {
    lines.push('| check | ok | detail |', '| --- | --- | --- |');
    for (const c of r.checks) lines.push(`| ${c.name} | ${c.ok ? 'yes' : '**no**'} | ${c.detail} |`);
    lines.push('');
  }
  if (r.hops.length) {
    lines.push(
      'Server-Timing hops of the same requests (ms). Hops are consecutive marks: `auth` token, `limits` until the Redis limiter answered, `admit` admission wait, `db` until the statement answered (batcher + PgBouncer + PostgreSQL), `view` the answer. While the pool is idle the statement starts at `admit` and runs alongside `limits`, so `limits` + `db` together are the statement time.',
      '',
      '| hop | n | mean | p50 | p95 |',
      '| --- | ---: | ---: | ---: | ---: |',
    );
    for (const h of r.hops)
      lines.push(`| ${h.hop} | ${h.n} | ${h.mean.toFixed(3)} | ${h.p50.toFixed(3)} | ${h.p95.toFixed(3)} |`);
    lines.push(
      `Client-side p95 minus server total p95: the generator, the kernel and the event-loop wait before uWS reads the request.`,
      '',
    );
  }
  if (r.svg) lines.push(`![${r.scenario}](${r.svg})`, '');
  lines.push(
    `Result: **${generatorOk(r) ? (r.pass ? 'pass' : 'FAIL') : 'FAILED (generator short of the planned rate)'}**`,
    '',
  );
  return lines;
}

/** The api's .cpuprofile files (from --flame) as SVG flame graphs next to the report. */
function flameGraphs(): void {
  const dir = path.join(outDir, 'cpuprof');
  if (!existsSync(dir)) return;
  for (const [i, f] of readdirSync(dir)
    .filter((n) => n.endsWith('.cpuprofile'))
    .entries()) {
    const profile = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Parameters<typeof buildTree>[0];
    const svg = `api-flame-${i}.svg`;
    writeFileSync(
      path.join(outDir, svg),
      renderSvg(buildTree(profile), `api CPU profile (${only?.join(', ') ?? 'all scenarios'})`),
    );
    log(`flame graph: ${svg}`);
  }
  rmSync(dir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  if (!existsSync(vegeta)) throw new Error(`${vegeta} missing: make tools`);
  if (!existsSync(path.join(root, 'dist/app/main.js')))
    throw new Error('dist/app/main.js missing: npm run build');
  const want = (n: string) => !only || only.includes(n);
  const results: RunResult[] = [];
  const summary: string[] = [];
  let capTypical: number | null = null;
  let capHeavy: number | null = null;
  let capBare: number | null = null;

  if (['low', 'capacity', 'ceiling', 'burst-api', 'burst-nginx', 'storm'].some(want)) {
    const stack = new Stack('typical', path.join(root, '.tmp', 'launch-stack-typical'));
    try {
      await stack.up();
      if (want('low')) results.push(await low(stack));
      if (want('capacity')) {
        const c = await capacity(
          stack,
          'capacity-typical',
          stack.env.API_DIRECT_URL!,
          prof!.capacity.typical,
          spec.criteria.capacityP95Ms.typical,
        );
        capTypical = c.capacity;
        results.push(...c.runs);
      }
      if (want('ceiling')) {
        const bare = await startBare(stack);
        try {
          const c = await capacity(
            stack,
            'ceiling-bare',
            bare.url,
            prof!.ceiling,
            spec.criteria.capacityP95Ms.typical,
            { bare: [bare.child.pid!] },
            'bare server',
          );
          capBare = c.capacity;
          results.push(...c.runs);
        } finally {
          bare.child.kill('SIGTERM');
        }
      }
      const cap = capTypical ?? Number(process.env.LAUNCH_CAPACITY ?? prof!.assumedCapacity);
      if (want('burst-api')) results.push(await burst(stack, 'api', cap));
      if (want('burst-nginx')) results.push(await burst(stack, 'nginx', cap));
      if (want('storm')) {
        const s = await storm(stack, cap, prof!.storm.rate);
        results.push(s);
        const g = s.cores.generator ?? 0;
        if (prof!.storm.retryAtCpuBudget && g > spec.criteria.stormGeneratorCores) {
          const rate = Math.floor((prof!.storm.rate * spec.criteria.stormGeneratorCores) / g / 100) * 100;
          log(`storm: generator took ${g.toFixed(2)} cores at ${prof!.storm.rate}/s; again at ${rate}/s`);
          results.push(await storm(stack, cap, rate, 'storm-at-cpu-budget'));
        }
      }
    } finally {
      await stack.down();
    }
    if (flame) flameGraphs();
  }
  if (want('capacity-heavy')) {
    const stack = new Stack('heavy', path.join(root, '.tmp', 'launch-stack-heavy'));
    try {
      await stack.up();
      const c = await capacity(
        stack,
        'capacity-heavy',
        stack.env.API_DIRECT_URL!,
        prof!.capacity.heavy,
        spec.criteria.capacityP95Ms.heavy,
      );
      capHeavy = c.capacity;
      results.push(...c.runs);
    } finally {
      await stack.down();
    }
  }

  summary.push(
    `# Launch-day bench ${date} (${profileName})`,
    '',
    `Host: ${os.cpus().length} CPUs, node ${process.version}, vegeta (open model, one brand-new player per request on POST /challenge${INIT_PATH})${pin ? '; pinned: service side on CPU 0, generator on CPU 1' : ''}.`,
    note ? `\n**Note:** ${note}\n` : '',
    '## Headline',
    '',
    '| figure | value |',
    '| --- | --- |',
    `| capacity, typical catalog (p95 < ${spec.criteria.capacityP95Ms.typical} ms, 0 errors) | ${capTypical ?? '-'}/s |`,
    `| capacity, 500-goal catalog (p95 < ${spec.criteria.capacityP95Ms.heavy} ms, 0 errors) | ${capHeavy ?? '-'}/s |`,
    `| bare ceiling (uWS + pg, init SQL only) | ${capBare ?? '-'}/s${capBare && capTypical ? ` (service / bare = ${(capTypical / capBare).toFixed(2)})` : ''} |`,
    ...results
      .filter((r) => r.scenario === 'low')
      .map((r) => `| p95 at ${prof!.low.rate}/s | ${r.all.okLatencyMs.p95.toFixed(2)} ms |`),
    ...results
      .filter((r) => r.scenario.startsWith('burst') || r.scenario.startsWith('storm'))
      .map(
        (r) =>
          `| ${r.scenario} | ${r.pass ? 'pass' : generatorOk(r) ? 'FAIL' : 'FAILED (generator short)'} |`,
      ),
    '',
  );
  const body = results.flatMap(section);
  writeFileSync(path.join(outDir, 'report.md'), [...summary, '## Runs', '', ...body].join('\n') + '\n');
  writeFileSync(
    path.join(outDir, 'report.json'),
    JSON.stringify(
      {
        date,
        profile: profileName,
        note,
        capTypical,
        capHeavy,
        capBare,
        results: results.map((r) => ({ ...r, all: { ...r.all, perSecond: undefined } })),
      },
      null,
      2,
    ) + '\n',
  );
  log(`report: ${path.relative(root, path.join(outDir, 'report.md'))}`);
}

main().catch((e: unknown) => {
  log(`failed: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 1;
});
