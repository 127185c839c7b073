// The chart's values: defaults, one comment each, and JSON-schema hints, in one tree.
// values.yaml and values.schema.json are both written from it, and constructs may only
// reference paths that exist here (and every path must be referenced by something).
import YAML from 'yaml';
import { DEFAULT_CATALOG_GROUP } from '../app/catalog/crd';
import { block, splice, tpl } from './helm';

interface Leaf {
  readonly kind: 'leaf';
  readonly value: unknown;
  readonly doc: string;
  readonly schema: Record<string, unknown>;
}
interface Group {
  readonly kind: 'group';
  readonly doc: string;
  readonly children: Readonly<Record<string, Node>>;
}
type Node = Leaf | Group;

const v = (value: unknown, doc: string, schema: Record<string, unknown> = {}): Leaf => ({
  kind: 'leaf',
  value,
  doc,
  schema,
});
const g = (doc: string, children: Record<string, Node>): Group => ({ kind: 'group', doc, children });

const nonNegInt = { minimum: 0 };
const posInt = { minimum: 1 };

const resources = (cpuReq: string, memReq: string, cpuLim: string, memLim: string, what: string): Leaf =>
  v(
    { requests: { cpu: cpuReq, memory: memReq }, limits: { cpu: cpuLim, memory: memLim } },
    `CPU/memory requests and limits of ${what} (both are required: the chart's tests refuse a container without them).`,
    {
      required: ['requests', 'limits'],
      properties: {
        requests: { type: 'object', required: ['cpu', 'memory'] },
        limits: { type: 'object', required: ['cpu', 'memory'] },
      },
    },
  );

const scheduling = (what: string): Record<string, Node> => ({
  nodeSelector: v({}, `Node selector for ${what} pods.`),
  tolerations: v([], `Tolerations for ${what} pods.`),
  affinity: v({}, `Affinity for ${what} pods (topology spread constraints are set separately).`),
  podAnnotations: v({}, `Extra annotations on ${what} pods.`),
});

/** A tiny valid catalog so a bare install starts; replace it with `--set-file catalog.json=<file>`. */
const EXAMPLE_CATALOG =
  JSON.stringify(
    {
      challenges: [
        {
          challengeId: 'daily-login',
          name: 'Daily Login',
          description: 'Log in to earn gems',
          goals: [
            {
              goalId: 'daily-login-1',
              name: 'First login',
              description: 'Log in once',
              eventSource: 'login',
              requirement: {
                statCode: 'login_count',
                operator: '>=',
                targetValue: 1,
                progressMode: 'absolute',
              },
              reward: { type: 'WALLET', rewardId: 'GEMS', quantity: 10 },
              prerequisites: [],
              defaultAssigned: true,
            },
          ],
        },
      ],
    },
    null,
    2,
  ) + '\n';

