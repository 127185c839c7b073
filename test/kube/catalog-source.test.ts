// CATALOG_SOURCE=kubernetes against the REAL kube-apiserver (issue 16): the chart is installed
// (Role, RoleBinding, ServiceAccount, CRD under a group of its own) and the informer and Lease code
// run with a token of the chart's own ServiceAccount, proving its RBAC is enough (list, watch,
// status writes, Lease) and minimal (forbidden on secrets, on other namespaces, on writes of the
// spec). Faults the real server cannot produce on demand stay on the fake API
// (test/integration/catalog-kubernetes.test.ts).
import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { CatalogHolder } from '../../app/catalog/holder';
import { parseCatalog } from '../../app/catalog/load';
import { KubernetesCatalogSource, type CatalogStatus } from '../../app/catalog/sources/kubernetes';
import { CatalogReloader } from '../../app/catalog/watchReloader';
import {
  adminConfig,
  auditEntries,
  CHART_DIR,
  compactEtcd,
  createNamespace,
  eventually,
  helmKube,
  kubeConfigFor,
  realKube,
  serviceAccountToken,
  tcpPassThrough,
} from '../helpers/kube';
import { valuesFile } from '../k8s/helpers';

jest.setTimeout(120_000);

const silent = pino({ level: 'silent' });
const GROUP = `c${randomBytes(4).toString('hex')}.challenges.example.com`;
const NAME = 'live-catalog';
const SA = 'challenge-service-app'; // the chart's ServiceAccount for release "challenge-service"

function catalogDoc(goalIds: string[], target = 5): { challenges: unknown[] } {
  return {
    challenges: [
      {
        challengeId: 'season',
        name: 'Season',
        description: '',
        goals: goalIds.map((id) => ({
          goalId: id,
          name: id,
          eventSource: 'statistic',
          requirement: {
            statCode: `stat-${id}`,
            operator: '>=',
            targetValue: target,
            progressMode: 'absolute',
          },
          reward: { type: 'WALLET', rewardId: 'COINS', quantity: 10 },
          prerequisites: [],
          defaultAssigned: true,
        })),
      },
    ],
  };
}
const versionOf = (doc: unknown) => parseCatalog(doc).version;
const bootstrap = catalogDoc(['bootstrap-goal']);

let ns = '';
let otherNs = '';
let token = '';
const custom = () => adminConfig().makeApiClient(k8s.CustomObjectsApi);
const ref = () => ({ group: GROUP, version: 'v1alpha1', namespace: ns, plural: 'challengecatalogs' });

async function putSpec(doc: unknown): Promise<void> {
  try {
    const cur = (await custom().getNamespacedCustomObject({ ...ref(), name: NAME })) as {
      metadata: { resourceVersion: string };
    };
    await custom().replaceNamespacedCustomObject({
      ...ref(),
      name: NAME,
      body: {
        apiVersion: `${GROUP}/v1alpha1`,
        kind: 'ChallengeCatalog',
        metadata: { name: NAME, resourceVersion: cur.metadata.resourceVersion },
        spec: doc,
      },
    });
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
    await custom().createNamespacedCustomObject({
      ...ref(),
      body: {
        apiVersion: `${GROUP}/v1alpha1`,
        kind: 'ChallengeCatalog',
        metadata: { name: NAME },
        spec: doc,
      },
    });
  }
}

async function status(): Promise<CatalogStatus | undefined> {
  const o = (await custom().getNamespacedCustomObject({ ...ref(), name: NAME })) as {
    status?: CatalogStatus;
  };
  return o.status;
}

beforeAll(async () => {
  realKube();
  ns = await createNamespace('catalog');
  otherNs = await createNamespace('other');
  const r = helmKube([
    'install',
    'challenge-service',
    CHART_DIR,
    '-n',
    ns,
    '-f',
    valuesFile('catalog-kubernetes'),
    '--set',
    `catalog.crdGroup=${GROUP}`,
    '--set',
    'catalog.createResource=false',
    '--no-hooks', // the migration Job is chart-install.test.ts's business
  ]);
  expect([r.status, r.stderr]).toEqual([0, '']);
  token = await serviceAccountToken(ns, SA);
  // The CRD is served once Established.
  const ext = adminConfig().makeApiClient(k8s.ApiextensionsV1Api);
  await eventually(
    async () =>
      (
        await ext.readCustomResourceDefinition({ name: `challengecatalogs.${GROUP}` })
      ).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'),
    'CRD established',
  );
}, 120_000);

