// Pure parts of the bench: k6 CSV aggregation, k6 summary reading, apply-lag from cumulative
// curves, pass/fail evaluation and the Markdown report. No I/O here (bench.ts does that).
import type { SecondPoint } from './svg';

// ---------------------------------------------------------------------------------------------
// k6 CSV output

/** Splits one CSV line (RFC 4180 quoting). */
export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"') {
        if (line[i + 1] === '"') {
          cur += '"';
          i++;
        } else quoted = false;
      } else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

export interface CsvPoint {
  metric: string;
  /** epoch ms */
  ts: number;
  value: number;
  name: string;
  status: string;
  tags: Record<string, string>;
}

/** Reads k6 CSV lines (header first) into points; `ts` must be unix ms (K6_CSV_TIME_FORMAT=unix_milli). */
export class CsvReader {
  private idx: Record<string, number> | undefined;

  /** Returns the point of a data line, or undefined for the header / blank lines. */
  line(line: string): CsvPoint | undefined {
    if (!line) return undefined;
    const cols = splitCsvLine(line);
    if (!this.idx) {
      this.idx = {};
      cols.forEach((c, i) => (this.idx![c] = i));
      return undefined;
    }
    const get = (k: string) => {
      const i = this.idx![k];
      return i === undefined ? '' : (cols[i] ?? '');
    };
    const tags: Record<string, string> = {};
    for (const kv of get('extra_tags').split('&')) {
      const eq = kv.indexOf('=');
      if (eq > 0) tags[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    let ts = Number(get('timestamp'));
    if (ts < 1e11) ts *= 1000; // unix seconds
    return {
      metric: get('metric_name'),
      ts,
      value: Number(get('metric_value')),
      name: get('name'),
      status: get('status'),
      tags,
    };
  }
}

export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export interface LatencyStats {
  requests: number;
  ok2xx: number;
  statusCounts: Record<string, number>;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** epoch ms of the first and last load request */
  firstTs: number;
  lastTs: number;
  series: SecondPoint[];
  /** Per second after `phaseStart` of a phase: counts of non-2xx and p95 of 2xx. */
  perSecond: { t: number; count: number; non2xx: number; p95ok: number }[];
}

/** Collects http_req_duration points of the scenario's load endpoints (k6 `name` tag). */
export class LatencyCollector {
  private values: number[] = [];
  private readonly bySecond = new Map<number, { all: number[]; ok: number[]; non2xx: number }>();
  private statusCounts: Record<string, number> = {};
  private first = Infinity;
  private last = -Infinity;
  private ok = 0;
  /** Cumulative `counter` values over time, e.g. events_accepted: [epoch ms, cumulative]. */
  readonly counterCurve: [number, number][] = [];
  private counterTotal = 0;

  constructor(
    private readonly endpoints: ReadonlySet<string>,
    private readonly counter?: string,
  ) {}

  add(p: CsvPoint): void {
    if (this.counter && p.metric === this.counter) {
      this.counterTotal += p.value;
      this.counterCurve.push([p.ts, this.counterTotal]);
      return;
    }
    if (p.metric !== 'http_req_duration' || !this.endpoints.has(p.name)) return;
    this.values.push(p.value);
    this.first = Math.min(this.first, p.ts);
    this.last = Math.max(this.last, p.ts);
    const status = p.status || '0';
    this.statusCounts[status] = (this.statusCounts[status] ?? 0) + 1;
    const is2xx = status.startsWith('2');
    if (is2xx) this.ok++;
    const sec = Math.floor(p.ts / 1000);
    let b = this.bySecond.get(sec);
    if (!b) this.bySecond.set(sec, (b = { all: [], ok: [], non2xx: 0 }));
    b.all.push(p.value);
    if (is2xx) b.ok.push(p.value);
    else b.non2xx++;
  }

  result(): LatencyStats {
    const sorted = Float64Array.from(this.values).sort();
    const secs = [...this.bySecond.keys()].sort((a, b) => a - b);
    const t0 = secs[0] ?? 0;
    const series: SecondPoint[] = [];
    const perSecond: LatencyStats['perSecond'] = [];
    for (const s of secs) {
      const b = this.bySecond.get(s)!;
      const all = Float64Array.from(b.all).sort();
      const ok = Float64Array.from(b.ok).sort();
      series.push({ t: s - t0, p50: quantile(all, 0.5), p95: quantile(all, 0.95), count: all.length });
      perSecond.push({
        t: s,
        count: all.length,
        non2xx: b.non2xx,
        p95ok: ok.length ? quantile(ok, 0.95) : 0,
      });
    }
    return {
      requests: sorted.length,
      ok2xx: this.ok,
      statusCounts: this.statusCounts,
      p50: quantile(sorted, 0.5),
      p95: quantile(sorted, 0.95),
      p99: quantile(sorted, 0.99),
      max: sorted.length ? sorted[sorted.length - 1]! : NaN,
      firstTs: this.first,
      lastTs: this.last,
      series,
      perSecond,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// k6 summary (handleSummary data)

export interface K6Summary {
  metrics: Record<
    string,
    { type?: string; values: Record<string, number>; thresholds?: Record<string, { ok: boolean }> }
  >;
  state?: { testRunDurationMs?: number };
}

export interface ThresholdResult {
  metric: string;
  expression: string;
  ok: boolean;
}

export function thresholdResults(summary: K6Summary): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  for (const [metric, m] of Object.entries(summary.metrics)) {
    for (const [expression, r] of Object.entries(m.thresholds ?? {}))
      out.push({ metric, expression, ok: r.ok });
  }
  return out.sort((a, b) => a.metric.localeCompare(b.metric));
}

/**
 * The reference scenarios' split (loadtest/scenarios/lib/common.ts, served()): answers shed by
 * admission (429/503 with Retry-After; over gRPC UNAVAILABLE / RESOURCE_EXHAUSTED with retry-after)
 * apart from the served ones, whose latency the reference's thresholds judge. null for scenarios
 * without the split. k6's own http_req_duration includes the shed answers, which are fast.
 */
export function shedSplit(summary: K6Summary): Record<string, number | null> | null {
  const shed = summary.metrics.shed_rate?.values;
  if (!shed) return null;
  const servedMs = summary.metrics.served_req_duration?.values ?? {};
  return {
    shedRate: round(shed.rate, 4),
    shedAnswers: shed.passes ?? 0,
    servedAnswers: counterValue(summary, 'served_answers'),
    servedP50Ms: round(servedMs.med, 2),
    servedP95Ms: round(servedMs['p(95)'], 2),
    servedP99Ms: round(servedMs['p(99)'], 2),
  };
}

/** `count` of a counter metric in the summary (0 when absent). */
export function counterValue(summary: K6Summary, metric: string): number {
  return summary.metrics[metric]?.values.count ?? 0;
}

// ---------------------------------------------------------------------------------------------
// Apply lag from the ingest and apply curves

/** First time (epoch ms) a cumulative curve reaches `k`, or undefined. Curves must be sorted by time. */
export function timeReaching(curve: readonly [number, number][], k: number): number | undefined {
  for (const [t, v] of curve) if (v >= k) return t;
  return undefined;
}

/**
 * Lag quantiles (seconds) from cumulative curves: the k-th event accepted at time a(k) and applied
 * at time b(k) waited b(k) - a(k). Assumes FIFO order, which the stream gives per partition.
 */
export function lagFromCurves(
  ingest: readonly [number, number][],
  applied: readonly [number, number][],
  qs: readonly number[] = [0.5, 0.95, 0.99],
): Record<string, number | null> {
  const total = ingest.length ? ingest[ingest.length - 1]![1] : 0;
  const out: Record<string, number | null> = {};
  for (const q of qs) {
    const k = Math.max(1, Math.ceil(q * total));
    const a = timeReaching(ingest, k);
    const b = timeReaching(applied, k);
    out[`p${Math.round(q * 100)}`] = a === undefined || b === undefined ? null : Math.max(0, (b - a) / 1000);
  }
  return out;
}

/** "machine CPU (mean cores over the run): k6 0.96, postgres 0.45, … = 1.98 of N" */
export function machineCoresText(cores: Record<string, number>): string {
  const total = Object.values(cores).reduce((a, b) => a + b, 0);
  const parts = Object.entries(cores).map(([k, v]) => `${k} ${fmt(v, 2)}`);
  return `machine CPU (mean cores over the k6 run): ${parts.join(', ')}; total ${fmt(total, 2)}`;
}

/**
 * Seconds from `burstEnd` (epoch ms) until the service is healthy again: the first second after
 * which every second has no non-2xx answer and a 2xx p95 within `p95TargetMs`. null = not within data.
 */
export function recoverySeconds(
  perSecond: LatencyStats['perSecond'],
  burstEndMs: number,
  p95TargetMs: number,
): number | null {
  const after = perSecond.filter((s) => s.t * 1000 >= Math.floor(burstEndMs / 1000) * 1000);
  if (after.length === 0) return null;
  let lastBad = -1;
  after.forEach((s, i) => {
    if (s.non2xx > 0 || s.p95ok > p95TargetMs) lastBad = i;
  });
  if (lastBad === after.length - 1) return null;
  if (lastBad < 0) return 0;
  return after[lastBad + 1]!.t - Math.floor(burstEndMs / 1000);
}

// ---------------------------------------------------------------------------------------------
// Scenario results and the report

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ScenarioResult {
  name: string;
  what: string;
  catalog: string;
  plannedRate: number | null;
  targetRate: number | null;
  durationSeconds: number;
  ops: number;
  opsPerSecond: number;
  requests: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  statusCounts: Record<string, number>;
  status429: number;
  status503: number;
  retryAfterMissing: number;
  droppedIterations: number;
  cpuSeconds: { api: number; worker: number };
  cpuSecondsPer1000Ops: number | null;
  peakRssMb: { api: number; worker: number };
  rowsWritten: number;
  rowsPerOp: number | null;
  baseline: { name: string; opsPerSecond: number } | null;
  ratioToBaseline: number | null;
  thresholds: ThresholdResult[];
  checks: Check[];
  extra: Record<string, number | string | null>;
  /** Mean cores used over the k6 run, per process (k6 sampled every 250 ms until it exited). */
  machineCores?: Record<string, number>;
  svg: string | null;
  error?: string;
  pass: boolean;
}

export interface Baseline {
  name: string;
  script: string;
  source: string;
  tps: number | null;
  /** operations per second: tps x operations per transaction */
  opsPerSecond: number | null;
  error?: string;
}

export interface Report {
  date: string;
  profile: string;
  /** pinned: service side on one CPU, load generators on the other (bench --pin). */
  host: { cpus: number; node: string; k6: string; pinned?: boolean };
  baselines: Baseline[];
  scenarios: ScenarioResult[];
  pass: boolean;
}

export function round(v: number | null | undefined, digits = 2): number | null {
  if (v === null || v === undefined || !Number.isFinite(v)) return null;
  const f = Math.pow(10, digits);
  return Math.round(v * f) / f;
}

function fmt(v: number | null | undefined, digits = 1): string {
  const r = round(v, digits);
  return r === null ? '–' : String(r);
}

function statusText(counts: Record<string, number>): string {
  return (
    Object.keys(counts)
      .sort()
      .map((k) => `${k}: ${counts[k]}`)
      .join(', ') || '–'
  );
}

export function renderMarkdown(r: Report): string {
  const lines: string[] = [];
  lines.push(`# Benchmark ${r.date} (${r.profile})`, '');
  lines.push(
    `Host: ${r.host.cpus} CPUs, node ${r.host.node}, ${r.host.k6}${r.host.pinned ? '; pinned: service side (api, worker, PostgreSQL, PgBouncer, Redis) on CPU 0, k6 and pgbench on CPU 1' : ''}. Overall: **${r.pass ? 'PASS' : 'FAIL'}**.`,
    '',
  );
  lines.push('## pgbench baseline (same SQL, same machine, same run)', '');
  lines.push('| baseline | source | tps | ops/s |', '| --- | --- | ---: | ---: |');
  for (const b of r.baselines) {
    lines.push(
      `| ${b.name} | ${b.source} | ${fmt(b.tps)} | ${fmt(b.opsPerSecond)} |${b.error ? ` error: ${b.error}` : ''}`,
    );
  }
  lines.push('', '## Summary', '');
  lines.push(
    '| scenario | catalog | target/s | achieved ops/s | p50 ms | p95 ms | p99 ms | non-2xx | CPU-s / 1k ops | rows / op | peak RSS api / worker MB | x pgbench | result |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  );
  for (const s of r.scenarios) {
    const non2xx = Object.entries(s.statusCounts)
      .filter(([k]) => !k.startsWith('2'))
      .reduce((a, [, v]) => a + v, 0);
    lines.push(
      `| [${s.name}](#${s.name}) | ${s.catalog} | ${fmt(s.targetRate ?? s.plannedRate, 0)} | ${fmt(s.opsPerSecond)} | ${fmt(s.latencyMs.p50, 2)} | ${fmt(s.latencyMs.p95, 2)} | ${fmt(s.latencyMs.p99, 2)} | ${non2xx} | ${fmt(s.cpuSecondsPer1000Ops, 3)} | ${fmt(s.rowsPerOp, 2)} | ${fmt(s.peakRssMb.api, 0)} / ${fmt(s.peakRssMb.worker, 0)} | ${fmt(s.ratioToBaseline, 2)} | ${s.pass ? 'pass' : 'FAIL'} |`,
    );
  }
  for (const s of r.scenarios) {
    lines.push('', `## ${s.name}`, '', `${s.what} (catalog ${s.catalog}).`, '');
    if (s.error) lines.push(`**Error:** ${s.error}`, '');
    lines.push(
      `- planned ${fmt(s.plannedRate, 0)}/s for ${fmt(s.durationSeconds)} s; ${s.ops} operations (${fmt(s.opsPerSecond)}/s), ${s.requests} load requests (${fmt(s.requestsPerSecond)}/s), ${s.droppedIterations} dropped iterations`,
      `- latency ms: p50 ${fmt(s.latencyMs.p50, 2)}, p95 ${fmt(s.latencyMs.p95, 2)}, p99 ${fmt(s.latencyMs.p99, 2)}, max ${fmt(s.latencyMs.max, 1)}`,
      `- statuses: ${statusText(s.statusCounts)}; 429: ${s.status429}, 503: ${s.status503}, without Retry-After: ${s.retryAfterMissing}`,
      `- CPU seconds: api ${fmt(s.cpuSeconds.api, 2)}, worker ${fmt(s.cpuSeconds.worker, 2)} (${fmt(s.cpuSecondsPer1000Ops, 3)} per 1,000 ops); peak RSS api ${fmt(s.peakRssMb.api, 0)} MB, worker ${fmt(s.peakRssMb.worker, 0)} MB`,
      `- rows written: ${s.rowsWritten} (${fmt(s.rowsPerOp, 2)} per op)${s.baseline ? `; pgbench ${s.baseline.name} ${fmt(s.baseline.opsPerSecond)} ops/s, ratio ${fmt(s.ratioToBaseline, 2)}` : ''}`,
    );
    if (s.machineCores) lines.push(`- ${machineCoresText(s.machineCores)}`);
    const extra = Object.entries(s.extra);
    if (extra.length)
      lines.push(
        `- ${extra.map(([k, v]) => `${k}: ${typeof v === 'number' ? fmt(v, 3) : (v ?? '–')}`).join('; ')}`,
      );
    lines.push('', '| check | result | detail |', '| --- | --- | --- |');
    for (const t of s.thresholds)
      lines.push(`| k6 \`${t.metric}\` ${t.expression} | ${t.ok ? 'pass' : 'FAIL'} | |`);
    for (const c of s.checks) lines.push(`| ${c.name} | ${c.ok ? 'pass' : 'FAIL'} | ${c.detail} |`);
    if (s.svg) lines.push('', `![${s.name} latency over time](${s.svg})`);
  }
  lines.push('');
  return lines.join('\n');
}
