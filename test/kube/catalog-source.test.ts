// CATALOG_SOURCE=kubernetes against the REAL kube-apiserver (issue 16): the chart is installed
// (Role, RoleBinding, ServiceAccount, CRD under a group of its own) and the informer and Lease code
// run with a token of the chart's own ServiceAccount, proving its RBAC is enough (list, watch,
// status writes, Lease) and minimal (forbidden on secrets, on other namespaces, on writes of the
// spec). Faults the real server cannot produce on demand (503 answers, a server-side end of the
// watch, 410 as an HTTP status, a bookmark) stay on the fake API server, named so
// (test/integration/catalog-kubernetes.test.ts).
import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { CatalogHolder } from '../../app/catalog/holder';
import { parseCatalog } from '../../app/catalog/load';
import { KubernetesCatalogSource, type CatalogStatus } from '../../app/catalog/sources/kubernetes';
import { CatalogReloader } from '../../app/catalog/watchReloader';
import { catalogModule } from '../../app/catalog/watch';
import { catalogReloadsTotal } from '../../app/ops/metrics';
import { startTestService } from '../helpers/service';
import {
  adminConfig,
  auditEntries,
  kubeconfigFile,
  compactEtcd,
  createNamespace,
  eventually,
  installCatalogChart,
  kubeConfigFor,
  realKube,
  tcpPassThrough,
} from '../helpers/kube';

jest.setTimeout(120_000);

const silent = pino({ level: 'silent' });
const GROUP = `c${randomBytes(4).toString('hex')}.challenges.example.com`;
const NAME = 'live-catalog';

interface GoalSpec {
  id: string;
  target?: number;
  prerequisites?: string[];
}

