// Runs one k6 scenario inside a Kubernetes cluster through the k6-operator:
// ConfigMap (scenario + helpers + params.json) -> TestRun (k6.io/v1alpha1) -> follow status.stage
// -> collect the runner pods' summaries from their logs -> delete the TestRun and the ConfigMap.
//   node .tmp/bench-build/cluster.js <scenario> [--namespace ns] [--kubeconfig file] [--parallelism n]
//     [--profile quick|full] [--base-url url] [--grpc-addr host:port] [--prometheus-rw url]
//     [--timeout seconds] [--image image] [--secret name] [--dry-run]
// The k6-operator's initializer runs `k6 archive` with the TestRun's arguments, and k6 archive
// refuses --out: the Prometheus output goes to the runners as K6_OUT instead.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';

export interface ClusterOptions {
  scenario: string;
  namespace: string;
  kubeconfig?: string;
  parallelism: number;
  profile: string;
  baseUrl: string;
  /** The service's gRPC event ingest, for scenarios that send the platform's events. */
  grpcAddr: string;
  prometheusRw: string;
  timeoutSeconds: number;
  pollSeconds: number;
  image?: string;
  /** Secret with JWT_SECRET and/or SERVICE_API_KEY keys, exposed to the runners as env. */
  secret?: string;
  root: string;
  name?: string;
  log?: (msg: string) => void;
}

export interface ClusterResult {
  name: string;
  stage: string;
  summaries: unknown[];
}

const GROUP = 'k6.io';
const VERSION = 'v1alpha1';
const PLURAL = 'testruns';
const SUMMARY_MARK = 'K6_SUMMARY_JSON ';

interface ScenarioDef {
  script: string;
}

/** Scenario name -> script file, from params.json. */
export function scenarioScript(root: string, scenario: string): string {
  const params = JSON.parse(readFileSync(path.join(root, 'loadtest/params.json'), 'utf8')) as {
    scenarios: Record<string, ScenarioDef>;
  };
  const def = params.scenarios[scenario];
  if (!def) throw new Error(`unknown scenario ${scenario} (see loadtest/params.json)`);
  return def.script;
}

/** ConfigMaps are flat: point every relative `.ts` import at the file's base name. */
export function flattenImports(source: string): string {
  return source.replace(/from\s+'(?:\.{1,2}\/)+(?:[\w.-]+\/)*([\w.-]+\.ts)'/g, "from './$1'");
}

/** The .proto files the gRPC helper loads, by path under proto/. */
export const PROTO_FILES = [
  'accelbyte/iam/account/v1/account.proto',
  'accelbyte/social/statistic/v1/statistic.proto',
];

/** The gRPC helper in a flat ConfigMap: protos by base name, next to the script. */
export function flattenProtoPaths(source: string): string {
  let out = source.replace("__ENV.PROTO_DIR || '../../proto'", "__ENV.PROTO_DIR || '.'");
  for (const f of PROTO_FILES) out = out.split(`'${f}'`).join(`'${path.basename(f)}'`);
  return out;
}

/**
 * The ConfigMap data: the scenario as scenario.ts, its helpers, params.json, and for scenarios
 * sending the platform's events the gRPC helper and its .proto files (they import only
 * google/protobuf types, which k6 has built in).
 */
export function configMapData(root: string, scenario: string): Record<string, string> {
  const script = scenarioScript(root, scenario);
  const source = readFileSync(path.join(root, 'loadtest/scenarios', script), 'utf8');
  const data: Record<string, string> = {
    'scenario.ts': flattenImports(source),
    'common.ts': flattenImports(readFileSync(path.join(root, 'loadtest/scenarios/lib/common.ts'), 'utf8')),
    'jwt.ts': flattenImports(readFileSync(path.join(root, 'loadtest/tools/jwt.ts'), 'utf8')),
    'params.json': readFileSync(path.join(root, 'loadtest/params.json'), 'utf8'),
  };
  if (source.includes('grpcEvents.ts')) {
    const helper = readFileSync(path.join(root, 'loadtest/scenarios/lib/grpcEvents.ts'), 'utf8');
    data['grpcEvents.ts'] = flattenProtoPaths(flattenImports(helper));
    for (const f of PROTO_FILES) data[path.basename(f)] = readFileSync(path.join(root, 'proto', f), 'utf8');
  }
  return data;
}

export function testRunManifest(opts: ClusterOptions, name: string): Record<string, unknown> {
  const env: Record<string, unknown>[] = [
    { name: 'SCENARIO', value: opts.scenario },
    { name: 'PROFILE', value: opts.profile },
    { name: 'PARAMS_PATH', value: '/test/params.json' },
    { name: 'BASE_URL', value: opts.baseUrl },
    { name: 'GRPC_ADDR', value: opts.grpcAddr },
    // the ConfigMap is mounted at /test; the .proto files sit there next to the scripts
    { name: 'PROTO_DIR', value: '/test' },
    { name: 'RUN_ID', value: name },
    // outputs at run time only: `k6 archive` (the operator's initializer) rejects --out
    { name: 'K6_OUT', value: 'experimental-prometheus-rw' },
    { name: 'K6_PROMETHEUS_RW_SERVER_URL', value: opts.prometheusRw },
    { name: 'K6_PROMETHEUS_RW_TREND_STATS', value: 'p(50),p(95),p(99),max' },
    { name: 'K6_NO_USAGE_REPORT', value: 'true' },
  ];
  if (opts.secret) {
    for (const key of ['JWT_SECRET', 'SERVICE_API_KEY']) {
      env.push({ name: key, valueFrom: { secretKeyRef: { name: opts.secret, key, optional: true } } });
    }
  }
  const runner: Record<string, unknown> = { env };
  if (opts.image) runner.image = opts.image;
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'TestRun',
    metadata: {
      name,
      namespace: opts.namespace,
      labels: {
        'app.kubernetes.io/part-of': 'challenge-loadtest',
        'challenge.loadtest/scenario': opts.scenario,
      },
    },
    spec: {
      parallelism: opts.parallelism,
      script: { configMap: { name, file: 'scenario.ts' } },
      arguments: `--tag testid=${name}`,
      runner,
    },
  };
}

