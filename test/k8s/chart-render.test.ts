// The rendered chart, as an SRE would install it: lint, render, schema-validate, and the
// operational promises (autoscaling metrics, budgets, security, secrets, timeouts).
import YAML from 'yaml';
import {
  API_PODS_METRIC_NAME,
  apiLoadPerPodQuery,
  streamLagQuery,
  WORKER_EXTERNAL_METRIC_NAME,
} from '../../app/ops/autoscaling';
import { catalogRbacRules, challengeCatalogCrd, challengeCatalogResource } from '../../app/catalog/crd';
import { configSchema } from '../../app/config';
import { loadTestLauncherRules } from '../../cdk8s/testrun';
import {
  buildCrdModels,
  CHART_DIR,
  effectiveValues,
  get,
  helm,
  type K8sObject,
  ofKind,
  one,
  prunedFields,
  removeDir,
  render,
  renderText,
  VALUE_SETS,
  validateObjects,
  valuesFile,
} from './helpers';

type Container = Record<string, unknown> & { name: string };
type PodSpec = { containers: Container[]; securityContext?: Record<string, unknown>; volumes?: unknown[] };

const SETS = [undefined, ...VALUE_SETS] as const;
const label = (set: string | undefined) => set ?? 'defaults';
const renders = new Map(SETS.map((s) => [label(s), render({ valueSet: s })]));
const objectsOf = (set: string | undefined): K8sObject[] => renders.get(label(set))!;

// Models for the k6 TestRun and for every CRD the chart renders (the ChallengeCatalog is then
// checked against the schema the chart itself installs).
let modelDir = '';
beforeAll(async () => {
  const crds = new Map(
    [...renders.values()]
      .flatMap((o) => ofKind(o, 'CustomResourceDefinition'))
      .map((c) => [c.metadata.name, c]),
  );
  modelDir = await buildCrdModels([...crds.values()]);
});
afterAll(() => removeDir(modelDir));

