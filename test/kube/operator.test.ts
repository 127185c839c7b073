// The ChallengeService operator (`node dist/app/operator.js`, a real process) against the REAL
// kube-apiserver and kube-controller-manager (issue 16): create -> every object of the chart
// exists, owned by the ChallengeService and applied by one field manager; no churn over resyncs;
// replicas / config / catalog changes reach the objects; an invalid spec sets a condition with the
// reason and applies nothing; deleting the resource lets the real garbage collector remove every
// object; Helm and the operator produce the same objects for the same values.
import * as k8s from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { FIELD_MANAGER } from '../../app/operator/controller';
import {
  CHALLENGE_SERVICE_GROUP as GROUP,
  CHALLENGE_SERVICE_PLURAL as PLURAL,
  CHALLENGE_SERVICE_VERSION as VERSION,
  challengeServiceCrd,
} from '../../app/operator/crd';
import { renderObjects, type KubeObject } from '../../app/operator/render';
import {
  adminConfig,
  CHART_DIR,
  createNamespace,
  eventually,
  fakeKubeletCompletingJobPods,
  helmKube,
  kubeconfigFile,
  realKube,
  ROOT,
  serviceAccountToken,
} from '../helpers/kube';

jest.setTimeout(180_000);

const NAME = 'games';
const VALUES = {
  api: { replicas: 1, minAvailable: 0 },
  worker: { replicas: 1, minAvailable: 0 },
  pgbouncer: { replicas: 1, minAvailable: 0 },
  autoscaling: { enabled: false },
  ingress: { enabled: false },
  serviceMonitor: { enabled: false },
  prometheusRule: { enabled: false },
};

type Cs = {
  metadata: { name: string; uid: string; generation: number; resourceVersion: string };
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
};

const custom = () => adminConfig().makeApiClient(k8s.CustomObjectsApi);
const objects = () => k8s.KubernetesObjectApi.makeApiClient(adminConfig());

let ns = '';
let operator: ChildProcess | undefined;
let kubeconfig: { file: string; remove: () => void } | undefined;
let logs: Record<string, unknown>[] = [];

async function getCs(namespace = ns): Promise<Cs> {
  return (await custom().getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: PLURAL,
    name: NAME,
  })) as Cs;
}

async function putSpec(spec: Record<string, unknown>, namespace = ns): Promise<Cs> {
  const cur = await getCs(namespace).catch(() => undefined);
  const body = {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'ChallengeService',
    metadata: { name: NAME, ...(cur ? { resourceVersion: cur.metadata.resourceVersion } : {}) },
    spec,
  };
  const args = { group: GROUP, version: VERSION, namespace, plural: PLURAL };
  return (await (cur
    ? custom().replaceNamespacedCustomObject({ ...args, name: NAME, body })
    : custom().createNamespacedCustomObject({ ...args, body }))) as Cs;
}

const ready = async (generation: number, namespace = ns) => {
  const cs = await getCs(namespace);
  const c = cs.status?.conditions?.find((x) => x.type === 'Ready');
  return cs.status?.observedGeneration === generation && c ? { cs, c } : undefined;
};

function expected(spec: Record<string, unknown>, namespace = ns): KubeObject[] {
  return renderObjects({
    values: spec,
    releaseName: NAME,
    namespace,
    apiVersions: new Set(),
    service: FIELD_MANAGER,
  });
}

async function read(o: KubeObject, namespace = ns): Promise<k8s.KubernetesObject | undefined> {
  return objects()
    .read({
      apiVersion: o.apiVersion,
      kind: o.kind,
      metadata: {
        name: o.metadata.name,
        namespace: o.kind === 'CustomResourceDefinition' ? undefined : namespace,
      },
    })
    .catch(() => undefined);
}

const reconcilesOf = () =>
  logs.filter((l) => l.msg === 'reconciled' && l.resource === `${ns}/${NAME}`).length;

