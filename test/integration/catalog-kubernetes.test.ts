// CATALOG_SOURCE=kubernetes against a FAKE Kubernetes API server (test/helpers/fake-kube.ts): the
// real @kubernetes/client-node informer and Lease code talk HTTP to it.
import * as k8s from '@kubernetes/client-node';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { CatalogHolder } from '../../app/catalog/holder';
import { parseCatalog } from '../../app/catalog/load';
import { KubernetesCatalogSource, type CatalogStatus } from '../../app/catalog/sources/kubernetes';
import { CatalogReloader } from '../../app/catalog/watchReloader';
import { catalogModule } from '../../app/catalog/watch';
import { catalogReloadsTotal } from '../../app/ops/metrics';
import { FakeKubeApi, fakeKubeconfig } from '../helpers/fake-kube';
import { startTestService } from '../helpers/service';

const GROUP = 'challenges.example.com';
const NS = 'games';
const NAME = 'live-catalog';
const silent = pino({ level: 'silent' });

interface GoalSpec {
  id: string;
  target?: number;
  prerequisites?: string[];
}

function catalogDoc(goals: GoalSpec[], challengeId = 'season'): { challenges: unknown[] } {
  return {
    challenges: [
      {
        challengeId,
        name: 'Season',
        description: '',
        goals: goals.map((g) => ({
          goalId: g.id,
          name: g.id,
          eventSource: 'statistic',
          requirement: {
            statCode: `stat-${g.id}`,
            operator: '>=',
            targetValue: g.target ?? 5,
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

async function eventually<T>(fn: () => T | Promise<T>, what: string, capMs = 10_000): Promise<T> {
  const until = Date.now() + capMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function reloads(result: 'success' | 'failure'): Promise<number> {
  return (await catalogReloadsTotal.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
}

function kubeConfig(url: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(fakeKubeconfig(url, NS));
  return kc;
}

interface Pod {
  holder: CatalogHolder;
  source: KubernetesCatalogSource;
}

const bootstrap = catalogDoc([{ id: 'bootstrap-goal' }], 'bootstrap');

describe('ChallengeCatalog source against a fake Kubernetes API', () => {
  let fake: FakeKubeApi;
  const pods: Pod[] = [];
  const catalogs = FakeKubeApi.catalogs(GROUP, NS);

  async function startPod(identity: string, leaseSeconds = 2): Promise<Pod> {
    const holder = new CatalogHolder(parseCatalog(bootstrap));
    const reloader = new CatalogReloader(holder, silent);
    const source = new KubernetesCatalogSource(k8s, kubeConfig(fake.url), reloader, silent, {
      namespace: NS,
      name: NAME,
      group: GROUP,
      resyncMs: 60_000,
      lease: {
        name: `${NAME}-status-writer`,
        identity,
        durationSeconds: leaseSeconds,
        renewIntervalMs: 200,
        retryIntervalMs: 100,
      },
      backoff: { minMs: 50, maxMs: 400 },
    });
    await source.start();
    const pod = { holder, source };
    pods.push(pod);
    return pod;
  }

  const status = () => fake.get(catalogs, NAME)?.status as CatalogStatus | undefined;
  const condition = (type: string) => status()?.conditions?.find((c) => c.type === type);

  beforeEach(async () => {
    fake = new FakeKubeApi();
    await fake.start();
  });

  afterEach(async () => {
    await Promise.all(pods.splice(0).map((p) => p.source.stop()));
    await fake.stop();
  });

  test('fake API: creating the live resource swaps the catalog in; the elected pod marks it Valid and Published', async () => {
    const pod = await startPod('pod-a');
    expect(pod.source.ready()).toBe(true);
    expect(pod.holder.current.version).toBe(versionOf(bootstrap));

    const doc = catalogDoc([{ id: 'win-3' }, { id: 'play-10', target: 10 }]);
    fake.apply(catalogs, NAME, doc);
    await eventually(() => pod.holder.current.version === versionOf(doc), 'swap to the created catalog');
    expect([...pod.holder.current.goalById.keys()]).toEqual(['win-3', 'play-10']);

    await eventually(() => condition('Published')?.status === 'True', 'Published=True');
    expect(status()).toMatchObject({
      observedGeneration: 1,
      version: versionOf(doc),
      goals: 2,
      challenges: 1,
      problems: [],
    });
    expect(condition('Valid')).toMatchObject({ status: 'True', reason: 'Valid', observedGeneration: 1 });
  });

  test('fake API: modifying the spec swaps to the new version and status follows the new generation', async () => {
    const v1 = catalogDoc([{ id: 'win-3' }]);
    fake.apply(catalogs, NAME, v1);
    const pod = await startPod('pod-a');
    expect(pod.holder.current.version).toBe(versionOf(v1)); // listed at start
    await eventually(() => status()?.version === versionOf(v1), 'status of v1');

    const v2 = catalogDoc([{ id: 'win-3', target: 7 }, { id: 'new-goal' }]);
    fake.apply(catalogs, NAME, v2);
    await eventually(() => pod.holder.current.version === versionOf(v2), 'swap to v2');
    expect(pod.holder.current.goalById.get('win-3')!.requirement.targetValue).toBe(7);
    await eventually(() => status()?.observedGeneration === 2, 'observedGeneration 2');
    expect(status()?.version).toBe(versionOf(v2));
  });

  test('fake API: an invalid modification keeps the old catalog live; status says Valid=False with every problem', async () => {
    const good = catalogDoc([{ id: 'a' }, { id: 'b', prerequisites: ['a'] }]);
    fake.apply(catalogs, NAME, good);
    const pod = await startPod('pod-a');
    await eventually(() => condition('Valid')?.status === 'True', 'valid first');
    const failuresBefore = await reloads('failure');

    const bad = catalogDoc([
      { id: 'a', prerequisites: ['b'] },
      { id: 'b', prerequisites: ['a'], target: 0 },
    ]);
    fake.apply(catalogs, NAME, bad);
    await eventually(() => condition('Valid')?.status === 'False', 'Valid=False');

    expect(pod.holder.current.version).toBe(versionOf(good));
    expect(await reloads('failure')).toBe(failuresBefore + 1);
    const s = status()!;
    expect(s.observedGeneration).toBe(2);
    expect(s.version).toBe(versionOf(good));
    expect(s.problems.map((p) => p.path)).toEqual(
      expect.arrayContaining([
        'challenges[0].goals[1].requirement.targetValue',
        'challenges[0].goals[0].prerequisites',
      ]),
    );
    expect(s.problems.find((p) => p.path.endsWith('prerequisites'))!.message).toMatch(/cycle/);
    expect(condition('Valid')).toMatchObject({ reason: 'Invalid' });
    expect(condition('Published')).toMatchObject({ status: 'False', reason: 'PreviousVersionLive' });

    // Fixing the spec makes it live again.
    const fixed = catalogDoc([{ id: 'a' }, { id: 'b', target: 2 }]);
    fake.apply(catalogs, NAME, fixed);
    await eventually(() => pod.holder.current.version === versionOf(fixed), 'fixed spec live');
    await eventually(
      () => condition('Valid')?.status === 'True' && status()?.problems.length === 0,
      'Valid again',
    );
  });

  test('fake API: deleting the resource keeps the last catalog live; creating it again applies the new spec', async () => {
    const v1 = catalogDoc([{ id: 'a' }]);
    fake.apply(catalogs, NAME, v1);
    const pod = await startPod('pod-a');
    expect(pod.holder.current.version).toBe(versionOf(v1));

    fake.delete(catalogs, NAME);
    // The informer's cache forgets it; the catalog stays.
    await eventually(
      () =>
        (pod.source as unknown as { informer: k8s.ObjectCache<k8s.KubernetesObject> }).informer.list(NS)
          .length === 0,
      'cache drop',
    );
    expect(pod.holder.current.version).toBe(versionOf(v1));

    const v2 = catalogDoc([{ id: 'b' }]);
    fake.apply(catalogs, NAME, v2);
    await eventually(() => pod.holder.current.version === versionOf(v2), 're-created spec live');
    await eventually(() => status()?.version === versionOf(v2), 'status on the new object');
  });

  test('fake API: other ChallengeCatalogs in the namespace are not the live one', async () => {
    const pod = await startPod('pod-a');
    fake.apply(catalogs, 'staging-catalog', catalogDoc([{ id: 'staging-only' }]));
    const live = catalogDoc([{ id: 'live-only' }]);
    fake.apply(catalogs, NAME, live);
    await eventually(() => pod.holder.current.version === versionOf(live), 'live resource');
    fake.apply(catalogs, 'staging-catalog', catalogDoc([{ id: 'staging-2' }]));
    await eventually(() => fake.get(catalogs, NAME)?.status !== undefined, 'status written');
    expect(pod.holder.current.version).toBe(versionOf(live));
    expect(fake.get(catalogs, 'staging-catalog')?.status).toBeUndefined();
  });

  test('fake API: a dropped watch reconnects with backoff and resumes from its resourceVersion without relisting', async () => {
    const v1 = catalogDoc([{ id: 'a' }]);
    fake.apply(catalogs, NAME, v1);
    const pod = await startPod('pod-a');
    await eventually(() => fake.openWatches() >= 1, 'watch open');
    const lists = fake.count({ method: 'GET', watch: false, pathIncludes: '/challengecatalogs' });
    const watchesBefore = fake.count({ watch: true, pathIncludes: '/challengecatalogs' });

    // The API server is unreachable for two attempts, and a change lands meanwhile.
    fake.failNext({ method: 'GET', pathIncludes: '/challengecatalogs', watch: true, status: 503, times: 2 });
    fake.dropWatches();
    const v2 = catalogDoc([{ id: 'a' }, { id: 'missed-while-down' }]);
    fake.apply(catalogs, NAME, v2);

    await eventually(() => pod.holder.current.version === versionOf(v2), 'change made while disconnected');
    const resumed = fake.requests
      .filter((r) => r.watch && r.path.includes('/challengecatalogs'))
      .slice(watchesBefore);
    expect(resumed.filter((r) => r.status === 503)).toHaveLength(2);
    expect(resumed.at(-1)!.status).toBe(200);
    expect(fake.count({ method: 'GET', watch: false, pathIncludes: '/challengecatalogs' })).toBe(lists); // no relist

    // A clean end of the stream (the server's watch timeout) also resumes.
    fake.endWatches();
    const v3 = catalogDoc([{ id: 'after-timeout' }]);
    await eventually(() => fake.openWatches() >= 1, 'watch reopened');
    fake.apply(catalogs, NAME, v3);
    await eventually(() => pod.holder.current.version === versionOf(v3), 'change after a watch timeout');
    expect(fake.count({ method: 'GET', watch: false, pathIncludes: '/challengecatalogs' })).toBe(lists);
  });

  test.each(['event', 'status'] as const)(
    'fake API: 410 Gone (as %s) after history compaction makes the informer relist and catch up',
    async (goneAs) => {
      fake.goneAs = goneAs;
      const v1 = catalogDoc([{ id: 'a' }]);
      fake.apply(catalogs, NAME, v1);
      const pod = await startPod('pod-a');
      await eventually(() => fake.openWatches() >= 1, 'watch open');
      const lists = fake.count({ method: 'GET', watch: false, pathIncludes: '/challengecatalogs' });

      fake.failNext({
        method: 'GET',
        pathIncludes: '/challengecatalogs',
        watch: true,
        status: 503,
        times: 1,
      });
      fake.dropWatches();
      const v2 = catalogDoc([{ id: 'only-a-relist-sees-this' }]);
      fake.apply(catalogs, NAME, v2);
      fake.compact();

      await eventually(() => pod.holder.current.version === versionOf(v2), 'catch up by relisting');
      expect(fake.requests.some((r) => r.watch && r.status === 410)).toBe(true);
      expect(fake.count({ method: 'GET', watch: false, pathIncludes: '/challengecatalogs' })).toBe(lists + 1);
    },
  );

  test('fake API: a bookmark advances the resourceVersion so a reconnect after compaction needs no relist', async () => {
    fake.apply(catalogs, NAME, catalogDoc([{ id: 'a' }]));
    const pod = await startPod('pod-a');
    await eventually(() => fake.openWatches() >= 1 && status() !== undefined, 'watch open, status written');
    // Unrelated writes (a Lease renewal elsewhere) move the global resourceVersion on.
    fake.apply(FakeKubeApi.leases('other'), 'x', {});
    fake.apply(FakeKubeApi.leases('other'), 'y', {});
    const lists = fake.count({ method: 'GET', watch: false, pathIncludes: '/challengecatalogs' });
    fake.bookmark();
    await new Promise((r) => setTimeout(r, 100));
    fake.compact();
    fake.dropWatches();
    const v2 = catalogDoc([{ id: 'after-bookmark' }]);
    await eventually(() => fake.openWatches() >= 1, 'watch reopened');
    fake.apply(catalogs, NAME, v2);
    await eventually(() => pod.holder.current.version === versionOf(v2), 'change after reconnect');
    expect(fake.requests.some((r) => r.watch && r.status === 410)).toBe(false);
    expect(fake.count({ method: 'GET', watch: false, pathIncludes: '/challengecatalogs' })).toBe(lists);
  });

  test('fake API: two pods both serve every version; only the Lease holder writes status; the other takes over when it stops', async () => {
    const a = await startPod('pod-a');
    const b = await startPod('pod-b');
    await eventually(() => a.source.isLeader() !== b.source.isLeader(), 'one leader');
    const [leader, follower] = a.source.isLeader() ? [a, b] : [b, a];

    const v1 = catalogDoc([{ id: 'shared' }]);
    fake.apply(catalogs, NAME, v1);
    await eventually(
      () => a.holder.current.version === versionOf(v1) && b.holder.current.version === versionOf(v1),
      'both on v1',
    );
    await eventually(() => status()?.version === versionOf(v1), 'status v1');
    const patches = () =>
      fake.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/status')).length;
    await new Promise((r) => setTimeout(r, 300));
    expect(patches()).toBe(1); // written once, by the leader, and not rewritten on its own MODIFIED event

    await leader.source.stop();
    pods.splice(pods.indexOf(leader), 1);
    await eventually(() => follower.source.isLeader(), 'follower takes over');
    const lease = fake.get(FakeKubeApi.leases(NS), `${NAME}-status-writer`)!;
    expect((lease.spec as { holderIdentity: string }).holderIdentity).toBe(follower.source.leaseIdentity);

    const v2 = catalogDoc([{ id: 'shared', target: 9 }]);
    fake.apply(catalogs, NAME, v2);
    await eventually(() => status()?.version === versionOf(v2), 'status written by the new leader');
    expect(follower.holder.current.version).toBe(versionOf(v2));
  });
});

describe('catalog module with CATALOG_SOURCE=kubernetes (fake Kubernetes API)', () => {
  test('the service serves the ChallengeCatalog resource and hot-swaps it without a restart', async () => {
    const fake = new FakeKubeApi();
    await fake.start();
    const dir = mkdtempSync(path.join(tmpdir(), 'kubeconfig-'));
    const kubeconfig = path.join(dir, 'config');
    writeFileSync(kubeconfig, fakeKubeconfig(fake.url, NS));
    const catalogs = FakeKubeApi.catalogs(GROUP, NS);
    fake.apply(catalogs, NAME, catalogDoc([{ id: 'from-resource' }], 'kube-challenge'));
    const t = await startTestService({
      modules: [catalogModule],
      env: {
        CATALOG_SOURCE: 'kubernetes',
        CATALOG_KUBECONFIG: kubeconfig,
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
      fake.apply(
        catalogs,
        NAME,
        catalogDoc([{ id: 'from-resource' }, { id: 'hot-added' }], 'kube-challenge'),
      );
      await eventually(async () => (await goalIds()).includes('hot-added'), 'hot-added goal served');
      await eventually(
        () => (fake.get(catalogs, NAME)?.status as CatalogStatus | undefined)?.observedGeneration === 2,
        'status',
      );
    } finally {
      await t.stop();
      await fake.stop();
    }
  });
});
