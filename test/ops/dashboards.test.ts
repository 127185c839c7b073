import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { Dashboard, Panel, RowPanel } from '@grafana/grafana-foundation-sdk/dashboard';
import { apiLoadPerPodQuery, streamLagQuery, streamLagSecondsQuery } from '../../app/ops/autoscaling';
import { ALL_METRIC_NAMES, registry } from '../../app/ops/metrics';
import { EXPORTER_METRICS } from '../../dashboards/src/exporters';
import {
  buildDashboards,
  DOCS_FILE,
  generatedFiles,
  PROMETHEUS_RULE_FILE,
  RULES_FILE,
} from '../../dashboards/src/index';
import { NS } from '../../dashboards/src/panels';
import { alertSpecs, ruleGroups } from '../../dashboards/src/rules';
import { metricNames } from './promql-names';

const ROOT = join(__dirname, '..', '..');

interface Target {
  expr?: string;
}

function panelsOf(d: Dashboard): Panel[] {
  return (d.panels ?? []).filter((p: Panel | RowPanel): p is Panel => p.type !== 'row');
}

function exprsOf(d: Dashboard): string[] {
  const exprs = panelsOf(d).flatMap((p) => ((p.targets ?? []) as Target[]).map((t) => t.expr ?? ''));
  for (const v of d.templating?.list ?? []) {
    if (v.type === 'query') exprs.push(typeof v.query === 'string' ? v.query : String(v.query?.query ?? ''));
  }
  return exprs;
}

const dashboards = buildDashboards();
const ruleExprs = ruleGroups().flatMap((g) => g.rules.map((r) => r.expr));
const recorded = new Set(
  ruleGroups().flatMap((g) => g.rules.flatMap((r) => ('record' in r ? [r.record] : []))),
);

/** A metric name the service, an exporter or a recording rule provides; histograms with suffix. */
function isKnownMetric(name: string): boolean {
  if (ALL_METRIC_NAMES.includes(name) || EXPORTER_METRICS.includes(name) || recorded.has(name)) return true;
  const m = /^(.*)_(bucket|count|sum)$/.exec(name);
  return (
    !!m &&
    ALL_METRIC_NAMES.includes(m[1]!) &&
    registry.getSingleMetric(m[1]!)?.constructor.name === 'Histogram'
  );
}

