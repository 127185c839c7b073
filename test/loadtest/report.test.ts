import {
  counterValue,
  CsvReader,
  lagFromCurves,
  LatencyCollector,
  recoverySeconds,
  renderMarkdown,
  shedSplit,
  splitCsvLine,
  thresholdResults,
  type K6Summary,
  type Report,
  type ScenarioResult,
} from '../../loadtest/tools/report';

const HEADER =
  'metric_name,timestamp,metric_value,check,error,error_code,expected_response,group,method,name,proto,scenario,service,status,subproto,tls_version,url,extra_tags,metadata';

function row(metric: string, ts: number, value: number, name: string, status: string, extra = ''): string {
  return `${metric},${ts},${value.toFixed(6)},,,,true,,POST,${name},HTTP/1.1,s,,${status},,,"http://x/v1/a,b",${extra},`;
}

// A sample k6 handleSummary payload (trimmed to what the bench reads).
const SUMMARY: K6Summary = {
  state: { testRunDurationMs: 8100 },
  metrics: {
    'http_req_duration{endpoint:init}': {
      type: 'trend',
      values: { 'p(95)': 12.5, med: 3.1 },
      thresholds: { 'p(95)<20': { ok: true } },
    },
    http_req_failed: { type: 'rate', values: { rate: 0.01 }, thresholds: { 'rate<=0': { ok: false } } },
    status_503: { type: 'counter', values: { count: 7, rate: 0.8 } },
    iterations: { type: 'counter', values: { count: 16000, rate: 1999 } },
  },
};

