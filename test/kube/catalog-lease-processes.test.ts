// Lease leader election between two REAL service processes (`node dist/app/main.js`, ROLE=api,
// CATALOG_SOURCE=kubernetes) on the REAL kube-apiserver, each with a token of the chart's own
// ServiceAccount (issue 16): exactly one holds the status-writer Lease and writes the
// ChallengeCatalog status; when it stops, the other takes the Lease and writes the next status.
import * as k8s from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseCatalog } from '../../app/catalog/load';
import {
  adminConfig,
  createNamespace,
  eventually,
  installCatalogChart,
  kubeconfigFile,
  realKube,
  ROOT,
} from '../helpers/kube';

jest.setTimeout(180_000);

const MAIN = path.join(ROOT, 'dist/app/main.js');
const GROUP = `l${randomBytes(4).toString('hex')}.challenges.example.com`;
const NAME = 'live-catalog';
const LEASE = `${NAME}-status-writer`;

const doc = (goal: string) => ({
  challenges: [
    {
      challengeId: 'season',
      name: 'Season',
      description: '',
      goals: [
        {
          goalId: goal,
          name: goal,
          eventSource: 'statistic',
          requirement: { statCode: 'wins', operator: '>=', targetValue: 3, progressMode: 'absolute' },
          reward: { type: 'WALLET', rewardId: 'COINS', quantity: 10 },
          prerequisites: [],
          defaultAssigned: true,
        },
      ],
    },
  ],
});

let ns = '';
const procs: { child: ChildProcess; exited: Promise<number | null> }[] = [];
let kubeconfig: { file: string; remove: () => void } | undefined;
const custom = () => adminConfig().makeApiClient(k8s.CustomObjectsApi);
const ref = () => ({
  group: GROUP,
  version: 'v1alpha1',
  namespace: ns,
  plural: 'challengecatalogs',
  name: NAME,
});

function run(env: Record<string, string>): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const p = { child, exited: new Promise<number | null>((r) => child.once('exit', (code) => r(code))) };
  procs.push(p);
  return p;
}

const holder = async () =>
  (
    await adminConfig()
      .makeApiClient(k8s.CoordinationV1Api)
      .readNamespacedLease({ name: LEASE, namespace: ns })
  ).spec?.holderIdentity;
const status = async () =>
  (
    (await custom().getNamespacedCustomObject(ref())) as {
      status?: { version?: string; observedGeneration?: number };
    }
  ).status;

beforeAll(async () => {
  realKube();
  if (!existsSync(MAIN)) throw new Error('dist/app/main.js missing: npm run build (make test builds first)');
  if (!process.env.DATABASE_URL || !process.env.REDIS_URL)
    throw new Error('run through scripts/with-services.sh');
  ns = await createNamespace('lease');
  kubeconfig = kubeconfigFile(await installCatalogChart(ns, GROUP), ns);
  const ext = adminConfig().makeApiClient(k8s.ApiextensionsV1Api);
  await eventually(
    async () =>
      (
        await ext.readCustomResourceDefinition({ name: `challengecatalogs.${GROUP}` })
      ).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'),
    'CRD established',
  );
  await custom().createNamespacedCustomObject({
    ...ref(),
    body: {
      apiVersion: `${GROUP}/v1alpha1`,
      kind: 'ChallengeCatalog',
      metadata: { name: NAME },
      spec: doc('first'),
    },
  });
  const migrate = run({
    ROLE: 'migrate',
    DATABASE_DIRECT_URL: process.env.DATABASE_DIRECT_URL ?? '',
    DATABASE_URL: process.env.DATABASE_URL,
    LOG_LEVEL: 'warn',
  });
  expect(await migrate.exited).toBe(0);
});

afterAll(async () => {
  for (const p of procs) p.child.kill('SIGKILL');
  kubeconfig?.remove();
});

test('two real service processes: one Lease holder writes status; after it stops the other takes over', async () => {
  const env = (identity: string) => ({
    ROLE: 'api',
    HOST: '127.0.0.1',
    PORT: '0',
    OPS_PORT: '0',
    GRPC_PORT: '0',
    LOG_LEVEL: 'warn',
    DATABASE_URL: process.env.DATABASE_URL!,
    REDIS_URL: process.env.REDIS_URL!,
    JWT_HS256_SECRET: 'lease-test-secret-lease-test-secret-0123',
    CATALOG_SOURCE: 'kubernetes',
    CATALOG_KUBECONFIG: kubeconfig!.file,
    CATALOG_NAMESPACE: ns,
    CATALOG_CRD_GROUP: GROUP,
    CATALOG_RESOURCE_NAME: NAME,
    CATALOG_LEASE_IDENTITY: identity,
    CATALOG_LEASE_DURATION_SECONDS: '2',
    SHUTDOWN_GRACE_MS: '1000',
  });
  const a = run(env('proc-a'));
  const b = run(env('proc-b'));
  const first = await eventually(async () => {
    const h = await holder().catch(() => undefined);
    return h === 'proc-a' || h === 'proc-b' ? h : undefined;
  }, 'a Lease holder');
  await eventually(
    async () => (await status())?.version === parseCatalog(doc('first')).version,
    'status of v1',
  );

  const [leader, follower] = first === 'proc-a' ? [a, 'proc-b'] : [b, 'proc-a'];
  leader.child.kill('SIGTERM');
  expect(await leader.exited).toBe(0);
  await eventually(async () => (await holder()) === follower, `${follower} takes the Lease`);

  const cur = (await custom().getNamespacedCustomObject(ref())) as { metadata: { resourceVersion: string } };
  await custom().replaceNamespacedCustomObject({
    ...ref(),
    body: {
      apiVersion: `${GROUP}/v1alpha1`,
      kind: 'ChallengeCatalog',
      metadata: { name: NAME, resourceVersion: cur.metadata.resourceVersion },
      spec: doc('second'),
    },
  });
  await eventually(
    async () => (await status())?.version === parseCatalog(doc('second')).version,
    'status of v2 written by the new leader',
  );
});
