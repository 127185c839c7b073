import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  configMapData,
  flattenImports,
  parseArgs,
  runCluster,
  summariesFromLog,
  testRunManifest,
} from '../../loadtest/tools/cluster';

const root = path.resolve(__dirname, '../..');

interface Call {
  method: string;
  path: string;
  body?: Record<string, unknown>;
}

/** A fake Kubernetes API server: just the endpoints the cluster CLI uses, kept in memory. */
class FakeApiServer {
  server: Server;
  calls: Call[] = [];
  configMaps = new Map<string, Record<string, unknown>>();
  testRuns = new Map<string, Record<string, unknown>>();
  /** Stages reported on successive GETs of a TestRun (the last one repeats). */
  stages: string[] = ['initialization', 'created', 'started', 'started', 'finished'];
  private gets = 0;
  /** Answer 404 to TestRun creation, as a cluster without the k6-operator CRD does. */
  noTestRunCrd = false;

  constructor() {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as AddressInfo).port;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://fake');
    const text = Buffer.concat(chunks).toString('utf8');
    const body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    this.calls.push({ method: req.method ?? '', path: url.pathname + url.search, body });
    const p = url.pathname;
    const notFound = { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 };
    let m: RegExpExecArray | null;
    if (req.headers.authorization !== 'Bearer fake-token')
      return this.send(res, 401, { kind: 'Status', code: 401 });
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps$/.exec(p)) && req.method === 'POST') {
      const name = (body!.metadata as { name: string }).name;
      this.configMaps.set(`${m[1]}/${name}`, body!);
      return this.send(res, 201, body);
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps\/([^/]+)$/.exec(p)) && req.method === 'DELETE') {
      const ok = this.configMaps.delete(`${m[1]}/${m[2]}`);
      return this.send(res, ok ? 200 : 404, ok ? { kind: 'Status', status: 'Success' } : notFound);
    }
    if ((m = /^\/apis\/k6\.io\/v1alpha1\/namespaces\/([^/]+)\/testruns$/.exec(p)) && req.method === 'POST') {
      if (this.noTestRunCrd) return this.send(res, 404, notFound);
      const name = (body!.metadata as { name: string }).name;
      this.testRuns.set(`${m[1]}/${name}`, body!);
      return this.send(res, 201, body);
    }
    if ((m = /^\/apis\/k6\.io\/v1alpha1\/namespaces\/([^/]+)\/testruns\/([^/]+)$/.exec(p))) {
      const key = `${m[1]}/${m[2]}`;
      const obj = this.testRuns.get(key);
      if (!obj) return this.send(res, 404, notFound);
      if (req.method === 'DELETE') {
        this.testRuns.delete(key);
        return this.send(res, 200, { kind: 'Status', status: 'Success' });
      }
      const stage = this.stages[Math.min(this.gets++, this.stages.length - 1)];
      return this.send(res, 200, { ...obj, status: { stage } });
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(p)) && req.method === 'GET') {
      const sel = url.searchParams.get('labelSelector') ?? '';
      const cr = /k6_cr=([^,]+)/.exec(sel)?.[1] ?? '';
      const items = [1, 2].map((i) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `${cr}-${i}-abcde`, namespace: m![1], labels: { k6_cr: cr, runner: 'true' } },
      }));
      return this.send(res, 200, { apiVersion: 'v1', kind: 'PodList', metadata: {}, items });
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log$/.exec(p)) && req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(
        `time="x" level=info msg="starting"\nscenario claim (full)\nK6_SUMMARY_JSON {"scenario":"claim","pod":"${m[2]}","metrics":{}}\n`,
      );
      return;
    }
    return this.send(res, 404, notFound);
  }
}

