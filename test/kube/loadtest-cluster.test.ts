// `npm run loadtest:cluster` against the REAL kube-apiserver with the k6-operator TestRun CRD of
// ../shared/fixtures/crds (issue 16): the ConfigMap and the TestRun are accepted, the TestRun keeps
// every field it was sent (nothing pruned by the CRD's schema), and the CLI cleans both up. There
// is no k6-operator here: a FAKE K6-OPERATOR (this test) moves status.stage to finished.
import * as k8s from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { parseArgs, testRunManifest } from '../../loadtest/tools/cluster';
import {
  adminConfig,
  createNamespace,
  crdFixtureFiles,
  eventually,
  kubeconfigFile,
  readText,
  realKube,
  ROOT,
} from '../helpers/kube';

jest.setTimeout(240_000);

test('loadtest:cluster creates a TestRun the real API server accepts unpruned, follows it (fake k6-operator) and cleans up', async () => {
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
  const kc = kubeconfigFile(realKube().adminToken, ns);
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
        return list.items[0] ?? false;
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
    const left = (await custom.listNamespacedCustomObject(tr)) as { items: unknown[] };
    expect(left.items).toEqual([]);
    const maps = await adminConfig().makeApiClient(k8s.CoreV1Api).listNamespacedConfigMap({ namespace: ns });
    expect(maps.items.map((m) => m.metadata?.name).filter((n) => n === name)).toEqual([]);
  } finally {
    child.kill('SIGKILL');
    kc.remove();
  }
});
