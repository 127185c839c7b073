// Leader election on a coordination.k8s.io/v1 Lease, the way client-go's leaderelection does it:
// read the Lease; create it when missing; renew it when we hold it; take it over when its holder
// stopped renewing for leaseDurationSeconds (judged by OUR clock from when we last saw the record
// change, so clock skew between nodes does not matter). Every write is a create or a replace
// carrying the resourceVersion we read, so two candidates racing for it get one 200 and one 409.
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';

export interface LeaseElectorOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  /** How often the leader renews; default a third of the lease duration. */
  renewIntervalMs?: number;
  /** How often a follower tries; default a fifth of the lease duration. */
  retryIntervalMs?: number;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  log: Logger;
}

/** Lease timestamps are metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function statusCodeOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

type LeaseApi = Pick<
  CoordinationV1Api,
  'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'
>;

export class LeaseElector {
  private leader = false;
  private observedKey = '';
  private observedAt = 0;
  private lastRenewAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly api: LeaseApi,
    private readonly opts: LeaseElectorOptions,
  ) {}

  get identity(): string {
    return this.opts.identity;
  }

  isLeader(): boolean {
    return this.leader;
  }

  private get durationMs(): number {
    return this.opts.leaseDurationSeconds * 1000;
  }

  start(): void {
    this.stopped = false;
    this.loop();
  }

  private loop(): void {
    if (this.stopped) return;
    this.running = this.tick().finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      const every = this.leader
        ? (this.opts.renewIntervalMs ?? this.durationMs / 3)
        : (this.opts.retryIntervalMs ?? this.durationMs / 5);
      this.timer = setTimeout(() => this.loop(), every);
      this.timer.unref();
    });
  }

  private async tick(): Promise<void> {
    let held: boolean;
    try {
      held = await this.tryAcquireOrRenew();
    } catch (err) {
      this.opts.log.warn({ err, lease: this.opts.name }, 'lease renew failed');
      // The API is unreachable: keep leading only while our last renewal is surely still valid.
      if (this.leader && performance.now() - this.lastRenewAt > (this.durationMs * 2) / 3)
        this.setLeader(false);
      return;
    }
    if (held) this.lastRenewAt = performance.now();
    this.setLeader(held);
  }

  private setLeader(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.opts.log.info(
      { lease: this.opts.name, identity: this.opts.identity, leader },
      leader ? 'became leader' : 'stopped leading',
    );
    try {
      if (leader) this.opts.onStartedLeading?.();
      else this.opts.onStoppedLeading?.();
    } catch (err) {
      this.opts.log.error({ err }, 'leader callback failed');
    }
  }

  private observe(lease: V1Lease): void {
    const s = lease.spec ?? {};
    const key = `${s.holderIdentity ?? ''}|${String(s.renewTime ?? '')}|${lease.metadata?.resourceVersion ?? ''}`;
    if (key !== this.observedKey) {
      this.observedKey = key;
      this.observedAt = performance.now();
    }
  }

  /** One round: true when we hold the Lease afterwards. Throws on API errors other than 404/409. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity, leaseDurationSeconds } = this.opts;
    const now = Date.now();
    let current: V1Lease | undefined;
    try {
      current = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (statusCodeOf(err) !== 404) throw err;
    }
    if (!current) {
      const body: V1Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace },
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds,
          acquireTime: microTime(now) as unknown as Date,
          renewTime: microTime(now) as unknown as Date,
          leaseTransitions: 0,
        },
      };
      try {
        this.observe(await this.api.createNamespacedLease({ namespace, body }));
        return true;
      } catch (err) {
        if (statusCodeOf(err) === 409) return false; // another candidate created it first
        throw err;
      }
    }
    this.observe(current);
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const mine = holder === identity;
    const duration = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    const expired = holder === '' || performance.now() > this.observedAt + duration;
    if (!mine && !expired) return false;
    const body: V1Lease = {
      ...current,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds,
        renewTime: microTime(now) as unknown as Date,
        acquireTime: mine && spec.acquireTime ? spec.acquireTime : (microTime(now) as unknown as Date),
        leaseTransitions: mine ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      this.observe(await this.api.replaceNamespacedLease({ name, namespace, body }));
      return true;
    } catch (err) {
      if (statusCodeOf(err) === 409) return false; // someone wrote it since we read it
      throw err;
    }
  }

  /** Stop campaigning; a leader hands the Lease back so another pod takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
    if (!this.leader) return;
    const { namespace, name } = this.opts;
    try {
      const current = await this.api.readNamespacedLease({ name, namespace });
      if (current.spec?.holderIdentity === this.opts.identity) {
        const body: V1Lease = {
          ...current,
          spec: {
            ...current.spec,
            holderIdentity: '',
            leaseDurationSeconds: 1,
            renewTime: microTime(Date.now()) as unknown as Date,
          },
        };
        await this.api.replaceNamespacedLease({ name, namespace, body });
      }
    } catch (err) {
      this.opts.log.warn({ err }, 'lease release failed; it expires by itself');
    }
    this.setLeader(false);
  }
}
