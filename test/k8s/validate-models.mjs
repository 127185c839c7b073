// Validates Kubernetes objects against their kubernetes-models schemas. A child process of the
// jest tests: kubernetes-models ships ES modules only, which jest's CommonJS runtime cannot load.
// Usage: node validate-models.mjs <k6-model-dir> < objects.json  -> JSON list of problems on stdout.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import {
  PrometheusRule,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';

const k6Dir = process.argv[2];
if (!k6Dir) throw new Error('usage: validate-models.mjs <k6-model-dir>');
const { TestRun } = await import(pathToFileURL(path.join(k6Dir, 'k6.io', 'v1alpha1', 'TestRun.js')).href);

const models = new Map(
  [
    ConfigMap,
    Service,
    Deployment,
    Job,
    Ingress,
    NetworkPolicy,
    PodDisruptionBudget,
    HorizontalPodAutoscaler,
    ScaledObject,
    ServiceMonitor,
    PrometheusRule,
    TestRun,
  ].map((m) => [`${m.apiVersion}/${m.kind}`, m]),
);

const objects = JSON.parse(readFileSync(0, 'utf8'));
const problems = [];
for (const [index, obj] of objects.entries()) {
  const key = `${obj?.apiVersion}/${obj?.kind}`;
  const Model = models.get(key);
  if (!Model) {
    problems.push({ index, key, error: 'unknown kind: no schema to validate it against' });
    continue;
  }
  try {
    new Model(obj).validate();
  } catch (err) {
    problems.push({ index, key, name: obj.metadata?.name, error: String(err?.message ?? err) });
  }
}
process.stdout.write(JSON.stringify(problems));
