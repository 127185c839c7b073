// A real workload against the in-process service (every module, Redis events queue, PgBouncer), then
// one scrape of /metrics: every metric a dashboard panel, an alert or recording rule, or an
// autoscaling query reads must be in it, and so must every metric of ALL_METRIC_NAMES.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Dashboard, Panel, RowPanel } from '@grafana/grafana-foundation-sdk/dashboard';
import { serviceModules } from '../../app/modules';
import { apiLoadPerPodQuery, streamLagQuery, streamLagSecondsQuery } from '../../app/ops/autoscaling';
import { ALL_METRIC_NAMES } from '../../app/ops/metrics';
import { ROOT } from '../../app/paths';
import { EXPORTER_METRICS } from '../../dashboards/src/exporters';
import { buildDashboards } from '../../dashboards/src/index';
import { ruleGroups } from '../../dashboards/src/rules';
import { dropEventKeys, eventsEnv, eventually, statEvent } from '../helpers/events';
import { startTestService, type TestService } from '../helpers/service';
import { connectWs, type TestSocket } from '../helpers/wsClient';
import { metricNames } from '../ops/promql-names';

jest.setTimeout(90_000);

/** Sample name -> values, from Prometheus text exposition. */
function samples(text: string): Map<string, { labels: string; value: number }[]> {
  const out = new Map<string, { labels: string; value: number }[]>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const list = out.get(m[1]!) ?? [];
    list.push({ labels: m[2] ?? '', value: Number(m[3]) });
    out.set(m[1]!, list);
  }
  return out;
}

function dashboardExprs(d: Dashboard): string[] {
  const exprs = (d.panels ?? [])
    .filter((p: Panel | RowPanel): p is Panel => p.type !== 'row')
    .flatMap((p) => ((p.targets ?? []) as { expr?: string }[]).map((t) => t.expr ?? ''));
  for (const v of d.templating?.list ?? []) {
    if (v.type === 'query') exprs.push(typeof v.query === 'string' ? v.query : String(v.query?.query ?? ''));
  }
  return exprs;
}

/** Every metric name read by a dashboard, a rule or an autoscaler, minus exporter and recorded ones. */
function queriedServiceMetrics(): string[] {
  const rules = ruleGroups().flatMap((g) => g.rules);
  const recorded = new Set(rules.flatMap((r) => ('record' in r ? [r.record] : [])));
  const exprs = [
    ...Object.values(buildDashboards()).flatMap(dashboardExprs),
    ...rules.map((r) => r.expr),
    apiLoadPerPodQuery(),
    streamLagQuery(),
    streamLagSecondsQuery(),
  ];
  const exporter = (n: string) =>
    EXPORTER_METRICS.includes(n) || /^(pg|pgbouncer|redis)_/.test(n) || n === 'up';
  return [...new Set(exprs.flatMap(metricNames))].filter((n) => !recorded.has(n) && !exporter(n)).sort();
}