describe.each(SETS.map((s) => [label(s), s]))('chart with %s', (_name, set) => {
  it('passes helm lint', () => {
    const r = helm(['lint', CHART_DIR, ...(set ? ['-f', valuesFile(set)] : [])]);
    expect(r.stderr + r.stdout).toContain('0 chart(s) failed');
    expect(r.status).toBe(0);
  });

  it('renders objects that all validate against their Kubernetes / CRD schemas', () => {
    const objects = objectsOf(set);
    expect(objects.length).toBeGreaterThan(5);
    expect(validateObjects(objects, modelDir)).toEqual([]);
  });

  it('every container has requests, limits, non-root, read-only root, no escalation, drop ALL', () => {
    for (const { kind, name, pod } of podSpecs(objectsOf(set))) {
      for (const c of pod.containers) {
        const where = `${kind}/${name}/${c.name}`;
        for (const r of ['requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory']) {
          expect([where, r, get(c.resources, r) !== undefined]).toEqual([where, r, true]);
        }
        const sc = c.securityContext as Record<string, unknown>;
        expect([where, sc.runAsNonRoot, typeof sc.runAsUser, sc.readOnlyRootFilesystem]).toEqual([
          where,
          true,
          'number',
          true,
        ]);
        expect(sc.runAsUser).toBeGreaterThan(0);
        expect(sc.allowPrivilegeEscalation).toBe(false);
        expect(get(sc, 'capabilities.drop')).toContain('ALL');
        expect(get(sc, 'seccompProfile.type') ?? get(pod.securityContext, 'seccompProfile.type')).toBe(
          'RuntimeDefault',
        );
      }
    }
  });

  it('every long-running container has startup, readiness and liveness probes', () => {
    const deployments = podSpecs(objectsOf(set)).filter((p) => p.kind === 'Deployment');
    expect(deployments.length).toBeGreaterThanOrEqual(2);
    for (const { name, pod } of deployments) {
      for (const c of pod.containers) {
        for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
          expect([name, probe, c[probe] !== undefined]).toEqual([name, probe, true]);
        }
      }
    }
  });

  it('service containers probe /healthz and /readyz on the ops port and get an emptyDir /tmp', () => {
    for (const { name, pod } of podSpecs(objectsOf(set)).filter((p) => /-(api|worker)$/.test(p.name))) {
      const c = pod.containers[0]!;
      expect([name, get(c, 'readinessProbe.httpGet')]).toEqual([name, { path: '/readyz', port: 'ops' }]);
      if (name.endsWith('-api')) {
        // api liveness asks the gRPC health service of the event ingest port (issue 14)
        expect([name, get(c, 'livenessProbe.grpc')]).toEqual([name, { port: 6565 }]);
        expect(get(c, 'ports')).toEqual(
          expect.arrayContaining([expect.objectContaining({ name: 'grpc', containerPort: 6565 })]),
        );
      } else
        expect([name, get(c, 'livenessProbe.httpGet')]).toEqual([name, { path: '/healthz', port: 'ops' }]);
      const tmp = (c.volumeMounts as { name: string; mountPath: string }[]).find(
        (m) => m.mountPath === '/tmp',
      );
      const volume = (pod.volumes as { name: string; emptyDir?: unknown }[]).find(
        (v) => v.name === tmp?.name,
      );
      expect([name, volume?.emptyDir !== undefined]).toEqual([name, true]);
    }
  });

  it('every PodDisruptionBudget leaves at least one pod evictable at the lowest replica count', () => {
    const objects = objectsOf(set);
    const pdbs = ofKind(objects, 'PodDisruptionBudget');
    expect(pdbs.length).toBeGreaterThanOrEqual(2);
    for (const pdb of pdbs) {
      const deployment = one(objects, 'Deployment', pdb.metadata.name.replace(/^rel-challenge-service/, ''));
      const scaler = objects.find(
        (o) =>
          (o.kind === 'HorizontalPodAutoscaler' || o.kind === 'ScaledObject') &&
          get(o, 'spec.scaleTargetRef.name') === deployment.metadata.name,
      );
      const lowest = scaler
        ? ((get(scaler, 'spec.minReplicas') ?? get(scaler, 'spec.minReplicaCount')) as number)
        : (get(deployment, 'spec.replicas') as number);
      expect([pdb.metadata.name, (get(pdb, 'spec.minAvailable') as number) < lowest]).toEqual([
        pdb.metadata.name,
        true,
      ]);
    }
  });

  it('contains no Secret and no secret value: credentials come only through secretKeyRef', () => {
    const objects = objectsOf(set);
    const text = renderText({ valueSet: set });
    expect(ofKind(objects, 'Secret')).toEqual([]);
    expect(text).not.toMatch(/password\s*[:=]\s*\S+/i);
    expect(text).not.toMatch(/\b(postgres(ql)?|rediss?):\/\/[^\s/@"]+:[^\s/@"]+@/);
    for (const { name, pod } of podSpecs(objects)) {
      for (const c of pod.containers) {
        for (const env of (c.env ?? []) as { name: string; value?: string; valueFrom?: unknown }[]) {
          if (/(DATABASE|REDIS)_.*URL|SECRET|PASSWORD|PEM|API_KEYS/.test(env.name)) {
            expect([name, env.name, get(env, 'valueFrom.secretKeyRef.name')]).toEqual([
              name,
              env.name,
              effectiveValues(set).secrets && get(effectiveValues(set), 'secrets.name'),
            ]);
          }
        }
      }
    }
  });
});

function podSpecs(objects: K8sObject[]): { kind: string; name: string; pod: PodSpec }[] {
  const out: { kind: string; name: string; pod: PodSpec }[] = [];
  for (const o of objects) {
    if (o.kind === 'Deployment' || o.kind === 'Job') {
      out.push({ kind: o.kind, name: o.metadata.name, pod: get(o, 'spec.template.spec') as PodSpec });
    }
    if (o.kind === 'TestRun') {
      // The k6 runner: the operator builds its pod from these fields.
      const runner = get(o, 'spec.runner') as Record<string, unknown>;
      out.push({
        kind: o.kind,
        name: o.metadata.name,
        pod: {
          securityContext: runner.securityContext as Record<string, unknown>,
          containers: [
            { name: 'k6', resources: runner.resources, securityContext: runner.containerSecurityContext },
          ],
        },
      });
    }
  }
  return out;
}

