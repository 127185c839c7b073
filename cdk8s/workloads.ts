// The service's own workloads: api and worker Deployments, the migration hook Job, their
// Services, PodDisruptionBudgets and the catalog ConfigMap. One image, ROLE picks the role.
import { Construct } from 'constructs';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IEnvVar } from 'kubernetes-models/v1/EnvVar';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { IResourceRequirements } from 'kubernetes-models/v1/ResourceRequirements';
import type { ISecurityContext } from 'kubernetes-models/v1/SecurityContext';
import type { IPodSecurityContext } from 'kubernetes-models/v1/PodSecurityContext';
import type { ITopologySpreadConstraint } from 'kubernetes-models/v1/TopologySpreadConstraint';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import {
  addObject,
  type Component,
  fullname,
  GRPC_PORT,
  HTTP_PORT,
  labels,
  meta,
  OPS_PORT,
  selectorLabels,
} from './base';
import { tpl, when, whenItems } from './helm';
import { intStr, itemsOf, num, str, valuePath, yamlOf } from './values';

export const CATALOG_DIR = '/etc/challenge/catalog';
/** The catalog ConfigMap's name: the chart's own, or the SRE's existing one. */
export const catalogConfigMapName = (): string =>
  tpl(
    `${valuePath('catalog.existingConfigMap')} | default (printf "%s-catalog" (include "challenge-service.fullname" .))`,
  );

export const podSecurityContext = (): IPodSecurityContext => ({
  runAsNonRoot: true,
  runAsUser: num('podSecurity.runAsUser'),
  runAsGroup: num('podSecurity.runAsGroup'),
  fsGroup: num('podSecurity.runAsGroup'),
  seccompProfile: { type: 'RuntimeDefault' },
});

/** Non-root, read-only root filesystem, no privilege escalation, no capabilities. */
export const containerSecurityContext = (): ISecurityContext => ({
  runAsNonRoot: true,
  runAsUser: num('podSecurity.runAsUser'),
  runAsGroup: num('podSecurity.runAsGroup'),
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  privileged: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
});

const secretEnv = (name: string, keyPath: string, optional: boolean = false): IEnvVar => ({
  name,
  valueFrom: {
    secretKeyRef: { name: str('secrets.name'), key: str(keyPath), ...(optional ? { optional } : {}) },
  },
});

const plainEnv = (name: string, value: string): IEnvVar => ({ name, value });

type Role = 'api' | 'worker' | 'migrate';

/** Every env var the service reads (app/config/index.ts), set from values or the Secret. */
export function serviceEnv(role: Role): IEnvVar[] {
  const database: IEnvVar[] =
    role === 'migrate'
      ? [
          secretEnv('DATABASE_URL', 'secrets.databaseDirectUrlKey'),
          secretEnv('DATABASE_DIRECT_URL', 'secrets.databaseDirectUrlKey'),
        ]
      : [secretEnv('DATABASE_URL', 'secrets.databaseUrlKey'), secretEnv('REDIS_URL', 'secrets.redisUrlKey')];
  return [
    plainEnv('ROLE', role),
    plainEnv('HOST', '0.0.0.0'),
    plainEnv('PORT', String(HTTP_PORT)),
    plainEnv('OPS_PORT', String(OPS_PORT)),
    plainEnv('GRPC_PORT', String(GRPC_PORT)),
    { name: 'AB_NAMESPACE', value: str('grpc.namespace') },
    plainEnv('DEV_MODE', '0'),
    { name: 'BASE_PATH', value: str('config.basePath') },
    { name: 'LOG_LEVEL', value: str('config.logLevel') },
    { name: 'SHUTDOWN_GRACE_MS', value: intStr('config.shutdownGraceMs') },
    { name: 'REQUEST_DEADLINE_MS', value: intStr('config.requestDeadlineMs') },
    { name: 'API_MAX_OPEN_REQUESTS', value: intStr('config.apiMaxOpenRequests') },
    { name: 'PG_POOL_MAX', value: intStr('config.pgPoolMax') },
    { name: 'PG_STATEMENT_TIMEOUT_MS', value: intStr('config.pgStatementTimeoutMs') },
    { name: 'PG_QUERY_TIMEOUT_MS', value: intStr('config.pgQueryTimeoutMs') },
    { name: 'CATALOG_SOURCE', value: str('catalog.source') },
    plainEnv('CHALLENGE_CATALOG', `${CATALOG_DIR}/catalog.json`),
    // Only used without DATABASE_URL (never here); keeps any write under the /tmp emptyDir.
    plainEnv('DATA_DIR', '/tmp/data'),
    { name: 'SERVICE_TOKEN_SCOPE', value: str('config.serviceTokenScope') },
    { name: 'JWT_ISSUER', value: str('config.jwtIssuer') },
    { name: 'JWT_AUDIENCE', value: str('config.jwtAudience') },
    { name: 'JWT_JWKS_URL', value: str('config.jwtJwksUrl') },
    { name: 'GRANTER', value: str('config.rewards.granter') },
    { name: 'GRANT_TIMEOUT_MS', value: intStr('config.rewards.grantTimeoutMs') },
    { name: 'WEBHOOK_URL', value: str('config.rewards.webhookUrl') },
    ...(role === 'migrate'
      ? []
      : [{ name: 'NODE_OPTIONS', value: str(`${role}.nodeOptions`) }, ...catalogEnv(), ...tuningEnv()]),
    ...database,
    secretEnv('JWT_HS256_SECRET', 'secrets.jwtHs256SecretKey', true),
    secretEnv('JWT_PUBLIC_KEY_PEM', 'secrets.jwtPublicKeyPemKey', true),
    secretEnv('SERVICE_API_KEYS', 'secrets.serviceApiKeysKey', true),
    // With the webhook granter the pod refuses to start without the key instead of failing later.
    secretEnv(
      'WEBHOOK_SECRET',
      'secrets.webhookSecretKey',
      role === 'migrate' ? true : tpl<boolean>(`ne ${valuePath('config.rewards.granter')} "webhook"`),
    ),
    itemsOf<IEnvVar>('config.extraEnv'),
  ];
}

