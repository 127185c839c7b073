// Source `kubernetes`: the ChallengeCatalog named CATALOG_RESOURCE_NAME in the pod's namespace is
// the live catalog. Every api and worker pod runs an informer (list + watch) on the namespace's
// ChallengeCatalogs and validates the spec itself; the status is written by one pod only, elected
// through a Lease. Informer behaviour we rely on (@kubernetes/client-node 1.x ListWatch):
//   - a watch that ends normally is reopened at the last resourceVersion (bookmarks advance it);
//   - 410 Gone (HTTP status or an ERROR event) clears the resourceVersion, so the next round relists
//     and reconciles adds/updates/deletes against the cache;
//   - any other error stops it and calls `error`: we restart it with exponential backoff.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type {
  Informer,
  KubeConfig,
  KubernetesListObject,
  KubernetesObject,
  ObjectCache,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Config } from '../../config';
import { CATALOG_PLURAL, CATALOG_VERSION } from '../crd';
import { LeaseElector } from '../kubeLease';
import type { CatalogProblem } from '../../domain/catalog';
import type { CatalogReloader, CatalogSource } from '../watchReloader';
import { coalesced } from '../../every';

type K8s = typeof import('@kubernetes/client-node');

export interface CatalogCondition {
  type: 'Valid' | 'Published';
  status: 'True' | 'False' | 'Unknown';
  observedGeneration: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface CatalogStatus {
  observedGeneration: number;
  version: string;
  challenges: number;
  goals: number;
  problems: CatalogProblem[];
  conditions: CatalogCondition[];
}

export interface ChallengeCatalogObject extends KubernetesObject {
  spec?: unknown;
  status?: Partial<CatalogStatus>;
}

export interface KubeSourceOptions {
  namespace: string;
  name: string;
  group: string;
  resyncMs: number;
  lease: {
    name: string;
    identity: string;
    durationSeconds: number;
    renewIntervalMs?: number;
    retryIntervalMs?: number;
  };
  /** Reconnect backoff after an informer error. */
  backoff?: { minMs: number; maxMs: number };
  /** Problems listed in status (the full list is logged). */
  maxStatusProblems?: number;
}

interface Evaluation {
  uid: string;
  generation: number;
  specKey: string;
  ok: boolean;
  problems: readonly CatalogProblem[];
}

interface Published {
  version: string;
  generation: number;
  challenges: number;
  goals: number;
}

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export class KubernetesCatalogSource implements CatalogSource {
  readonly kind = 'kubernetes' as const;
  private readonly informer: Informer<ChallengeCatalogObject> & ObjectCache<ChallengeCatalogObject>;
  private readonly elector: LeaseElector;
  private readonly custom: InstanceType<K8s['CustomObjectsApi']>;
  private listedOnce = false;
  private stopped = false;
  private backoffMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private errorsSinceStart = 0;
  private evaluation: Evaluation | undefined;
  private published: Published | undefined;
  private readonly statusWrites = coalesced(
    () => this.writeStatus(),
    () => this.stopped,
  );
  private lastWrittenKey = '';
  private statusRetry: NodeJS.Timeout | undefined;

  constructor(
    private readonly k8s: K8s,
    kc: KubeConfig,
    private readonly reloader: CatalogReloader,
    private readonly log: Logger,
    private readonly opts: KubeSourceOptions,
  ) {
    this.backoffMs = this.minBackoff;
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const { group, namespace } = opts;
    const path = `/apis/${group}/${CATALOG_VERSION}/namespaces/${namespace}/${CATALOG_PLURAL}`;
    this.informer = k8s.makeInformer<ChallengeCatalogObject>(kc, path, async () => {
      const list = (await this.custom.listNamespacedCustomObject({
        group,
        version: CATALOG_VERSION,
        namespace,
        plural: CATALOG_PLURAL,
      })) as KubernetesListObject<ChallengeCatalogObject>;
      this.listedOnce = true;
      this.backoffMs = this.minBackoff;
      return list;
    });
    this.informer.on('add', (o) => this.onObject(o));
    this.informer.on('update', (o) => this.onObject(o));
    this.informer.on('delete', (o) => this.onDeleted(o));
    this.informer.on('error', (err) => this.onError(err));
    this.elector = new LeaseElector(kc.makeApiClient(k8s.CoordinationV1Api), {
      namespace,
      name: opts.lease.name,
      identity: opts.lease.identity,
      leaseDurationSeconds: opts.lease.durationSeconds,
      renewIntervalMs: opts.lease.renewIntervalMs,
      retryIntervalMs: opts.lease.retryIntervalMs,
      onStartedLeading: () => this.requestStatusWrite(),
      log,
    });
  }

  private get minBackoff(): number {
    return this.opts.backoff?.minMs ?? 500;
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.startInformer();
    this.elector.start();
    this.resyncTimer = setInterval(() => this.resync(), this.opts.resyncMs);
    this.resyncTimer.unref();
  }

  private async startInformer(): Promise<void> {
    this.errorsSinceStart = 0;
    try {
      await this.informer.start();
    } catch (err) {
      this.onError(err);
    }
    if (this.errorsSinceStart === 0) this.backoffMs = this.minBackoff;
  }

  ready(): boolean {
    return this.listedOnce;
  }

  isLeader(): boolean {
    return this.elector.isLeader();
  }

  get leaseIdentity(): string {
    return this.elector.identity;
  }

  private matches(o: ChallengeCatalogObject): boolean {
    return (
      o.metadata?.name === this.opts.name &&
      (o.metadata.namespace ?? this.opts.namespace) === this.opts.namespace
    );
  }

  private onError(err: unknown): void {
    this.errorsSinceStart++;
    if (this.stopped) return;
    const delay = Math.round(this.backoffMs * (0.8 + Math.random() * 0.4));
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.backoff?.maxMs ?? 30_000);
    this.log.warn({ err, retryInMs: delay }, 'catalog watch failed; reconnecting');
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) void this.startInformer();
    }, delay);
    this.restartTimer.unref();
  }

  private onObject(o: ChallengeCatalogObject): void {
    if (!this.matches(o)) return;
    this.backoffMs = this.minBackoff;
    this.evaluate(o);
  }

  private onDeleted(o: ChallengeCatalogObject): void {
    if (!this.matches(o)) return;
    // Deleting the resource does not take every challenge away: the last valid version stays live.
    this.log.warn(
      { resource: `${this.opts.namespace}/${this.opts.name}`, live: this.reloader.holder.current.version },
      'live ChallengeCatalog deleted; the last catalog stays live until it is created again',
    );
    this.evaluation = undefined;
  }

  private resync(): void {
    const o = this.informer.get(this.opts.name, this.opts.namespace);
    this.lastWrittenKey = '';
    if (o) this.evaluate(o);
  }

  private evaluate(o: ChallengeCatalogObject): void {
    const uid = o.metadata?.uid ?? '';
    const generation = o.metadata?.generation ?? 0;
    const specKey = createHash('sha256')
      .update(JSON.stringify(o.spec ?? null))
      .digest('hex');
    const prev = this.evaluation;
    if (!prev || prev.uid !== uid || prev.specKey !== specKey) {
      // A new spec (not just a status write or a resync): validate and maybe swap.
      const origin = `kubernetes:${this.opts.namespace}/${this.opts.name} generation ${generation}`;
      const out = this.reloader.applyDocument(o.spec ?? {}, origin);
      if (out.ok) {
        this.published = {
          version: out.catalog.version,
          generation,
          challenges: out.catalog.challenges.length,
          goals: out.catalog.goalById.size,
        };
      }
      this.evaluation = { uid, generation, specKey, ok: out.ok, problems: out.ok ? [] : out.problems };
    } else if (prev.generation !== generation) {
      this.evaluation = { ...prev, generation };
    }
    this.requestStatusWrite();
  }

  /** The status this resource should carry, keeping transition times of unchanged conditions. */
  desiredStatus(o: ChallengeCatalogObject): CatalogStatus | undefined {
    const ev = this.evaluation;
    if (!ev || ev.uid !== (o.metadata?.uid ?? '')) return undefined;
    const now = new Date().toISOString();
    const pub = this.published;
    const first = ev.problems[0];
    const conditions: CatalogCondition[] = [
      ev.ok
        ? {
            type: 'Valid',
            status: 'True',
            reason: 'Valid',
            message: `spec is a valid catalog (version ${pub?.version})`,
          }
        : {
            type: 'Valid',
            status: 'False',
            reason: 'Invalid',
            message: `${ev.problems.length} problem(s)${first ? `, first: ${first.path}: ${first.message}` : ''}`,
          },
      ev.ok
        ? {
            type: 'Published',
            status: 'True',
            reason: 'Published',
            message: `version ${pub?.version} is live`,
          }
        : pub
          ? {
              type: 'Published',
              status: 'False',
              reason: 'PreviousVersionLive',
              message: `spec refused; version ${pub.version} (generation ${pub.generation}) stays live`,
            }
          : {
              type: 'Published',
              status: 'False',
              reason: 'NeverValid',
              message: 'no valid spec seen yet; pods serve the catalog they started with',
            },
    ].map((c) => {
      const old = o.status?.conditions?.find((x) => x.type === c.type);
      const lastTransitionTime =
        old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : now;
      return { ...c, observedGeneration: ev.generation, lastTransitionTime } as CatalogCondition;
    });
    const max = this.opts.maxStatusProblems ?? 100;
    return {
      observedGeneration: ev.generation,
      version: pub?.version ?? '',
      challenges: pub?.challenges ?? 0,
      goals: pub?.goals ?? 0,
      problems: ev.problems.slice(0, max).map((p) => ({ path: p.path, message: p.message })),
      conditions,
    };
  }

  private requestStatusWrite(): void {
    if (this.stopped || !this.elector.isLeader()) return;
    void this.statusWrites.run();
  }

  private async writeStatus(): Promise<void> {
    if (!this.elector.isLeader()) return;
    const o = this.informer.get(this.opts.name, this.opts.namespace);
    if (!o) return;
    const desired = this.desiredStatus(o);
    if (!desired) return;
    const key = `${o.metadata?.uid}|${JSON.stringify(desired)}`;
    if (sameStatus(o.status, desired) || key === this.lastWrittenKey) return;
    try {
      await this.custom.patchNamespacedCustomObjectStatus(
        {
          group: this.opts.group,
          version: CATALOG_VERSION,
          namespace: this.opts.namespace,
          plural: CATALOG_PLURAL,
          name: this.opts.name,
          body: { status: desired },
        },
        this.k8s.setHeaderOptions('Content-Type', this.k8s.PatchStrategy.MergePatch),
      );
      this.lastWrittenKey = key;
    } catch (err) {
      this.log.warn({ err }, 'writing ChallengeCatalog status failed; retrying');
      if (this.statusRetry) clearTimeout(this.statusRetry);
      this.statusRetry = setTimeout(() => this.requestStatusWrite(), 2000);
      this.statusRetry.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of [this.restartTimer, this.statusRetry]) if (t) clearTimeout(t);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await this.informer.stop().catch(() => undefined);
    await this.statusWrites.settled();
    await this.elector.stop();
  }
}