describe('autoscaling', () => {
  it('hpa mode: the api HPA reads the per-pod metric and CPU, the worker HPA the external lag metric', () => {
    const objects = objectsOf(undefined);
    expect(ofKind(objects, 'ScaledObject')).toEqual([]);
    const api = one(objects, 'HorizontalPodAutoscaler', '-api');
    const metrics = get(api, 'spec.metrics') as Record<string, unknown>[];
    expect(metrics.map((m) => m.type)).toEqual(['Pods', 'Resource']);
    expect(get(metrics[0], 'pods.metric.name')).toBe(API_PODS_METRIC_NAME);
    expect(get(metrics[1], 'resource.name')).toBe('cpu');
    const worker = one(objects, 'HorizontalPodAutoscaler', '-worker');
    expect(get(worker, 'spec.metrics.0.type')).toBe('External');
    expect(get(worker, 'spec.metrics.0.external.metric.name')).toBe(WORKER_EXTERNAL_METRIC_NAME);
    expect(get(api, 'spec.scaleTargetRef.name')).toBe(one(objects, 'Deployment', '-api').metadata.name);
  });

  it('hpa mode: Deployments leave replicas to the autoscaler', () => {
    const objects = objectsOf(undefined);
    expect(get(one(objects, 'Deployment', '-api'), 'spec.replicas')).toBeUndefined();
    expect(get(one(objects, 'Deployment', '-worker'), 'spec.replicas')).toBeUndefined();
  });

  it('prometheus-adapter rules expose exactly the metrics the HPAs read, with the shared queries', () => {
    const cm = one(objectsOf(undefined), 'ConfigMap', '-adapter-rules');
    const config = YAML.parse(cm.data!['config.yaml']!) as {
      rules: { name: { as: string }; metricsQuery: string }[];
      externalRules: { name: { as: string }; metricsQuery: string }[];
    };
    expect(config.rules.map((r) => [r.name.as, r.metricsQuery])).toEqual([
      [API_PODS_METRIC_NAME, apiLoadPerPodQuery('<<.LabelMatchers>>')],
    ]);
    expect(config.externalRules.map((r) => [r.name.as, r.metricsQuery])).toEqual([
      [WORKER_EXTERNAL_METRIC_NAME, streamLagQuery('<<.LabelMatchers>>')],
    ]);
  });

  it('keda mode: ScaledObjects run the shared queries scoped to the release, and no HPA is rendered', () => {
    const objects = objectsOf('production-keda');
    expect(ofKind(objects, 'HorizontalPodAutoscaler')).toEqual([]);
    expect(objects.find((o) => o.metadata.name.endsWith('-adapter-rules'))).toBeUndefined();
    const api = one(objects, 'ScaledObject', '-api');
    const sel = (c: string) => `namespace="games",service="rel-challenge-service-${c}"`;
    expect(get(api, 'spec.triggers.0.metadata.query')).toBe(`sum(${apiLoadPerPodQuery(sel('api'))})`);
    expect(get(api, 'spec.triggers.0.metadata.threshold')).toBe('48');
    expect(get(api, 'spec.triggers.1.type')).toBe('cpu');
    expect(get(api, 'spec.minReplicaCount')).toBe(4);
    expect(get(api, 'spec.maxReplicaCount')).toBe(50);
    const worker = one(objects, 'ScaledObject', '-worker');
    expect(get(worker, 'spec.triggers.0.metadata.query')).toBe(streamLagQuery(sel('worker')));
  });

  it('autoscaling off: no HPA or ScaledObject, Deployments carry fixed replicas', () => {
    const objects = objectsOf('minimal');
    expect([...ofKind(objects, 'HorizontalPodAutoscaler'), ...ofKind(objects, 'ScaledObject')]).toEqual([]);
    expect(get(one(objects, 'Deployment', '-api'), 'spec.replicas')).toBe(1);
  });
});

