// Open-model load with vegeta: targets files (one brand-new player per request), the attack with the
// generator's own CPU counted, the results read back, and what the launch reports need from them:
// planned vs achieved rate (FAILED when the generator fell short), answers by status, transport
// errors by kind, Retry-After on every 429/503, latency of all answers and of the 200s, per second.
import { spawn, execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { quantile } from './report';
import { niceMax } from './svg';

/** The generator must reach this share of the planned rate, else the scenario is FAILED. */
export const GENERATOR_SHORTFALL = 0.95;

export interface GeneratorVerdict {
  planned: number;
  achieved: number;
  ratio: number;
  ok: boolean;
  /** "" when ok, else the FAILED line of the report. */
  mark: string;
}

/** FAILED when the generator sent less than 0.95 x the planned rate: the run did not offer the load. */
export function generatorVerdict(planned: number, achieved: number): GeneratorVerdict {
  const ratio = planned > 0 ? achieved / planned : 0;
  const ok = planned > 0 && achieved >= GENERATOR_SHORTFALL * planned;
  return {
    planned,
    achieved,
    ratio,
    ok,
    mark: ok
      ? ''
      : `FAILED: generator achieved ${achieved.toFixed(1)}/s < ${GENERATOR_SHORTFALL} x planned ${planned}/s`,
  };
}

// ---- targets ---------------------------------------------------------------------------------

export interface TargetSpec {
  method: string;
  url: string;
  /** One bearer token per request (a new player each). Read lazily: vegeta stops when they run out. */
  tokens: string[];
  body?: string;
  /** Extra request headers (e.g. X-Server-Timing: 1). */
  headers?: Record<string, string>;
}

/** Writes vegeta's JSON targets format, one line per token. */
export async function writeTargets(file: string, spec: TargetSpec): Promise<number> {
  const out = createWriteStream(file);
  const body = spec.body !== undefined ? Buffer.from(spec.body).toString('base64') : undefined;
  for (const t of spec.tokens) {
    const line = JSON.stringify({
      method: spec.method,
      url: spec.url,
      header: {
        Authorization: [`Bearer ${t}`],
        'Content-Type': ['application/json'],
        ...Object.fromEntries(Object.entries(spec.headers ?? {}).map(([k, v]) => [k, [v]])),
      },
      ...(body !== undefined ? { body } : {}),
    });
    if (!out.write(line + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  return spec.tokens.length;
}

// ---- attack ----------------------------------------------------------------------------------

export interface AttackOptions {
  vegeta: string;
  targetsFile: string;
  resultsFile: string;
  rate: number;
  durationS: number;
  /** false = a new connection for every request (connection storm). */
  keepalive: boolean;
  /** Most connections open at once (0 = unbounded). */
  maxConnections: number;
  timeoutS: number;
  name: string;
  /** Prefix for the command (taskset when pinning). */
  wrap?: string[];
}

/** Parses the children line of bash's `times` ("0m1.234s 0m0.567s"): user + system seconds. */
export function parseTimes(text: string): number {
  const lines = text.trim().split('\n');
  const child = lines[lines.length - 1] ?? '';
  let total = 0;
  for (const m of child.matchAll(/(\d+)m([\d.]+)s/g)) total += Number(m[1]) * 60 + Number(m[2]);
  return total;
}

/** Runs one constant-rate attack; resolves with the generator's CPU seconds (user + system). */
export function attack(o: AttackOptions): Promise<{ cpuSeconds: number; exitCode: number; log: string }> {
  const args = [
    'attack',
    '-format=json',
    '-lazy',
    `-targets=${o.targetsFile}`,
    `-output=${o.resultsFile}`,
    `-rate=${Math.round(o.rate)}/s`,
    `-duration=${o.durationS}s`,
    `-timeout=${o.timeoutS}s`,
    `-keepalive=${o.keepalive}`,
    '-http2=false',
    '-max-body=0',
    `-name=${o.name}`,
    '-workers=64',
  ];
  if (o.maxConnections > 0)
    args.push(`-max-connections=${o.maxConnections}`, `-connections=${o.maxConnections}`);
  else args.push('-connections=10000');
  // bash's `times` after the attack: the CPU of its children, i.e. of vegeta alone.
  const script = '"$@"; rc=$?; times; exit $rc';
  const cmd = [...(o.wrap ?? []), o.vegeta, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script, 'attack', ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ cpuSeconds: parseTimes(out), exitCode: code ?? 1, log: err }));
  });
}

// ---- results ---------------------------------------------------------------------------------