export function defaultName(scenario: string, now = Date.now()): string {
  return `lt-${scenario}`
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 40)
    .concat(`-${now.toString(36)}`);
}

/** Summary objects printed by the scenarios' handleSummary on K6_SUMMARY_JSON lines. */
export function summariesFromLog(text: string): unknown[] {
  const out: unknown[] = [];
  for (const line of text.split('\n')) {
    const i = line.indexOf(SUMMARY_MARK);
    if (i < 0) continue;
    try {
      out.push(JSON.parse(line.slice(i + SUMMARY_MARK.length)));
    } catch {
      // a truncated line: skip it
    }
  }
  return out;
}

function statusCode(e: unknown): number | undefined {
  const err = e as { code?: number; statusCode?: number; response?: { statusCode?: number } };
  return err.code ?? err.statusCode ?? err.response?.statusCode;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runCluster(opts: ClusterOptions): Promise<ClusterResult> {
  const log = opts.log ?? ((m: string) => process.stdout.write(`${m}\n`));
  const kc = new KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromDefault();
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const namespace = opts.namespace;
  const name = opts.name ?? defaultName(opts.scenario);
  const data = configMapData(opts.root, opts.scenario);

  let stage = 'unknown';
  const summaries: unknown[] = [];
  let createdMap = false;
  let createdRun = false;
  try {
    await core.createNamespacedConfigMap({
      namespace,
      body: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name, namespace, labels: { 'app.kubernetes.io/part-of': 'challenge-loadtest' } },
        data,
      },
    });
    createdMap = true;
    log(`configmap ${namespace}/${name} created`);
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: PLURAL,
      body: testRunManifest(opts, name),
    });
    createdRun = true;
    log(`testrun ${namespace}/${name} created (parallelism ${opts.parallelism})`);

    const deadline = Date.now() + opts.timeoutSeconds * 1000;
    for (;;) {
      const obj = (await custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
      })) as {
        status?: { stage?: string };
      };
      const next = obj.status?.stage ?? 'pending';
      if (next !== stage) log(`stage: ${next}`);
      stage = next;
      if (stage === 'finished' || stage === 'error') break;
      if (Date.now() > deadline) {
        stage = 'timeout';
        log(`timed out after ${opts.timeoutSeconds} s`);
        break;
      }
      await sleep(opts.pollSeconds * 1000);
    }

    const pods = await core.listNamespacedPod({ namespace, labelSelector: `k6_cr=${name},runner=true` });
    for (const pod of pods.items) {
      const podName = pod.metadata?.name;
      if (!podName) continue;
      try {
        const text = await core.readNamespacedPodLog({ name: podName, namespace });
        const found = summariesFromLog(String(text));
        summaries.push(...found);
        log(`pod ${podName}: ${found.length} summary`);
      } catch (e) {
        log(`pod ${podName}: no log (${statusCode(e) ?? (e as Error).message})`);
      }
    }
  } finally {
    if (createdRun) {
      try {
        await custom.deleteNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace,
          plural: PLURAL,
          name,
        });
        log(`testrun ${name} deleted`);
      } catch (e) {
        if (statusCode(e) !== 404) log(`testrun ${name}: delete failed (${(e as Error).message})`);
      }
    }
    if (createdMap) {
      try {
        await core.deleteNamespacedConfigMap({ name, namespace });
        log(`configmap ${name} deleted`);
      } catch (e) {
        if (statusCode(e) !== 404) log(`configmap ${name}: delete failed (${(e as Error).message})`);
      }
    }
  }
  return { name, stage, summaries };
}

export function parseArgs(argv: string[], root: string): ClusterOptions & { dryRun: boolean } {
  const positional: string[] = [];
  const flags: Record<string, string> = {};
  let dryRun = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--dry-run') dryRun = true;
    else if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags[a.slice(2, eq)] = a.slice(eq + 1);
      else flags[a.slice(2)] = argv[++i] ?? '';
    } else positional.push(a);
  }
  const scenario = positional[0];
  if (!scenario)
    throw new Error('usage: cluster <scenario> [--namespace ns] [--kubeconfig file] [--parallelism n] ...');
  return {
    scenario,
    namespace: flags.namespace ?? 'default',
    kubeconfig: flags.kubeconfig,
    parallelism: Number(flags.parallelism ?? 1),
    profile: flags.profile ?? 'full',
    baseUrl: flags['base-url'] ?? 'http://challenge-api:8080/challenge',
    grpcAddr:
      flags['grpc-addr'] ?? `${new URL(flags['base-url'] ?? 'http://challenge-api:8080').hostname}:6565`,
    prometheusRw: flags['prometheus-rw'] ?? 'http://prometheus-operated.monitoring:9090/api/v1/write',
    timeoutSeconds: Number(flags.timeout ?? 1800),
    pollSeconds: Number(flags['poll-seconds'] ?? 5),
    image: flags.image,
    secret: flags.secret,
    root,
    dryRun,
  };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2), process.cwd());
  if (opts.dryRun) {
    const name = defaultName(opts.scenario);
    process.stdout.write(stringify(testRunManifest(opts, name)));
    return;
  }
  const result = await runCluster(opts);
  process.stdout.write(
    `${JSON.stringify({ name: result.name, stage: result.stage, summaries: result.summaries })}\n`,
  );
  if (result.stage !== 'finished') process.exitCode = 1;
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  });
}