describe('PgBouncer', () => {
  const poolFacts = (objects: K8sObject[]) => {
    const ini = one(objects, 'ConfigMap', '-pgbouncer').data!['pgbouncer.ini']!;
    const setting = (k: string) => Number(new RegExp(`^${k} = (\\d+)$`, 'm').exec(ini)?.[1]);
    const deployment = one(objects, 'Deployment', '-pgbouncer');
    return {
      ini,
      pool: setting('default_pool_size'),
      reserve: setting('reserve_pool_size'),
      maxDb: setting('max_db_connections'),
      replicas: get(deployment, 'spec.replicas') as number,
      surge: get(deployment, 'spec.strategy.rollingUpdate.maxSurge') as number,
    };
  };

  it.each(['defaults', 'production-keda'])(
    '%s: total server connections at max replicas fit PostgreSQL max_connections minus reserved',
    (name) => {
      const set = name === 'defaults' ? undefined : name;
      const f = poolFacts(objectsOf(set));
      const values = effectiveValues(set);
      const budget =
        (get(values, 'postgres.maxConnections') as number) -
        (get(values, 'postgres.reservedConnections') as number);
      expect(f.surge).toBe(0);
      expect(f.pool).toBeGreaterThan(0);
      expect((f.replicas + f.surge) * (f.pool + f.reserve)).toBeLessThanOrEqual(budget);
      expect(f.replicas * f.maxDb).toBeLessThanOrEqual(budget);
      expect(f.ini).toMatch(/^pool_mode = transaction$/m);
    },
  );

  it.each([
    [100, 10, 1],
    [100, 10, 4],
    [500, 25, 7],
    [60, 5, 3],
  ])('max_connections %i, reserved %i, %i replicas: pool derived to fit', (max, reserved, replicas) => {
    const f = poolFacts(
      render({
        set: [
          `postgres.maxConnections=${max}`,
          `postgres.reservedConnections=${reserved}`,
          `pgbouncer.replicas=${replicas}`,
          `pgbouncer.minAvailable=${replicas - 1}`,
        ],
      }),
    );
    expect(f.replicas).toBe(replicas);
    expect(replicas * (f.pool + f.reserve)).toBeLessThanOrEqual(max - reserved);
    // and not wastefully small: one more per instance would break the budget
    expect(replicas * (f.pool + 1 + f.reserve)).toBeGreaterThan(max - reserved);
  });

  it('refuses to render when the PostgreSQL budget cannot give each PgBouncer a pool', () => {
    expect(() => render({ set: ['postgres.maxConnections=20', 'pgbouncer.replicas=8'] })).toThrow(
      /leaves no pool/,
    );
  });

  it('pgbouncer disabled: no PgBouncer objects, api egress goes to the PostgreSQL peers', () => {
    const objects = objectsOf('external');
    expect(objects.filter((o) => o.metadata.name.includes('pgbouncer'))).toEqual([]);
    const egress = get(one(objects, 'NetworkPolicy', '-api'), 'spec.egress') as Record<string, unknown>[];
    expect(egress).toContainEqual({
      to: [{ ipBlock: { cidr: '10.20.0.0/16' } }],
      ports: [{ port: 5432, protocol: 'TCP' }],
    });
    expect(egress).toContainEqual({
      to: [{ ipBlock: { cidr: '10.30.0.0/24' } }],
      ports: [{ port: 6380, protocol: 'TCP' }],
    });
  });
});

describe('ingress', () => {
  const annotation = (o: K8sObject, k: string) =>
    o.metadata.annotations?.[`nginx.ingress.kubernetes.io/${k}`];

  it.each([
    [undefined, 2000],
    [4500, 4500],
  ])(
    'proxy timeouts are the request deadline, rounded up to whole seconds (REQUEST_DEADLINE_MS=%s)',
    (setMs, deadlineMs) => {
      const objects = render({ set: setMs ? [`config.requestDeadlineMs=${setMs}`] : [] });
      const api = one(objects, 'Ingress', '-api-ingress');
      const expected = String(Math.ceil(deadlineMs / 1000));
      expect(annotation(api, 'proxy-read-timeout')).toBe(expected);
      expect(annotation(api, 'proxy-send-timeout')).toBe(expected);
      expect(Number(annotation(api, 'proxy-connect-timeout'))).toBeLessThanOrEqual(deadlineMs / 1000);
      const env = get(one(objects, 'Deployment', '-api'), 'spec.template.spec.containers.0.env') as {
        name: string;
        value: string;
      }[];
      expect(env.find((e) => e.name === 'REQUEST_DEADLINE_MS')?.value).toBe(String(deadlineMs));
    },
  );

  it('the WebSocket path has its own Ingress with HTTP/1.1 and a long idle timeout', () => {
    const ws = one(objectsOf(undefined), 'Ingress', '-api-ws-ingress');
    expect(get(ws, 'spec.rules.0.http.paths.0.path')).toBe('/challenge/v1/ws');
    expect(annotation(ws, 'proxy-http-version')).toBe('1.1');
    expect(Number(annotation(ws, 'proxy-read-timeout'))).toBeGreaterThanOrEqual(3600);
  });

  it('api NetworkPolicy admits only the ingress controller on 8080, Prometheus on 9090 and the platform on gRPC 6565', () => {
    const rules = get(one(objectsOf(undefined), 'NetworkPolicy', '-api'), 'spec.ingress') as Record<
      string,
      unknown
    >[];
    expect(rules.map((r) => [get(r, 'ports.0.port'), get(r, 'from.0.podSelector.matchLabels')])).toEqual([
      [8080, { 'app.kubernetes.io/name': 'ingress-nginx' }],
      [9090, { 'app.kubernetes.io/name': 'prometheus' }],
      [6565, undefined],
    ]);
    // gRPC: from grpc.allowFrom (default: pods of any namespace)
    expect(get(rules[2]!, 'from')).toEqual([{ namespaceSelector: {} }]);
    const svc = one(objectsOf(undefined), 'Service', '-api');
    expect(get(svc, 'spec.ports')).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'grpc', port: 6565, targetPort: 'grpc' })]),
    );
  });
});