export interface Answer {
  /** send time, epoch ms */
  ts: number;
  code: number;
  latencyMs: number;
  error: string;
  retryAfter: boolean;
  /** The Server-Timing header, when the answer carried one. */
  serverTiming?: string;
}

/** One CSV record of `vegeta encode --to csv` (fields may be quoted). */
export function parseVegetaCsvLine(line: string): Answer | null {
  const f: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (q) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') q = false;
      else cur += c;
    } else if (c === '"') q = true;
    else if (c === ',') {
      f.push(cur);
      cur = '';
    } else cur += c;
  }
  f.push(cur);
  if (f.length < 12) return null;
  const code = Number(f[1]);
  const headers = f[11] ? Buffer.from(f[11], 'base64').toString('utf8') : '';
  const retryAfter = (code === 429 || code === 503) && /^retry-after:\s*\d+/im.test(headers);
  const timing = /^server-timing:\s*(.+?)\r?$/im.exec(headers)?.[1];
  return {
    ts: Number(BigInt(f[0]!) / 1_000_000n),
    code,
    latencyMs: Number(f[2]) / 1e6,
    error: f[5] ?? '',
    retryAfter,
    ...(timing ? { serverTiming: timing } : {}),
  };
}

export function readResults(vegeta: string, resultsFile: string): Answer[] {
  const csv = execFileSync(vegeta, ['encode', '--to', 'csv', resultsFile], {
    maxBuffer: 1 << 30,
    encoding: 'utf8',
  });
  const out: Answer[] = [];
  for (const line of csv.split('\n')) {
    if (!line) continue;
    const a = parseVegetaCsvLine(line);
    if (a) out.push(a);
  }
  return out;
}

/** Transport failures by kind (what the burst criteria count as resets / refusals / timeouts). */
export function errorKind(error: string): 'reset' | 'refused' | 'timeout' | 'other' | null {
  if (!error) return null;
  if (/reset by peer|broken pipe|EOF/i.test(error)) return 'reset';
  if (/refused/i.test(error)) return 'refused';
  if (/timeout|deadline exceeded/i.test(error)) return 'timeout';
  return 'other';
}

export interface Second {
  t: number;
  byStatus: Record<string, number>;
  p50: number;
  p95: number;
  p95ok: number;
  count: number;
}

export interface Analysis {
  requests: number;
  firstTs: number;
  lastTs: number;
  /** Sent per second over the sending window. */
  achievedRate: number;
  statusCounts: Record<string, number>;
  errors: Record<'reset' | 'refused' | 'timeout' | 'other', number>;
  retryAfterMissing: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  okLatencyMs: { p50: number; p95: number; p99: number; max: number };
  /** 200s per second over the sending window. */
  goodput: number;
  perSecond: Second[];
}

function stats(sorted: number[]) {
  return {
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
  };
}

/** `durationS`: the planned sending window (achieved rate = sent / that window). */
export function analyse(answers: Answer[], durationS: number, startMs?: number): Analysis {
  let minTs = Infinity;
  let maxTs = -Infinity;
  for (const x of answers) {
    if (x.ts < minTs) minTs = x.ts;
    if (x.ts > maxTs) maxTs = x.ts;
  }
  // (no spread: Math.min(...xs) overflows the stack past ~100k answers)
  const firstTs = startMs ?? (answers.length ? minTs : 0);
  const lastTs = answers.length ? maxTs : firstTs;
  const statusCounts: Record<string, number> = {};
  const errors = { reset: 0, refused: 0, timeout: 0, other: 0 };
  let retryAfterMissing = 0;
  const all: number[] = [];
  const ok: number[] = [];
  const secs = new Map<number, { by: Record<string, number>; all: number[]; ok: number[] }>();
  for (const a of answers) {
    const key = a.code === 0 ? `error:${errorKind(a.error) ?? 'other'}` : String(a.code);
    statusCounts[key] = (statusCounts[key] ?? 0) + 1;
    const k = errorKind(a.error);
    if (a.code === 0 && k) errors[k]++;
    if ((a.code === 429 || a.code === 503) && !a.retryAfter) retryAfterMissing++;
    all.push(a.latencyMs);
    if (a.code === 200) ok.push(a.latencyMs);
    const t = Math.floor((a.ts - firstTs) / 1000);
    let s = secs.get(t);
    if (!s) secs.set(t, (s = { by: {}, all: [], ok: [] }));
    s.by[key] = (s.by[key] ?? 0) + 1;
    s.all.push(a.latencyMs);
    if (a.code === 200) s.ok.push(a.latencyMs);
  }
  const num = (x: number, y: number) => x - y;
  all.sort(num);
  ok.sort(num);
  const perSecond: Second[] = [...secs.entries()]
    .sort(([x], [y]) => x - y)
    .map(([t, s]) => {
      s.all.sort(num);
      s.ok.sort(num);
      return {
        t,
        byStatus: s.by,
        p50: quantile(s.all, 0.5),
        p95: quantile(s.all, 0.95),
        p95ok: s.ok.length ? quantile(s.ok, 0.95) : 0,
        count: s.all.length,
      };
    });
  const window = Math.max(0.001, durationS);
  return {
    requests: answers.length,
    firstTs,
    lastTs,
    achievedRate: answers.length / window,
    statusCounts,
    errors,
    retryAfterMissing,
    latencyMs: stats(all),
    okLatencyMs: stats(ok),
    goodput: ok.length / window,
    perSecond,
  };
}