export const valuesSpec: Group = g('', {
  nameOverride: v('', 'Replaces the chart name in object names.'),
  fullnameOverride: v('', 'Replaces the whole `<release>-<chart>` prefix of object names.'),
  image: g('The service image (one image, three roles).', {
    repository: v('ghcr.io/example/challenge-service', 'Image repository.', { minLength: 1 }),
    tag: v('', "Image tag; empty = the chart's appVersion."),
    pullPolicy: v('IfNotPresent', 'Image pull policy.', { enum: ['Always', 'IfNotPresent', 'Never'] }),
    pullSecrets: v([], 'Image pull secrets, e.g. `[{name: regcred}]`.'),
  }),
  podSecurity: g('Identity every pod runs as (numeric, non-root; the image uses the same uid).', {
    runAsUser: v(10001, 'User id.', posInt),
    runAsGroup: v(10001, 'Group id.', posInt),
  }),
  secrets: g(
    'References to ONE existing Secret the chart never creates or reads; create it before installing.',
    {
      name: v('challenge-service', 'Name of the existing Secret in the release namespace.', { minLength: 1 }),
      databaseUrlKey: v(
        'database-url',
        'Key holding DATABASE_URL: the pooled URL (points at PgBouncer when pgbouncer.enabled).',
      ),
      databaseDirectUrlKey: v(
        'database-direct-url',
        'Key holding DATABASE_DIRECT_URL: the direct PostgreSQL URL the migration Job uses.',
      ),
      redisUrlKey: v('redis-url', 'Key holding REDIS_URL.'),
      jwtHs256SecretKey: v('jwt-hs256-secret', 'Optional key holding JWT_HS256_SECRET.'),
      jwtPublicKeyPemKey: v('jwt-public-key-pem', 'Optional key holding JWT_PUBLIC_KEY_PEM.'),
      serviceApiKeysKey: v('service-api-keys', 'Optional key holding SERVICE_API_KEYS (comma separated).'),
      webhookSecretKey: v('webhook-secret', 'Optional key holding WEBHOOK_SECRET (reward webhook HMAC).'),
      pgbouncerUserlistKey: v(
        'pgbouncer-userlist',
        'Key holding PgBouncer userlist.txt (`"user" "SCRAM-SHA-256$..."` lines); used when pgbouncer.enabled.',
      ),
    },
  ),
  config: g('Plain (non-secret) settings passed to the service as environment variables.', {
    basePath: v('/challenge', 'BASE_PATH: prefix of every player route; the Ingress uses it too.', {
      pattern: '^/[A-Za-z0-9/_-]*$',
    }),
    logLevel: v('info', 'LOG_LEVEL.', {
      enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    }),
    requestDeadlineMs: v(
      2000,
      'REQUEST_DEADLINE_MS: every answer within this; the Ingress proxy timeouts are derived from it.',
      { minimum: 10 },
    ),
    apiMaxOpenRequests: v(
      1024,
      'API_MAX_OPEN_REQUESTS: requests open at once per api pod; beyond it 503 + Retry-After and the connection is closed (0 = no cap).',
      nonNegInt,
    ),
    shutdownGraceMs: v(
      10000,
      'SHUTDOWN_GRACE_MS: drain time after SIGTERM; terminationGracePeriodSeconds is derived from it.',
      nonNegInt,
    ),
    pgPoolMax: v(
      16,
      'PG_POOL_MAX: client connections per pod (to PgBouncer, or PostgreSQL without it).',
      posInt,
    ),
    pgStatementTimeoutMs: v(
      5000,
      'PG_STATEMENT_TIMEOUT_MS: server-side statement_timeout, set with SET LOCAL in each transaction.',
      nonNegInt,
    ),
    pgQueryTimeoutMs: v(
      5000,
      'PG_QUERY_TIMEOUT_MS: client-side timeout of every query, a backstop behind the deadline.',
      nonNegInt,
    ),
    serviceTokenScope: v('challenge:service', 'SERVICE_TOKEN_SCOPE: scope a service token must carry.'),
    jwtIssuer: v('', 'JWT_ISSUER checked on player tokens (empty = not checked).'),
    jwtAudience: v('', 'JWT_AUDIENCE checked on player tokens (empty = not checked).'),
    jwtJwksUrl: v(
      '',
      'JWT_JWKS_URL; one of this, secrets.jwtHs256SecretKey or secrets.jwtPublicKeyPemKey must be set.',
    ),
    admission: g(
      'Admission control of the api (docs/ADMISSION.md): adaptive concurrency limit and queue, per pod.',
      {
        enabled: v(
          true,
          'ADMISSION_ENABLED: false turns off the adaptive limit, the queue and every rate limit (benchmark baseline only).',
        ),
        initialLimit: v(
          32,
          'ADMISSION_INITIAL_LIMIT: starting concurrency limit of player database work.',
          posInt,
        ),
        minLimit: v(32, 'ADMISSION_MIN_LIMIT: floor of the adaptive limit.', posInt),
        maxLimit: v(256, 'ADMISSION_MAX_LIMIT: ceiling of the adaptive limit.', posInt),
        eventsInitialLimit: v(8, 'ADMISSION_EVENTS_INITIAL_LIMIT: starting limit of event ingest.', posInt),
        eventsMaxLimit: v(64, 'ADMISSION_EVENTS_MAX_LIMIT: ceiling of the event-ingest limit.', posInt),
        targetLatencyMs: v(
          40,
          'ADMISSION_TARGET_LATENCY_MS: completions slower than this shrink the limit; also bounds the service time of the queue delay target.',
          posInt,
        ),
        queueDelaySlackMs: v(
          5,
          'ADMISSION_QUEUE_DELAY_SLACK_MS: CoDel-like queue delay target = service time + this; a request that could not start within it gets 503 at once (0 = off).',
          nonNegInt,
        ),
        queueDelayIntervalMs: v(
          100,
          'ADMISSION_QUEUE_DELAY_INTERVAL_MS: CoDel interval; the target is enforced once the queue delay stayed above it this long.',
          nonNegInt,
        ),
        retryAfterSpreadS: v(
          2,
          'ADMISSION_RETRY_AFTER_SPREAD_S: Retry-After of admission refusals is 1 + uniform 0..this seconds.',
          nonNegInt,
        ),
        queueMax: v(
          512,
          'ADMISSION_QUEUE_MAX: requests waiting for a permit per pod; beyond it lower priorities, then newcomers, get 503.',
          nonNegInt,
        ),
        lifoAfterMs: v(
          1000,
          'ADMISSION_LIFO_AFTER_MS: the queue busy this long counts as sustained overload: newest first.',
          nonNegInt,
        ),
        maxQueueWaitMs: v(
          0,
          'ADMISSION_MAX_QUEUE_WAIT_MS: longest wait for a permit (0 = what the deadline allows); keeps served answers fresh under overload.',
          nonNegInt,
        ),
      },
    ),
    rateLimits: g('Rate limits and the fleet-wide new-player budget (429 / queued; 0 per second = off).', {
      playerPerSec: v(20, 'RATE_LIMIT_PLAYER_PER_SEC: token bucket per player.', nonNegInt),
      playerBurst: v(40, 'RATE_LIMIT_PLAYER_BURST.', posInt),
      ingestEventsPerSec: v(
        20000,
        'RATE_LIMIT_INGEST_EVENTS_PER_SEC: per service client, counted in events.',
        nonNegInt,
      ),
      ingestBurst: v(40000, 'RATE_LIMIT_INGEST_BURST.', posInt),
      newPlayerBudgetPerSec: v(
        4000,
        'NEW_PLAYER_BUDGET_PER_SEC: new-player initialisations per second, all pods together. Size it from what PostgreSQL sustains for initialise (docs/ADMISSION.md), not from api capacity.',
        nonNegInt,
      ),
      newPlayerBudgetBurst: v(400, 'NEW_PLAYER_BUDGET_BURST.', posInt),
      expectedReplicas: v(
        0,
        'RATE_LIMIT_EXPECTED_REPLICAS: fleet budgets are divided by it while Redis is down. 0 = derived: api.autoscaling.minReplicas (autoscaling on) or api.replicas.',
        nonNegInt,
      ),
    }),
    events: g('Event stream consumption by the worker (docs/EVENTS.md).', {
      readCount: v(2000, 'EVENTS_READ_COUNT: entries per worker batch (XREADGROUP COUNT).', {
        minimum: 1,
        maximum: 100000,
      }),
      applyPartitions: v(4, 'EVENTS_APPLY_PARTITIONS: concurrent apply statements per batch.', {
        minimum: 1,
        maximum: 64,
      }),
      maxDeliveries: v(
        5,
        'EVENTS_MAX_DELIVERIES: deliveries before an entry failing with a data error is dead-lettered.',
        { minimum: 1, maximum: 1000 },
      ),
      processedEventsRetentionMs: v(
        7 * 86400 * 1000,
        'PROCESSED_EVENTS_RETENTION_MS: processed event ids kept this long for duplicate suppression.',
        { minimum: 60000 },
      ),
    }),
    rewards: g('Reward delivery (docs/REWARDS.md).', {
      granter: v(
        'log',
        'GRANTER: `log`, or `webhook` (needs rewards.webhookUrl and the Secret key secrets.webhookSecretKey).',
        { enum: ['log', 'webhook'] },
      ),
      grantTimeoutMs: v(500, 'GRANT_TIMEOUT_MS: time a claim waits for its own grant.', posInt),
      webhookUrl: v('', 'WEBHOOK_URL when granter=webhook (allow it in networkPolicy.extraEgress).'),
      maxAttempts: v(50, 'REWARD_MAX_ATTEMPTS: outbox attempts before a grant goes dead.', posInt),
      maxAgeMs: v(72 * 3600 * 1000, 'REWARD_MAX_AGE_MS: a grant pending longer than this goes dead.', posInt),
    }),
    extraEnv: v([], 'Extra env entries (`[{name, value}]` or valueFrom) for api, worker and migration.'),
  }),
  catalog: g(
    'The challenge catalog (docs/CATALOGS.md). The file below is always mounted (CHALLENGE_CATALOG): the live catalog with source `file`, the boot catalog otherwise.',
    {
      source: v(
        'file',
        'CATALOG_SOURCE: `file` (the ConfigMap, watched), `kubernetes` (a ChallengeCatalog resource) or `admin` (published through the admin API).',
        { enum: ['file', 'kubernetes', 'admin'] },
      ),
      existingConfigMap: v('', 'Use this existing ConfigMap (key `catalog.json`) instead of the one below.'),
      json: v(EXAMPLE_CATALOG, 'Catalog JSON; set with `--set-file catalog.json=path/to/catalog.json`.'),
      crdGroup: v(
        DEFAULT_CATALOG_GROUP,
        'CATALOG_CRD_GROUP (source kubernetes): API group of the ChallengeCatalog CRD.',
        { pattern: '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$' },
      ),
      resourceName: v(
        'challenge-catalog',
        'CATALOG_RESOURCE_NAME (source kubernetes): the live ChallengeCatalog in the release namespace.',
        { pattern: '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$' },
      ),
      installCrd: v(
        true,
        'Source kubernetes: install the CRD with the release (kept on uninstall); false when it is managed elsewhere.',
      ),
      createResource: v(
        false,
        'Source kubernetes: create a starter ChallengeCatalog from catalog.json once, at install (post-install hook; upgrades never overwrite it).',
      ),
    },
  ),
  api: g('The api role: player API, event ingest, WebSocket push.', {
    replicas: v(2, 'Replicas when autoscaling is off.', posInt),
    resources: resources('500m', '256Mi', '2', '384Mi', 'the api container'),
    nodeOptions: v(
      '',
      'NODE_OPTIONS of the api, e.g. --max-old-space-size=192 to bound the resident set at the cost of p95 latency (measured in docs/DEPLOY.md).',
    ),
    minAvailable: v(
      1,
      'PodDisruptionBudget minAvailable; must stay below the smallest replica count.',
      nonNegInt,
    ),
    preStopSleepSeconds: v(5, 'Sleep before SIGTERM so load balancers stop sending first.', nonNegInt),
    autoscaling: g('Autoscaling bounds and targets for the api (either mode).', {
      minReplicas: v(2, 'Lowest replica count.', posInt),
      maxReplicas: v(20, 'Highest replica count.', posInt),
      targetLoadPerPod: v(32, 'Target in-flight + queued requests per pod (the custom metric).', posInt),
      targetCpuUtilization: v(70, 'Target CPU utilisation, percent of requests.', {
        minimum: 1,
        maximum: 100,
      }),
    }),
    ...scheduling('api'),
  }),
  worker: g('The worker role: event stream consumer and reward outbox relay.', {
    replicas: v(2, 'Replicas when autoscaling is off.', posInt),
    resources: resources('250m', '192Mi', '1', '320Mi', 'the worker container'),
    nodeOptions: v('', 'NODE_OPTIONS of the worker (Node runtime flags).'),
    minAvailable: v(
      1,
      'PodDisruptionBudget minAvailable; must stay below the smallest replica count.',
      nonNegInt,
    ),
    autoscaling: g('Autoscaling bounds and target for the worker (either mode).', {
      minReplicas: v(2, 'Lowest replica count.', posInt),
      maxReplicas: v(10, 'Highest replica count.', posInt),
      targetLagPerPod: v(5000, 'Target event-stream lag (entries) per worker pod.', posInt),
    }),
    ...scheduling('worker'),
  }),
  migrate: g('The migration Job, a pre-install/pre-upgrade hook using DATABASE_DIRECT_URL.', {
    enabled: v(true, 'Run migrations before install and upgrade.'),
    backoffLimit: v(3, 'Retries before the hook (and so the release) fails.', nonNegInt),
    activeDeadlineSeconds: v(600, 'Hard time limit of the Job.', posInt),
    resources: resources('100m', '128Mi', '1', '256Mi', 'the migration container'),
  }),
  service: g('Services of the api and the worker.', {
    type: v('ClusterIP', 'api Service type.', { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] }),
    port: v(8080, 'api Service port for the player API (container port is always 8080).', posInt),
    opsPort: v(9090, 'Service port of the ops endpoints (container port is always 9090).', posInt),
    grpcPort: v(
      6565,
      "api Service port of the gRPC event ingest (the platform's event delivery; container port is always 6565).",
      posInt,
    ),
  }),
  grpc: g("gRPC event ingest on api pods: the platform's event delivery (docs/EVENTS.md).", {
    namespace: v(
      '',
      'AB_NAMESPACE: the game namespace events must carry. Empty = events are refused (UNAVAILABLE) until set; health and reflection still answer.',
    ),
    allowFrom: v(
      [{ namespaceSelector: {} }],
      'NetworkPolicy peers allowed to call the gRPC port (`from` entries). Default: pods of any namespace; narrow it to the platform connector, or add an ipBlock for callers outside the cluster.',
    ),
  }),
  ingress: g('Ingress for ingress-nginx: player API and the WebSocket.', {
    enabled: v(true, 'Create the Ingress objects.'),
    className: v('nginx', 'IngressClass name.'),
    host: v('challenge.example.com', 'Public host name.', { minLength: 1 }),
    tlsSecretName: v('', 'Existing TLS Secret for the host (empty = no TLS section).'),
    annotations: v({}, 'Extra annotations on both Ingress objects (e.g. cert-manager).'),
    controllerNamespaceSelector: v(
      { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } },
      'NetworkPolicy: namespace of the ingress controller pods.',
    ),
    controllerPodSelector: v(
      { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } },
      'NetworkPolicy: labels of the ingress controller pods.',
    ),
    websocketTimeoutSeconds: v(3600, 'Idle timeout of WebSocket connections at the proxy.', posInt),
    upstreamKeepaliveConnections: v(
      64,
      'Idle keep-alive connections to the api kept per nginx worker (ingress-nginx ConfigMap upstream-keepalive-connections; the local stack applies it per upstream).',
      posInt,
    ),
    upstreamKeepaliveRequests: v(
      10000,
      'Requests per upstream keep-alive connection (upstream-keepalive-requests).',
      posInt,
    ),
    upstreamKeepaliveTimeoutSeconds: v(
      60,
      'Idle time of an upstream keep-alive connection (upstream-keepalive-timeout).',
      posInt,
    ),
    limitConnectionsPerIp: v(
      0,
      'Concurrent connections per client IP (annotation limit-connections; 0 = no limit). Players behind carrier NAT share an address: size it generously.',
      nonNegInt,
    ),
    limitRpsPerIp: v(0, 'Requests per second per client IP (annotation limit-rps; 0 = no limit).', nonNegInt),
    limitBurstMultiplier: v(
      5,
      'Burst allowed above limitRpsPerIp, as a multiple of it (limit-burst-multiplier).',
      posInt,
    ),
  }),
  autoscaling: g('Horizontal autoscaling on the service metrics (see docs/DEPLOY.md).', {
    enabled: v(true, 'Scale api and worker automatically.'),
    mode: v('hpa', '`hpa`: HorizontalPodAutoscalers fed by prometheus-adapter; `keda`: KEDA ScaledObjects.', {
      enum: ['hpa', 'keda'],
    }),
    adapterRules: v(true, 'In hpa mode, render the prometheus-adapter rules ConfigMap.'),
    scaleDownStabilizationSeconds: v(300, 'Wait before scaling down (both modes).', nonNegInt),
    prometheusAddress: v(
      'http://prometheus-operated.monitoring.svc:9090',
      'Prometheus URL KEDA queries in keda mode.',
      { minLength: 1 },
    ),
    kedaPollingInterval: v(15, 'KEDA polling interval, seconds.', posInt),
    kedaCooldownPeriod: v(300, 'KEDA cooldown period, seconds.', posInt),
    forceKeda: v(
      false,
      'Render even when the API server does not serve keda.sh/v1alpha1 ScaledObject (`helm template` without --api-versions, or its CRD installed in the same step); by default it is left out on clusters without it.',
    ),
  }),
  postgres: g('The PostgreSQL server behind PgBouncer; sizes the connection pools.', {
    host: v('postgres', 'Host PgBouncer connects to.', { minLength: 1 }),
    port: v(5432, 'Port of PostgreSQL.', posInt),
    maxConnections: v(100, 'PostgreSQL max_connections as configured on the server.', posInt),
    reservedConnections: v(
      10,
      'Connections kept free of PgBouncer: superuser_reserved_connections, the migration Job, admin sessions.',
      nonNegInt,
    ),
    peers: v(
      [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'postgresql' } } }],
      'NetworkPolicy peers (`to` entries) that are PostgreSQL: podSelector/namespaceSelector or ipBlock.',
    ),
  }),
  redis: g('Redis (not deployed by this chart).', {
    port: v(6379, 'Redis port, for NetworkPolicy egress.', posInt),
    peers: v(
      [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'redis' } } }],
      'NetworkPolicy peers (`to` entries) that are Redis.',
    ),
  }),
  pgbouncer: g('PgBouncer in transaction mode between the pods and PostgreSQL.', {
    enabled: v(true, 'Deploy PgBouncer (disable when the database already has a pooler).'),
    image: g('PgBouncer image; must run `pgbouncer <ini>` and ship the pgbouncer binary.', {
      repository: v('edoburu/pgbouncer', 'Image repository.', { minLength: 1 }),
      tag: v('v1.24.1-p1', 'Image tag.', { minLength: 1 }),
      pullPolicy: v('IfNotPresent', 'Image pull policy.', { enum: ['Always', 'IfNotPresent', 'Never'] }),
    }),
    replicas: v(2, 'PgBouncer replicas (fixed; the pool size is divided between them).', posInt),
    minAvailable: v(1, 'PodDisruptionBudget minAvailable.', nonNegInt),
    port: v(6432, 'Listen port.', posInt),
    database: v('challenge', 'PostgreSQL database name clients connect to.', { minLength: 1 }),
    maxClientConn: v(
      4000,
      'max_client_conn per PgBouncer; needs >= (api+worker max replicas) x config.pgPoolMax / replicas.',
      posInt,
    ),
    reservePoolSize: v(
      2,
      'reserve_pool_size per PgBouncer (counted in the server connection budget).',
      nonNegInt,
    ),
    maxPreparedStatements: v(
      200,
      'max_prepared_statements (protocol-level prepared statements in transaction mode).',
      nonNegInt,
    ),
    resources: resources('100m', '64Mi', '1', '128Mi', 'PgBouncer'),
    ...scheduling('PgBouncer'),
  }),
  networkPolicy: g('NetworkPolicies: deny by default, allow only the listed paths.', {
    enabled: v(true, 'Create the NetworkPolicies.'),
    prometheusNamespaceSelector: v(
      { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
      'Namespace of Prometheus (allowed to scrape ops port 9090).',
    ),
    prometheusPodSelector: v(
      { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
      'Labels of the Prometheus pods.',
    ),
    dnsPeers: v(
      [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
          podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
        },
      ],
      'Peers serving DNS (port 53 UDP/TCP).',
    ),
    kubeApiPeers: v(
      [],
      'Catalog source kubernetes: peers (`to` entries) of the Kubernetes API server, reached on 443/6443. Empty = any address; narrow it to the API endpoints (`kubectl get endpoints kubernetes`).',
    ),
    extraEgress: v(
      [],
      'Extra egress rules for api and worker, e.g. to the JWKS host or the reward webhook (`[{to, ports}]`).',
    ),
  }),
  serviceMonitor: g('prometheus-operator ServiceMonitors for the ops ports.', {
    enabled: v(true, 'Create ServiceMonitors for api and worker.'),
    interval: v('15s', 'Scrape interval.', { pattern: '^[0-9]+(ms|s|m)$' }),
    labels: v(
      {},
      'Extra labels so your Prometheus selects the ServiceMonitors (e.g. `release: kube-prometheus`).',
    ),
    force: v(
      false,
      'Render even when the API server does not serve monitoring.coreos.com/v1 ServiceMonitor (`helm template` without --api-versions, or its CRD installed in the same step); by default it is left out on clusters without it.',
    ),
  }),
  prometheusRule: g(
    'Alert rules generated from dashboards/rules/alerts.yaml (when the chart was built with it).',
    {
      enabled: v(true, 'Create the PrometheusRule (if the chart contains one).'),
      labels: v({}, 'Extra labels so your Prometheus selects the rule.'),
      force: v(
        false,
        'Render even when the API server does not serve monitoring.coreos.com/v1 PrometheusRule (`helm template` without --api-versions, or its CRD installed in the same step); by default it is left out on clusters without it.',
      ),
    },
  ),
  operator: g(
    'The ChallengeService operator (docs/DEPLOY.md): applies this chart for each ChallengeService of the release namespace.',
    {
      enabled: v(
        false,
        'Deploy the operator (its Deployment, ServiceAccount, Role) instead of, or beside, a Helm-managed service.',
      ),
      installCrd: v(true, 'Render the ChallengeService CRD (cluster-scoped, kept on uninstall).'),
      resyncSeconds: v(300, 'Re-apply every ChallengeService this often (drift repair).', posInt),
      resources: resources('50m', '128Mi', '500m', '256Mi', 'the operator container'),
    },
  ),
  testRun: g('k6-operator TestRun for load tests in the cluster (off by default).', {
    enabled: v(false, 'Create the TestRun (starts a test on install).'),
    launcherRbac: v(
      true,
      'With enabled: a ServiceAccount <fullname>-loadtest and a Role with exactly what `npm run loadtest:cluster` needs in the release namespace (ConfigMap, TestRun, runner pod logs); run the CLI with its token.',
    ),
    force: v(
      false,
      'Render even when the API server does not serve k6.io/v1alpha1 TestRun (`helm template` without --api-versions, or its CRD installed in the same step); by default it is left out on clusters without it.',
    ),
    parallelism: v(4, 'Number of k6 runner pods.', posInt),
    scriptConfigMap: v('challenge-loadtest', 'Existing ConfigMap holding the k6 script.', { minLength: 1 }),
    scriptFile: v('scenario.js', 'Key (file name) of the script in that ConfigMap.', { minLength: 1 }),
    arguments: v('', 'Extra k6 arguments (appended after the output flag).'),
    prometheusRemoteWriteUrl: v(
      'http://prometheus-operated.monitoring.svc:9090/api/v1/write',
      'K6_PROMETHEUS_RW_SERVER_URL: where k6 writes its metrics.',
      { minLength: 1 },
    ),
    runnerImage: v('grafana/k6:1.3.0', 'k6 runner image.', { minLength: 1 }),
    resources: resources('500m', '256Mi', '2', '1Gi', 'each k6 runner'),
  }),
});