/** Helm condition: the catalog comes from a ChallengeCatalog resource. */
export const catalogFromKubernetes = (): string => `eq ${valuePath('catalog.source')} "kubernetes"`;

/** CATALOG_SOURCE=kubernetes: which resource, in the pod's own namespace (downward API). */
function catalogEnv(): IEnvVar[] {
  return whenItems<IEnvVar>(catalogFromKubernetes(), [
    { name: 'CATALOG_CRD_GROUP', value: str('catalog.crdGroup') },
    { name: 'CATALOG_RESOURCE_NAME', value: str('catalog.resourceName') },
    { name: 'CATALOG_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
  ]);
}

/**
 * RATE_LIMIT_EXPECTED_REPLICAS: the value, or (0) the api's usual replica count, which is the
 * autoscaler's floor when autoscaling is on.
 */
export const expectedReplicasExpr = (): string =>
  `${valuePath('config.rateLimits.expectedReplicas')} | default (ternary ${valuePath(
    'api.autoscaling.minReplicas',
  )} ${valuePath('api.replicas')} ${valuePath('autoscaling.enabled')}) | int | quote`;

/** Admission, rate limits, events and reward outbox settings (api and worker). */
function tuningEnv(): IEnvVar[] {
  const n = (name: string, p: string): IEnvVar => ({ name, value: intStr(p) });
  return [
    {
      name: 'ADMISSION_ENABLED',
      value: tpl(`${valuePath('config.admission.enabled')} | ternary "1" "0" | quote`),
    },
    n('ADMISSION_INITIAL_LIMIT', 'config.admission.initialLimit'),
    n('ADMISSION_MIN_LIMIT', 'config.admission.minLimit'),
    n('ADMISSION_MAX_LIMIT', 'config.admission.maxLimit'),
    n('ADMISSION_EVENTS_INITIAL_LIMIT', 'config.admission.eventsInitialLimit'),
    n('ADMISSION_EVENTS_MAX_LIMIT', 'config.admission.eventsMaxLimit'),
    n('ADMISSION_TARGET_LATENCY_MS', 'config.admission.targetLatencyMs'),
    n('ADMISSION_QUEUE_MAX', 'config.admission.queueMax'),
    n('ADMISSION_LIFO_AFTER_MS', 'config.admission.lifoAfterMs'),
    n('ADMISSION_MAX_QUEUE_WAIT_MS', 'config.admission.maxQueueWaitMs'),
    n('ADMISSION_QUEUE_DELAY_SLACK_MS', 'config.admission.queueDelaySlackMs'),
    n('ADMISSION_QUEUE_DELAY_INTERVAL_MS', 'config.admission.queueDelayIntervalMs'),
    n('ADMISSION_RETRY_AFTER_SPREAD_S', 'config.admission.retryAfterSpreadS'),
    n('RATE_LIMIT_PLAYER_PER_SEC', 'config.rateLimits.playerPerSec'),
    n('RATE_LIMIT_PLAYER_BURST', 'config.rateLimits.playerBurst'),
    n('RATE_LIMIT_INGEST_EVENTS_PER_SEC', 'config.rateLimits.ingestEventsPerSec'),
    n('RATE_LIMIT_INGEST_BURST', 'config.rateLimits.ingestBurst'),
    n('NEW_PLAYER_BUDGET_PER_SEC', 'config.rateLimits.newPlayerBudgetPerSec'),
    n('NEW_PLAYER_BUDGET_BURST', 'config.rateLimits.newPlayerBudgetBurst'),
    { name: 'RATE_LIMIT_EXPECTED_REPLICAS', value: tpl(expectedReplicasExpr()) },
    n('EVENTS_READ_COUNT', 'config.events.readCount'),
    n('EVENTS_APPLY_PARTITIONS', 'config.events.applyPartitions'),
    n('EVENTS_MAX_DELIVERIES', 'config.events.maxDeliveries'),
    n('PROCESSED_EVENTS_RETENTION_MS', 'config.events.processedEventsRetentionMs'),
    n('REWARD_MAX_ATTEMPTS', 'config.rewards.maxAttempts'),
    n('REWARD_MAX_AGE_MS', 'config.rewards.maxAgeMs'),
  ];
}

const httpProbe = (path: string, periodSeconds: number, failureThreshold: number): IProbe => ({
  httpGet: { path, port: 'ops' },
  periodSeconds,
  timeoutSeconds: 1,
  failureThreshold,
});

const grpcProbe = (periodSeconds: number, failureThreshold: number): IProbe => ({
  grpc: { port: GRPC_PORT },
  periodSeconds,
  timeoutSeconds: 1,
  failureThreshold,
});

/** Startup allows 60 s to boot (catalog load, PG connect); liveness is lenient, readiness quick. */
export const serviceProbes = (): Pick<IContainer, 'startupProbe' | 'livenessProbe' | 'readinessProbe'> => ({
  startupProbe: httpProbe('/healthz', 2, 30),
  livenessProbe: httpProbe('/healthz', 10, 3),
  readinessProbe: httpProbe('/readyz', 5, 2),
});

export const tmpVolume = { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } };
const tmpMount = { name: 'tmp', mountPath: '/tmp' };

