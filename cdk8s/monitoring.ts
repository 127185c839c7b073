// prometheus-operator objects: ServiceMonitors for the ops ports, and the alert rules written
// by dashboards/ (rendered only when that file exists when the chart is generated).
import { existsSync, readFileSync } from 'node:fs';
import { Construct } from 'constructs';
import YAML from 'yaml';
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import type { IPrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { addObject, labels, meta, selectorLabels, servedOr } from './base';
import { mergeFrom } from './helm';
import { str, valuePath } from './values';

/** Rule groups of a Prometheus rules file (`groups: [...]`), or undefined when there is none. */
export function readRuleGroups(file: string): NonNullable<IPrometheusRule['spec']>['groups'] | undefined {
  if (!existsSync(file)) return undefined;
  const parsed = YAML.parse(readFileSync(file, 'utf8')) as { groups?: unknown } | null;
  if (!parsed || !Array.isArray(parsed.groups))
    throw new Error(`${file}: expected a rules file with "groups"`);
  return parsed.groups as never;
}

export class Monitoring extends Construct {
  constructor(scope: Construct, id: string, props: { readonly alertRulesFile: string }) {
    super(scope, id);
    for (const component of ['api', 'worker'] as const) {
      addObject<IServiceMonitor>(
        this,
        `${component}-servicemonitor`,
        {
          file: `${component}-servicemonitor.yaml`,
          when: `and ${valuePath('serviceMonitor.enabled')} ${servedOr(valuePath('serviceMonitor.force'), 'monitoring.coreos.com/v1', 'ServiceMonitor')}`,
        },
        {
          apiVersion: 'monitoring.coreos.com/v1',
          kind: 'ServiceMonitor',
          metadata: {
            ...meta(component),
            labels: { ...labels(component), ...mergeFrom(valuePath('serviceMonitor.labels')) },
          },
          spec: {
            selector: { matchLabels: selectorLabels(component) },
            endpoints: [{ port: 'ops', path: '/metrics', interval: str('serviceMonitor.interval') }],
          },
        },
      );
    }

    const groups = readRuleGroups(props.alertRulesFile);
    if (!groups) {
      // No rules file: the values stay (the chart's interface does not depend on it) but do nothing.
      valuePath('prometheusRule.enabled');
      valuePath('prometheusRule.labels');
      valuePath('prometheusRule.force');
    } else {
      addObject<IPrometheusRule>(
        this,
        'prometheusrule',
        {
          file: 'prometheusrule.yaml',
          when: `and ${valuePath('prometheusRule.enabled')} ${servedOr(valuePath('prometheusRule.force'), 'monitoring.coreos.com/v1', 'PrometheusRule')}`,
        },
        {
          apiVersion: 'monitoring.coreos.com/v1',
          kind: 'PrometheusRule',
          metadata: {
            ...meta('api', 'alerts'),
            labels: { ...labels('api'), ...mergeFrom(valuePath('prometheusRule.labels')) },
          },
          spec: { groups },
        },
      );
    }
  }
}