describe('observability: a real workload exposes every metric the dashboards, rules and autoscalers read', () => {
  let t: TestService;
  let env: Record<string, string>;
  let dir: string;
  let catalogFile: string;
  let ws: TestSocket | undefined;
  let scrape: Map<string, { labels: string; value: number }[]>;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'observability-'));
    catalogFile = path.join(dir, 'catalog.json');
    copyFileSync(path.join(ROOT, 'examples/catalog.json'), catalogFile);
    env = eventsEnv({
      CHALLENGE_CATALOG: catalogFile,
      CATALOG_FILE_POLL_MS: '100',
      REWARD_OUTBOX_METRICS_MS: '100',
    });
    t = await startTestService({ modules: serviceModules(), env });

    // --- the workload -----------------------------------------------------------------------
    const user = 'obs-player-1';
    expect((await t.call(user, 'POST', '/v1/challenges/initialize')).status).toBe(200);
    expect((await t.call(user, 'GET', '/v1/challenges')).status).toBe(200);
    expect(
      (
        await t.call(user, 'PUT', '/v1/challenges/daily-bounties/goals/daily-duels/active', {
          isActive: true,
        })
      ).status,
    ).toBe(200);

    ws = await connectWs(`${t.base}/v1/ws?token=${await t.token(user)}`);
    await ws.waitFor((m) => m.type === 'ready');

    const ingest = await fetch(`${t.base}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await t.serviceToken()}` },
      body: JSON.stringify({
        events: [
          statEvent('obs-e1', user, 'tutorial_steps_done', 1, 'set'),
          statEvent('obs-e2', user, 'matches_finished', 1),
        ],
      }),
    });
    expect(ingest.status).toBe(202);
    // Applied by the worker and pushed to the socket.
    await ws.waitFor((m) => m.type === 'completed' && m.goalId === 'first-steps', 20_000);

    const claim = await t.call(user, 'POST', '/v1/challenges/starter-path/goals/first-steps/claim');
    expect(claim.status).toBe(200);

    // A catalog reload: the file source picks up a changed document.
    const doc = JSON.parse(readFileSync(catalogFile, 'utf8')) as { challenges: { name: string }[] };
    doc.challenges[0]!.name = 'Starter Path (reloaded)';
    writeFileSync(catalogFile, JSON.stringify(doc));

    // Wait until the periodic gauges (stream, outbox) and the reload have been recorded.
    scrape = await eventually(async () => {
      const s = samples(await (await fetch(`${t.ops}/metrics`)).text());
      const value = (name: string, labels = '') =>
        (s.get(name) ?? []).filter((x) => x.labels.includes(labels)).reduce((a, x) => a + x.value, 0);
      const ready =
        value('challenge_catalog_reloads_total', 'result="success"') >= 1 &&
        value('challenge_events_applied_total') >= 2 &&
        s.has('challenge_event_stream_length') &&
        s.has('challenge_reward_outbox_pending') &&
        s.has('challenge_reward_outbox_dead') &&
        (s.get('challenge_event_stream_lag_entries') ?? []).length > 0;
      return ready ? s : undefined;
    }, 30_000);
  });

  afterAll(async () => {
    ws?.close();
    await t?.stop();
    if (env) await dropEventKeys(env);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('every service metric a dashboard panel, rule or autoscaling query reads has samples in the scrape', () => {
    const wanted = queriedServiceMetrics();
    expect(wanted.length).toBeGreaterThan(25);
    const missing = wanted.filter((name) => {
      if (scrape.has(name)) return false;
      // A histogram queried by its base name would expose _bucket/_sum/_count.
      return !['_bucket', '_sum', '_count'].every((suffix) => scrape.has(`${name}${suffix}`));
    });
    expect(missing).toEqual([]);
  });

  test('every metric of ALL_METRIC_NAMES is recorded by the running service (histograms with bucket, sum, count)', () => {
    const missing = ALL_METRIC_NAMES.filter(
      (name) =>
        !scrape.has(name) && !['_bucket', '_sum', '_count'].every((sfx) => scrape.has(`${name}${sfx}`)),
    );
    expect(missing).toEqual([]);
  });

  test('the recorded values reflect the workload', () => {
    const sum = (name: string, labels = '') =>
      (scrape.get(name) ?? []).filter((x) => x.labels.includes(labels)).reduce((a, x) => a + x.value, 0);
    expect(sum('challenge_http_requests_total', 'route="initialize"')).toBeGreaterThanOrEqual(1);
    expect(sum('challenge_http_requests_total', 'route="claim"')).toBeGreaterThanOrEqual(1);
    expect(sum('challenge_claims_total', 'result="claimed"')).toBe(1);
    expect(sum('challenge_events_ingested_total', 'result="accepted"')).toBe(2);
    expect(sum('challenge_events_applied_total')).toBe(2);
    expect(sum('challenge_websocket_connections')).toBe(1);
    expect(sum('challenge_redis_up')).toBe(1);
    expect(sum('challenge_pg_pool_connections', 'state="total"')).toBeGreaterThan(0);
    expect(sum('challenge_admission_queue_wait_seconds_count')).toBeGreaterThan(0);
    expect(sum('challenge_catalog_info')).toBe(1);
    // Present from the start with value 0, so rate() and ratios read 0 rather than "no data".
    expect(scrape.get('challenge_admission_rejections_total')?.length).toBeGreaterThan(0);
    expect(sum('challenge_admission_rejections_total')).toBe(0);
  });
});
