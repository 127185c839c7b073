// The chart's api and worker HPAs evaluated by the REAL horizontal-pod-autoscaler controller (its
// own kube-controller-manager, started here) against the REAL kube-apiserver (issue 16). What
// cannot run here is faked, and named so: a FAKE METRICS API (custom.metrics.k8s.io for the api's
// Pods metric, external.metrics.k8s.io for the worker's stream lag, metrics.k8s.io for CPU) served
// by this test in front of the API server, and a FAKE KUBELET that marks the pods (created by the
// real Deployment and ReplicaSet controllers) Running and Ready. Load per pod (api) and lag per
// pod (worker) above the target scale the Deployments up; below it, down after the stabilisation
// window (shortened in the values).
import * as k8s from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { API_PODS_METRIC_NAME, WORKER_EXTERNAL_METRIC_NAME } from '../../app/ops/autoscaling';
import {
  adminConfig,
  CHART_DIR,
  createNamespace,
  eventually,
  helmKube,
  realKube,
  ROOT,
} from '../helpers/kube';

jest.setTimeout(240_000);

const CUSTOM = 'custom.metrics.k8s.io';
const RESOURCE = 'metrics.k8s.io';
const EXTERNAL = 'external.metrics.k8s.io';

/** FAKE METRICS API: serves the three metrics groups itself and passes every other request on. */
async function fakeMetricsApi(
  loadPerPod: () => number,
  streamLag: () => number,
): Promise<{ url: string; close: () => Promise<void>; externalSelectors: string[] }> {
  const externalSelectors: string[] = [];
  const kube = realKube();
  const upstream = new URL(kube.server);
  const ca = readFileSync(kube.ca);
  const core = adminConfig().makeApiClient(k8s.CoreV1Api);
  const json = (res: http.ServerResponse, body: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const podsOf = async (namespace: string, labelSelector: string | null) =>
    (await core.listNamespacedPod({ namespace, labelSelector: labelSelector ?? undefined })).items;
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const p = decodeURIComponent(url.pathname); // the client asks for pods/%2A/<metric>
      if (p === `/apis/${CUSTOM}/v1beta2`) {
        return json(res, {
          kind: 'APIResourceList',
          apiVersion: 'v1',
          groupVersion: `${CUSTOM}/v1beta2`,
          resources: [
            {
              name: `pods/${API_PODS_METRIC_NAME}`,
              namespaced: true,
              kind: 'MetricValueList',
              verbs: ['get'],
            },
          ],
        });
      }
      if (p === `/apis/${EXTERNAL}/v1beta1`) {
        return json(res, {
          kind: 'APIResourceList',
          apiVersion: 'v1',
          groupVersion: `${EXTERNAL}/v1beta1`,
          resources: [
            {
              name: WORKER_EXTERNAL_METRIC_NAME,
              namespaced: true,
              kind: 'ExternalMetricValueList',
              verbs: ['get'],
            },
          ],
        });
      }
      const ext = new RegExp(
        `^/apis/${EXTERNAL}/v1beta1/namespaces/([^/]+)/${WORKER_EXTERNAL_METRIC_NAME}$`,
      ).exec(p);
      if (ext) {
        externalSelectors.push(`${ext[1]}:${url.searchParams.get('labelSelector') ?? ''}`);
        return json(res, {
          kind: 'ExternalMetricValueList',
          apiVersion: `${EXTERNAL}/v1beta1`,
          metadata: {},
          items: [
            {
              metricName: WORKER_EXTERNAL_METRIC_NAME,
              metricLabels: {},
              timestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
              value: String(streamLag()),
            },
          ],
        });
      }
      if (p === `/apis/${RESOURCE}/v1beta1`) {
        return json(res, {
          kind: 'APIResourceList',
          apiVersion: 'v1',
          groupVersion: `${RESOURCE}/v1beta1`,
          resources: [{ name: 'pods', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] }],
        });
      }
      let m = new RegExp(
        `^/apis/${CUSTOM}/v1beta2/namespaces/([^/]+)/pods/\\*/${API_PODS_METRIC_NAME}$`,
      ).exec(p);
      if (m) {
        const pods = await podsOf(m[1]!, url.searchParams.get('labelSelector'));
        return json(res, {
          kind: 'MetricValueList',
          apiVersion: `${CUSTOM}/v1beta2`,
          metadata: {},
          items: pods.map((pod) => ({
            describedObject: { kind: 'Pod', namespace: m![1], name: pod.metadata!.name, apiVersion: '/v1' },
            metric: { name: API_PODS_METRIC_NAME, selector: null },
            timestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
            windowSeconds: 30,
            value: String(loadPerPod()),
          })),
        });
      }
      m = new RegExp(`^/apis/${RESOURCE}/v1beta1/namespaces/([^/]+)/pods$`).exec(p);
      if (m) {
        const pods = await podsOf(m[1]!, url.searchParams.get('labelSelector'));
        return json(res, {
          kind: 'PodMetricsList',
          apiVersion: `${RESOURCE}/v1beta1`,
          metadata: {},
          items: pods.map((pod) => ({
            metadata: { name: pod.metadata!.name, namespace: m![1] },
            timestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
            window: '30s',
            containers: (pod.spec?.containers ?? []).map((c) => ({
              name: c.name,
              usage: { cpu: '1m', memory: '10Mi' },
            })),
          })),
        });
      }
      // Everything else goes to the real API server; discovery is asked for in its plain form
      // (not aggregated) so the two groups can be added to the group list.
      const discovery = p === '/apis' || p === '/api';
      // client-go sends no bearer token to a plain-HTTP server: the pass-through adds the admin's.
      const headers = { ...req.headers, host: upstream.host, authorization: `Bearer ${kube.adminToken}` };
      if (discovery) headers.accept = 'application/json';
      const up = https.request(
        { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, ca },
        (ur) => {
          if (p !== '/apis') {
            res.writeHead(ur.statusCode ?? 502, ur.headers);
            ur.pipe(res);
            return;
          }
          const chunks: Buffer[] = [];
          ur.on('data', (c: Buffer) => chunks.push(c));
          ur.on('end', () => {
            const list = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { groups: unknown[] };
            for (const [name, version] of [
              [CUSTOM, 'v1beta2'],
              [RESOURCE, 'v1beta1'],
              [EXTERNAL, 'v1beta1'],
            ] as const) {
              const gv = { groupVersion: `${name}/${version}`, version };
              list.groups.push({ name, versions: [gv], preferredVersion: gv });
            }
            json(res, list);
          });
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    externalSelectors,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** FAKE KUBELET: every pod of the namespace runs and is Ready (started long enough ago for CPU). */
function fakeKubeletRunningPods(namespace: string): { stop: () => Promise<void> } {
  const core = adminConfig().makeApiClient(k8s.CoreV1Api);
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        for (const pod of (await core.listNamespacedPod({ namespace })).items) {
          if (pod.status?.phase === 'Running') continue;
          const long = new Date(Date.now() - 3_600_000);
          await core.replaceNamespacedPodStatus({
            name: pod.metadata!.name!,
            namespace,
            body: {
              ...pod,
              status: {
                ...pod.status,
                phase: 'Running',
                startTime: long,
                conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: long }],
                containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
                  name: c.name,
                  image: c.image ?? '',
                  imageID: '',
                  ready: true,
                  restartCount: 0,
                  started: true,
                  state: { running: { startedAt: long } },
                })),
              },
            },
          });
        }
      } catch {
        // a pod changed under us: next round
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

test('real HPA controller with a FAKE METRICS API and a FAKE KUBELET: api (Pods metric) and worker (External metric) scale up above target, down after the stabilisation window', async () => {
  const kube = realKube();
  const ns = await createNamespace('hpa');
  const h = helmKube([
    'install',
    'challenge-service',
    CHART_DIR,
    '-n',
    ns,
    '--no-hooks',
    '--set',
    'api.autoscaling.minReplicas=1',
    '--set',
    'api.autoscaling.maxReplicas=4',
    '--set',
    'api.autoscaling.targetLoadPerPod=10',
    '--set',
    'api.minAvailable=0',
    '--set',
    'worker.autoscaling.minReplicas=1',
    '--set',
    'worker.autoscaling.maxReplicas=3',
    '--set',
    'worker.autoscaling.targetLagPerPod=100',
    '--set',
    'worker.minAvailable=0',
    '--set',
    'autoscaling.scaleDownStabilizationSeconds=2',
    '--set',
    'pgbouncer.enabled=false',
  ]);
  expect([h.status, h.stderr]).toEqual([0, '']);

  let load = 50; // per pod, 5x the target
  let lag = 1000; // entries in total: 10x the per-pod target at one pod
  const metrics = await fakeMetricsApi(
    () => load,
    () => lag,
  );
  const kubelet = fakeKubeletRunningPods(ns);
  const dir = mkdtempSync(path.join(tmpdir(), 'hpa-kcm-'));
  const kcFile = path.join(dir, 'kubeconfig');
  writeFileSync(
    kcFile,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: m, cluster: {server: "${metrics.url}"}}]`,
      `users: [{name: u, user: {token: ${kube.adminToken}}}]`,
      'contexts: [{name: m, context: {cluster: m, user: u}}]',
      'current-context: m',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const log = openSync(path.join(dir, 'kcm.log'), 'a');
  const kcm: ChildProcess = spawn(
    path.join(ROOT, '.tools', 'bin', 'kube-controller-manager'),
    [
      `--kubeconfig=${kcFile}`,
      '--controllers=horizontal-pod-autoscaler-controller',
      '--horizontal-pod-autoscaler-sync-period=1s',
      '--leader-elect=false',
      '--secure-port=0',
    ],
    { stdio: ['ignore', log, log] },
  );
  const apps = adminConfig().makeApiClient(k8s.AppsV1Api);
  const replicas = async (name = 'challenge-service-api') =>
    (await apps.readNamespacedDeployment({ name, namespace: ns })).spec?.replicas ?? 0;
  const workers = () => replicas('challenge-service-worker');
  try {
    expect(await replicas()).toBe(1);
    expect(await workers()).toBe(1);
    await eventually(async () => (await replicas()) === 4, 'scaled up to maxReplicas', 120_000);
    await eventually(async () => (await workers()) === 3, 'worker scaled up to maxReplicas', 120_000);
    load = 1; // far below the target: the recommendation drops to minReplicas
    lag = 0;
    await eventually(
      async () => (await replicas()) < 4,
      'scaled down after the stabilisation window',
      120_000,
    );
    await eventually(
      async () => (await workers()) < 3,
      'worker scaled down after the stabilisation window',
      120_000,
    );
    // The worker HPA asked for the lag of its own Service's stream. (The HPA controller sees every
    // namespace: other test files' HPAs ask too, so only this namespace's requests count.)
    const ours = metrics.externalSelectors.filter((x) => x.startsWith(`${ns}:`));
    expect(new Set(ours)).toEqual(new Set([`${ns}:service=challenge-service-worker`]));
    const workerHpa = await adminConfig()
      .makeApiClient(k8s.AutoscalingV2Api)
      .readNamespacedHorizontalPodAutoscaler({ name: 'challenge-service-worker', namespace: ns });
    expect(workerHpa.status?.currentMetrics?.find((m) => m.type === 'External')?.external?.metric.name).toBe(
      WORKER_EXTERNAL_METRIC_NAME,
    );
    const hpa = await adminConfig()
      .makeApiClient(k8s.AutoscalingV2Api)
      .readNamespacedHorizontalPodAutoscaler({ name: 'challenge-service-api', namespace: ns });
    const current = hpa.status?.currentMetrics?.find((m) => m.type === 'Pods');
    expect(current?.pods?.metric.name).toBe(API_PODS_METRIC_NAME);
  } catch (err) {
    process.stderr.write(readFileSync(path.join(dir, 'kcm.log'), 'utf8').slice(-4000));
    throw err;
  } finally {
    kcm.kill('SIGTERM');
    await kubelet.stop();
    await metrics.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