describe('ChallengeCatalog source on the REAL API server with the chart ServiceAccount token', () => {
  const sources: KubernetesCatalogSource[] = [];
  const proxies: Awaited<ReturnType<typeof tcpPassThrough>>[] = [];
  afterEach(async () => {
    await Promise.all(sources.splice(0).map((s) => s.stop()));
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });

  async function startPod(identity: string, server?: string) {
    const holder = new CatalogHolder(parseCatalog(bootstrap));
    const source = new KubernetesCatalogSource(
      k8s,
      kubeConfigFor(token, ns, server),
      new CatalogReloader(holder, silent),
      silent,
      {
        namespace: ns,
        name: NAME,
        group: GROUP,
        resyncMs: 60_000,
        lease: {
          name: `${NAME}-status-writer`,
          identity,
          durationSeconds: 2,
          renewIntervalMs: 200,
          retryIntervalMs: 100,
        },
        backoff: { minMs: 50, maxMs: 400 },
      },
    );
    await source.start();
    sources.push(source);
    return { holder, source };
  }

  test('list + watch: create and modify reach the pod; the elected pod writes Valid/Published status', async () => {
    const v1 = catalogDoc(['win-3']);
    await putSpec(v1);
    const pod = await startPod('pod-a');
    expect(pod.source.ready()).toBe(true);
    expect(pod.holder.current.version).toBe(versionOf(v1)); // from the initial list
    await eventually(async () => (await status())?.version === versionOf(v1), 'status of v1');

    const v2 = catalogDoc(['win-3', 'play-10'], 10);
    await putSpec(v2);
    await eventually(() => pod.holder.current.version === versionOf(v2), 'v2 through the watch');
    const s = await eventually(async () => {
      const st = await status();
      return st?.version === versionOf(v2) ? st : undefined;
    }, 'status of v2');
    expect(s!.conditions?.find((c) => c.type === 'Published')).toMatchObject({ status: 'True' });
    expect(s!.goals).toBe(2);
  });

  test('relist after compaction: a watch resumed from a compacted resourceVersion gets 410 and the informer lists again', async () => {
    await putSpec(catalogDoc(['before-compaction']));
    const proxy = await tcpPassThrough(realKube().server);
    proxies.push(proxy);
    const pod = await startPod('pod-relist', proxy.server);
    const lists = () =>
      auditEntries(`/namespaces/${ns}/challengecatalogs`).filter((e) => e.verb === 'list').length;
    await eventually(() => lists() >= 1, 'initial list in the audit log');
    const listsBefore = lists();

    proxy.cut('hold'); // the watch connection drops; its reconnect waits until after the compaction
    const v2 = catalogDoc(['only-a-relist-sees-this']);
    await putSpec(v2);
    await putSpec(catalogDoc(['only-a-relist-sees-this', 'and-this'])); // two revisions past it
    await compactEtcd();
    proxy.resume();

    await eventually(() => pod.holder.current.goalById.has('and-this'), 'caught up after compaction');
    await eventually(() => lists() > listsBefore, 'a second list (relist) in the audit log');
  });

  test('the ServiceAccount is minimal: forbidden on secrets, on other namespaces and on spec writes', async () => {
    const kc = kubeConfigFor(token, ns);
    const code = async (p: Promise<unknown>) =>
      p.then(
        () => 200,
        (err: { code?: number }) => err.code,
      );
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const co = kc.makeApiClient(k8s.CustomObjectsApi);
    expect(await code(core.listNamespacedSecret({ namespace: ns }))).toBe(403);
    expect(await code(core.listNamespacedPod({ namespace: ns }))).toBe(403);
    expect(await code(co.listNamespacedCustomObject({ ...ref(), namespace: otherNs }))).toBe(403);
    expect(
      await code(kc.makeApiClient(k8s.CoordinationV1Api).listNamespacedLease({ namespace: otherNs })),
    ).toBe(403);
    await putSpec(catalogDoc(['x']));
    expect(
      await code(
        co.patchNamespacedCustomObject(
          { ...ref(), name: NAME, body: { spec: catalogDoc(['sneaky']) } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        ),
      ),
    ).toBe(403);
    // ...and enough: what the source needs is allowed.
    expect(await code(co.listNamespacedCustomObject(ref()))).toBe(200);
  });
});
