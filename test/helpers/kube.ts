// The REAL Kubernetes control plane of the test run (scripts/kube.sh: etcd, kube-apiserver,
// kube-controller-manager; no kubelet, no scheduler). `make test` starts it (WITH_KUBE=1
// scripts/with-services.sh); for a single file: WITH_KUBE=1 scripts/with-services.sh npx jest FILE.
import * as k8s from '@kubernetes/client-node';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { valuesFile } from '../k8s/helpers';

export const ROOT = path.resolve(__dirname, '../..');
export const HELM = path.join(ROOT, '.tools', 'bin', 'helm');
export const CHART_DIR = path.join(ROOT, 'charts', 'challenge-service');
export const CRD_FIXTURES = path.resolve(ROOT, '..', 'shared', 'fixtures', 'crds');

export interface RealKube {
  readonly server: string;
  readonly adminToken: string;
  readonly ca: string;
  readonly etcdUrl: string;
  readonly dir: string;
}

/** The control plane's coordinates; a clear error when the run did not start one. */
export function realKube(): RealKube {
  const { TEST_KUBE_SERVER, TEST_KUBE_TOKEN, TEST_KUBE_CA, TEST_ETCD_URL, TEST_KUBE_DIR } = process.env;
  if (!TEST_KUBE_SERVER || !TEST_KUBE_TOKEN || !TEST_KUBE_CA || !TEST_ETCD_URL || !TEST_KUBE_DIR) {
    throw new Error(
      'no Kubernetes control plane: run with WITH_KUBE=1 scripts/with-services.sh (make test does)',
    );
  }
  return {
    server: TEST_KUBE_SERVER,
    adminToken: TEST_KUBE_TOKEN,
    ca: TEST_KUBE_CA,
    etcdUrl: TEST_ETCD_URL,
    dir: TEST_KUBE_DIR,
  };
}

/** Kubeconfig text for a bearer token (admin or a ServiceAccount's). */
export function kubeconfigText(token: string, namespace = 'default'): string {
  const kube = realKube();
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: test',
    '  cluster:',
    `    server: ${kube.server}`,
    `    certificate-authority: ${kube.ca}`,
    'users:',
    '- name: u',
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: test',
    `  context: {cluster: test, user: u, namespace: ${namespace}}`,
    'current-context: test',
    '',
  ].join('\n');
}

export function kubeConfigFor(token: string, namespace = 'default', server?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  const text = kubeconfigText(token, namespace);
  kc.loadFromString(server ? text.replace(realKube().server, server) : text);
  return kc;
}

export const adminConfig = (namespace = 'default'): k8s.KubeConfig =>
  kubeConfigFor(realKube().adminToken, namespace);

