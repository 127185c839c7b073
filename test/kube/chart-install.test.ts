// helm install / upgrade of the chart against a REAL kube-apiserver + kube-controller-manager
// (issue 16): default values and every value set of test/k8s/values, on a bare cluster (its own
// API server, no third-party CRDs) and on the shared one with the CRDs of ../shared/fixtures/crds
// applied; server-side dry run first; 0 rejections, 0 warnings. There is no kubelet: the real Job
// controller creates the migration hook's pod and a FAKE KUBELET (the test) marks it Succeeded.
import * as k8s from '@kubernetes/client-node';
import YAML from 'yaml';
import {
  adminConfig,
  CHART_DIR,
  crdFixtureFiles,
  eventually,
  fakeKubeletCompletingJobPods,
  helmKubeAsync,
  readText,
  startBareControlPlane,
  type ExtraControlPlane,
  type HelmRun,
} from '../helpers/kube';
import { VALUE_SETS, valuesFile } from '../k8s/helpers';

type Obj = k8s.KubernetesObject & { kind: string; apiVersion: string; metadata: k8s.V1ObjectMeta };
const SETS = [undefined, ...VALUE_SETS] as const;
const label = (set: string | undefined) => set ?? 'defaults';
const CRD_KINDS = ['ServiceMonitor', 'PrometheusRule', 'ScaledObject', 'TestRun'];

/** stderr lines that are warnings (API server Warning headers, helm's own WARNING lines). */
const warnings = (r: HelmRun): string[] => r.stderr.split('\n').filter((l) => /warn|^W\d{4} /i.test(l));

const docs = (text: string): Obj[] =>
  YAML.parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null && typeof o === 'object' && 'kind' in o);

interface Cluster {
  readonly name: string;
  readonly kc: () => k8s.KubeConfig;
  readonly helm: (args: string[]) => Promise<HelmRun>;
}

async function applyCrds(kc: k8s.KubeConfig): Promise<void> {
  const client = k8s.KubernetesObjectApi.makeApiClient(kc);
  for (const file of crdFixtureFiles()) {
    // loadAllYaml types each document, so fields such as x-kubernetes-int-or-string survive the
    // client's serialiser (a plain object would lose them).
    for (const crd of k8s.loadAllYaml(readText(file)) as k8s.KubernetesObject[]) {
      await client.create(crd).catch((err: { code?: number }) => {
        if (err.code !== 409) throw err;
      });
    }
  }
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  for (const name of [
    'servicemonitors.monitoring.coreos.com',
    'prometheusrules.monitoring.coreos.com',
    'scaledobjects.keda.sh',
    'testruns.k6.io',
  ]) {
    await eventually(
      async () =>
        (await ext.readCustomResourceDefinition({ name })).status?.conditions?.some(
          (c) => c.type === 'Established' && c.status === 'True',
        ),
      `${name} Established`,
    );
  }
}

/** Installs (after a server-side dry run) and upgrades one value set; returns the objects. */
async function installAndUpgrade(
  cluster: Cluster,
  set: string | undefined,
  extraSet?: string[],
): Promise<Obj[]> {
  const kc = cluster.kc();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const ns = `inst-${label(set)}-${Date.now().toString(36)}`.slice(0, 63);
  await core.createNamespace({ body: { metadata: { name: ns } } });
  const valueArgs = [
    ...(set ? ['-f', valuesFile(set)] : []),
    ...(extraSet ?? []).flatMap((x) => ['--set', x]),
  ];
  const base = ['challenge-service', CHART_DIR, '-n', ns, ...valueArgs];

  const dry = await cluster.helm(['install', ...base, '--dry-run=server']);
  expect([label(set), cluster.name, 'dry-run', dry.status, dry.stderr]).toEqual([
    label(set),
    cluster.name,
    'dry-run',
    0,
    '',
  ]);

  // FAKE KUBELET for the hook pods; helm waits for the migration Job the real controller runs.
  const kubelet = fakeKubeletCompletingJobPods(ns, kc);
  try {
    const install = await cluster.helm(['install', ...base, '--timeout', '120s']);
    expect([label(set), cluster.name, 'install', install.status, install.stderr]).toEqual([
      label(set),
      cluster.name,
      'install',
      0,
      '',
    ]);
    expect(warnings(install)).toEqual([]);
    expect(kubelet.completed.length).toBeGreaterThanOrEqual(1); // the migration hook's pod

    const upgrade = await cluster.helm(['upgrade', ...base, '--timeout', '120s']);
    expect([label(set), cluster.name, 'upgrade', upgrade.status, upgrade.stderr]).toEqual([
      label(set),
      cluster.name,
      'upgrade',
      0,
      '',
    ]);
    expect(kubelet.completed.length).toBeGreaterThanOrEqual(2); // pre-upgrade ran it again
  } finally {
    await kubelet.stop();
  }

  // Every object of the release exists on the server.
  const manifest = await cluster.helm(['get', 'manifest', 'challenge-service', '-n', ns]);
  expect(manifest.status).toBe(0);
  const objects = docs(manifest.stdout);
  const client = k8s.KubernetesObjectApi.makeApiClient(kc);
  const missing: string[] = [];
  for (const o of objects) {
    const found = await client
      .read({
        apiVersion: o.apiVersion,
        kind: o.kind,
        metadata: { name: o.metadata.name!, namespace: o.metadata.namespace ?? ns },
      })
      .catch(() => undefined);
    if (!found) missing.push(`${o.kind}/${o.metadata.name}`);
  }
  expect(missing).toEqual([]);
  return objects;
}

describe('helm install on a bare REAL API server (no third-party CRDs; fake kubelet for the hook pod)', () => {
  let bare: ExtraControlPlane;
  beforeAll(async () => {
    bare = await startBareControlPlane();
  }, 180_000);
  afterAll(async () => {
    await bare?.stop();
  });

  test.each(SETS.map((s) => [label(s), s]))(
    '%s: dry run, install, upgrade accepted without warnings; no objects of absent CRDs',
    async (_name: string, set: string | undefined) => {
      const objects = await installAndUpgrade(
        { name: 'bare', kc: () => bare.config(), helm: bare.helm },
        set,
      );
      expect(objects.filter((o) => CRD_KINDS.includes(o.kind)).map((o) => o.kind)).toEqual([]);
      expect(objects.some((o) => o.kind === 'Deployment')).toBe(true);
    },
    240_000,
  );
});

describe('helm install on the REAL API server with prometheus-operator, KEDA and k6-operator CRDs (fake kubelet for the hook pod)', () => {
  beforeAll(async () => {
    await applyCrds(adminConfig());
  }, 60_000);
  test.each(SETS.map((s) => [label(s), s]))(
    '%s: dry run, install, upgrade accepted without warnings',
    async (_name: string, set: string | undefined) => {
      // The ChallengeService CRD is cluster-scoped and test/kube/operator.test.ts owns it on this
      // shared cluster; the bare cluster above installs it with the chart.
      const objects = await installAndUpgrade(
        { name: 'with-crds', kc: () => adminConfig(), helm: (args) => helmKubeAsync(args) },
        set,
        set === 'operator' ? ['operator.installCrd=false'] : [],
      );
      const kinds = new Set(objects.map((o) => o.kind));
      if (set === 'production-keda') {
        // Every add-on of this set is enabled: each CRD kind is installed.
        expect(CRD_KINDS.filter((k) => kinds.has(k))).toEqual(CRD_KINDS);
      }
      if (set === undefined) {
        expect(kinds.has('ServiceMonitor')).toBe(true);
      }
    },
    240_000,
  );
});