describe('migration hook and load test', () => {
  it('the migration Job is a pre-install/pre-upgrade hook using the direct database URL', () => {
    const job = one(objectsOf(undefined), 'Job', '-migrate');
    expect(job.metadata.annotations?.['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    const env = get(job, 'spec.template.spec.containers.0.env') as Record<string, unknown>[];
    expect(env).toContainEqual({ name: 'ROLE', value: 'migrate' });
    expect(env).toContainEqual({
      name: 'DATABASE_DIRECT_URL',
      valueFrom: { secretKeyRef: { name: 'challenge-service', key: 'database-direct-url' } },
    });
    const policy = one(objectsOf(undefined), 'NetworkPolicy', '-migrate');
    expect(policy.metadata.annotations?.['helm.sh/hook']).toBe('pre-install,pre-upgrade');
  });

  it('the k6 TestRun renders only when enabled, writing to Prometheus remote write', () => {
    expect(ofKind(objectsOf(undefined), 'TestRun')).toEqual([]);
    const run = one(objectsOf('production-keda'), 'TestRun', '-loadtest');
    expect(get(run, 'spec.parallelism')).toBe(8);
    expect(get(run, 'spec.script.configMap')).toEqual({ name: 'challenge-loadtest', file: 'scenario.js' });
    expect(get(run, 'spec.arguments')).toContain('--out experimental-prometheus-rw');
    const env = get(run, 'spec.runner.env') as { name: string }[];
    expect(env.map((e) => e.name)).toContain('K6_PROMETHEUS_RW_SERVER_URL');
  });
});

describe('schema validation', () => {
  it('reports an object of an unknown kind', () => {
    const problems = validateObjects(
      [{ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }],
      modelDir,
    );
    expect(problems).toEqual([expect.objectContaining({ key: 'example.com/v1/Widget' })]);
  });

  it('reports an object that breaks its schema', () => {
    const bad = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'x' },
      spec: { replicas: 'two' },
    };
    expect(validateObjects([bad], modelDir)).toHaveLength(1);
  });

  it('reports a ChallengeCatalog that breaks the schema of the CRD the chart renders', () => {
    const good = one(objectsOf(KUBE), 'ChallengeCatalog', 'live-catalog');
    expect(validateObjects([good], modelDir)).toEqual([]);
    const bad = JSON.parse(JSON.stringify(good)) as K8sObject;
    (get(bad, 'spec.challenges.0.goals.0.reward') as Record<string, unknown>).quantity = 0;
    expect(validateObjects([bad], modelDir)).toEqual([
      expect.objectContaining({ key: `${good.apiVersion}/ChallengeCatalog` }),
    ]);
  });

  it('reports a TestRun that breaks the generated k6 schema', () => {
    const bad = {
      apiVersion: 'k6.io/v1alpha1',
      kind: 'TestRun',
      metadata: { name: 'x' },
      spec: { parallelism: 'many' },
    };
    expect(validateObjects([bad], modelDir)).toHaveLength(1);
  });
});

// --- catalog source -----------------------------------------------------------------------

type EnvVar = { name: string; value?: string; valueFrom?: Record<string, unknown> };
const KUBE = 'catalog-kubernetes';
const envOf = (objects: K8sObject[], kind: string, suffix: string): EnvVar[] =>
  get(one(objects, kind, suffix), 'spec.template.spec.containers.0.env') as EnvVar[];
const envValue = (env: EnvVar[], name: string): string | undefined => env.find((e) => e.name === name)?.value;
const hasKubeApiPorts = (rule: unknown): boolean =>
  ((get(rule, 'ports') ?? []) as { port: number }[]).some((p) => p.port === 6443);