/** A kubeconfig file (removed by the returned cleanup). */
export function kubeconfigFile(token: string, namespace = 'default'): { file: string; remove: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubeconfig-'));
  const file = path.join(dir, 'config');
  writeFileSync(file, kubeconfigText(token, namespace), { mode: 0o600 });
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

let nsCounter = 0;
/** A fresh namespace with a unique name. */
export async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${process.pid}-${Date.now().toString(36)}-${nsCounter++}`.slice(0, 63);
  const core = adminConfig().makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

export async function deleteNamespace(name: string): Promise<void> {
  const core = adminConfig().makeApiClient(k8s.CoreV1Api);
  await core.deleteNamespace({ name }).catch(() => undefined);
}

/** A token of ServiceAccount `sa` in `namespace` (TokenRequest, signed by the API server). */
export async function serviceAccountToken(namespace: string, sa: string): Promise<string> {
  const core = adminConfig().makeApiClient(k8s.CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({
    name: sa,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const token = tr.status?.token;
  if (!token) throw new Error(`no token for ${namespace}/${sa}`);
  return token;
}

/** Compacts etcd up to its current revision (etcd's JSON gateway), as a long-running cluster does. */
export async function compactEtcd(): Promise<number> {
  const { etcdUrl } = realKube();
  const post = async (p: string, body: unknown) => {
    const r = await fetch(`${etcdUrl}${p}`, { method: 'POST', body: JSON.stringify(body) });
    if (!r.ok) throw new Error(`etcd ${p}: ${r.status} ${await r.text()}`);
    return (await r.json()) as { header?: { revision?: string } };
  };
  // A write first, so the compaction revision is past every object the test created.
  const put = await post('/v3/kv/put', { key: Buffer.from('/test/compact').toString('base64'), value: '' });
  const revision = Number(put.header?.revision);
  await post('/v3/kv/compaction', { revision, physical: true });
  return revision;
}

export interface HelmRun {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** helm against the real API server with the admin token. */
export function helmKube(args: string[], token = realKube().adminToken): HelmRun {
  const kc = kubeconfigFile(token);
  try {
    const r = spawnSync(HELM, [...args, '--kubeconfig', kc.file], {
      encoding: 'utf8',
      cwd: ROOT,
      env: helmEnv(),
    });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  } finally {
    kc.remove();
  }
}

/** helm asynchronously (for installs whose hooks need a test to stand in for a kubelet). */
export function helmKubeAsync(args: string[], token = realKube().adminToken): Promise<HelmRun> {
  const kc = kubeconfigFile(token);
  return new Promise((resolve) => {
    const child = spawn(HELM, [...args, '--kubeconfig', kc.file], {
      cwd: ROOT,
      env: helmEnv(),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => {
      kc.remove();
      resolve({ status: code ?? -1, stdout, stderr });
    });
  });
}

/**
 * FAKE KUBELET: marks every Pending pod of `namespace` created by a Job as Succeeded (there is no
 * kubelet here; the real Job controller creates the pods and completes the Job from their status).
 * Returns a stop function; `completed` lists the pods it marked.
 */
export function fakeKubeletCompletingJobPods(
  namespace: string,
  kc: k8s.KubeConfig = adminConfig(),
): {
  stop: () => Promise<void>;
  completed: string[];
} {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const completed: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const pods = await core.listNamespacedPod({
          namespace,
          labelSelector: 'batch.kubernetes.io/job-name',
        });
        for (const pod of pods.items) {
          const name = pod.metadata!.name!;
          if (pod.status?.phase && pod.status.phase !== 'Pending') continue;
          const now = new Date();
          await core.replaceNamespacedPodStatus({
            name,
            namespace,
            body: {
              ...pod,
              status: {
                ...pod.status,
                phase: 'Succeeded',
                conditions: [
                  { type: 'Ready', status: 'False', reason: 'PodCompleted', lastTransitionTime: now },
                ],
                containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
                  name: c.name,
                  image: c.image ?? '',
                  imageID: '',
                  ready: false,
                  restartCount: 0,
                  started: false,
                  state: {
                    terminated: { exitCode: 0, reason: 'Completed', startedAt: now, finishedAt: now },
                  },
                })),
              },
            },
          });
          completed.push(name);
        }
      } catch {
        // namespace not there yet / pod changed under us: next round
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    completed,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** Third-party CRD fixtures (prometheus-operator, KEDA, k6-operator) as file paths. */
export const crdFixtureFiles = (): string[] =>
  [
    'monitoring.coreos.com_servicemonitors.yaml',
    'monitoring.coreos.com_prometheusrules.yaml',
    'keda.sh_scaledobjects.yaml',
    'k6.io_testruns.yaml',
  ].map((f) => path.join(CRD_FIXTURES, f));

export const readText = (file: string): string => readFileSync(file, 'utf8');

export async function eventually<T>(fn: () => T | Promise<T>, what: string, capMs = 30_000): Promise<T> {
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
    await new Promise((r) => setTimeout(r, 100));
  }
}

const TOOLS_BIN = path.join(ROOT, '.tools', 'bin');

async function freeLoopbackPort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface ExtraControlPlane {
  readonly server: string;
  /** KubeConfig (admin token) for this API server. */
  readonly config: () => k8s.KubeConfig;
  /** helm against this API server. */
  readonly helm: (args: string[]) => Promise<HelmRun>;
  readonly stop: () => Promise<void>;
}

/**
 * A second REAL kube-apiserver (+ kube-controller-manager with the Job and ServiceAccount
 * controllers) on the same etcd under its own key prefix: a separate, bare cluster (no CRDs that
 * other test files apply to the shared one). Same CA, certificates and token file.
 */
export async function startBareControlPlane(): Promise<ExtraControlPlane> {
  const kube = realKube();
  const port = await freeLoopbackPort();
  const pki = path.join(kube.dir, 'pki');
  const server = `https://127.0.0.1:${port}`;
  const logDir = mkdtempSync(path.join(tmpdir(), 'bare-kube-'));
  const { openSync } = await import('node:fs');
  const api = spawn(
    path.join(TOOLS_BIN, 'kube-apiserver'),
    [
      `--etcd-servers=${kube.etcdUrl}`,
      `--etcd-prefix=/bare-${process.pid}-${Date.now()}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
      '--advertise-address=10.0.0.1',
      '--endpoint-reconciler-type=none',
      '--service-cluster-ip-range=10.0.0.0/24',
      `--tls-cert-file=${pki}/server.crt`,
      `--tls-private-key-file=${pki}/server.key`,
      `--client-ca-file=${pki}/ca.crt`,
      `--token-auth-file=${kube.dir}/tokens.csv`,
      '--authorization-mode=RBAC',
      '--anonymous-auth=false',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki}/sa.pub`,
      `--service-account-signing-key-file=${pki}/sa.key`,
      '--enable-priority-and-fairness=false',
      '--profiling=false',
      `--cert-dir=${logDir}/certs`,
    ],
    {
      stdio: [
        'ignore',
        openSync(path.join(logDir, 'apiserver.log'), 'a'),
        openSync(path.join(logDir, 'apiserver.log'), 'a'),
      ],
    },
  );
  const kcText = kubeconfigText(kube.adminToken).replace(kube.server, server);
  const kcFile = path.join(logDir, 'kubeconfig');
  writeFileSync(kcFile, kcText, { mode: 0o600 });
  const config = () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromString(kcText);
    return kc;
  };
  let kcm: ReturnType<typeof spawn> | undefined;
  const stop = async () => {
    for (const p of [kcm, api]) {
      if (!p || p.exitCode !== null) continue;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (p.exitCode === null) p.kill('SIGKILL');
    }
    rmSync(logDir, { recursive: true, force: true });
  };
  try {
    await eventually(
      async () => (await config().makeApiClient(k8s.CoreV1Api).listNamespace()).items.length > 0,
      'bare kube-apiserver ready',
      120_000,
    );
    kcm = spawn(
      path.join(TOOLS_BIN, 'kube-controller-manager'),
      [
        `--kubeconfig=${kcFile}`,
        '--controllers=job-controller,serviceaccount-controller,garbage-collector-controller,namespace-controller',
        '--leader-elect=false',
        '--secure-port=0',
        `--service-account-private-key-file=${pki}/sa.key`,
      ],
      {
        stdio: [
          'ignore',
          openSync(path.join(logDir, 'kcm.log'), 'a'),
          openSync(path.join(logDir, 'kcm.log'), 'a'),
        ],
      },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const helm = (args: string[]) =>
    new Promise<HelmRun>((resolve) => {
      const child = spawn(HELM, [...args, '--kubeconfig', kcFile], { cwd: ROOT, env: helmEnv() });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
    });
  return { server, config, helm, stop };
}

function helmEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HELM_CACHE_HOME: path.join(tmpdir(), 'helm-cache'),
    HELM_CONFIG_HOME: path.join(tmpdir(), 'helm-config'),
    HELM_DATA_HOME: path.join(tmpdir(), 'helm-data'),
  };
}