beforeAll(async () => {
  realKube();
  await objects()
    .create(k8s.loadYaml<k8s.KubernetesObject>(JSON.stringify(challengeServiceCrd())))
    .catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    });
  const ext = adminConfig().makeApiClient(k8s.ApiextensionsV1Api);
  await eventually(
    async () =>
      (await ext.readCustomResourceDefinition({ name: `${PLURAL}.${GROUP}` })).status?.conditions?.some(
        (c) => c.type === 'Established' && c.status === 'True',
      ),
    'ChallengeService CRD established',
  );
  ns = await createNamespace('operator');
  // The operator runs with a token of the chart's own operator ServiceAccount (its Role is all it has).
  const h = helmKube([
    'install',
    'ops',
    CHART_DIR,
    '-n',
    ns,
    '--no-hooks',
    '--set',
    'operator.enabled=true',
    '--set',
    'operator.installCrd=false',
  ]);
  expect([h.status, h.stderr]).toEqual([0, '']);
  kubeconfig = kubeconfigFile(await serviceAccountToken(ns, 'ops-challenge-service-operator'), ns);
  operator = spawn(process.execPath, [path.join(ROOT, 'dist/app/operator.js')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      OPERATOR_KUBECONFIG: kubeconfig.file,
      OPERATOR_NAMESPACE: ns,
      OPERATOR_RESYNC_MS: '1000',
      OPERATOR_MIGRATION_POLL_MS: '200',
      OPERATOR_HEALTH_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let buf = '';
  operator.stdout!.on('data', (c: Buffer) => {
    buf += c.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        /* not a log line */
      }
    }
  });
  await eventually(() => logs.some((l) => l.msg === 'operator started'), 'operator started');
});

let kubelet: ReturnType<typeof fakeKubeletCompletingJobPods> | undefined;

afterAll(async () => {
  await kubelet?.stop();
  operator?.kill('SIGTERM');
  kubeconfig?.remove();
  logs = [];
});

