import {
  ALL_METRIC_NAMES,
  bindPgPoolMetrics,
  catalogInfo,
  httpRequestDurationSeconds,
  registry,
  setCatalogVersion,
} from '../../app/ops/metrics';
import { AUTOSCALING_METRICS } from '../../app/ops/autoscaling';

/** `# TYPE <name> <type>` lines of the exposition text, by metric name. */
function exposedTypes(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (m) types.set(m[1]!, m[2]!);
  }
  return types;
}

describe('metrics registry', () => {
  it('registers every name of ALL_METRIC_NAMES and exposes it on /metrics', async () => {
    const exposed = exposedTypes(await registry.metrics());
    for (const name of ALL_METRIC_NAMES) {
      expect(registry.getSingleMetric(name)).toBeDefined();
      expect(exposed.has(name)).toBe(true);
    }
  });

  it('lists in ALL_METRIC_NAMES every challenge_ metric it registers, each once', () => {
    const registered = registry
      .getMetricsAsArray()
      .map((m) => m.name)
      .filter((n) => n.startsWith('challenge_'));
    expect([...registered].sort()).toEqual([...ALL_METRIC_NAMES].sort());
    expect(new Set(ALL_METRIC_NAMES).size).toBe(ALL_METRIC_NAMES.length);
  });

  it('prefixes every service metric with challenge_ and includes the autoscaling inputs', () => {
    for (const name of ALL_METRIC_NAMES) expect(name).toMatch(/^challenge_[a-z0-9_]+$/);
    for (const name of AUTOSCALING_METRICS) expect(ALL_METRIC_NAMES).toContain(name);
  });

  it('also exposes the default process metrics', async () => {
    const exposed = exposedTypes(await registry.metrics());
    expect(exposed.has('process_cpu_seconds_total')).toBe(true);
    expect(exposed.has('nodejs_eventloop_lag_seconds')).toBe(true);
  });

  it('uses latency buckets from 1 ms to 2 s and beyond', async () => {
    httpRequestDurationSeconds.observe({ route: '/challenge/v1/test', method: 'GET' }, 0.003);
    const text = await registry.metrics();
    for (const le of ['0.001', '0.005', '0.01', '0.05', '0.1', '0.5', '1', '2']) {
      expect(text).toContain(
        `challenge_http_request_duration_seconds_bucket{le="${le}",route="/challenge/v1/test",method="GET"}`,
      );
    }
    httpRequestDurationSeconds.reset();
  });

  it('setCatalogVersion leaves exactly one catalog version series, valued 1', async () => {
    setCatalogVersion('2024-01-a');
    setCatalogVersion('2024-02-b');
    const { values } = await catalogInfo.get();
    expect(values).toEqual([expect.objectContaining({ labels: { version: '2024-02-b' }, value: 1 })]);
    const lines = (await registry.metrics())
      .split('\n')
      .filter((l) => l.startsWith('challenge_catalog_info{'));
    expect(lines).toEqual(['challenge_catalog_info{version="2024-02-b"} 1']);
  });

  it('bindPgPoolMetrics reports the pool counters read at scrape time, until unbound', async () => {
    const pool = { totalCount: 5, idleCount: 3, waitingCount: 0 };
    const unbind = bindPgPoolMetrics('primary', pool);
    pool.waitingCount = 7;
    let text = await registry.metrics();
    expect(text).toContain('challenge_pg_pool_connections{pool="primary",state="total"} 5');
    expect(text).toContain('challenge_pg_pool_connections{pool="primary",state="idle"} 3');
    expect(text).toContain('challenge_pg_pool_connections{pool="primary",state="waiting"} 7');
    unbind();
    text = await registry.metrics();
    expect(text).not.toContain('challenge_pg_pool_connections{pool="primary"');
  });
});
