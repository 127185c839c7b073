// Everything `make dashboards` writes, as (path, content) pairs relative to the repository root.
// The generator writes them; the tests build them in-process and compare with the committed files.

import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { admissionDashboard } from './admission';
import { apiDashboard } from './api';
import { datastoresDashboard } from './datastores';
import { dashboardsMarkdown } from './docs';
import { eventsDashboard } from './events';
import { overviewDashboard } from './overview';
import { rewardsDashboard } from './rewards';
import { prometheusRuleYaml, rulesFileYaml } from './rules';

export function buildDashboards(): Record<string, Dashboard> {
  return {
    overview: overviewDashboard(),
    api: apiDashboard(),
    events: eventsDashboard(),
    rewards: rewardsDashboard(),
    admission: admissionDashboard(),
    datastores: datastoresDashboard(),
  };
}

export interface GeneratedFile {
  path: string;
  content: string;
}

export const RULES_FILE = 'dashboards/rules/alerts.yaml';
export const PROMETHEUS_RULE_FILE = 'dashboards/rules/prometheusrule.yaml';
export const DOCS_FILE = 'docs/DASHBOARDS.md';

export function generatedFiles(): GeneratedFile[] {
  const dashboards = buildDashboards();
  const files: GeneratedFile[] = Object.entries(dashboards).map(([name, d]) => ({
    path: `dashboards/generated/${name}.json`,
    content: `${JSON.stringify(d, null, 2)}\n`,
  }));
  files.push(
    { path: RULES_FILE, content: rulesFileYaml() },
    { path: PROMETHEUS_RULE_FILE, content: prometheusRuleYaml() },
    { path: DOCS_FILE, content: dashboardsMarkdown(dashboards) },
  );
  return files;
}