describe('ChallengeService operator on the REAL API server and controller-manager', () => {
  let uid = '';
  test('create: the migration Job first, Ready=False MigrationPending and no workloads until it completed (FAKE KUBELET marks its pod Succeeded), then every object the chart renders exists, owned by the ChallengeService, one field manager', async () => {
    const cs = await putSpec(VALUES);
    uid = cs.metadata.uid;
    const want = expected(VALUES);
    const job = want.find((o) => o.kind === 'Job')!;
    const workloads = want.filter((o) => o.kind === 'Deployment');
    expect(workloads.length).toBeGreaterThanOrEqual(2);
    const pending = (await eventually(async () => {
      const r = await ready(1);
      return r?.c.reason === 'MigrationPending' ? r : undefined;
    }, 'MigrationPending'))!;
    expect(pending.c).toMatchObject({ status: 'False' });
    expect(pending.c.message).toContain(job.metadata.name);
    // The real Job controller created the Job's pod; no kubelet runs it, so it stays Pending.
    await eventually(
      async () =>
        (
          await adminConfig()
            .makeApiClient(k8s.CoreV1Api)
            .listNamespacedPod({ namespace: ns, labelSelector: 'batch.kubernetes.io/job-name' })
        ).items.length > 0,
      'migration pod created by the Job controller',
    );
    const waits = () =>
      logs.filter((l) => l.msg === 'waiting for migration' && l.resource === `${ns}/${NAME}`).length;
    const seen = waits();
    await eventually(() => waits() >= seen + 2, 'two more reconciles while waiting');
    expect(await read(job)).toBeDefined();
    for (const o of workloads) expect([o.metadata.name, await read(o)]).toEqual([o.metadata.name, undefined]);
    expect((await ready(1))!.c.reason).toBe('MigrationPending');

    kubelet = fakeKubeletCompletingJobPods(ns); // FAKE KUBELET: the migration pod "succeeds"
    const { c } = (await eventually(async () => {
      const r = await ready(1);
      return r?.c.status === 'True' ? r : undefined;
    }, 'Ready for generation 1'))!;
    expect(c).toMatchObject({ status: 'True', reason: 'Applied' });
    expect(kubelet.completed.length).toBeGreaterThanOrEqual(1);
    expect(want.length).toBeGreaterThan(10);
    for (const o of want) {
      const got = (await read(o)) as (k8s.KubernetesObject & { metadata: k8s.V1ObjectMeta }) | undefined;
      expect([o.kind, o.metadata.name, got !== undefined]).toEqual([o.kind, o.metadata.name, true]);
      expect(got!.metadata.ownerReferences?.[0]).toMatchObject({
        uid,
        kind: 'ChallengeService',
        controller: true,
      });
      const managers = new Set(
        (got!.metadata.managedFields ?? []).filter((m) => m.operation === 'Apply').map((m) => m.manager),
      );
      expect([...managers]).toEqual([FIELD_MANAGER]);
    }
  });

  test('no churn: resourceVersions stay the same over resyncs when nothing changed', async () => {
    const want = expected(VALUES);
    const versions = async () =>
      Object.fromEntries(
        await Promise.all(
          want.map(async (o) => [`${o.kind}/${o.metadata.name}`, (await read(o))?.metadata?.resourceVersion]),
        ),
      );
    const before = await versions();
    const seen = reconcilesOf();
    await eventually(() => reconcilesOf() >= seen + 3, 'three more reconciles (resyncs)');
    expect(await versions()).toEqual(before);
  });

  test('replicas, config and catalog changes reach the objects', async () => {
    const catalog = JSON.stringify({ challenges: [] });
    const spec = {
      ...VALUES,
      api: { replicas: 3, minAvailable: 0 },
      config: { rateLimits: { playerPerSec: 77 } },
      catalog: { json: catalog },
    };
    await putSpec(spec);
    await eventually(() => ready(2), 'Ready for generation 2');
    const api = expected(spec).find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-api'))!;
    const dep = (await read(api)) as k8s.V1Deployment;
    expect(dep.spec?.replicas).toBe(3);
    const env = dep.spec?.template.spec?.containers[0]?.env ?? [];
    expect(env.find((e) => e.name === 'RATE_LIMIT_PLAYER_PER_SEC')?.value).toBe('77');
    const cm = expected(spec).find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-catalog'))!;
    const got = (await read(cm)) as k8s.V1ConfigMap;
    expect(Object.values(got.data ?? {})).toContain(catalog);
  });

  test('invalid spec: Ready=False with the reason naming the value, nothing applied', async () => {
    const api = expected(VALUES).find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-api'))!;
    const rvBefore = (await read(api))?.metadata?.resourceVersion;
    const cur = await getCs();
    await putSpec({ ...cur.spec, api: { replicas: 5, replicaz: 2, minAvailable: 0 } });
    const { c } = (await eventually(() => ready(3), 'status for generation 3'))!;
    expect(c).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(c.message).toContain('api.replicaz');
    expect((await read(api))?.metadata?.resourceVersion).toBe(rvBefore);
    // A spec the chart itself refuses (PDB that blocks every drain) is a RenderRefused.
    await putSpec({ ...VALUES, api: { replicas: 1, minAvailable: 1 } });
    const refused = (await eventually(() => ready(4), 'status for generation 4'))!;
    expect(refused.c).toMatchObject({ status: 'False', reason: 'RenderRefused' });
    expect(refused.c.message).toContain('api.minAvailable');
    await putSpec(VALUES);
    await eventually(async () => (await ready(5))?.c.status === 'True', 'Ready again');
  });

  test('catalog.installCrd: true in a spec: ApplyFailed, the CRD forbidden to the operator (no ClusterRole, docs/DEPLOY.md); installCrd: false applies', async () => {
    const gen = (await getCs()).metadata.generation! + 1;
    await putSpec({ ...VALUES, catalog: { source: 'kubernetes', installCrd: true, createResource: false } });
    // (The migration Job may change with the catalog source: it is replaced and awaited first.)
    const { c } = (await eventually(async () => {
      const r = await ready(gen);
      return r && r.c.reason !== 'MigrationPending' ? r : undefined;
    }, `status for generation ${gen}`))!;
    expect(c).toMatchObject({ status: 'False', reason: 'ApplyFailed' });
    expect(c.message).toMatch(/CustomResourceDefinition\/challengecatalogs\.[^:]+:.*forbidden/);
    await putSpec({ ...VALUES, catalog: { source: 'kubernetes', installCrd: false, createResource: false } });
    await eventually(async () => (await ready(gen + 1))?.c.status === 'True', 'Ready with installCrd false');
    await putSpec(VALUES);
    await eventually(async () => (await ready(gen + 2))?.c.status === 'True', 'Ready again');
  });

  test('delete: the real garbage collector removes every object the operator applied', async () => {
    await custom().deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL,
      name: NAME,
    });
    const want = expected(VALUES).filter((o) => o.kind !== 'CustomResourceDefinition');
    await eventually(
      async () => (await Promise.all(want.map((o) => read(o)))).every((x) => x === undefined),
      'every owned object garbage-collected',
      90_000,
    );
  });
});