describe('in-cluster load test CLI (fake Kubernetes API server)', () => {
  let fake: FakeApiServer;
  let dir: string;
  let kubeconfig: string;

  beforeEach(async () => {
    fake = new FakeApiServer();
    const port = await fake.start();
    dir = mkdtempSync(path.join(os.tmpdir(), 'cluster-cli-'));
    kubeconfig = path.join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: fake\n  cluster:\n    server: http://127.0.0.1:${port}\n    insecure-skip-tls-verify: true`,
        'users:',
        '- name: tester\n  user:\n    token: fake-token',
        'contexts:',
        '- name: fake\n  context:\n    cluster: fake\n    user: tester\n    namespace: loadtest',
        'current-context: fake',
      ].join('\n'),
    );
  });

  afterEach(async () => {
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const options = (extra: Partial<ReturnType<typeof parseArgs>> = {}) => ({
    ...parseArgs(
      [
        'claim',
        '--namespace',
        'loadtest',
        '--kubeconfig',
        kubeconfig,
        '--parallelism',
        '2',
        '--secret',
        'lt-creds',
      ],
      root,
    ),
    pollSeconds: 0.01,
    name: 'lt-claim-test',
    log: () => undefined,
    ...extra,
  });

  it('creates the ConfigMap and TestRun, follows the stage to finished, collects summaries and cleans up (fake)', async () => {
    const result = await runCluster(options());
    expect(result.stage).toBe('finished');
    expect(result.summaries).toEqual([
      { scenario: 'claim', pod: 'lt-claim-test-1-abcde', metrics: {} },
      { scenario: 'claim', pod: 'lt-claim-test-2-abcde', metrics: {} },
    ]);

    const cmPost = fake.calls.find(
      (c) => c.method === 'POST' && c.path === '/api/v1/namespaces/loadtest/configmaps',
    )!;
    const data = cmPost.body!.data as Record<string, string>;
    expect(Object.keys(data).sort()).toEqual(['common.ts', 'jwt.ts', 'params.json', 'scenario.ts']);
    expect(data['scenario.ts']).toContain("from './common.ts'");
    expect(data['common.ts']).toContain("from './jwt.ts'");
    expect(JSON.parse(data['params.json']!).scenarios.claim.script).toBe('claim.ts');

    const trPost = fake.calls.find((c) => c.method === 'POST' && c.path.endsWith('/testruns'))!;
    expect(trPost.path).toBe('/apis/k6.io/v1alpha1/namespaces/loadtest/testruns');
    const spec = trPost.body!.spec as Record<string, unknown>;
    expect(trPost.body!.kind).toBe('TestRun');
    expect(spec.parallelism).toBe(2);
    expect(spec.script).toEqual({ configMap: { name: 'lt-claim-test', file: 'scenario.ts' } });
    // the operator's initializer runs `k6 archive` with these arguments, and k6 archive refuses --out
    expect(spec.arguments).toBe('--tag testid=lt-claim-test');
    expect(String(spec.arguments)).not.toContain('--out');
    const env = (spec.runner as { env: { name: string; value?: string; valueFrom?: unknown }[] }).env;
    expect(env.find((e) => e.name === 'K6_OUT')?.value).toBe('experimental-prometheus-rw');
    expect(env.find((e) => e.name === 'PROTO_DIR')?.value).toBe('/test');
    expect(env.find((e) => e.name === 'K6_PROMETHEUS_RW_SERVER_URL')?.value).toMatch(/^http/);
    expect(env.find((e) => e.name === 'SCENARIO')?.value).toBe('claim');
    expect(env.find((e) => e.name === 'PARAMS_PATH')?.value).toBe('/test/params.json');
    expect(env.find((e) => e.name === 'JWT_SECRET')?.valueFrom).toEqual({
      secretKeyRef: { name: 'lt-creds', key: 'JWT_SECRET', optional: true },
    });

    const stageGets = fake.calls.filter(
      (c) => c.method === 'GET' && c.path.endsWith('/testruns/lt-claim-test'),
    );
    expect(stageGets).toHaveLength(5);
    const podList = fake.calls.find((c) => c.path.startsWith('/api/v1/namespaces/loadtest/pods?'))!;
    expect(decodeURIComponent(podList.path)).toContain('labelSelector=k6_cr=lt-claim-test,runner=true');

    expect(fake.calls.filter((c) => c.method === 'DELETE').map((c) => c.path)).toEqual([
      '/apis/k6.io/v1alpha1/namespaces/loadtest/testruns/lt-claim-test',
      '/api/v1/namespaces/loadtest/configmaps/lt-claim-test',
    ]);
    expect(fake.testRuns.size).toBe(0);
    expect(fake.configMaps.size).toBe(0);
  });

  it('stops following at stage error and still deletes both objects (fake)', async () => {
    fake.stages = ['initialization', 'error'];
    const result = await runCluster(options());
    expect(result.stage).toBe('error');
    expect(fake.testRuns.size).toBe(0);
    expect(fake.configMaps.size).toBe(0);
  });

  it('gives up after the timeout and cleans up (fake)', async () => {
    fake.stages = ['started'];
    const result = await runCluster(options({ timeoutSeconds: 0.2 }));
    expect(result.stage).toBe('timeout');
    expect(fake.testRuns.size).toBe(0);
    expect(fake.configMaps.size).toBe(0);
  });

  it('fails and deletes the ConfigMap when the TestRun cannot be created (fake)', async () => {
    fake.noTestRunCrd = true;
    await expect(runCluster(options())).rejects.toThrow();
    expect(
      fake.calls.some((c) => c.method === 'DELETE' && c.path.endsWith('/configmaps/lt-claim-test')),
    ).toBe(true);
    expect(fake.calls.some((c) => c.method === 'DELETE' && c.path.includes('/testruns/'))).toBe(false);
    expect(fake.configMaps.size).toBe(0);
  });
});

