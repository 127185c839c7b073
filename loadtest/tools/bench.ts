// Bench runner: starts the local production-shaped stack once per catalog, runs the pgbench
// baseline and the k6 scenarios, samples our processes and PostgreSQL, writes the report.
//   node .tmp/bench-build/bench.js [--profile quick|full] [--only a,b] [--out DIR] [--keep-stack]
import { spawn, execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from 'pg';
import { childPids, cpuSeconds, cpuSecondsOr, memory, resetPeak, treeCpuSeconds } from './procstat';
import { bucketDelta, histogramBuckets, histogramQuantile, parsePrometheus } from './prom';
import {
  counterValue,
  CsvReader,
  lagFromCurves,
  LatencyCollector,
  recoverySeconds,
  renderMarkdown,
  round,
  shedSplit,
  thresholdResults,
  type Baseline,
  type Check,
  type K6Summary,
  type Report,
  type ScenarioResult,
} from './report';
import { latencySvg } from './svg';
import { mintPlayerToken } from './tokens';

interface ScenarioParams {
  script: string;
  catalog: string;
  what: string;
  endpoints: string[];
  opsCounter?: string;
  baseline: string | null;
  targetRate?: number;
  thresholds: Record<string, string[]>;
  [k: string]: unknown;
}

interface Params {
  targets: Record<string, number>;
  scenarios: Record<string, ScenarioParams>;
  profiles: Record<
    string,
    {
      settleSeconds: number;
      pgbenchSeconds: number;
      applyTimeoutSeconds: number;
      scenarios: Record<string, Record<string, unknown>>;
    }
  >;
}

const ORDER = [
  'init-new-typical',
  'returning',
  'selection',
  'claim',
  'events',
  'mixed',
  // 'burst' (k6, closed connection pool) is replaced by launch.ts's burst-api / burst-nginx / storm
  // (vegeta, open model); still runnable with --only burst.
  ...(process.argv.includes('--only') ? ['burst'] : []),
  'init-new-heavy',
  'list-heavy',
  // the reference's own workloads (issue 14), at its rates and at 10x them
  'ref-sessions',
  'ref-sessions-10x',
  'ref-init-only',
  'ref-combined',
  'ref-init-only-10x',
  'ref-combined-10x',
];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const root = path.resolve(arg('root') ?? process.cwd());
const profile = arg('profile') ?? 'quick';
const only = arg('only')?.split(',').filter(Boolean);
const params = JSON.parse(readFileSync(path.join(root, 'loadtest/params.json'), 'utf8')) as Params;
const prof = params.profiles[profile];
if (!prof) throw new Error(`unknown profile ${profile}`);
const date = new Date().toISOString().slice(0, 10);
const outDir = path.resolve(
  arg('out') ?? path.join(root, 'loadtest/results', profile === 'full' ? date : `${date}-${profile}`),
);
const fixtures = path.resolve(process.env.BENCH_FIXTURES ?? path.join(root, '../shared/fixtures'));
const catalogs: Record<string, string> = {
  typical: path.join(fixtures, 'anchor-challenges.json'),
  heavy: path.join(fixtures, 'anchor-loadtest-challenges.json'),
};
const k6Bin = process.env.K6 ?? path.join(root, '.tools/bin/k6');
// --pin: the service side (api, worker, PostgreSQL, PgBouncer, Redis) on CPU 0, the load generators
// (k6, pgbench) and this process on CPU 1, so that neither starves the other and k6's clock is
// not stalled by the service's work: the closest this machine gets to a generator on its own host.
const pin = process.argv.includes('--pin');
const SERVICE_CPU = '0';
const GENERATOR_CPU = '1';

/** `cmd args` as run on the generator's CPU when pinning. */
function onGenerator(cmd: string, args: string[]): [string, string[]] {
  return pin ? ['taskset', ['-c', GENERATOR_CPU, cmd, ...args]] : [cmd, args];
}
const runId = `b${Date.now().toString(36)}`;

function log(msg: string): void {
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  logFile?: string,
  onSpawn?: (pid: number) => void,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid && onSpawn) onSpawn(child.pid);
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => chunks.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (logFile) writeFileSync(logFile, text);
      else if (code !== 0) process.stdout.write(text);
      resolve(code ?? 1);
    });
  });
}