describe('catalog source', () => {
  const group = get(effectiveValues(KUBE), 'catalog.crdGroup') as string;

  it('kubernetes: the Role grants exactly catalogRbacRules(group), bound to the api/worker service account', () => {
    const objects = objectsOf(KUBE);
    expect(group).toBe('challenges.games.example.com');
    expect(get(one(objects, 'Role', '-catalog'), 'rules')).toEqual(catalogRbacRules(group));
    const binding = one(objects, 'RoleBinding', '-catalog');
    const sa = one(objects, 'ServiceAccount', '-app');
    expect(get(binding, 'roleRef')).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: one(objects, 'Role', '-catalog').metadata.name,
    });
    expect(get(binding, 'subjects')).toEqual([
      { kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'games' },
    ]);
    for (const role of ['-api', '-worker']) {
      const pod = get(one(objects, 'Deployment', role), 'spec.template.spec');
      expect([role, get(pod, 'serviceAccountName'), get(pod, 'automountServiceAccountToken')]).toEqual([
        role,
        sa.metadata.name,
        true,
      ]);
    }
    expect(sa.automountServiceAccountToken).toBe(true);
  });

  it('kubernetes: the CRD is challengeCatalogCrd(group) as exported, kept on uninstall', () => {
    const crd = one(objectsOf(KUBE), 'CustomResourceDefinition', `.${group}`);
    expect(crd.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    const { labels: _l, annotations: _a, ...metadata } = crd.metadata;
    expect({ ...crd, metadata }).toEqual(challengeCatalogCrd(group));
  });

  it('kubernetes: the starter ChallengeCatalog is catalog.json, a post-install hook, and loses no field to pruning', () => {
    const objects = objectsOf(KUBE);
    const values = effectiveValues(KUBE);
    const cr = one(objects, 'ChallengeCatalog', 'live-catalog');
    expect(cr.metadata.annotations?.['helm.sh/hook']).toBe('post-install');
    expect(cr.metadata.annotations?.['helm.sh/hook-delete-policy']).toBeUndefined();
    const spec = JSON.parse(get(values, 'catalog.json') as string) as unknown;
    const { labels: _l, annotations: _a, ...metadata } = cr.metadata;
    expect({ ...cr, metadata }).toEqual(challengeCatalogResource('live-catalog', spec, { group }));
    const crd = one(objects, 'CustomResourceDefinition', `.${group}`);
    const schema = get(crd, 'spec.versions.0.schema.openAPIV3Schema') as Parameters<typeof prunedFields>[1];
    expect(prunedFields(cr, schema)).toEqual([]);
    // the check itself: an undeclared field is reported
    expect(prunedFields({ ...cr, spec: { ...(cr.spec ?? {}), colour: 'red' } }, schema)).toEqual([
      '.spec.colour',
    ]);
  });

  it('kubernetes: api and worker get CATALOG_* env, the namespace from the downward API', () => {
    for (const role of ['-api', '-worker']) {
      const env = envOf(objectsOf(KUBE), 'Deployment', role);
      expect(envValue(env, 'CATALOG_SOURCE')).toBe('kubernetes');
      expect(envValue(env, 'CATALOG_CRD_GROUP')).toBe(group);
      expect(envValue(env, 'CATALOG_RESOURCE_NAME')).toBe('live-catalog');
      expect(env).toContainEqual({
        name: 'CATALOG_NAMESPACE',
        valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
      });
      expect(envValue(env, 'CHALLENGE_CATALOG')).toBe('/etc/challenge/catalog/catalog.json');
    }
  });

  it.each([undefined, 'minimal', 'production-keda', 'external'])(
    '%s (file source): a service account without token, no RBAC, CRD, resource or CATALOG_CRD_GROUP',
    (set) => {
      const objects = objectsOf(set);
      const sa = one(objects, 'ServiceAccount', '-app');
      expect(sa.automountServiceAccountToken).toBe(false);
      // (The loadtest:cluster launcher's Role of testRun.enabled is not catalog RBAC.)
      const notLauncher = (o: K8sObject) =>
        (o.metadata as { labels?: Record<string, string> }).labels?.['app.kubernetes.io/component'] !==
        'loadtest';
      for (const kind of ['Role', 'RoleBinding', 'CustomResourceDefinition', 'ChallengeCatalog'])
        expect([kind, ofKind(objects, kind).filter(notLauncher)]).toEqual([kind, []]);
      const pod = get(one(objects, 'Deployment', '-api'), 'spec.template.spec');
      expect(get(pod, 'serviceAccountName')).toBe(sa.metadata.name);
      expect(get(pod, 'automountServiceAccountToken')).toBe(false);
      const env = envOf(objects, 'Deployment', '-api');
      expect(envValue(env, 'CATALOG_SOURCE')).toBe('file');
      expect(env.map((e) => e.name)).not.toContain('CATALOG_CRD_GROUP');
    },
  );

  it('testRun.enabled: a launcher ServiceAccount + Role with exactly the loadtest:cluster rules (no secrets), bound to it; none without testRun.enabled or with launcherRbac false', () => {
    const on = render({ set: ['testRun.enabled=true'] });
    const sa = one(on, 'ServiceAccount', '-loadtest');
    expect(sa.automountServiceAccountToken).toBe(false);
    const role = one(on, 'Role', '-loadtest');
    expect(role.rules).toEqual(loadTestLauncherRules);
    expect(JSON.stringify(role.rules)).not.toMatch(/secrets|\*/);
    const binding = one(on, 'RoleBinding', '-loadtest');
    expect(binding.roleRef).toMatchObject({ kind: 'Role', name: role.metadata.name });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'games' },
    ]);
    for (const objects of [render(), render({ set: ['testRun.enabled=true', 'testRun.launcherRbac=false'] })])
      expect(objects.filter((o) => o.metadata.name.endsWith('-loadtest') && o.kind !== 'TestRun')).toEqual(
        [],
      );
  });

  it('NetworkPolicy: api/worker reach the Kubernetes API on 443/6443 only with the kubernetes source', () => {
    for (const set of SETS) {
      const objects = objectsOf(set);
      if (!ofKind(objects, 'NetworkPolicy').length) continue;
      for (const role of ['-api', '-worker']) {
        const egress = get(one(objects, 'NetworkPolicy', role), 'spec.egress') as unknown[];
        const rules = egress.filter(hasKubeApiPorts);
        if (set === KUBE) {
          expect([role, rules]).toEqual([
            role,
            [
              {
                to: get(effectiveValues(KUBE), 'networkPolicy.kubeApiPeers'),
                ports: [
                  { port: 443, protocol: 'TCP' },
                  { port: 6443, protocol: 'TCP' },
                ],
              },
            ],
          ]);
        } else {
          expect([label(set), role, rules]).toEqual([label(set), role, []]);
        }
      }
    }
    // and not for the admin source either
    const admin = render({ set: ['catalog.source=admin'] });
    expect(
      (get(one(admin, 'NetworkPolicy', '-api'), 'spec.egress') as unknown[]).filter(hasKubeApiPorts),
    ).toEqual([]);
    expect(ofKind(admin, 'Role')).toEqual([]);
  });

  it('installCrd=false leaves the CRD out but keeps the RBAC; createResource defaults to off', () => {
    const objects = render({ set: ['catalog.source=kubernetes', 'catalog.installCrd=false'] });
    expect(ofKind(objects, 'CustomResourceDefinition')).toEqual([]);
    expect(ofKind(objects, 'ChallengeCatalog')).toEqual([]);
    expect(get(one(objects, 'Role', '-catalog'), 'rules')).toEqual(catalogRbacRules());
  });

  it('refuses a starter resource without a usable catalog.json', () => {
    const base = ['catalog.source=kubernetes', 'catalog.createResource=true'];
    expect(() => render({ set: [...base, 'catalog.existingConfigMap=mine'] })).toThrow(/existingConfigMap/);
    expect(() => render({ set: [...base, 'catalog.json=not json'] })).toThrow(/not a catalog document/);
  });
});

