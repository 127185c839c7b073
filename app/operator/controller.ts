// The ChallengeService operator (issue 16): for each ChallengeService (spec = the chart's values)
// it renders the chart of the cdk8s constructs (render.ts) and server-side-applies every object
// with one field manager and an owner reference to the ChallengeService, so deleting it lets the
// garbage collector remove them. Objects it applied earlier that the spec no longer renders are
// deleted. An invalid spec sets Ready=False with the reason and applies nothing. Status carries
// observedGeneration and conditions, written only when they change. Like Helm's pre-install /
// pre-upgrade hooks, the migration Job (and its NetworkPolicy) is applied first and the rest only
// once that Job has completed: until then Ready=False reason MigrationPending (MigrationFailed when
// the Job failed), and the ChallengeService is looked at again every migrationPollMs.
import type * as K8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { InvalidValues, RenderRefused, renderObjects, type KubeObject } from './render';
import { CHALLENGE_SERVICE_GROUP, CHALLENGE_SERVICE_PLURAL, CHALLENGE_SERVICE_VERSION } from './crd';

type K8sModule = typeof import('@kubernetes/client-node');

export const FIELD_MANAGER = 'challenge-service-operator';
export const OWNER_LABEL = `${CHALLENGE_SERVICE_GROUP}/challengeservice`;
/** The third-party APIs the chart asks about (.Capabilities.APIVersions.Has). */
const OPTIONAL_APIS: [string, string][] = [
  ['monitoring.coreos.com/v1', 'ServiceMonitor'],
  ['monitoring.coreos.com/v1', 'PrometheusRule'],
  ['keda.sh/v1alpha1', 'ScaledObject'],
  ['k6.io/v1alpha1', 'TestRun'],
];
const CLUSTER_SCOPED = new Set([
  'CustomResourceDefinition',
  'ClusterRole',
  'ClusterRoleBinding',
  'Namespace',
]);

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration: number;
  lastTransitionTime: string;
}

export interface ChallengeServiceStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  objects?: number;
}

export interface ChallengeService extends K8s.KubernetesObject {
  metadata: K8s.V1ObjectMeta & { name: string; namespace: string; uid: string };
  spec?: Record<string, unknown>;
  status?: ChallengeServiceStatus;
}

export interface OperatorOptions {
  /** Namespace to watch; empty = all namespaces. */
  readonly namespace: string;
  readonly resyncMs: number;
  /** How often a ChallengeService waiting for its migration Job is reconciled again (default 2 s). */
  readonly migrationPollMs?: number;
}

/** Helm's pre-install / pre-upgrade hooks: applied first, in hook-weight order. */
const isPreHook = (o: KubeObject) =>
  /pre-(install|upgrade)/.test(o.metadata.annotations?.['helm.sh/hook'] ?? '');
const hookWeight = (o: KubeObject) => Number(o.metadata.annotations?.['helm.sh/hook-weight'] ?? 0);