export function topologySpread(component: Component): ITopologySpreadConstraint[] {
  return ['topology.kubernetes.io/zone', 'kubernetes.io/hostname'].map((topologyKey) => ({
    maxSkew: 1,
    topologyKey,
    whenUnsatisfiable: 'ScheduleAnyway',
    labelSelector: { matchLabels: selectorLabels(component) },
    matchLabelKeys: ['pod-template-hash'],
  }));
}

function serviceContainer(role: Role, resourcesPath: string): IContainer {
  const ports =
    role === 'api'
      ? [
          { name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' as const },
          { name: 'ops', containerPort: OPS_PORT, protocol: 'TCP' as const },
          { name: 'grpc', containerPort: GRPC_PORT, protocol: 'TCP' as const },
        ]
      : role === 'worker'
        ? [{ name: 'ops', containerPort: OPS_PORT, protocol: 'TCP' as const }]
        : [];
  return {
    name: role,
    image: tpl('include "challenge-service.image" .'),
    imagePullPolicy: str<'IfNotPresent'>('image.pullPolicy'),
    env: serviceEnv(role),
    ...(ports.length ? { ports } : {}),
    resources: yamlOf<IResourceRequirements>(resourcesPath),
    securityContext: containerSecurityContext(),
    volumeMounts: [
      tmpMount,
      ...(role === 'migrate' ? [] : [{ name: 'catalog', mountPath: CATALOG_DIR, readOnly: true }]),
    ],
    ...(role === 'migrate' ? {} : serviceProbes()),
    // api: liveness also asks the gRPC health service, so a pod whose event ingest stopped answering is restarted.
    ...(role === 'api' ? { livenessProbe: grpcProbe(10, 3) } : {}),
    ...(role === 'api'
      ? { lifecycle: { preStop: { sleep: { seconds: num('api.preStopSleepSeconds') } } } }
      : {}),
  };
}

/** The service account of api and worker pods (always created; see cdk8s/catalog.ts). */
export const serviceAccountName = (): string => fullname('app');

function podSpec(role: Role, extra: Partial<IPodSpec>): IPodSpec {
  return {
    // Only the kubernetes catalog source talks to the API server; otherwise no token is mounted.
    ...(role === 'migrate'
      ? { automountServiceAccountToken: false }
      : {
          serviceAccountName: serviceAccountName(),
          automountServiceAccountToken: tpl<boolean>(catalogFromKubernetes()),
        }),
    enableServiceLinks: false,
    securityContext: podSecurityContext(),
    imagePullSecrets: yamlOf('image.pullSecrets'),
    containers: [serviceContainer(role, `${role}.resources`)],
    volumes: [
      tmpVolume,
      ...(role === 'migrate' ? [] : [{ name: 'catalog', configMap: { name: catalogConfigMapName() } }]),
    ],
    ...extra,
  };
}

function serviceDeployment(scope: Construct, role: 'api' | 'worker'): void {
  // SIGTERM arrives after preStop; the pod then gets SHUTDOWN_GRACE_MS plus 5 s of slack.
  const preStop = role === 'api' ? ` ${valuePath('api.preStopSleepSeconds')}` : '';
  const grace = tpl<number>(`add (div ${valuePath('config.shutdownGraceMs')} 1000)${preStop} 5 | int`);
  addObject<IDeployment>(
    scope,
    `${role}-deployment`,
    { file: `${role}-deployment.yaml` },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(role),
      spec: {
        // Under an autoscaler the Deployment leaves replicas alone, so upgrades do not reset them.
        ...when(`not ${valuePath('autoscaling.enabled')}`, { replicas: num(`${role}.replicas`) }),
        revisionHistoryLimit: 5,
        selector: { matchLabels: selectorLabels(role) },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
        template: {
          metadata: { labels: labels(role), annotations: yamlOf(`${role}.podAnnotations`) },
          spec: podSpec(role, {
            terminationGracePeriodSeconds: grace,
            topologySpreadConstraints: topologySpread(role),
            nodeSelector: yamlOf(`${role}.nodeSelector`),
            tolerations: yamlOf(`${role}.tolerations`),
            affinity: yamlOf(`${role}.affinity`),
          }),
        },
      },
    },
  );
  addObject<IPodDisruptionBudget>(
    scope,
    `${role}-pdb`,
    { file: `${role}-pdb.yaml` },
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: meta(role),
      spec: { minAvailable: num(`${role}.minAvailable`), selector: { matchLabels: selectorLabels(role) } },
    },
  );
}