function catalogDoc(
  goals: (string | GoalSpec)[],
  target = 5,
  challengeId = 'season',
): { challenges: unknown[] } {
  return {
    challenges: [
      {
        challengeId,
        name: 'Season',
        description: '',
        goals: goals
          .map((g) => (typeof g === 'string' ? { id: g } : g))
          .map((g) => ({
            goalId: g.id,
            name: g.id,
            eventSource: 'statistic',
            requirement: {
              statCode: `stat-${g.id}`,
              operator: '>=',
              targetValue: g.target ?? target,
              progressMode: 'absolute',
            },
            reward: { type: 'WALLET', rewardId: 'COINS', quantity: 10 },
            prerequisites: g.prerequisites ?? [],
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

async function reloads(result: 'success' | 'failure'): Promise<number> {
  return (await catalogReloadsTotal.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
}

/** Deletes ChallengeCatalog `name` (if there) and waits until the server no longer has it. */
async function deleteSpec(name = NAME): Promise<void> {
  await custom()
    .deleteNamespacedCustomObject({ ...ref(), name })
    .catch((err: { code?: number }) => {
      if (err.code !== 404) throw err;
    });
  await eventually(
    () =>
      custom()
        .getNamespacedCustomObject({ ...ref(), name })
        .then(
          () => false,
          (err: { code?: number }) => err.code === 404,
        ),
    `${name} deleted`,
  );
}

async function putSpec(doc: unknown, name = NAME): Promise<void> {
  try {
    const cur = (await custom().getNamespacedCustomObject({ ...ref(), name })) as {
      metadata: { resourceVersion: string };
    };
    await custom().replaceNamespacedCustomObject({
      ...ref(),
      name,
      body: {
        apiVersion: `${GROUP}/v1alpha1`,
        kind: 'ChallengeCatalog',
        metadata: { name, resourceVersion: cur.metadata.resourceVersion },
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
        metadata: { name },
        spec: doc,
      },
    });
  }
}

async function status(name = NAME): Promise<CatalogStatus | undefined> {
  const o = (await custom().getNamespacedCustomObject({ ...ref(), name })) as {
    status?: CatalogStatus;
  };
  return o.status;
}
const condition = async (type: string) => (await status())?.conditions?.find((c) => c.type === type);
/** Status patches ServiceAccounts made to the live resource (audit log of the real API server). */
const statusPatches = () =>
  auditEntries(`/namespaces/${ns}/challengecatalogs/${NAME}/status`).filter((e) => e.verb === 'patch').length;
const catalogLists = () =>
  auditEntries(`/namespaces/${ns}/challengecatalogs`).filter((e) => e.verb === 'list').length;

beforeAll(async () => {
  realKube();
  ns = await createNamespace('catalog');
  otherNs = await createNamespace('other');
  token = await installCatalogChart(ns, GROUP);
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
  beforeEach(async () => {
    await deleteSpec();
    await deleteSpec('staging-catalog');
  });
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

  test('creating the live resource after start swaps it in through the watch; the elected pod marks it Valid and Published; a modification follows with its generation', async () => {
    const pod = await startPod('pod-create');
    expect(pod.source.ready()).toBe(true);
    expect(pod.holder.current.version).toBe(versionOf(bootstrap));

    const doc = catalogDoc(['win-3', { id: 'play-10', target: 10 }]);
    await putSpec(doc);
    await eventually(() => pod.holder.current.version === versionOf(doc), 'swap to the created catalog');
    expect([...pod.holder.current.goalById.keys()]).toEqual(['win-3', 'play-10']);
    await eventually(async () => (await condition('Published'))?.status === 'True', 'Published=True');
    expect(await status()).toMatchObject({
      observedGeneration: 1,
      version: versionOf(doc),
      goals: 2,
      challenges: 1,
      problems: [],
    });
    expect(await condition('Valid')).toMatchObject({
      status: 'True',
      reason: 'Valid',
      observedGeneration: 1,
    });

    const v2 = catalogDoc([{ id: 'win-3', target: 7 }, 'new-goal']);
    await putSpec(v2);
    await eventually(() => pod.holder.current.version === versionOf(v2), 'swap to v2');
    expect(pod.holder.current.goalById.get('win-3')!.requirement.targetValue).toBe(7);
    await eventually(async () => (await status())?.observedGeneration === 2, 'observedGeneration 2');
    expect((await status())?.version).toBe(versionOf(v2));
  });

  test('an invalid modification keeps the old catalog live; status says Valid=False with every problem; a fix makes it live again', async () => {
    const good = catalogDoc(['a', { id: 'b', prerequisites: ['a'] }]);
    await putSpec(good);
    const pod = await startPod('pod-invalid');
    await eventually(async () => (await condition('Valid'))?.status === 'True', 'valid first');
    const failuresBefore = await reloads('failure');

    // What the CRD's schema can express the real server refuses at admission (422), so nothing
    // reaches the pods; what it cannot (a prerequisite cycle) reaches them and is refused there.
    const refused = await custom()
      .replaceNamespacedCustomObject({
        ...ref(),
        name: NAME,
        body: {
          ...((await custom().getNamespacedCustomObject({ ...ref(), name: NAME })) as object),
          spec: catalogDoc(['a', { id: 'b', target: 0 }]),
        },
      })
      .then(
        () => 200,
        (err: { code?: number }) => err.code,
      );
    expect(refused).toBe(422);
    const bad = catalogDoc([
      { id: 'a', prerequisites: ['b'] },
      { id: 'b', prerequisites: ['a'] },
    ]);
    await putSpec(bad);
    await eventually(async () => (await condition('Valid'))?.status === 'False', 'Valid=False');
    expect(pod.holder.current.version).toBe(versionOf(good));
    expect(await reloads('failure')).toBe(failuresBefore + 1);
    const s = (await status())!;
    expect(s.observedGeneration).toBe(2);
    expect(s.version).toBe(versionOf(good));
    expect(s.problems.map((p) => p.path)).toEqual(
      expect.arrayContaining(['challenges[0].goals[0].prerequisites']),
    );
    expect(s.problems.find((p) => p.path.endsWith('prerequisites'))!.message).toMatch(/cycle/);
    expect(await condition('Valid')).toMatchObject({ reason: 'Invalid' });
    expect(await condition('Published')).toMatchObject({ status: 'False', reason: 'PreviousVersionLive' });

    const fixed = catalogDoc(['a', { id: 'b', target: 2 }]);
    await putSpec(fixed);
    await eventually(() => pod.holder.current.version === versionOf(fixed), 'fixed spec live');
    await eventually(async () => {
      const st = await status();
      return st?.conditions?.find((c) => c.type === 'Valid')?.status === 'True' && st.problems.length === 0;
    }, 'Valid again');
  });

  test('deleting the resource keeps the last catalog live; creating it again applies the new spec', async () => {
    const v1 = catalogDoc(['a']);
    await putSpec(v1);
    const pod = await startPod('pod-delete');
    expect(pod.holder.current.version).toBe(versionOf(v1));

    await deleteSpec();
    // The informer's cache forgets it (DELETED through the watch); the catalog stays.
    await eventually(
      () =>
        (pod.source as unknown as { informer: k8s.ObjectCache<k8s.KubernetesObject> }).informer.list(ns)
          .length === 0,
      'cache drop',
    );
    expect(pod.holder.current.version).toBe(versionOf(v1));

    const v2 = catalogDoc(['b']);
    await putSpec(v2);
    await eventually(() => pod.holder.current.version === versionOf(v2), 're-created spec live');
    await eventually(async () => (await status())?.version === versionOf(v2), 'status on the new object');
  });

  test('other ChallengeCatalogs in the namespace are not the live one and get no status', async () => {
    const pod = await startPod('pod-other');
    await putSpec(catalogDoc(['staging-only']), 'staging-catalog');
    const live = catalogDoc(['live-only']);
    await putSpec(live);
    await eventually(() => pod.holder.current.version === versionOf(live), 'live resource');
    await putSpec(catalogDoc(['staging-2']), 'staging-catalog');
    await eventually(async () => (await status()) !== undefined, 'status written');
    // The staging change reached the pod's informer too (same namespace watch) and was ignored.
    await eventually(
      () =>
        (pod.source as unknown as { informer: k8s.ObjectCache<k8s.KubernetesObject> }).informer
          .list(ns)
          .some(
            (o) =>
              o.metadata?.name === 'staging-catalog' &&
              JSON.stringify((o as { spec?: unknown }).spec).includes('staging-2'),
          ),
      'staging change seen by the informer',
    );
    expect(pod.holder.current.version).toBe(versionOf(live));
    expect(await status('staging-catalog')).toBeUndefined();
  });

  test('a dropped watch (connections cut, then refused while a change lands) reconnects and resumes from its resourceVersion without relisting', async () => {
    const v1 = catalogDoc(['a']);
    await putSpec(v1);
    const proxy = await tcpPassThrough(realKube().server);
    proxies.push(proxy);
    const pod = await startPod('pod-drop', proxy.server);
    const watches = () =>
      auditEntries(`/namespaces/${ns}/challengecatalogs`).filter((e) => e.verb === 'watch');
    await eventually(() => catalogLists() >= 1 && watches().length >= 1, 'list and watch in the audit log');
    const listsBefore = catalogLists();
    const watchesBefore = watches().length;

    proxy.cut(true); // the watch connection drops and reconnects are refused
    const v2 = catalogDoc(['a', 'missed-while-down']);
    await putSpec(v2);
    await new Promise((r) => setTimeout(r, 500)); // a few refused reconnects (backoff 50-400 ms)
    proxy.resume();

    await eventually(() => pod.holder.current.version === versionOf(v2), 'change made while disconnected');
    const resumed = watches().slice(watchesBefore);
    expect(resumed.length).toBeGreaterThanOrEqual(1);
    expect(resumed[0]!.requestURI).toMatch(/resourceVersion=\d+/);
    expect(catalogLists()).toBe(listsBefore); // no relist
  });

  test('two pods both serve every version; only the Lease holder writes status, once per version; the other takes over when it stops', async () => {
    const a = await startPod('pod-a');
    const b = await startPod('pod-b');
    await eventually(() => a.source.isLeader() !== b.source.isLeader(), 'one leader');
    const [leader, follower] = a.source.isLeader() ? [a, b] : [b, a];

    const v1 = catalogDoc(['shared']);
    const patchesBefore = statusPatches();
    await putSpec(v1);
    await eventually(
      () => a.holder.current.version === versionOf(v1) && b.holder.current.version === versionOf(v1),
      'both on v1',
    );
    await eventually(async () => (await status())?.version === versionOf(v1), 'status v1');
    await new Promise((r) => setTimeout(r, 500));
    // Written once, by the leader, and not rewritten on its own MODIFIED event.
    expect(statusPatches() - patchesBefore).toBe(1);

    await leader.source.stop();
    sources.splice(sources.indexOf(leader.source), 1);
    await eventually(() => follower.source.isLeader(), 'follower takes over');
    const lease = await adminConfig()
      .makeApiClient(k8s.CoordinationV1Api)
      .readNamespacedLease({ name: `${NAME}-status-writer`, namespace: ns });
    expect(lease.spec?.holderIdentity).toBe(follower.source.leaseIdentity);

    const v2 = catalogDoc([{ id: 'shared', target: 9 }]);
    await putSpec(v2);
    await eventually(
      async () => (await status())?.version === versionOf(v2),
      'status written by the new leader',
    );
    expect(follower.holder.current.version).toBe(versionOf(v2));
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

describe('catalog module with CATALOG_SOURCE=kubernetes on the REAL API server (chart ServiceAccount token)', () => {
  test('the service serves the ChallengeCatalog resource and hot-swaps it without a restart', async () => {
    await deleteSpec();
    await putSpec(catalogDoc(['from-resource'], 5, 'kube-challenge'));
    const kc = kubeconfigFile(token, ns);
    const t = await startTestService({
      modules: [catalogModule],
      env: {
        CATALOG_SOURCE: 'kubernetes',
        CATALOG_KUBECONFIG: kc.file,
        CATALOG_NAMESPACE: ns,
        CATALOG_CRD_GROUP: GROUP,
        CATALOG_RESOURCE_NAME: NAME,
        CATALOG_LEASE_DURATION_SECONDS: '2',
      },
    });
    try {
      const goalIds = async () => {
        const res = await t.call('kube-player', 'GET', '/v1/challenges');
        return res.body.challenges.flatMap((c: { goals: { goalId: string }[] }) =>
          c.goals.map((g) => g.goalId),
        );
      };
      expect(await goalIds()).toEqual(['from-resource']);
      expect((await fetch(`${t.ops}/readyz`)).status).toBe(200);
      await putSpec(catalogDoc(['from-resource', 'hot-added'], 5, 'kube-challenge'));
      await eventually(async () => (await goalIds()).includes('hot-added'), 'hot-added goal served');
      await eventually(async () => (await status())?.observedGeneration === 2, 'status');
    } finally {
      await t.stop();
      kc.remove();
    }
  });
});