describe('cluster CLI pieces', () => {
  it('rewrites nested relative .ts imports to flat ConfigMap file names', () => {
    const src =
      "import { a } from './lib/common.ts';\nimport { b } from '../../tools/jwt.ts';\nimport http from 'k6/http';";
    expect(flattenImports(src)).toBe(
      "import { a } from './common.ts';\nimport { b } from './jwt.ts';\nimport http from 'k6/http';",
    );
  });

  it('finds summaries on marked log lines and skips broken ones', () => {
    expect(summariesFromLog('x\nK6_SUMMARY_JSON {"a":1}\nK6_SUMMARY_JSON {broken\n')).toEqual([{ a: 1 }]);
  });

  it('builds a TestRun manifest valid against the k6-operator CRD shape', () => {
    const opts = parseArgs(['events', '--parallelism', '3', '--image', 'grafana/k6:1.8.1'], root);
    const m = testRunManifest(opts, 'lt-events-x') as { apiVersion: string; spec: Record<string, unknown> };
    expect(m.apiVersion).toBe('k6.io/v1alpha1');
    expect(m.spec.parallelism).toBe(3);
    expect((m.spec.runner as { image: string }).image).toBe('grafana/k6:1.8.1');
  });

  it('ships a reference scenario with the gRPC helper and its .proto files, flat, protos loaded by base name', () => {
    const data = configMapData(root, 'ref-combined');
    expect(Object.keys(data).sort()).toEqual([
      'account.proto',
      'common.ts',
      'grpcEvents.ts',
      'jwt.ts',
      'params.json',
      'scenario.ts',
      'statistic.proto',
    ]);
    expect(data['scenario.ts']).toContain("from './grpcEvents.ts'");
    expect(data['grpcEvents.ts']).toContain("from './common.ts'");
    expect(data['grpcEvents.ts']).toContain("__ENV.PROTO_DIR || '.'");
    expect(data['grpcEvents.ts']).toContain("'account.proto'");
    expect(data['grpcEvents.ts']).toContain("'statistic.proto'");
    expect(data['grpcEvents.ts']).not.toMatch(/accelbyte\//);
    expect(data['statistic.proto']).toContain('package accelbyte.social.statistic.v1;');
    // the gRPC address follows the base URL's host unless given
    expect(parseArgs(['ref-combined', '--base-url', 'http://svc.ns:8080/challenge'], root).grpcAddr).toBe(
      'svc.ns:6565',
    );
    // a scenario without gRPC events ships no helper
    expect(Object.keys(configMapData(root, 'claim'))).not.toContain('grpcEvents.ts');
  });

  it('refuses an unknown scenario name', () => {
    expect(() => parseArgs([], root)).toThrow(/usage/);
  });
});
