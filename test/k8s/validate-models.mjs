// Validates Kubernetes objects against their kubernetes-models schemas. A child process of the
// jest tests: kubernetes-models ships ES modules only, which jest's CommonJS runtime cannot load.
// Usage: node validate-models.mjs <crd-model-dir> < objects.json  -> JSON list of problems on stdout.
// <crd-model-dir> holds models generated from CRDs (k6 TestRun, the chart's ChallengeCatalog):
// every <group>/<version>/<Kind>.js in it is loaded.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigMap, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import {
  PrometheusRule,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';

const modelDir = process.argv[2];
if (!modelDir) throw new Error('usage: validate-models.mjs <crd-model-dir>');

/** Generated model modules: <dir>/<group>/<version>/<Kind>.js (not index.js, not _schemas). */
function generatedModelFiles(dir) {
  const out = [];
  for (const group of readdirSync(dir)) {
    if (group.startsWith('_') || !statSync(path.join(dir, group)).isDirectory()) continue;
    for (const version of readdirSync(path.join(dir, group))) {
      const vdir = path.join(dir, group, version);
      if (!statSync(vdir).isDirectory()) continue;
      for (const f of readdirSync(vdir)) if (/^[A-Z]\w*\.js$/.test(f)) out.push(path.join(vdir, f));
    }
  }
  return out;
}

const generated = [];
for (const file of generatedModelFiles(modelDir)) {
  const mod = await import(pathToFileURL(file).href);
  for (const value of Object.values(mod)) {
    if (typeof value === 'function' && value.apiVersion && value.kind) generated.push(value);
  }
}

const models = new Map(
  [
    ConfigMap,
    Service,
    ServiceAccount,
    Deployment,
    Job,
    Ingress,
    NetworkPolicy,
    PodDisruptionBudget,
    HorizontalPodAutoscaler,
    Role,
    RoleBinding,
    CustomResourceDefinition,
    ScaledObject,
    ServiceMonitor,
    PrometheusRule,
    ...generated,
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