/** Seconds after `endS` (since start) until every later second has only 200s with p95 <= target. */
export function recoveryAfter(perSecond: Second[], endS: number, p95TargetMs: number): number | null {
  const after = perSecond.filter((s) => s.t >= endS);
  if (after.length === 0) return null;
  let lastBad = -1;
  after.forEach((s, i) => {
    const non200 = Object.entries(s.byStatus).some(([k, v]) => k !== '200' && v > 0);
    if (non200 || s.p95ok > p95TargetMs) lastBad = i;
  });
  if (lastBad === after.length - 1) return null;
  if (lastBad < 0) return 0;
  return after[lastBad + 1]!.t - endS;
}

/** p50 / p95 / mean per Server-Timing hop over the answers that carried one (ms). */
export function hopStats(
  answers: Answer[],
): { hop: string; n: number; p50: number; p95: number; mean: number }[] {
  const by = new Map<string, number[]>();
  for (const a of answers) {
    if (!a.serverTiming) continue;
    for (const part of a.serverTiming.split(',')) {
      const m = /^\s*([\w-]+);dur=([\d.]+)/.exec(part);
      if (!m) continue;
      let l = by.get(m[1]!);
      if (!l) by.set(m[1]!, (l = []));
      l.push(Number(m[2]));
    }
  }
  return [...by.entries()].map(([hop, l]) => {
    l.sort((x, y) => x - y);
    return {
      hop,
      n: l.length,
      p50: quantile(l, 0.5),
      p95: quantile(l, 0.95),
      mean: l.reduce((a, b) => a + b, 0) / l.length,
    };
  });
}

// ---- picture ---------------------------------------------------------------------------------

const STATUS_COLOURS: Record<string, string> = {
  '200': '#2ca02c',
  '429': '#ff7f0e',
  '503': '#d62728',
};

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Two panels over time: answers per second by status (one line each), and p50 / p95 of all
 * answers and p95 of the 200s (ms). `marks`: phase boundaries (seconds since start, label).
 */
