import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { Panel, RowPanel } from '@grafana/grafana-foundation-sdk/dashboard';
import { buildDashboards } from '../../dashboards/src/index';
import { alertSpecs, STREAM_LAG_ALERT_SECONDS } from '../../dashboards/src/rules';

const RULES_DIR = join(__dirname, '..', '..', 'dashboards', 'rules');
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

function promtool(...args: string[]): { ok: boolean; output: string } {
  const r = spawnSync(PROMTOOL, args, { encoding: 'utf8' });
  if (r.error) throw r.error;
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

interface AlertTest {
  alertname: string;
  exp_alerts?: unknown[];
}
interface UnitTest {
  name: string;
  alert_rule_test?: AlertTest[];
}

describe('alert rules under promtool', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'challenge-rules-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('promtool check rules accepts the rules file', () => {
    const r = promtool('check', 'rules', join(RULES_DIR, 'alerts.yaml'));
    expect(r.output).toContain('SUCCESS');
    expect(r.ok).toBe(true);
  });

  it('promtool check rules accepts the groups of the PrometheusRule', () => {
    const crd = parse(readFileSync(join(RULES_DIR, 'prometheusrule.yaml'), 'utf8'));
    const file = join(tmp, 'from-crd.yaml');
    writeFileSync(file, stringify({ groups: crd.spec.groups }));
    const r = promtool('check', 'rules', file);
    expect(r.ok).toBe(true);
  });

  it('promtool test rules passes every case of alerts.test.yaml', () => {
    const r = promtool('test', 'rules', join(RULES_DIR, 'alerts.test.yaml'));
    expect(r.output).toContain('SUCCESS');
    expect(r.ok).toBe(true);
  });

  it('has a firing and a quiet case for every alert', () => {
    const tests = (parse(readFileSync(join(RULES_DIR, 'alerts.test.yaml'), 'utf8')) as { tests: UnitTest[] })
      .tests;
    const cases = tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const { rule } of alertSpecs()) {
      const mine = cases.filter((c) => c.alertname === rule.alert);
      expect({ alert: rule.alert, firing: mine.some((c) => (c.exp_alerts ?? []).length > 0) }).toEqual({
        alert: rule.alert,
        firing: true,
      });
      expect({ alert: rule.alert, quiet: mine.some((c) => (c.exp_alerts ?? []).length === 0) }).toEqual({
        alert: rule.alert,
        quiet: true,
      });
    }
  });

  it('every dashboard panel query is valid PromQL (checked as recording rules)', () => {
    const exprs = Object.values(buildDashboards())
      .flatMap((d) => (d.panels ?? []).filter((p: Panel | RowPanel): p is Panel => p.type !== 'row'))
      .flatMap((p) => ((p.targets ?? []) as { expr?: string }[]).map((t) => t.expr ?? ''))
      .map((e) => e.replace(/\$__rate_interval|\$__range/g, '5m').replace(/\$(\w+)/g, '.*'));
    expect(exprs.length).toBeGreaterThan(50);
    const file = join(tmp, 'dashboard-queries.yaml');
    const rules = exprs.map((expr, i) => ({ record: `dashboard_query_${i}`, expr }));
    writeFileSync(file, stringify({ groups: [{ name: 'dashboard-queries', rules }] }));
    const r = promtool('check', 'rules', file);
    expect(r.output).toContain(`SUCCESS: ${exprs.length} rules found`);
    expect(r.ok).toBe(true);
  });

  it('fails the unit tests when an alert threshold is broken (the tests are real)', () => {
    const rules = readFileSync(join(RULES_DIR, 'alerts.yaml'), 'utf8');
    const broken = rules.replace(
      `challenge:event_stream_lag_seconds:max > ${STREAM_LAG_ALERT_SECONDS}`,
      'challenge:event_stream_lag_seconds:max > 3000',
    );
    expect(broken).not.toBe(rules);
    writeFileSync(join(tmp, 'alerts.yaml'), broken);
    copyFileSync(join(RULES_DIR, 'alerts.test.yaml'), join(tmp, 'alerts.test.yaml'));
    expect(promtool('check', 'rules', join(tmp, 'alerts.yaml')).ok).toBe(true);
    const r = promtool('test', 'rules', join(tmp, 'alerts.test.yaml'));
    expect(r.ok).toBe(false);
    expect(r.output).toContain('ChallengeEventStreamLagging');
  });

  it('fails the check when a rule expression does not parse', () => {
    const rules = readFileSync(join(RULES_DIR, 'alerts.yaml'), 'utf8');
    const broken = rules.replace('(challenge_reward_outbox_dead) > 0', '(challenge_reward_outbox_dead > 0');
    expect(broken).not.toBe(rules);
    writeFileSync(join(tmp, 'syntax.yaml'), broken);
    expect(promtool('check', 'rules', join(tmp, 'syntax.yaml')).ok).toBe(false);
  });
});
