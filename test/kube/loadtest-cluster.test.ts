// `npm run loadtest:cluster` against the REAL kube-apiserver with the k6-operator TestRun CRD of
// ../shared/fixtures/crds (issue 16): the ConfigMap and the TestRun are accepted, the TestRun keeps
// every field it was sent (nothing pruned by the CRD's schema), and the CLI cleans both up. The CLI
// runs with a token of the chart's own launcher ServiceAccount (testRun.enabled +
// testRun.launcherRbac), which is enough for it and minimal: forbidden on secrets, on other
// namespaces, on TestRun listing. There is no k6-operator here: a FAKE K6-OPERATOR (this test)
// moves status.stage to finished.
import * as k8s from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { parseArgs, testRunManifest } from '../../loadtest/tools/cluster';
import {
  adminConfig,
  CHART_DIR,
  createNamespace,
  crdFixtureFiles,
  eventually,
  helmKube,
  kubeConfigFor,
  kubeconfigFile,
  readText,
  realKube,
  ROOT,
  serviceAccountToken,
} from '../helpers/kube';

const code = (p: Promise<unknown>) =>
  p.then(
    () => 200,
    (err: { code?: number }) => err.code,
  );

jest.setTimeout(240_000);

test('loadtest:cluster with the chart launcher ServiceAccount token creates a TestRun the real API server accepts unpruned, follows it (fake k6-operator) and cleans up', async () => {
  realKube();
  const objects = k8s.KubernetesObjectApi.makeApiClient(adminConfig());
  const k6Crd = crdFixtureFiles().find((f) => f.endsWith('k6.io_testruns.yaml'))!;
  for (const crd of k8s.loadAllYaml(readText(k6Crd)) as k8s.KubernetesObject[]) {
    await objects.create(crd).catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    });
  }
  const ext = adminConfig().makeApiClient(k8s.ApiextensionsV1Api);
  await eventually(
    async () =>
      (await ext.readCustomResourceDefinition({ name: 'testruns.k6.io' })).status?.conditions?.some(
        (c) => c.type === 'Established' && c.status === 'True',
      ),
    'TestRun CRD established',
  );
  const ns = await createNamespace('loadtest');
  const otherNs = await createNamespace('loadtest-other');
  const h = helmKube([
    'install',
    'challenge-service',
    CHART_DIR,
    '-n',
    ns,
    '--set',
    'testRun.enabled=true',
    '--no-hooks', // the migration Job is chart-install.test.ts's business
  ]);
  expect([h.status, h.stderr]).toEqual([0, '']);
  const token = await serviceAccountToken(ns, 'challenge-service-loadtest');
  // Minimal: no secrets, nothing in another namespace, no listing of other TestRuns.
  const sa = kubeConfigFor(token, ns);
  const saCore = sa.makeApiClient(k8s.CoreV1Api);
  const saCustom = sa.makeApiClient(k8s.CustomObjectsApi);
  expect(await code(saCore.listNamespacedSecret({ namespace: ns }))).toBe(403);
  expect(await code(saCore.readNamespacedSecret({ name: 'challenge-service', namespace: ns }))).toBe(403);
  expect(
    await code(
      saCore.createNamespacedConfigMap({ namespace: otherNs, body: { metadata: { name: 'x' }, data: {} } }),
    ),
  ).toBe(403);
  expect(await code(saCore.listNamespacedPod({ namespace: otherNs }))).toBe(403);
  expect(
    await code(
      saCustom.listNamespacedCustomObject({
        group: 'k6.io',
        version: 'v1alpha1',
        namespace: ns,
        plural: 'testruns',
      }),
    ),
  ).toBe(403);
  expect(await code(saCore.listNamespacedConfigMap({ namespace: ns }))).toBe(403);
  const chartRun = 'challenge-service-loadtest'; // the chart's own TestRun (testRun.enabled)
  const kc = kubeconfigFile(token, ns);
  const args = [
    'claim',
    '--namespace',
    ns,
    '--kubeconfig',
    kc.file,
    '--parallelism',
    '2',
    '--poll-seconds',
    '0.2',
    '--timeout',
    '120',
  ];
  const child = spawn('npm', ['run', '--silent', 'loadtest:cluster', '--', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const custom = adminConfig().makeApiClient(k8s.CustomObjectsApi);
  const tr = { group: 'k6.io', version: 'v1alpha1', namespace: ns, plural: 'testruns' };
  try {
    const created = await eventually(
      async () => {
        const list = (await custom.listNamespacedCustomObject(tr)) as {
          items: { metadata: { name: string }; spec: unknown }[];
        };
        return list.items.find((i) => i.metadata.name !== chartRun) ?? false;
      },
      'the TestRun on the server',
      120_000,
    );
    if (!created) throw new Error('no TestRun');
    const name = created.metadata.name;
    // The server stored everything the CLI sent (the CRD's structural schema pruned nothing; it
    // only adds its defaults, e.g. paused, quiet).
    const sent = testRunManifest(parseArgs(args, ROOT), name) as { spec: Record<string, unknown> };
    expect(created.spec).toMatchObject(sent.spec);
    const cm = await adminConfig()
      .makeApiClient(k8s.CoreV1Api)
      .readNamespacedConfigMap({ name, namespace: ns });
    expect(Object.keys(cm.data ?? {})).toContain('scenario.ts');

    // FAKE K6-OPERATOR: the run finished.
    await custom.patchNamespacedCustomObjectStatus(
      { ...tr, name, body: { status: { stage: 'finished' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    expect([await exited, err]).toEqual([0, '']);
    expect(JSON.parse(out.trim().split('\n').pop()!)).toMatchObject({ name, stage: 'finished' });
    const left = (await custom.listNamespacedCustomObject(tr)) as { items: { metadata: { name: string } }[] };
    // The CLI's run is gone; the chart's own TestRun is there and was not touched.
    expect(left.items.map((i) => i.metadata.name)).toEqual([chartRun]);
    const maps = await adminConfig().makeApiClient(k8s.CoreV1Api).listNamespacedConfigMap({ namespace: ns });
    expect(maps.items.map((m) => m.metadata?.name).filter((n) => n === name)).toEqual([]);
  } finally {
    child.kill('SIGKILL');
    kc.remove();
  }
});