/**
 * A TCP pass-through in front of the real API server (TLS goes end to end), so a test can cut the
 * informer's connections the way a network blip or an API server restart does. Not a fake: every
 * byte comes from the real server.
 */
export async function tcpPassThrough(target: string): Promise<{
  server: string;
  /** Destroy every open connection; new ones are refused (`true`) or held (`'hold'`) until resume(). */
  cut: (refuse?: boolean | 'hold') => void;
  resume: () => void;
  close: () => Promise<void>;
}> {
  const net = await import('node:net');
  const url = new URL(target);
  const sockets = new Set<import('node:net').Socket>();
  let refusing = false;
  let holding = false;
  const held: import('node:net').Socket[] = [];
  const srv = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    if (holding) {
      client.pause();
      held.push(client);
      return;
    }
    pipe(client);
  });
  const pipe = (client: import('node:net').Socket) => {
    const upstream = net.connect(Number(url.port), url.hostname);
    sockets.add(client);
    sockets.add(upstream);
    const done = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  };
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  /** Cut every connection; with `hold`, new ones wait (connected upstream only at resume()). */
  const cut = (refuse: boolean | 'hold' = false) => {
    refusing = refuse === true;
    holding = refuse === 'hold';
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return {
    server: `https://127.0.0.1:${port}`,
    cut,
    resume: () => {
      refusing = false;
      holding = false;
      for (const c of held.splice(0)) pipe(c);
    },
    close: () =>
      new Promise<void>((r) => {
        cut(true);
        srv.close(() => r());
      }),
  };
}

/** Audit log entries (list/watch by ServiceAccounts) whose request URI contains `uriPart`. */
export function auditEntries(uriPart: string): { verb: string; requestURI: string; code?: number }[] {
  const text = readFileSync(path.join(realKube().dir, 'audit.log'), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.includes(uriPart))
    .map((l) => JSON.parse(l) as { verb: string; requestURI: string; responseStatus?: { code?: number } })
    .map((e) => ({ verb: e.verb, requestURI: e.requestURI, code: e.responseStatus?.code }));
}

/**
 * Install the chart with the catalog-kubernetes value set into `ns` (its CRD under `group`, no live
 * resource, no hooks: the migration Job is chart-install.test.ts's business); answers the token of
 * the chart's app ServiceAccount.
 */
export async function installCatalogChart(ns: string, group: string): Promise<string> {
  const r = helmKube([
    'install',
    'challenge-service',
    CHART_DIR,
    '-n',
    ns,
    '-f',
    valuesFile('catalog-kubernetes'),
    '--set',
    `catalog.crdGroup=${group}`,
    '--set',
    'catalog.createResource=false',
    '--no-hooks',
  ]);
  expect([r.status, r.stderr]).toEqual([0, '']);
  return serviceAccountToken(ns, 'challenge-service-app');
}