function sameStatus(current: Partial<CatalogStatus> | undefined, desired: CatalogStatus): boolean {
  return current !== undefined && JSON.stringify(canonical(current)) === JSON.stringify(canonical(desired));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object' && value !== null) {
    const o = value as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(o)
        .filter((k) => o[k] !== undefined)
        .sort()
        .map((k) => [k, canonical(o[k])]),
    );
  }
  return value;
}

/** The pod's namespace: explicit config, else the service-account file, else the kubeconfig context's. */
function podNamespace(cfg: Config, kc: KubeConfig): string {
  if (cfg.CATALOG_NAMESPACE) return cfg.CATALOG_NAMESPACE;
  try {
    const ns = readFileSync(SA_NAMESPACE_FILE, 'utf8').trim();
    if (ns) return ns;
  } catch {
    /* not in a pod */
  }
  return kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
}

export async function kubernetesSourceFromConfig(
  cfg: Config,
  reloader: CatalogReloader,
  log: Logger,
): Promise<KubernetesCatalogSource> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  if (cfg.CATALOG_KUBECONFIG) kc.loadFromFile(cfg.CATALOG_KUBECONFIG);
  else kc.loadFromCluster();
  const name = cfg.CATALOG_RESOURCE_NAME;
  return new KubernetesCatalogSource(k8s, kc, reloader, log, {
    namespace: podNamespace(cfg, kc),
    name,
    group: cfg.CATALOG_CRD_GROUP,
    resyncMs: cfg.CATALOG_KUBE_RESYNC_MS,
    lease: {
      name: cfg.CATALOG_LEASE_NAME ?? `${name}-status-writer`,
      identity: cfg.CATALOG_LEASE_IDENTITY ?? `${hostname()}-${randomBytes(4).toString('hex')}`,
      durationSeconds: cfg.CATALOG_LEASE_DURATION_SECONDS,
    },
  });
}