const keyOf = (o: { apiVersion?: string; kind?: string; metadata?: { namespace?: string; name?: string } }) =>
  `${o.apiVersion}/${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;

export class ChallengeServiceOperator {
  private informer?: K8s.Informer<ChallengeService> & K8s.ObjectCache<ChallengeService>;
  private readonly custom: K8s.CustomObjectsApi;
  private readonly queue = new Map<string, ChallengeService>();
  private running: Promise<void> | undefined;
  private stopped = false;
  private resyncTimer?: NodeJS.Timeout;
  /** Reconciles done (tests wait on it). */
  reconciles = 0;

  constructor(
    private readonly k8s: K8sModule,
    private readonly kc: K8s.KubeConfig,
    private readonly log: Logger,
    private readonly opts: OperatorOptions,
  ) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
  }

  async start(): Promise<void> {
    const base = `/apis/${CHALLENGE_SERVICE_GROUP}/${CHALLENGE_SERVICE_VERSION}`;
    const path = this.opts.namespace
      ? `${base}/namespaces/${this.opts.namespace}/${CHALLENGE_SERVICE_PLURAL}`
      : `${base}/${CHALLENGE_SERVICE_PLURAL}`;
    const list = () =>
      (this.opts.namespace
        ? this.custom.listNamespacedCustomObject({
            group: CHALLENGE_SERVICE_GROUP,
            version: CHALLENGE_SERVICE_VERSION,
            namespace: this.opts.namespace,
            plural: CHALLENGE_SERVICE_PLURAL,
          })
        : this.custom.listClusterCustomObject({
            group: CHALLENGE_SERVICE_GROUP,
            version: CHALLENGE_SERVICE_VERSION,
            plural: CHALLENGE_SERVICE_PLURAL,
          })) as Promise<K8s.KubernetesListObject<ChallengeService>>;
    this.informer = this.k8s.makeInformer<ChallengeService>(this.kc, path, list);
    this.informer.on('add', (o) => this.enqueue(o));
    this.informer.on('update', (o) => this.enqueue(o));
    this.informer.on('error', (err) => {
      if (this.stopped) return;
      this.log.warn({ err }, 'ChallengeService watch failed; restarting');
      setTimeout(() => void this.informer?.start().catch(() => undefined), 1000).unref();
    });
    await this.informer.start();
    this.resyncTimer = setInterval(() => {
      for (const o of this.informer?.list() ?? []) this.enqueue(o);
    }, this.opts.resyncMs);
    this.resyncTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await this.informer?.stop();
    await this.running;
  }

  private enqueue(o: ChallengeService): void {
    if (this.stopped || o.metadata.deletionTimestamp) return;
    this.queue.set(`${o.metadata.namespace}/${o.metadata.name}`, o);
    if (!this.running) this.running = this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.size && !this.stopped) {
        const [k, o] = this.queue.entries().next().value as [string, ChallengeService];
        this.queue.delete(k);
        try {
          await this.reconcile(o);
        } catch (err) {
          this.log.error({ err, resource: k }, 'reconcile failed');
        }
        this.reconciles++;
      }
    } finally {
      this.running = undefined;
    }
  }

  private async servedApis(client: K8s.KubernetesObjectApi): Promise<Set<string>> {
    const served = new Set<string>();
    for (const [apiVersion, kind] of OPTIONAL_APIS) {
      // Discovery through the client's own cached lookup (protected in its typings).
      const discover = client as unknown as {
        resource: (apiVersion: string, kind: string) => Promise<K8s.V1APIResource | undefined>;
      };
      const r = await discover.resource(apiVersion, kind).catch(() => undefined);
      if (r) served.add(`${apiVersion}/${kind}`);
    }
    return served;
  }

  /** Renders and applies one ChallengeService; public for tests. */
  async reconcile(cr: ChallengeService): Promise<void> {
    const { name, namespace, uid } = cr.metadata;
    const generation = cr.metadata.generation ?? 0;
    const client = this.k8s.KubernetesObjectApi.makeApiClient(this.kc);
    let objects: KubeObject[];
    try {
      objects = renderObjects({
        values: cr.spec ?? {},
        releaseName: name,
        namespace,
        apiVersions: await this.servedApis(client),
        service: FIELD_MANAGER,
      });
    } catch (err) {
      if (err instanceof InvalidValues || err instanceof RenderRefused) {
        const reason = err instanceof InvalidValues ? 'InvalidSpec' : 'RenderRefused';
        this.log.warn(
          { resource: `${namespace}/${name}`, reason, err: err.message },
          'ChallengeService not applied',
        );
        await this.writeStatus(cr, { status: 'False', reason, message: err.message }, undefined);
        return;
      }
      throw err;
    }
    const owner = {
      apiVersion: `${CHALLENGE_SERVICE_GROUP}/${CHALLENGE_SERVICE_VERSION}`,
      kind: 'ChallengeService',
      name,
      uid,
      controller: true,
      blockOwnerDeletion: true,
    };
    const applied = new Set<string>();
    const failures: string[] = [];
    const preHooks = objects.filter(isPreHook).sort((a, b) => hookWeight(a) - hookWeight(b));
    const ordered = [...preHooks, ...objects.filter((o) => !isPreHook(o))];
    let migrationChecked = !preHooks.some((o) => o.kind === 'Job');
    for (const o of ordered) {
      if (!migrationChecked && !isPreHook(o)) {
        migrationChecked = true;
        if (failures.length) break;
        const wait = await this.migrationState(client, preHooks, namespace);
        if (wait) {
          await this.writeStatus(cr, { status: 'False', ...wait }, objects.length);
          if (wait.reason === 'MigrationPending') this.retryLater(cr);
          this.log.info({ resource: `${namespace}/${name}`, generation, ...wait }, 'waiting for migration');
          return;
        }
      }
      const hook = o.metadata.annotations?.['helm.sh/hook'] ?? '';
      const clusterScoped = CLUSTER_SCOPED.has(o.kind);
      const body: KubeObject = {
        ...o,
        metadata: {
          ...o.metadata,
          ...(clusterScoped ? {} : { namespace, ownerReferences: [owner] }),
          labels: { ...o.metadata.labels, [OWNER_LABEL]: name },
        },
      };
      applied.add(keyOf(body));
      try {
        if (hook && !hook.includes('pre-upgrade') && !hook.includes('post-upgrade')) {
          // Install-only hooks (the starter ChallengeCatalog): created once, never updated.
          const exists = await client.read(body as never).then(
            () => true,
            () => false,
          );
          if (!exists)
            await client.create(
              this.k8s.loadYaml<K8s.KubernetesObject>(JSON.stringify(body)),
              undefined,
              undefined,
              FIELD_MANAGER,
            );
          continue;
        }
        await this.apply(client, body);
      } catch (err) {
        failures.push(`${o.kind}/${o.metadata.name}: ${errorMessage(err)}`);
      }
    }
    if (!failures.length) await this.prune(client, cr, applied);
    if (failures.length) {
      await this.writeStatus(
        cr,
        { status: 'False', reason: 'ApplyFailed', message: failures.join('; ') },
        objects.length,
      );
    } else {
      await this.writeStatus(
        cr,
        { status: 'True', reason: 'Applied', message: `${objects.length} objects applied` },
        objects.length,
      );
    }
    this.log.info(
      { resource: `${namespace}/${name}`, generation, objects: objects.length, failures: failures.length },
      'reconciled',
    );
  }

  /** Undefined when every pre-hook Job has completed; else why the workloads wait. */
  private async migrationState(
    client: K8s.KubernetesObjectApi,
    preHooks: KubeObject[],
    namespace: string,
  ): Promise<{ reason: 'MigrationPending' | 'MigrationFailed'; message: string } | undefined> {
    for (const o of preHooks.filter((h) => h.kind === 'Job')) {
      const job = (await client
        .read({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, namespace } })
        .catch(() => undefined)) as K8s.V1Job | undefined;
      const conditions = job?.status?.conditions ?? [];
      const has = (type: string) => conditions.some((c) => c.type === type && c.status === 'True');
      if (has('Failed'))
        return {
          reason: 'MigrationFailed',
          message: `Job ${o.metadata.name} failed; the workloads were not applied`,
        };
      if (!has('Complete'))
        return {
          reason: 'MigrationPending',
          message: `waiting for Job ${o.metadata.name} to complete before applying the workloads`,
        };
    }
    return undefined;
  }

  private retryLater(cr: ChallengeService): void {
    const key = `${cr.metadata.namespace}/${cr.metadata.name}`;
    setTimeout(() => {
      const cur = this.informer?.list().find((o) => `${o.metadata.namespace}/${o.metadata.name}` === key);
      if (cur) this.enqueue(cur);
    }, this.opts.migrationPollMs ?? 2000).unref();
  }

  private async apply(client: K8s.KubernetesObjectApi, raw: KubeObject): Promise<void> {
    // Typed through loadYaml: the client's serialiser drops fields of plain objects it does not
    // know by their JSON names (a CRD's x-kubernetes-*, enum, default).
    const body = this.k8s.loadYaml<KubeObject>(JSON.stringify(builtIn(raw) ? dropEmptyLists(raw) : raw));
    const serverSideApply = () =>
      client.patch(
        body as never,
        undefined,
        undefined,
        FIELD_MANAGER,
        true,
        this.k8s.PatchStrategy.ServerSideApply,
      );
    try {
      await serverSideApply();
    } catch (err) {
      // A Job's pod template is immutable: a changed migration Job is replaced (as Helm's hook is).
      if (body.kind === 'Job' && (err as { code?: number }).code === 422) {
        await client.delete(body as never, undefined, undefined, undefined, undefined, 'Background');
        await new Promise((r) => setTimeout(r, 500));
        await serverSideApply();
        return;
      }
      throw err;
    }
  }

  /** Deletes objects of this ChallengeService that the current spec no longer renders. */
  private async prune(
    client: K8s.KubernetesObjectApi,
    cr: ChallengeService,
    keep: Set<string>,
  ): Promise<void> {
    const kinds: [string, string][] = [
      ['apps/v1', 'Deployment'],
      ['v1', 'Service'],
      ['v1', 'ConfigMap'],
      ['autoscaling/v2', 'HorizontalPodAutoscaler'],
      ['policy/v1', 'PodDisruptionBudget'],
      ['networking.k8s.io/v1', 'NetworkPolicy'],
      ['networking.k8s.io/v1', 'Ingress'],
      ['rbac.authorization.k8s.io/v1', 'Role'],
      ['rbac.authorization.k8s.io/v1', 'RoleBinding'],
      ['v1', 'ServiceAccount'],
      ...OPTIONAL_APIS,
    ];
    for (const [apiVersion, kind] of kinds) {
      const list = await client
        .list(
          apiVersion,
          kind,
          cr.metadata.namespace,
          undefined,
          undefined,
          undefined,
          undefined,
          `${OWNER_LABEL}=${cr.metadata.name}`,
        )
        .catch(() => undefined);
      for (const item of list?.items ?? []) {
        const o = { ...item, apiVersion, kind };
        const owned = item.metadata?.ownerReferences?.some((r) => r.uid === cr.metadata.uid);
        if (owned && !keep.has(keyOf(o))) {
          await client
            .delete(o, undefined, undefined, undefined, undefined, 'Background')
            .catch(() => undefined);
        }
      }
    }
  }

  private async writeStatus(
    cr: ChallengeService,
    ready: Pick<Condition, 'status' | 'reason' | 'message'>,
    objects: number | undefined,
  ): Promise<void> {
    const generation = cr.metadata.generation ?? 0;
    const prev = cr.status?.conditions?.find((c) => c.type === 'Ready');
    const same =
      prev &&
      prev.status === ready.status &&
      prev.reason === ready.reason &&
      prev.message === ready.message &&
      prev.observedGeneration === generation &&
      cr.status?.observedGeneration === generation &&
      cr.status?.objects === objects;
    if (same) return;
    const condition: Condition = {
      type: 'Ready',
      ...ready,
      observedGeneration: generation,
      lastTransitionTime:
        prev && prev.status === ready.status
          ? prev.lastTransitionTime
          : new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    };
    const status: ChallengeServiceStatus = {
      observedGeneration: generation,
      conditions: [condition],
      ...(objects === undefined ? {} : { objects }),
    };
    await this.custom.patchNamespacedCustomObjectStatus(
      {
        group: CHALLENGE_SERVICE_GROUP,
        version: CHALLENGE_SERVICE_VERSION,
        namespace: cr.metadata.namespace,
        plural: CHALLENGE_SERVICE_PLURAL,
        name: cr.metadata.name,
        body: { status },
      },
      this.k8s.setHeaderOptions('Content-Type', this.k8s.PatchStrategy.MergePatch),
    );
  }
}

function errorMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      return (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      return body;
    }
  }
  return err instanceof Error ? err.message : String(err);
}

/** Kinds served by Kubernetes itself (core, *.k8s.io groups), whose list fields are omitempty. */
function builtIn(o: KubeObject): boolean {
  const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0]! : '';
  return !group.includes('.') || group.endsWith('.k8s.io');
}

/**
 * The API server stores an empty list of a built-in object as absent, so applying `[]` (e.g. a
 * NetworkPolicy's `ingress: []`) differs from the stored object on every apply and rewrites it
 * each resync. Applying without them is the same object.
 */
export function dropEmptyLists<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x: unknown) => dropEmptyLists(x)) as T;
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => !(Array.isArray(x) && x.length === 0))
        .map(([k, x]) => [k, dropEmptyLists(x)]),
    ) as T;
  }
  return v;
}