// --- lookups for constructs --------------------------------------------------------------

const used = new Set<string>();

function leafAt(path: string): Leaf {
  let node: Node = valuesSpec;
  for (const part of path.split('.')) {
    if (node.kind !== 'group' || !(part in node.children)) throw new Error(`no chart value ${path}`);
    node = node.children[part]!;
  }
  if (node.kind !== 'leaf') throw new Error(`${path} is a group, not a value`);
  used.add(path);
  return node;
}

/** Reference a value in a Helm expression string; checks the path exists. */
export function valuePath(path: string): string {
  leafAt(path);
  return `.Values.${path}`;
}

/** An integer value written bare (`| int` keeps Helm from printing 1e+06). */
export const num = (path: string): number => tpl<number>(`${valuePath(path)} | int`);
/** An integer value as a quoted string (env vars, KEDA metadata, quantities). */
export const intStr = (path: string): string => tpl(`${valuePath(path)} | int | quote`);
export const flag = (path: string): boolean => tpl<boolean>(valuePath(path));
/** A string value, quoted. */
export const str = <T extends string = string>(path: string): T => tpl<T>(`${valuePath(path)} | quote`);
/** A mapping or list value written with toYaml. */
export const yamlOf = <T>(path: string): T => block<T>(valuePath(path));
/** A list value appended to a list. */
export const itemsOf = <T>(path: string): T => splice<T>(valuePath(path));
/** The default of a value, for computations in TypeScript that tests repeat against renders. */
export const defaultOf = (path: string): unknown => leafAt(path).value;