describe('Helm and the operator produce the same objects for the same values (REAL API server)', () => {
  test('server-side objects are equal, metadata managed by each aside', async () => {
    const helmNs = await createNamespace('op-helm');
    const opNs = await createNamespace('op-oper');
    const h = helmKube([
      'install',
      NAME,
      CHART_DIR,
      '-n',
      helmNs,
      '--no-hooks',
      ...Object.entries(flat(VALUES)).flatMap(([k, v]) => ['--set', `${k}=${String(v)}`]),
    ]);
    expect([h.status, h.stderr]).toEqual([0, '']);
    // The operator of the first describe watches `ns` only: run a second one for opNs.
    const kc = kubeconfigFile(realKube().adminToken, opNs);
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/app/operator.js')], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        OPERATOR_KUBECONFIG: kc.file,
        OPERATOR_NAMESPACE: opNs,
        OPERATOR_RESYNC_MS: '60000',
        OPERATOR_MIGRATION_POLL_MS: '200',
        OPERATOR_HEALTH_PORT: '0',
      },
      stdio: 'ignore',
    });
    const opKubelet = fakeKubeletCompletingJobPods(opNs); // FAKE KUBELET: the migration pod succeeds
    try {
      await putSpec(VALUES, opNs);
      await eventually(async () => (await ready(1, opNs))?.c.status === 'True', 'operator applied');
      const hooks = (o: KubeObject) => Boolean(o.metadata.annotations?.['helm.sh/hook']);
      const want = expected(VALUES, opNs).filter((o) => !hooks(o));
      const diffs: string[] = [];
      for (const o of want) {
        const a = normalise(await read(o, helmNs));
        const b = normalise(await read(o, opNs));
        if (JSON.stringify(a) !== JSON.stringify(b))
          diffs.push(`${o.kind}/${o.metadata.name}:\n${JSON.stringify(a)}\n${JSON.stringify(b)}`);
      }
      expect(diffs).toEqual([]);
    } finally {
      await opKubelet.stop();
      child.kill('SIGTERM');
      kc.remove();
    }
  });
});

function flat(v: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(v).flatMap(([k, x]) =>
      x && typeof x === 'object' && !Array.isArray(x)
        ? Object.entries(flat(x as Record<string, unknown>, `${prefix}${k}.`))
        : [[`${prefix}${k}`, x]],
    ),
  );
}

/** An object as the server holds it, without what each manager sets for itself. */
function normalise(o: k8s.KubernetesObject | undefined): unknown {
  if (!o) return undefined;
  const copy = JSON.parse(JSON.stringify(o)) as Record<string, unknown> & {
    metadata: Record<string, unknown>;
  };
  const m = copy.metadata;
  for (const k of [
    'managedFields',
    'uid',
    'resourceVersion',
    'creationTimestamp',
    'generation',
    'namespace',
    'ownerReferences',
  ])
    delete m[k];
  const labels = { ...(m.labels as Record<string, string> | undefined) };
  delete labels[`${GROUP}/challengeservice`];
  m.labels = labels;
  const annotations = { ...(m.annotations as Record<string, string> | undefined) };
  for (const k of Object.keys(annotations)) if (k.startsWith('meta.helm.sh/')) delete annotations[k];
  m.annotations = annotations;
  delete copy.status;
  const spec = copy.spec as Record<string, unknown> | undefined;
  if (copy.kind === 'Service' && spec) {
    delete spec.clusterIP; // allocated by the server for each
    delete spec.clusterIPs;
  }
  // Namespaced references inside specs (e.g. a RoleBinding subject) name each namespace.
  // app.kubernetes.io/managed-by (.Release.Service) names Helm or the operator, wherever it is,
  // and so does the rendered ConfigMap a checksum/config annotation hashes.
  const text = JSON.stringify(sortKeys(copy))
    .replace(/"namespace":"[^"]*"/g, '"namespace":"*"')
    .replace(/"app\.kubernetes\.io\/managed-by":"[^"]*"/g, '"app.kubernetes.io/managed-by":"*"')
    .replace(/"checksum\/config":"[0-9a-f]{64}"/g, '"checksum/config":"*"');
  return JSON.parse(text) as unknown;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  return v;
}