export const HOOK_ANNOTATIONS = {
  'helm.sh/hook': 'pre-install,pre-upgrade',
  'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded',
};

export class ServiceWorkloads extends Construct {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    serviceDeployment(this, 'api');
    serviceDeployment(this, 'worker');

    addObject<IJob>(
      this,
      'migrate-job',
      { file: 'migrate-job.yaml', when: valuePath('migrate.enabled') },
      {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { ...meta('migrate'), annotations: { ...HOOK_ANNOTATIONS, 'helm.sh/hook-weight': '0' } },
        spec: {
          backoffLimit: num('migrate.backoffLimit'),
          activeDeadlineSeconds: num('migrate.activeDeadlineSeconds'),
          template: {
            metadata: { labels: labels('migrate') },
            spec: podSpec('migrate', { restartPolicy: 'Never' }),
          },
        },
      },
    );

    addObject<IService>(
      this,
      'api-service',
      { file: 'api-service.yaml' },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta('api'),
        spec: {
          type: str<'ClusterIP'>('service.type'),
          selector: selectorLabels('api'),
          ports: [
            { name: 'http', port: num('service.port'), targetPort: 'http', protocol: 'TCP' },
            { name: 'ops', port: num('service.opsPort'), targetPort: 'ops', protocol: 'TCP' },
            { name: 'grpc', port: num('service.grpcPort'), targetPort: 'grpc', protocol: 'TCP' },
          ],
        },
      },
    );
    addObject<IService>(
      this,
      'worker-service',
      { file: 'worker-service.yaml' },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta('worker'),
        spec: {
          type: 'ClusterIP',
          selector: selectorLabels('worker'),
          ports: [{ name: 'ops', port: num('service.opsPort'), targetPort: 'ops', protocol: 'TCP' }],
        },
      },
    );

    addObject<IConfigMap>(
      this,
      'catalog',
      { file: 'catalog-configmap.yaml', when: `not ${valuePath('catalog.existingConfigMap')}` },
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: catalogConfigMapName(), labels: labels('api') },
        data: { 'catalog.json': tpl(`${valuePath('catalog.json')} | toJson`) },
      },
    );
  }
}