export function resetUsage(): void {
  used.clear();
}

function allPaths(node: Group, prefix = ''): string[] {
  return Object.entries(node.children).flatMap(([k, child]) =>
    child.kind === 'leaf' ? [prefix + k] : allPaths(child, `${prefix}${k}.`),
  );
}

/** Every group and value path of the spec, e.g. `api`, `api.autoscaling.minReplicas`. */
export function specPaths(node: Group = valuesSpec, prefix = ''): string[] {
  return Object.entries(node.children).flatMap(([k, child]) =>
    child.kind === 'leaf' ? [prefix + k] : [prefix + k, ...specPaths(child, `${prefix}${k}.`)],
  );
}

/** Values no construct or helper references: dead settings an SRE would set for nothing. */
export function unusedValues(alsoUsed: readonly string[]): string[] {
  return allPaths(valuesSpec).filter((p) => !used.has(p) && !alsoUsed.includes(p));
}

// --- values.yaml and values.schema.json --------------------------------------------------

function yamlValue(value: unknown, indent: number): string {
  const pad = ' '.repeat(indent);
  if (typeof value === 'string' && value.includes('\n')) {
    const body = value.endsWith('\n') ? value.slice(0, -1) : value;
    return ` ${value.endsWith('\n') ? '|' : '|-'}\n${body
      .split('\n')
      .map((l) => (l ? pad + '  ' + l : ''))
      .join('\n')}`;
  }
  const isEmpty =
    (typeof value === 'object' && value !== null && Object.keys(value).length === 0) ||
    typeof value !== 'object';
  if (isEmpty) return ' ' + YAML.stringify(value, { lineWidth: 0, flowCollectionPadding: false }).trimEnd();
  const text = YAML.stringify(value, { lineWidth: 0 }).trimEnd();
  return (
    '\n' +
    text
      .split('\n')
      .map((l) => pad + '  ' + l)
      .join('\n')
  );
}