// --- configuration env --------------------------------------------------------------------

/** Env names rendered on service containers that are not configSchema keys (read by Node itself). */
const NOT_CONFIG_KEYS: Record<string, string> = {
  NODE_OPTIONS: 'Node runtime flags, never read by app/config',
};
const CONFIG_KEYS = new Set(Object.keys(configSchema.shape));
const SERVICE_CONTAINERS = new Set(['api', 'worker', 'migrate']);

function serviceEnvs(objects: K8sObject[]): { where: string; env: EnvVar[] }[] {
  return podSpecs(objects).flatMap(({ name, pod }) =>
    pod.containers
      .filter((c) => SERVICE_CONTAINERS.has(c.name))
      .map((c) => ({ where: `${name}/${c.name}`, env: (c.env ?? []) as EnvVar[] })),
  );
}

describe('configuration env', () => {
  it.each(SETS.map((s) => [label(s), s]))(
    '%s: every env var of api, worker and migration is a configSchema key',
    (_n, set) => {
      const envs = serviceEnvs(objectsOf(set));
      expect(envs.map((e) => e.where.replace(/.*\//, '')).sort()).toEqual(
        expect.arrayContaining(['api', 'worker']),
      );
      for (const { where, env } of envs) {
        for (const { name } of env) {
          expect([where, name, CONFIG_KEYS.has(name) || name in NOT_CONFIG_KEYS]).toEqual([
            where,
            name,
            true,
          ]);
        }
      }
    },
  );

  it('chart defaults of the tuning settings are the service defaults', () => {
    const tuned = /^(ADMISSION|RATE_LIMIT|NEW_PLAYER|EVENTS|PROCESSED_EVENTS|REWARD|GRANT)_|^GRANTER$/;
    const env = envOf(objectsOf(undefined), 'Deployment', '-api');
    const service = configSchema.parse({}) as Record<string, unknown>;
    const chart = configSchema.parse(
      Object.fromEntries(env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value])),
    ) as Record<string, unknown>;
    const names = env.map((e) => e.name).filter((n) => tuned.test(n) && n !== 'RATE_LIMIT_EXPECTED_REPLICAS');
    expect(names.length).toBeGreaterThanOrEqual(20);
    for (const n of names) expect([n, chart[n]]).toEqual([n, service[n]]);
  });

  it.each([
    [undefined, [], '2'],
    ['minimal', [], '1'],
    ['production-keda', [], '4'],
    [KUBE, [], '3'],
    [undefined, ['config.rateLimits.expectedReplicas=7'], '7'],
    [undefined, ['autoscaling.enabled=false', 'api.replicas=5'], '5'],
  ] as const)(
    '%s %j: RATE_LIMIT_EXPECTED_REPLICAS = %s (the usual api replica count unless set)',
    (set, extra, expected) => {
      const objects = extra.length ? render({ valueSet: set, set: [...extra] }) : objectsOf(set);
      for (const role of ['-api', '-worker'])
        expect(envValue(envOf(objects, 'Deployment', role), 'RATE_LIMIT_EXPECTED_REPLICAS')).toBe(expected);
    },
  );

  it('values reach the env: admission, budgets, events, rewards', () => {
    const env = envOf(objectsOf(KUBE), 'Deployment', '-api');
    expect(envValue(env, 'ADMISSION_ENABLED')).toBe('1');
    expect(envValue(env, 'ADMISSION_TARGET_LATENCY_MS')).toBe('40');
    expect(envValue(env, 'ADMISSION_QUEUE_MAX')).toBe('256');
    const defaults = envOf(objectsOf(undefined), 'Deployment', '-api');
    expect(envValue(defaults, 'NODE_OPTIONS')).toBe('');
    expect(envValue(envOf(objectsOf(undefined), 'Deployment', '-worker'), 'NODE_OPTIONS')).toBe('');
    const tuned = render({
      set: ['api.nodeOptions=--max-old-space-size=300', 'config.admission.maxQueueWaitMs=50'],
    });
    expect(envValue(envOf(tuned, 'Deployment', '-api'), 'NODE_OPTIONS')).toBe('--max-old-space-size=300');
    expect(envValue(envOf(tuned, 'Deployment', '-api'), 'ADMISSION_MAX_QUEUE_WAIT_MS')).toBe('50');
    expect(envValue(env, 'NEW_PLAYER_BUDGET_PER_SEC')).toBe('1500');
    expect(envValue(env, 'NEW_PLAYER_BUDGET_BURST')).toBe('150');
    expect(envValue(envOf(objectsOf(KUBE), 'Deployment', '-worker'), 'EVENTS_APPLY_PARTITIONS')).toBe('8');
    expect(envValue(env, 'REWARD_MAX_ATTEMPTS')).toBe('20');
    expect(envValue(env, 'PROCESSED_EVENTS_RETENTION_MS')).toBe(String(7 * 86400 * 1000));
    const off = render({ set: ['config.admission.enabled=false'] });
    expect(envValue(envOf(off, 'Deployment', '-api'), 'ADMISSION_ENABLED')).toBe('0');
  });

  it('webhook granter: needs the URL, and its Secret key is required on api and worker', () => {
    expect(() => render({ set: ['config.rewards.granter=webhook'] })).toThrow(/webhookUrl/);
    const objects = objectsOf('production-keda');
    for (const role of ['-api', '-worker']) {
      const secret = envOf(objects, 'Deployment', role).find((e) => e.name === 'WEBHOOK_SECRET');
      expect([role, get(secret, 'valueFrom.secretKeyRef.optional')]).toEqual([role, false]);
    }
    const log = envOf(objectsOf(undefined), 'Deployment', '-api').find((e) => e.name === 'WEBHOOK_SECRET');
    expect(get(log, 'valueFrom.secretKeyRef.optional')).toBe(true);
  });
});
