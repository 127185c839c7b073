// Autoscaling of api and worker on the service's own metrics. Two interchangeable modes:
// `hpa` (autoscaling/v2 HPAs; prometheus-adapter serves the metrics from the rules below) and
// `keda` (ScaledObjects whose Prometheus triggers run the same queries). Names and PromQL come
// from app/ops/autoscaling.ts only.
import { Construct } from 'constructs';
import YAML from 'yaml';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IHorizontalPodAutoscalerBehavior } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscalerBehavior';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import {
  API_PODS_METRIC_NAME,
  apiLoadPerPodQuery,
  IN_FLIGHT_METRIC,
  STREAM_LAG_ENTRIES_METRIC,
  streamLagQuery,
  WORKER_EXTERNAL_METRIC_NAME,
} from '../app/ops/autoscaling';
import { addObject, fullname, meta, servedOr } from './base';
import { tpl } from './helm';
import { intStr, num, str, valuePath } from './values';

const ADAPTER_MATCHERS = '<<.LabelMatchers>>';

/** prometheus-adapter rules (its config.yaml format) exposing the two autoscaling metrics. */
export function adapterRules(): { rules: unknown[]; externalRules: unknown[] } {
  return {
    rules: [
      {
        seriesQuery: `${IN_FLIGHT_METRIC}{namespace!="",pod!=""}`,
        resources: { overrides: { namespace: { resource: 'namespace' }, pod: { resource: 'pod' } } },
        name: { matches: `^${IN_FLIGHT_METRIC}$`, as: API_PODS_METRIC_NAME },
        metricsQuery: apiLoadPerPodQuery(ADAPTER_MATCHERS),
      },
    ],
    externalRules: [
      {
        seriesQuery: `${STREAM_LAG_ENTRIES_METRIC}{namespace!=""}`,
        resources: { overrides: { namespace: { resource: 'namespace' } } },
        name: { matches: `^${STREAM_LAG_ENTRIES_METRIC}$`, as: WORKER_EXTERNAL_METRIC_NAME },
        metricsQuery: streamLagQuery(ADAPTER_MATCHERS),
      },
    ],
  };
}

/** Scale up at once (bursts are the point), scale down slowly. */
function behavior(): IHorizontalPodAutoscalerBehavior {
  return {
    scaleUp: {
      stabilizationWindowSeconds: 0,
      selectPolicy: 'Max',
      policies: [
        { type: 'Percent', value: 100, periodSeconds: 15 },
        { type: 'Pods', value: 4, periodSeconds: 15 },
      ],
    },
    scaleDown: {
      stabilizationWindowSeconds: num('autoscaling.scaleDownStabilizationSeconds'),
      selectPolicy: 'Max',
      policies: [{ type: 'Percent', value: 20, periodSeconds: 60 }],
    },
  };
}

/** PromQL label selector for one component of this release (labels added by the ServiceMonitor). */
const releaseSelector = (component: 'api' | 'worker'): string =>
  `namespace="${tpl('.Release.Namespace')}",service="${fullname(component)}"`;

export class Autoscaling extends Construct {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const on = valuePath('autoscaling.enabled');
    const mode = valuePath('autoscaling.mode');
    const hpa = `and ${on} (eq ${mode} "hpa")`;
    const keda = `and ${on} (eq ${mode} "keda") ${servedOr(valuePath('autoscaling.forceKeda'), 'keda.sh/v1alpha1', 'ScaledObject')}`;
    const target = (component: 'api' | 'worker') => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: fullname(component),
    });

    addObject<IHorizontalPodAutoscaler>(
      this,
      'api-hpa',
      { file: 'api-hpa.yaml', when: hpa },
      {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: meta('api'),
        spec: {
          scaleTargetRef: target('api'),
          minReplicas: num('api.autoscaling.minReplicas'),
          maxReplicas: num('api.autoscaling.maxReplicas'),
          metrics: [
            {
              type: 'Pods',
              pods: {
                metric: { name: API_PODS_METRIC_NAME },
                target: { type: 'AverageValue', averageValue: intStr('api.autoscaling.targetLoadPerPod') },
              },
            },
            {
              type: 'Resource',
              resource: {
                name: 'cpu',
                target: {
                  type: 'Utilization',
                  averageUtilization: num('api.autoscaling.targetCpuUtilization'),
                },
              },
            },
          ],
          behavior: behavior(),
        },
      },
    );

    addObject<IHorizontalPodAutoscaler>(
      this,
      'worker-hpa',
      { file: 'worker-hpa.yaml', when: hpa },
      {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: meta('worker'),
        spec: {
          scaleTargetRef: target('worker'),
          minReplicas: num('worker.autoscaling.minReplicas'),
          maxReplicas: num('worker.autoscaling.maxReplicas'),
          metrics: [
            {
              type: 'External',
              external: {
                metric: {
                  name: WORKER_EXTERNAL_METRIC_NAME,
                  selector: { matchLabels: { service: fullname('worker') } },
                },
                target: { type: 'AverageValue', averageValue: intStr('worker.autoscaling.targetLagPerPod') },
              },
            },
          ],
          behavior: behavior(),
        },
      },
    );

    addObject<IConfigMap>(
      this,
      'adapter-rules',
      {
        file: 'prometheus-adapter-rules.yaml',
        when: `and (${hpa}) ${valuePath('autoscaling.adapterRules')}`,
      },
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: meta('api', 'adapter-rules'),
        data: { 'config.yaml': YAML.stringify(adapterRules(), { lineWidth: 0 }) },
      },
    );

    const scaledObjectBase = (component: 'api' | 'worker') => ({
      scaleTargetRef: target(component),
      minReplicaCount: num(`${component}.autoscaling.minReplicas`),
      maxReplicaCount: num(`${component}.autoscaling.maxReplicas`),
      pollingInterval: num('autoscaling.kedaPollingInterval'),
      cooldownPeriod: num('autoscaling.kedaCooldownPeriod'),
      advanced: { horizontalPodAutoscalerConfig: { behavior: behavior() } },
    });

    addObject<IScaledObject>(
      this,
      'api-scaledobject',
      { file: 'api-scaledobject.yaml', when: keda },
      {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: meta('api'),
        spec: {
          ...scaledObjectBase('api'),
          triggers: [
            {
              // KEDA divides the fleet total by the pod count: the same per-pod average as the HPA.
              type: 'prometheus',
              name: API_PODS_METRIC_NAME.replace(/_/g, '-'),
              metricType: 'AverageValue',
              metadata: {
                serverAddress: str('autoscaling.prometheusAddress'),
                query: `sum(${apiLoadPerPodQuery(releaseSelector('api'))})`,
                threshold: intStr('api.autoscaling.targetLoadPerPod'),
              },
            },
            {
              type: 'cpu',
              metricType: 'Utilization',
              metadata: { value: intStr('api.autoscaling.targetCpuUtilization') },
            },
          ],
        },
      },
    );

    addObject<IScaledObject>(
      this,
      'worker-scaledobject',
      { file: 'worker-scaledobject.yaml', when: keda },
      {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: meta('worker'),
        spec: {
          ...scaledObjectBase('worker'),
          triggers: [
            {
              type: 'prometheus',
              name: WORKER_EXTERNAL_METRIC_NAME.replace(/_/g, '-'),
              metricType: 'AverageValue',
              metadata: {
                serverAddress: str('autoscaling.prometheusAddress'),
                query: streamLagQuery(releaseSelector('worker')),
                threshold: intStr('worker.autoscaling.targetLagPerPod'),
              },
            },
          ],
        },
      },
    );
  }
}