function emitValues(node: Group, indent: number): string[] {
  const pad = ' '.repeat(indent);
  const out: string[] = [];
  for (const [key, child] of Object.entries(node.children)) {
    if (indent === 0) out.push('');
    out.push(`${pad}# ${child.doc}`);
    if (child.kind === 'leaf') out.push(`${pad}${key}:${yamlValue(child.value, indent)}`);
    else out.push(`${pad}${key}:`, ...emitValues(child, indent + 2));
  }
  return out;
}

export function valuesYaml(): string {
  return (
    [
      '# Values of the challenge-service chart. Generated from cdk8s/values.ts by `make chart`: edit there.',
      '# Every value is described above its key; docs/DEPLOY.md lists the ones an SRE must set.',
      ...emitValues(valuesSpec, 0),
    ].join('\n') + '\n'
  );
}

function typeOf(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function schemaOf(node: Node): Record<string, unknown> {
  if (node.kind === 'leaf') {
    return { description: node.doc, type: typeOf(node.value), ...node.schema };
  }
  return {
    ...(node.doc ? { description: node.doc } : {}),
    type: 'object',
    additionalProperties: false,
    properties: Object.fromEntries(Object.entries(node.children).map(([k, c]) => [k, schemaOf(c)])),
  };
}

export function valuesSchema(): string {
  const schema = {
    $schema: 'https://json-schema.org/draft-07/schema#',
    title: 'challenge-service chart values',
    ...schemaOf(valuesSpec),
  };
  return JSON.stringify(schema, null, 2) + '\n';
}