function readEnvFile(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^export\s+([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

function durationSeconds(d: unknown): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(String(d ?? ''));
  if (!m) return 0;
  return Number(m[1]) * (m[2] === 'm' ? 60 : m[2] === 'ms' ? 0.001 : 1);
}

// ---------------------------------------------------------------------------------------------

class Stack {
  env: Record<string, string> = {};
  apiPid = 0;
  workerPid = 0;
  postmasterPid = 0;
  pgbouncerPid = 0;
  redisPid = 0;

  constructor(
    readonly catalog: string,
    readonly dir: string,
  ) {}

  async up(): Promise<void> {
    const [port, ops, wops] = [await freePort(), await freePort(), await freePort()];
    const grpcPort = await freePort();
    const env = {
      ...process.env,
      STACK_GRPC_PORT: String(grpcPort), // the api's gRPC event ingest (the platform's delivery)
      CHALLENGE_CATALOG: catalogs[this.catalog],
      STACK_PORT: String(port),
      STACK_OPS_PORT: String(ops),
      STACK_WORKER_OPS_PORT: String(wops),
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    };
    await run(path.join(root, 'scripts/stack.sh'), ['down', this.dir], env);
    log(`stack up (${this.catalog}) in ${this.dir}`);
    const code = await run(path.join(root, 'scripts/stack.sh'), ['up', this.dir], env);
    if (code !== 0) throw new Error(`scripts/stack.sh up failed (${code})`);
    this.env = { ...readEnvFile(path.join(this.dir, 'env')), GRPC_ADDR: `127.0.0.1:${grpcPort}` };
    this.apiPid = Number(readFileSync(path.join(this.dir, 'api.pid'), 'utf8').trim());
    this.workerPid = Number(readFileSync(path.join(this.dir, 'worker.pid'), 'utf8').trim());
    const services = path.join(this.dir, 'services');
    const firstLine = (f: string) => Number(readFileSync(f, 'utf8').split('\n')[0]!.trim());
    this.postmasterPid = firstLine(path.join(services, 'pg/data/postmaster.pid'));
    this.pgbouncerPid = firstLine(path.join(services, 'pgbouncer/pgbouncer.pid'));
    this.redisPid = firstLine(path.join(services, 'redis/redis.pid'));
    if (pin) this.pinServiceSide();
  }

  /** CPU seconds used so far by each process of the service side (PostgreSQL: postmaster + backends). */
  serviceCpu(): Record<'api' | 'worker' | 'postgres' | 'pgbouncer' | 'redis', number> {
    return {
      api: cpuSecondsOr(this.apiPid, 0),
      worker: cpuSecondsOr(this.workerPid, 0),
      postgres: treeCpuSeconds(this.postmasterPid),
      pgbouncer: cpuSecondsOr(this.pgbouncerPid, 0),
      redis: cpuSecondsOr(this.redisPid, 0),
    };
  }

  /** Every thread of the service side onto SERVICE_CPU (PostgreSQL backends forked later inherit it). */
  private pinServiceSide(): void {
    const postmaster = this.postmasterPid;
    const pids = [
      this.apiPid,
      this.workerPid,
      postmaster,
      ...childPids(postmaster),
      this.pgbouncerPid,
      this.redisPid,
    ];
    for (const pid of pids)
      execFileSync('taskset', ['-a', '-c', '-p', SERVICE_CPU, String(pid)], { stdio: 'ignore' });
    execFileSync('taskset', ['-a', '-c', '-p', GENERATOR_CPU, String(process.pid)], { stdio: 'ignore' });
    log(
      `pinned: service side (${pids.length} processes) on CPU ${SERVICE_CPU}, generators on CPU ${GENERATOR_CPU}`,
    );
  }

  async down(): Promise<void> {
    if (process.argv.includes('--keep-stack')) return;
    await run(path.join(root, 'scripts/stack.sh'), ['down', this.dir], process.env);
  }

  async sql<T extends Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: this.env.DATABASE_DIRECT_URL });
    await client.connect();
    try {
      return (await client.query<T>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  async rowsWritten(): Promise<number> {
    const rows = await this.sql<{ n: string }>(
      'SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint AS n FROM pg_stat_user_tables',
    );
    return Number(rows[0]?.n ?? 0);
  }

  async apiMetrics(): Promise<string> {
    try {
      const res = await fetch(`${this.env.API_OPS_URL}/metrics`);
      return await res.text();
    } catch {
      return '';
    }
  }

  async workerMetrics(): Promise<string> {
    try {
      const res = await fetch(`${this.env.WORKER_OPS_URL}/metrics`);
      return await res.text();
    } catch {
      return '';
    }
  }
}

// ---------------------------------------------------------------------------------------------
// pgbench baseline

function pgbenchScript(kind: 'init' | 'events'): { script: string; source: string } {
  const file = path.join(root, 'loadtest/sql', kind === 'init' ? 'init.sql' : 'event-batch.sql');
  try {
    if (kind === 'init') {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(path.join(root, 'dist/app/store/players.js')) as { INITIALIZE_SQL?: string };
      if (mod.INITIALIZE_SQL) {
        const sql = mod.INITIALIZE_SQL.replace(/\$(\d+)(?!\d)/g, (_, n: string) =>
          n === '1' ? `ARRAY['pgb' || :uid]` : n === '2' ? 'ARRAY[true]' : n === '3' ? `'{}'` : 'now()',
        );
        return { script: `\\set uid random(1, 2000000000)\n${sql.trim()};\n`, source: 'dist INITIALIZE_SQL' };
      }
    } else {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(path.join(root, 'dist/app/store/stats.js')) as { APPLY_STAT_CHANGES_SQL?: string };
      if (mod.APPLY_STAT_CHANGES_SQL) {
        const gen = (expr: string) => `ARRAY(SELECT ${expr} FROM generate_series(1, 500) g)`;
        const byParam: Record<string, string> = {
          '1': gen(`md5(random()::text || clock_timestamp()::text || g)`),
          '2': gen(`'pgbe' || (g * 7919 + (random() * 20000)::int) % 20000`),
          '3': gen(`'stat' || (g % 5)`),
          '4': gen(`'increment'`),
          '5': gen(`1`),
          '6': gen(`now()`),
          '7': 'now()',
          '8': `'{}'`,
          '9': `'{}'`,
        };
        const sql = mod.APPLY_STAT_CHANGES_SQL.replace(
          /\$(\d+)(?!\d)/g,
          (_, n: string) => `(${byParam[n] ?? 'NULL'})`,
        );
        return { script: `${sql.trim()};\n`, source: 'dist APPLY_STAT_CHANGES_SQL' };
      }
    }
  } catch {
    // fall back to the SQL file
  }
  return { script: readFileSync(file, 'utf8'), source: path.relative(root, file) };
}

async function pgbench(stack: Stack, kind: 'init' | 'events'): Promise<Baseline> {
  const { script, source } = pgbenchScript(kind);
  const file = path.join(outDir, `pgbench-${kind}-${stack.catalog}.sql`);
  writeFileSync(file, script);
  const url = new URL(stack.env.DATABASE_DIRECT_URL!);
  const args = [
    '-n',
    '-f',
    file,
    '-c',
    String(kind === 'init' ? 16 : 4),
    '-j',
    '2',
    '-T',
    String(prof!.pgbenchSeconds),
    '-h',
    url.hostname,
    '-p',
    url.port,
    '-U',
    decodeURIComponent(url.username || 'postgres'),
    url.pathname.slice(1),
  ];
  const logFile = path.join(outDir, `pgbench-${kind}-${stack.catalog}.log`);
  const code = await run(...onGenerator(process.env.PGBENCH ?? 'pgbench', args), process.env, logFile);
  const text = readFileSync(logFile, 'utf8');
  const m = /tps = ([\d.]+)/.exec(text);
  const perTx = kind === 'init' ? 1 : 500;
  const name = `${kind} (${stack.catalog} stack)`;
  if (code !== 0 || !m) {
    return {
      name,
      script: path.basename(file),
      source,
      tps: null,
      opsPerSecond: null,
      error: text.trim().split('\n').slice(-3).join(' '),
    };
  }
  const tps = Number(m[1]);
  return { name, script: path.basename(file), source, tps, opsPerSecond: tps * perTx };
}

// ---------------------------------------------------------------------------------------------
// One scenario

/** k6 duration strings ("30s", "2m", "1m30s") in seconds; 0 when absent. */
function parseSeconds(v: unknown): number {
  if (typeof v !== 'string') return 0;
  let total = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    const n = Number(m[1]);
    total += m[2] === 'h' ? n * 3600 : m[2] === 'm' ? n * 60 : m[2] === 's' ? n : n / 1000;
  }
  return total;
}

async function runScenario(
  stack: Stack,
  name: string,
  baselines: Baseline[],
  capacity: number | null,
): Promise<ScenarioResult> {
  const def = params.scenarios[name]!;
  const ex = prof!.scenarios[name] ?? {};
  const summaryPath = path.join(outDir, `${name}.summary.json`);
  const csvPath = path.join(outDir, `${name}.csv`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...stack.env,
    K6_CSV_TIME_FORMAT: 'unix_milli',
    K6_NO_USAGE_REPORT: 'true',
    SCENARIO: name,
    PROFILE: profile,
    PARAMS_PATH: path.join(root, 'loadtest/params.json'),
    SUMMARY_PATH: summaryPath,
    // (the reference's workloads keep their digits: ref-combined and ref-combined-10x differ)
    RUN_ID: name.startsWith('ref-')
      ? `${runId}${name.replace(/[^a-z0-9]/g, '').slice(3)}`
      : `${runId}${name.replace(/[^a-z]/g, '').slice(0, 6)}`,
    PROTO_DIR: path.join(root, 'proto'),
  };
  if (name === 'burst' && capacity) env.CAPACITY = String(Math.round(capacity));
  {
    // Mint the players' tokens now, outside the measured window (k6 shares the two cores).
    // Each scenario names its players `${RUN_ID}-<letter><i>`; the count is its pool or, for
    // scenarios of new players, what the planned arrivals can use.
    const secs = ['duration', 'warmup', 'rampUp', 'hold', 'recovery'].reduce(
      (sum, k) => sum + parseSeconds((ex as Record<string, unknown>)[k]),
      0,
    );
    const arrivals = (rate: number) => Math.ceil(rate * secs * 1.1) + 100;
    const plan: Record<string, [string, number]> = {
      'init-new-typical': ['n', arrivals(Number(ex.rate ?? 0))],
      'init-new-heavy': ['n', arrivals(Number(ex.rate ?? 0))],
      burst: ['b', arrivals(Math.max(Number(ex.baseRate ?? 0) * 8, (capacity ?? 0) * 4.5))],
      returning: ['r', Number(ex.pool ?? 1000)],
      selection: ['s', Number(ex.pool ?? 1000)],
      'list-heavy': ['l', Number(ex.pool ?? 500)],
      claim: ['c', arrivals(Number(ex.rate ?? 0))],
      mixed: ['m', Number((def as Record<string, unknown>).population ?? 100000)],
    };
    for (const ref of ['', '-10x']) {
      const initArrivals = Math.ceil(Number(ex.initRate ?? 0) * parseSeconds(ex.initDuration) * 1.1) + 100;
      plan[`ref-combined${ref}`] = ['g', Number(ex.pool ?? 1000) + initArrivals];
      plan[`ref-init-only${ref}`] = ['i', Number(ex.pool ?? 1000)];
      plan[`ref-sessions${ref}`] = ['v', Number(ex.vus ?? 150)];
    }
    const entry = plan[name];
    if (entry && entry[1] > 0) {
      const [letter, wanted] = entry;
      const count = Math.min(wanted, 800_000);
      const file = path.join(outDir, `${name}.tokens.json`);
      const secret = String(stack.env.JWT_SECRET ?? stack.env.JWT_HS256_SECRET ?? '');
      const now = Date.now();
      const tokens = Array.from({ length: count }, (_, i) =>
        mintPlayerToken(`${env.RUN_ID}-${letter}${i}`, secret, 4 * 3600, now),
      );
      writeFileSync(file, JSON.stringify({ [letter]: tokens }));
      env.TOKENS_FILE = file;
      env.TOKENS_PREFIX = env.RUN_ID;
      env.TOKENS_LETTERS = letter;
    }
  }
  const pids = { api: stack.apiPid, worker: stack.workerPid };
  const cpu0 = { api: cpuSeconds(pids.api), worker: cpuSeconds(pids.worker) };
  resetPeak(pids.api);
  resetPeak(pids.worker);
  const peak = { api: memory(pids.api).rssKb, worker: memory(pids.worker).rssKb };
  // Where the machine's CPU goes during the run: k6 (sampled until it exits) and the service side.
  const machine0 = stack.serviceCpu();
  const k6Cpu = { pid: 0, seconds: 0 };
  const sampler = setInterval(() => {
    if (k6Cpu.pid) k6Cpu.seconds = cpuSecondsOr(k6Cpu.pid, k6Cpu.seconds);
    try {
      peak.api = Math.max(peak.api, memory(pids.api).rssKb);
      peak.worker = Math.max(peak.worker, memory(pids.worker).rssKb);
    } catch {
      // process gone; reported by the missing readiness afterwards
    }
  }, 250);
  const rows0 = await stack.rowsWritten();
  const metrics0 = name === 'events' ? await stack.workerMetrics() : '';
  // The server's own view of its answer times (k6's includes the load generator's queueing when
  // it is starved of CPU, as in the burst).
  const apiMetrics0 = await stack.apiMetrics();

  // events: poll the applied count while k6 runs and until everything is applied
  const appliedCurve: [number, number][] = [];
  const appliedSql = readFileSync(path.join(root, 'loadtest/sql/applied-events.sql'), 'utf8');
  let polling = name === 'events';
  let pollError: string | undefined;
  const poller = (async () => {
    if (!polling) return;
    const client = new Client({ connectionString: stack.env.DATABASE_DIRECT_URL });
    await client.connect();
    try {
      while (polling) {
        try {
          const r = await client.query<{ applied: string }>(appliedSql, [`${env.RUN_ID}-e%`]);
          appliedCurve.push([Date.now(), Number(r.rows[0]?.applied ?? 0)]);
        } catch (e) {
          pollError = (e as Error).message;
          polling = false;
        }
        await sleep(100);
      }
    } finally {
      await client.end();
    }
  })();

  const script = path.join(root, 'loadtest/scenarios', def.script);
  log(`${name}: k6 ${def.script}`);
  const started = Date.now();
  const code = await run(
    ...onGenerator(k6Bin, ['run', '--quiet', '--out', `csv=${csvPath}`, script]),
    env,
    path.join(outDir, `${name}.k6.log`),
    (pid) => (k6Cpu.pid = pid),
  );
  const k6Seconds = (Date.now() - started) / 1000;
  const machine1 = stack.serviceCpu();
  const machineCores: Record<string, number> = { k6: round(k6Cpu.seconds / k6Seconds, 2) ?? 0 };
  for (const k of Object.keys(machine1) as (keyof typeof machine1)[]) {
    machineCores[k] = round((machine1[k] - machine0[k]) / k6Seconds, 2) ?? 0;
  }
  if (env.TOKENS_FILE) rmSync(env.TOKENS_FILE, { force: true }); // tens of MB, not a result
  let cpu1 = { api: cpuSeconds(pids.api), worker: cpuSeconds(pids.worker) };

  let summary: K6Summary = { metrics: {} };
  let error: string | undefined;
  if (existsSync(summaryPath)) summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as K6Summary;
  else error = `k6 exited ${code} without a summary (see ${name}.k6.log)`;
  if (code !== 0 && code !== 99 && !error) error = `k6 exited ${code} (see ${name}.k6.log)`;

  const extra: ScenarioResult['extra'] = {};
  {
    const name = 'challenge_http_request_duration_seconds';
    const d = bucketDelta(
      histogramBuckets(parsePrometheus(apiMetrics0), name),
      histogramBuckets(parsePrometheus(await stack.apiMetrics()), name),
    );
    const total = d.find((b) => b.le === Infinity)?.count ?? 0;
    const within2s = d.find((b) => b.le === 2)?.count ?? 0;
    if (total > 0) {
      extra.serverAnswers = total;
      extra.serverAnswersOver2s = total - within2s;
      extra.serverP95Ms = round((histogramQuantile(0.95, d) ?? 0) * 1000, 2);
    }
  }
  Object.assign(extra, shedSplit(summary) ?? {});
  const checks: Check[] = [];

  // read the CSV: latency of the load endpoints, plus the events_accepted curve
  const collector = new LatencyCollector(
    new Set(def.endpoints),
    name === 'events' ? 'events_accepted' : undefined,
  );
  const firstByPhase: Record<string, number> = {};
  if (existsSync(csvPath)) {
    const reader = new CsvReader();
    const rl = createInterface({ input: createReadStream(csvPath), crlfDelay: Infinity });
    for await (const line of rl) {
      const p = reader.line(line);
      if (!p) continue;
      collector.add(p);
      const phase = p.tags.phase;
      if (phase && p.metric === 'http_req_duration' && !(phase in firstByPhase)) firstByPhase[phase] = p.ts;
    }
  }
  const lat = collector.result();

  if (name === 'events') {
    const accepted = counterValue(summary, 'events_accepted');
    const deadline = Date.now() + prof!.applyTimeoutSeconds * 1000;
    while (polling && Date.now() < deadline) {
      const last = appliedCurve[appliedCurve.length - 1];
      if (last && last[1] >= accepted) break;
      await sleep(100);
    }
    polling = false;
    await poller;
    cpu1 = { api: cpuSeconds(pids.api), worker: cpuSeconds(pids.worker) };
    const applied = appliedCurve.length ? appliedCurve[appliedCurve.length - 1]![1] : 0;
    const firstIngest = collector.counterCurve[0]?.[0] ?? started;
    const doneAt = appliedCurve.find(([, v]) => v >= accepted)?.[0];
    const appliedRate = doneAt ? accepted / Math.max(0.001, (doneAt - firstIngest) / 1000) : null;
    let lag: Record<string, number | null> = {};
    const metrics1 = await stack.workerMetrics();
    const h0 = histogramBuckets(parsePrometheus(metrics0), 'challenge_event_apply_lag_seconds');
    const h1 = histogramBuckets(parsePrometheus(metrics1), 'challenge_event_apply_lag_seconds');
    if (h1.length > 0) {
      const d = bucketDelta(h0, h1);
      lag = {
        p50: histogramQuantile(0.5, d),
        p95: histogramQuantile(0.95, d),
        p99: histogramQuantile(0.99, d),
      };
      extra.lagSource = 'worker histogram challenge_event_apply_lag_seconds';
    } else {
      lag = lagFromCurves(collector.counterCurve, appliedCurve);
      extra.lagSource = 'ingest vs applied curves (k6 CSV vs SQL polling)';
    }
    if (pollError) extra.pollError = pollError;
    Object.assign(extra, {
      eventsAccepted: accepted,
      eventsApplied: applied,
      eventsLost: Math.max(0, accepted - applied),
      eventsAppliedTwice: Math.max(0, applied - accepted),
      appliedPerSecond: round(appliedRate),
      applyLagP50Seconds: round(lag.p50, 3),
      applyLagP95Seconds: round(lag.p95, 3),
      applyLagP99Seconds: round(lag.p99, 3),
    });
    checks.push(
      {
        name: 'no event lost',
        ok: applied >= accepted && accepted > 0,
        detail: `${applied}/${accepted} applied`,
      },
      {
        name: 'no event applied twice',
        ok: applied <= accepted,
        detail: `${Math.max(0, applied - accepted)} extra`,
      },
      {
        name: `applied >= ${params.targets.eventsAppliedPerSecond}/s`,
        ok: (appliedRate ?? 0) >= params.targets.eventsAppliedPerSecond!,
        detail: `${round(appliedRate)}/s`,
      },
      {
        name: `apply lag p95 < ${params.targets.applyLagP95Seconds} s`,
        ok: lag.p95 !== null && lag.p95 !== undefined && lag.p95 < params.targets.applyLagP95Seconds!,
        detail: `p50 ${round(lag.p50, 3)} s, p95 ${round(lag.p95, 3)} s`,
      },
    );
  } else {
    polling = false;
    await poller;
  }
  clearInterval(sampler);
  try {
    peak.api = Math.max(peak.api, memory(pids.api).hwmKb);
    peak.worker = Math.max(peak.worker, memory(pids.worker).hwmKb);
  } catch {
    // process gone
  }

  await sleep(prof!.settleSeconds * 1000); // PostgreSQL flushes table statistics lazily
  const rows = (await stack.rowsWritten()) - rows0;

  const durationS =
    lat.requests > 0 ? Math.max(1, (lat.lastTs - lat.firstTs) / 1000) : durationSeconds(ex.duration);
  const opsCounter = def.opsCounter;
  // an operation is the scenario's unit; without a counter, a successful (2xx) load request
  const ops = opsCounter ? counterValue(summary, opsCounter) : lat.ok2xx;
  const opsPerSecond = ops / Math.max(1, durationS);
  const cpuUsed = { api: cpu1.api - cpu0.api, worker: cpu1.worker - cpu0.worker };
  const baseline = def.baseline
    ? baselines.find((b) => b.name.startsWith(def.baseline!) && b.opsPerSecond)
    : undefined;

  if (def.targetRate) {
    const okRate = lat.ok2xx / Math.max(1, durationS);
    const rate = opsCounter ? opsPerSecond : okRate;
    checks.push({
      name: `sustained >= ${def.targetRate}/s`,
      ok: rate >= def.targetRate * 0.97,
      detail: `${round(rate)}/s`,
    });
  }
  checks.push(
    {
      name: `api peak RSS < ${params.targets.apiRssMb} MB`,
      ok: peak.api / 1024 < params.targets.apiRssMb!,
      detail: `${round(peak.api / 1024, 0)} MB`,
    },
    {
      name: `worker peak RSS < ${params.targets.workerRssMb} MB`,
      ok: peak.worker / 1024 < params.targets.workerRssMb!,
      detail: `${round(peak.worker / 1024, 0)} MB`,
    },
  );
  if (name.startsWith('init-new')) {
    const perOp = ops > 0 ? rows / ops : null;
    checks.push({
      name: `rows written per init = ${params.targets.rowsPerInit}`,
      ok: perOp !== null && perOp <= params.targets.rowsPerInit! * 1.05,
      detail: `${round(perOp, 3)} (table statistics lag by up to ${prof!.settleSeconds} s)`,
    });
  }
  if (name === 'burst') {
    const burstEnd = firstByPhase.recovery;
    const rec = burstEnd ? recoverySeconds(lat.perSecond, burstEnd, 20) : null;
    extra.capacityUsed = capacity ? round(capacity) : 'params baseRate x 2';
    extra.recoverySeconds = rec;
    const allowed = new Set(['200', '429', '503']);
    const other = Object.entries(lat.statusCounts).filter(([k]) => !allowed.has(k));
    checks.push(
      {
        name: `recovered < ${params.targets.burstRecoverySeconds} s after the burst`,
        ok: rec !== null && rec < params.targets.burstRecoverySeconds!,
        detail: rec === null ? 'not recovered within the recovery window' : `${rec} s`,
      },
      {
        name: `no answer later than ${params.targets.deadlineMs} ms`,
        ok: lat.max <= params.targets.deadlineMs! + 100,
        detail: `max ${round(lat.max, 1)} ms`,
      },
      {
        name: 'only 200, or 429/503 with Retry-After',
        ok: other.length === 0 && counterValue(summary, 'retry_after_missing') === 0,
        detail: other.length ? other.map(([k, v]) => `${k}: ${v}`).join(', ') : 'ok',
      },
    );
  }

  // latency-over-time chart
  let svg: string | null = null;
  if (lat.series.length > 0) {
    const targetMatch = Object.entries(def.thresholds)
      .filter(([k]) => k.startsWith('http_req_duration{') || k === 'ok_latency')
      .flatMap(([, v]) => v)
      .map((e) => /^p\(95\)<(\d+(?:\.\d+)?)$/.exec(e))
      .find((m) => m);
    svg = `${name}.svg`;
    writeFileSync(
      path.join(outDir, svg),
      latencySvg(
        `${name}: latency per second (ms)`,
        lat.series,
        targetMatch ? Number(targetMatch[1]) : undefined,
      ),
    );
  }

  const thresholds = thresholdResults(summary);
  const perK = ops > 0 ? ((cpuUsed.api + cpuUsed.worker) / ops) * 1000 : null;
  const result: ScenarioResult = {
    name,
    what: def.what,
    catalog: def.catalog,
    plannedRate: typeof ex.rate === 'number' ? ex.rate : null,
    targetRate: def.targetRate ?? null,
    durationSeconds: round(durationS, 2) ?? 0,
    ops,
    opsPerSecond: round(opsPerSecond) ?? 0,
    requests: lat.requests,
    requestsPerSecond: round(lat.requests / Math.max(1, durationS)) ?? 0,
    latencyMs: {
      p50: round(lat.p50, 3) ?? NaN,
      p95: round(lat.p95, 3) ?? NaN,
      p99: round(lat.p99, 3) ?? NaN,
      max: round(lat.max, 3) ?? NaN,
    },
    statusCounts: lat.statusCounts,
    status429: counterValue(summary, 'status_429'),
    status503: counterValue(summary, 'status_503'),
    retryAfterMissing: counterValue(summary, 'retry_after_missing'),
    droppedIterations: counterValue(summary, 'dropped_iterations'),
    cpuSeconds: { api: round(cpuUsed.api, 3) ?? 0, worker: round(cpuUsed.worker, 3) ?? 0 },
    cpuSecondsPer1000Ops: round(perK, 4),
    peakRssMb: { api: round(peak.api / 1024, 1) ?? 0, worker: round(peak.worker / 1024, 1) ?? 0 },
    rowsWritten: rows,
    rowsPerOp: ops > 0 ? round(rows / ops, 4) : null,
    baseline: baseline ? { name: baseline.name, opsPerSecond: baseline.opsPerSecond! } : null,
    ratioToBaseline: baseline ? round(opsPerSecond / baseline.opsPerSecond!, 3) : null,
    thresholds,
    checks,
    extra,
    machineCores,
    svg,
    pass: false,
  };
  if (error) result.error = error;
  result.pass = !error && lat.requests > 0 && thresholds.every((t) => t.ok) && checks.every((c) => c.ok);
  log(
    `${name}: ${result.opsPerSecond} ops/s, p95 ${result.latencyMs.p95} ms, ${JSON.stringify(lat.statusCounts)} -> ${result.pass ? 'pass' : 'FAIL'}`,
  );
  return result;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  if (!existsSync(path.join(root, 'dist/app/main.js')))
    throw new Error('dist/app/main.js missing: npm run build');
  const wanted = ORDER.filter(
    (n) => params.scenarios[n] && prof!.scenarios[n] && (!only || only.includes(n)),
  );
  const baselines: Baseline[] = [];
  const results: ScenarioResult[] = [];
  let capacity: number | null = null;
  for (const catalog of ['typical', 'heavy']) {
    const names = wanted.filter((n) => params.scenarios[n]!.catalog === catalog);
    if (names.length === 0) continue;
    const stack = new Stack(catalog, path.join(root, '.tmp', `bench-stack-${catalog}`));
    try {
      await stack.up();
      log(`pgbench baseline (${catalog})`);
      baselines.push(await pgbench(stack, 'init'));
      if (names.includes('events')) baselines.push(await pgbench(stack, 'events'));
      for (const name of names) {
        try {
          const r = await runScenario(stack, name, baselines, capacity);
          if (name === 'init-new-typical' && r.requests > 0) {
            capacity = (r.statusCounts['200'] ?? 0) / Math.max(1, r.durationSeconds);
          }
          results.push(r);
        } catch (e) {
          log(`${name}: ${(e as Error).stack ?? String(e)}`);
        }
      }
    } finally {
      await stack.down();
    }
  }
  let k6Version = 'k6';
  try {
    k6Version = execFileSync(k6Bin, ['version'], { encoding: 'utf8' }).trim().split(' (')[0]!;
  } catch {
    // keep the default
  }
  const report: Report = {
    date,
    profile,
    host: { cpus: os.cpus().length, node: process.version, k6: k6Version, pinned: pin },
    baselines,
    scenarios: results,
    pass: results.length === wanted.length && results.every((r) => r.pass),
  };
  writeFileSync(path.join(outDir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(path.join(outDir, 'report.md'), renderMarkdown(report));
  log(`report: ${path.relative(root, path.join(outDir, 'report.md'))} (${report.pass ? 'PASS' : 'FAIL'})`);
  // The bench measures; failing targets do not fail the command (BENCH_STRICT=1 makes them).
  if (process.env.BENCH_STRICT === '1' && !report.pass) process.exitCode = 1;
}

main().catch((e: unknown) => {
  log(`failed: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 1;
});