describe('bench report building', () => {
  it('reports shed answers apart from the served ones, whose latency is the served trend', () => {
    expect(shedSplit(SUMMARY)).toBeNull();
    const s: K6Summary = {
      metrics: {
        shed_rate: { type: 'rate', values: { rate: 0.25, passes: 100, fails: 300 } },
        served_answers: { type: 'counter', values: { count: 300, rate: 30 } },
        served_req_duration: { type: 'trend', values: { med: 4.123, 'p(95)': 18.5, 'p(99)': 40 } },
      },
    };
    expect(shedSplit(s)).toEqual({
      shedRate: 0.25,
      shedAnswers: 100,
      servedAnswers: 300,
      servedP50Ms: 4.12,
      servedP95Ms: 18.5,
      servedP99Ms: 40,
    });
  });

  it('splits quoted CSV fields with commas and doubled quotes', () => {
    expect(splitCsvLine('a,"b,c",d')).toEqual(['a', 'b,c', 'd']);
    expect(splitCsvLine('"x ""y""",')).toEqual(['x "y"', '']);
  });

  it('aggregates k6 CSV latency of the load endpoints only, with status counts and a per-second series', () => {
    const reader = new CsvReader();
    const col = new LatencyCollector(new Set(['init']));
    const t0 = 1_700_000_000_000;
    const lines = [HEADER];
    for (let i = 0; i < 100; i++)
      lines.push(row('http_req_duration', t0 + i * 20, i + 1, 'init', i < 95 ? '200' : '503'));
    lines.push(row('http_req_duration', t0 + 5, 999, 'seed-init', '200'));
    lines.push(row('http_reqs', t0 + 5, 1, 'init', '200'));
    for (const l of lines) {
      const p = reader.line(l);
      if (p) col.add(p);
    }
    const r = col.result();
    expect(r.requests).toBe(100);
    expect(r.ok2xx).toBe(95);
    expect(r.statusCounts).toEqual({ '200': 95, '503': 5 });
    expect(r.p50).toBeCloseTo(50.5, 5);
    expect(r.max).toBe(100);
    expect(r.series.map((s) => s.t)).toEqual([0, 1]);
    expect(r.series[0]!.count + r.series[1]!.count).toBe(100);
    expect(r.perSecond[1]!.non2xx).toBe(5);
  });

  it('reads the tags of extra_tags and converts unix-second timestamps to ms', () => {
    const reader = new CsvReader();
    reader.line(HEADER);
    const p = reader.line(
      row('http_req_duration', 1_700_000_000, 3, 'init', '200', 'endpoint=init&phase=burst'),
    )!;
    expect(p.tags).toEqual({ endpoint: 'init', phase: 'burst' });
    expect(p.ts).toBe(1_700_000_000_000);
  });

  it('builds a cumulative curve of a counter metric such as events_accepted', () => {
    const reader = new CsvReader();
    reader.line(HEADER);
    const col = new LatencyCollector(new Set(['events']), 'events_accepted');
    col.add(reader.line(row('events_accepted', 1_700_000_001_000, 500, '', ''))!);
    col.add(reader.line(row('events_accepted', 1_700_000_001_050, 500, '', ''))!);
    expect(col.counterCurve).toEqual([
      [1_700_000_001_000, 500],
      [1_700_000_001_050, 1000],
    ]);
  });

  it('lists threshold outcomes and counter values from a k6 summary', () => {
    expect(thresholdResults(SUMMARY)).toEqual([
      { metric: 'http_req_duration{endpoint:init}', expression: 'p(95)<20', ok: true },
      { metric: 'http_req_failed', expression: 'rate<=0', ok: false },
    ]);
    expect(counterValue(SUMMARY, 'status_503')).toBe(7);
    expect(counterValue(SUMMARY, 'status_429')).toBe(0);
  });

  it('computes apply lag as the time between the k-th event accepted and the k-th applied', () => {
    const ingest: [number, number][] = [
      [1000, 500],
      [2000, 1000],
    ];
    const applied: [number, number][] = [
      [1200, 0],
      [1500, 400],
      [1800, 500],
      [2600, 900],
      [3000, 1000],
    ];
    const lag = lagFromCurves(ingest, applied);
    expect(lag.p50).toBeCloseTo(0.8, 6); // 500th: accepted 1000, applied 1800
    expect(lag.p95).toBeCloseTo(1.0, 6); // 950th: accepted 2000, applied 3000
    expect(lagFromCurves(ingest, [[5000, 10]]).p50).toBeNull();
  });

  it('measures burst recovery as the seconds until every later second is clean', () => {
    const per = [
      { t: 100, count: 10, non2xx: 5, p95ok: 10 },
      { t: 101, count: 10, non2xx: 2, p95ok: 10 },
      { t: 102, count: 10, non2xx: 0, p95ok: 40 },
      { t: 103, count: 10, non2xx: 0, p95ok: 8 },
      { t: 104, count: 10, non2xx: 0, p95ok: 9 },
    ];
    expect(recoverySeconds(per, 100_000, 20)).toBe(3);
    expect(recoverySeconds(per, 103_500, 20)).toBe(0);
    expect(recoverySeconds(per.slice(0, 3), 100_000, 20)).toBeNull();
  });

  it('renders a Markdown report with a summary row and details per scenario', () => {
    const s: ScenarioResult = {
      name: 'init-new-typical',
      what: 'new players',
      catalog: 'typical',
      plannedRate: 2000,
      targetRate: 2000,
      durationSeconds: 8,
      ops: 16000,
      opsPerSecond: 2000,
      requests: 16000,
      requestsPerSecond: 2000,
      latencyMs: { p50: 2.5, p95: 9.75, p99: 15, max: 40 },
      statusCounts: { '200': 15990, '503': 10 },
      status429: 0,
      status503: 10,
      retryAfterMissing: 0,
      droppedIterations: 0,
      cpuSeconds: { api: 8, worker: 0.5 },
      cpuSecondsPer1000Ops: 0.531,
      peakRssMb: { api: 120, worker: 90 },
      rowsWritten: 16000,
      rowsPerOp: 1,
      baseline: { name: 'init (typical stack)', opsPerSecond: 4000 },
      ratioToBaseline: 0.5,
      thresholds: [{ metric: 'http_req_failed', expression: 'rate<=0', ok: false }],
      checks: [{ name: 'rows written per init = 1', ok: true, detail: '1' }],
      extra: {},
      svg: 'init-new-typical.svg',
      pass: false,
    };
    const report: Report = {
      date: '2025-01-02',
      profile: 'quick',
      host: { cpus: 2, node: 'v20', k6: 'k6 v1.8.1' },
      baselines: [
        {
          name: 'init (typical stack)',
          script: 'x.sql',
          source: 'loadtest/sql/init.sql',
          tps: 4000,
          opsPerSecond: 4000,
        },
      ],
      scenarios: [s],
      pass: false,
    };
    const md = renderMarkdown(report);
    expect(md).toContain('# Benchmark 2025-01-02 (quick)');
    expect(md).toContain(
      '| [init-new-typical](#init-new-typical) | typical | 2000 | 2000 | 2.5 | 9.75 | 15 | 10 | 0.531 | 1 | 120 / 90 | 0.5 | FAIL |',
    );
    expect(md).toContain('| k6 `http_req_failed` rate<=0 | FAIL | |');
    expect(md).toContain('![init-new-typical latency over time](init-new-typical.svg)');
    expect(md).toContain('statuses: 200: 15990, 503: 10');
  });
});