export function answersSvg(
  title: string,
  perSecond: Second[],
  marks: { t: number; label: string }[] = [],
  width = 760,
): string {
  const left = 64;
  const right = 16;
  const panelH = 170;
  const gap = 48;
  const top = 36;
  const height = top + panelH * 2 + gap + 40;
  const w = width - left - right;
  const tMax = Math.max(1, ...perSecond.map((s) => s.t), ...marks.map((m) => m.t));
  const x = (t: number) => (left + (t / tMax) * w).toFixed(1);
  const statuses = [...new Set(perSecond.flatMap((s) => Object.keys(s.byStatus)))].sort();
  const countMax = niceMax(Math.max(1, ...perSecond.flatMap((s) => Object.values(s.byStatus))) * 1.05);
  const latMax = niceMax(Math.max(1, ...perSecond.map((s) => s.p95)) * 1.05);
  const y1 = (v: number) => (top + panelH - (Math.min(v, countMax) / countMax) * panelH).toFixed(1);
  const y2top = top + panelH + gap;
  const y2 = (v: number) => (y2top + panelH - (Math.min(v, latMax) / latMax) * panelH).toFixed(1);
  const p: string[] = [];
  p.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="18" font-size="13" font-weight="bold">${esc(title)}</text>`,
  );
  const axes = (yTop: number, max: number, unit: string, y: (v: number) => string) => {
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4;
      p.push(
        `<line x1="${left}" y1="${y(v)}" x2="${left + w}" y2="${y(v)}" stroke="#ddd"/>`,
        `<text x="${left - 6}" y="${y(v)}" text-anchor="end" dominant-baseline="middle">${+v.toFixed(1)}${unit}</text>`,
      );
    }
    p.push(
      `<line x1="${left}" y1="${yTop + panelH}" x2="${left + w}" y2="${yTop + panelH}" stroke="#333"/>`,
      `<line x1="${left}" y1="${yTop}" x2="${left}" y2="${yTop + panelH}" stroke="#333"/>`,
    );
  };
  axes(top, countMax, '/s', y1);
  axes(y2top, latMax, ' ms', y2);
  for (let i = 0; i <= 5; i++) {
    const t = (tMax * i) / 5;
    p.push(`<text x="${x(t)}" y="${y2top + panelH + 16}" text-anchor="middle">${Math.round(t)} s</text>`);
  }
  for (const m of marks) {
    p.push(
      `<line x1="${x(m.t)}" y1="${top}" x2="${x(m.t)}" y2="${y2top + panelH}" stroke="#999" stroke-dasharray="3 3"/>`,
      `<text x="${Number(x(m.t)) + 3}" y="${top + 10}" fill="#666">${esc(m.label)}</text>`,
    );
  }
  statuses.forEach((st, i) => {
    const colour = STATUS_COLOURS[st] ?? ['#9467bd', '#8c564b', '#7f7f7f', '#17becf'][i % 4]!;
    const pts = perSecond.map((s) => `${x(s.t)},${y1(s.byStatus[st] ?? 0)}`).join(' ');
    p.push(
      `<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${pts}"/>`,
      `<text x="${left + 8 + i * 90}" y="${top - 4}" fill="${colour}">${esc(st)} /s</text>`,
    );
  });
  const line = (pick: (s: Second) => number, colour: string) =>
    `<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${perSecond.map((s) => `${x(s.t)},${y2(pick(s))}`).join(' ')}"/>`;
  p.push(
    line((s) => s.p50, '#1f77b4'),
    line((s) => s.p95, '#ff7f0e'),
    line((s) => s.p95ok, '#2ca02c'),
    `<text x="${left + 8}" y="${y2top - 6}" fill="#1f77b4">p50 all</text>`,
    `<text x="${left + 70}" y="${y2top - 6}" fill="#ff7f0e">p95 all</text>`,
    `<text x="${left + 132}" y="${y2top - 6}" fill="#2ca02c">p95 of 200s</text>`,
    `<text x="${left + w / 2}" y="${height - 6}" text-anchor="middle">seconds since the scenario started</text>`,
    '</svg>',
  );
  return p.join('\n') + '\n';
}

// ---- report lines ----------------------------------------------------------------------------

export interface RunLine {
  scenario: string;
  target: string;
  verdict: GeneratorVerdict;
  /** Generator CPU seconds over the run. */
  generatorCpuSeconds: number;
  a: Analysis;
  /** Scenario-specific pass/fail of the service criteria. */
  pass: boolean;
}

/** CPU microseconds the generator spent per request sent. */
export const cpuPerRequestUs = (cpuSeconds: number, requests: number): number | null =>
  requests > 0 ? (cpuSeconds / requests) * 1e6 : null;

export const RUN_TABLE_HEAD = [
  '| scenario | target | planned/s | achieved/s | generator CPU µs/req (cores) | 200/s | statuses | resets / refused / timeouts | p50 / p95 ms (200s p95) | max ms | result |',
  '| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |',
];

/** One report line: planned, achieved, generator CPU, and FAILED when the generator fell short. */
export function runLine(r: RunLine): string {
  const f = (v: number | null | undefined, d = 1) =>
    v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(d);
  const window = Math.max(0.001, r.a.requests / Math.max(1e-9, r.a.achievedRate));
  const cores = r.generatorCpuSeconds / window;
  const statuses = Object.entries(r.a.statusCounts)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  const result = !r.verdict.ok ? r.verdict.mark : r.pass ? 'pass' : 'FAIL';
  return `| ${r.scenario} | ${r.target} | ${f(r.verdict.planned, 0)} | ${f(r.verdict.achieved)} | ${f(cpuPerRequestUs(r.generatorCpuSeconds, r.a.requests), 0)} (${f(cores, 2)}) | ${f(r.a.goodput)} | ${statuses} | ${r.a.errors.reset} / ${r.a.errors.refused} / ${r.a.errors.timeout} | ${f(r.a.latencyMs.p50, 2)} / ${f(r.a.latencyMs.p95, 2)} (${f(r.a.okLatencyMs.p95, 2)}) | ${f(r.a.latencyMs.max, 0)} | ${result} |`;
}
