// CATALOG_SOURCE=kubernetes against a FAKE Kubernetes API server (test/helpers/fake-kube.ts), ONLY
// for faults the real kube-apiserver cannot produce on demand: 503 answers to watch reconnects, a
// server-side end of a watch stream, 410 Gone as an HTTP status (what the watch cache answers; the
// control plane of the tests runs without it), and a bookmark. Everything the real server can show
// (list, watch, create/modify/delete, invalid specs, other resources, dropped connections, relist
// after compaction, two pods and the Lease, the service module) runs on the real API server with
// the chart ServiceAccount token in test/kube/catalog-source.test.ts and lease-election.test.ts.
import * as k8s from '@kubernetes/client-node';
import pino from 'pino';
import { CatalogHolder } from '../../app/catalog/holder';
import { parseCatalog } from '../../app/catalog/load';
import { KubernetesCatalogSource, type CatalogStatus } from '../../app/catalog/sources/kubernetes';
import { CatalogReloader } from '../../app/catalog/watchReloader';
import { FakeKubeApi, fakeKubeconfig } from '../helpers/fake-kube';

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

describe('ChallengeCatalog source: faults injected by a FAKE Kubernetes API server', () => {
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

  beforeEach(async () => {
    fake = new FakeKubeApi();
    await fake.start();
  });

  afterEach(async () => {
    await Promise.all(pods.splice(0).map((p) => p.source.stop()));
    await fake.stop();
  });

  test('a watch reconnect answered 503 twice backs off and resumes from its resourceVersion without relisting; so does a server-side end of the stream (fake API server: injected 503s and watch end)', async () => {
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

  test.each(['status'] as const)(
    "410 Gone as an HTTP %s (the watch cache's answer) after history compaction makes the informer relist and catch up (fake API server: injected 410 status)",
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

  test('a bookmark advances the resourceVersion so a reconnect after compaction needs no relist (fake API server: injected bookmark)', async () => {
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
});