describe('generated dashboards, rules and docs', () => {
  it.each(generatedFiles().map((f) => [f.path, f.content]))(
    '%s is committed as generated',
    (path, content) => {
      const committed = readFileSync(join(ROOT, path), 'utf8');
      if (path.endsWith('.json')) expect(JSON.parse(committed)).toEqual(JSON.parse(content));
      else if (path.endsWith('.yaml')) expect(parse(committed)).toEqual(parse(content));
      expect(committed).toBe(content);
    },
  );

  it('generates the same output twice (deterministic)', () => {
    expect(generatedFiles()).toEqual(generatedFiles());
  });

  it('the PrometheusRule wraps exactly the groups of the plain rules file', () => {
    const plain = parse(readFileSync(join(ROOT, RULES_FILE), 'utf8'));
    const crd = parse(readFileSync(join(ROOT, PROMETHEUS_RULE_FILE), 'utf8'));
    expect(crd.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(crd.kind).toBe('PrometheusRule');
    expect(crd.metadata.name).toBe('challenge-service');
    expect(crd.spec.groups).toEqual(plain.groups);
  });
});

describe('dashboards', () => {
  it('builds the six dashboards with unique uids and unique panel ids', () => {
    expect(Object.keys(dashboards).sort()).toEqual(
      ['admission', 'api', 'datastores', 'events', 'overview', 'rewards'].sort(),
    );
    const uids = Object.values(dashboards).map((d) => d.uid);
    expect(new Set(uids).size).toBe(uids.length);
    for (const d of Object.values(dashboards)) {
      const ids = (d.panels ?? []).map((p) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
    }
  });

  it('gives every panel at least one Prometheus query through the datasource variable', () => {
    for (const d of Object.values(dashboards)) {
      for (const p of panelsOf(d)) {
        const targets = (p.targets ?? []) as (Target & { datasource?: { uid?: string } })[];
        expect(targets.length).toBeGreaterThan(0);
        for (const t of targets) {
          expect(t.expr).toBeTruthy();
          expect(t.datasource?.uid).toBe('${datasource}');
        }
      }
    }
  });

  it('only queries metrics the service registers or the named exporters export', () => {
    const unknown: string[] = [];
    let seen = 0;
    for (const [name, d] of Object.entries(dashboards)) {
      for (const expr of exprsOf(d)) {
        for (const metric of metricNames(expr)) {
          seen++;
          if (!isKnownMetric(metric) || recorded.has(metric)) unknown.push(`${name}: ${metric} in ${expr}`);
        }
      }
    }
    expect(unknown).toEqual([]);
    expect(seen).toBeGreaterThan(50);
  });

  it('labels every panel reading an exporter metric with the exporter', () => {
    for (const d of Object.values(dashboards)) {
      for (const p of panelsOf(d)) {
        const names = ((p.targets ?? []) as Target[]).flatMap((t) => metricNames(t.expr ?? ''));
        const exporter = names.some((n) => EXPORTER_METRICS.includes(n));
        if (!exporter) continue;
        expect(p.title).toMatch(/\((postgres|pgbouncer|redis)_exporter\)$/);
        expect(p.description).toMatch(/^From (postgres|pgbouncer|redis)_exporter\./);
      }
    }
  });

  it('shows the autoscaling inputs with the queries of app/ops/autoscaling.ts', () => {
    const overview = exprsOf(dashboards.overview!);
    expect(overview).toContain(apiLoadPerPodQuery(NS));
    expect(overview).toContain(streamLagQuery(NS));
    expect(overview).toContain(streamLagSecondsQuery(NS));
    expect(exprsOf(dashboards.events!)).toContain(streamLagQuery(NS));
    expect(exprsOf(dashboards.admission!)).toContain(apiLoadPerPodQuery(NS));
  });

  it('covers every metric the service registers on some dashboard', () => {
    const used = new Set(
      Object.values(dashboards)
        .flatMap(exprsOf)
        .flatMap(metricNames)
        .map((n) => n.replace(/_(bucket|count|sum)$/, '')),
    );
    expect(ALL_METRIC_NAMES.filter((n) => !used.has(n))).toEqual([]);
  });
});

describe('rules', () => {
  it('only reference metrics the service registers or recording rules define', () => {
    const unknown = ruleExprs.flatMap((e) => metricNames(e).filter((n) => !isKnownMetric(n)));
    expect(unknown).toEqual([]);
    expect(ruleExprs.flatMap(metricNames).length).toBeGreaterThan(20);
  });

  it('record the autoscaling queries verbatim', () => {
    expect(ruleExprs).toEqual(
      expect.arrayContaining([apiLoadPerPodQuery(), streamLagQuery(), streamLagSecondsQuery()]),
    );
  });

  it('use the multi-window burn rates of the 99.95 % availability objective', () => {
    const byName = new Map(alertSpecs().map((a) => [a.rule.alert, a.rule]));
    expect(byName.get('ChallengeAvailabilityBudgetBurnFast')?.expr).toMatch(
      /ratio_rate1h > \(14\.4 \* 0\.0005\) and .*ratio_rate5m > \(14\.4 \* 0\.0005\)/,
    );
    expect(byName.get('ChallengeAvailabilityBudgetBurnSlow')?.expr).toMatch(
      /ratio_rate6h > \(6 \* 0\.0005\) and .*ratio_rate30m > \(6 \* 0\.0005\)/,
    );
  });
});

describe('docs/DASHBOARDS.md', () => {
  const docs = readFileSync(join(ROOT, DOCS_FILE), 'utf8');

  it('lists every panel of every dashboard and every alert with its first response', () => {
    for (const d of Object.values(dashboards)) {
      expect(docs).toContain(`## ${d.title}`);
      for (const p of panelsOf(d)) expect(docs).toContain(`| ${(p.title ?? '').replace(/\|/g, '\\|')} |`);
    }
    for (const a of alertSpecs()) {
      expect(docs).toContain(`| ${a.rule.alert} |`);
      expect(docs).toContain(a.firstResponse);
    }
  });
});
