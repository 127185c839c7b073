// Lease-based leader election (coordination.k8s.io/v1) against a FAKE Kubernetes API server.
import * as k8s from '@kubernetes/client-node';
import pino from 'pino';
import { LeaseElector, microTime } from '../../app/catalog/kubeLease';
import { FakeKubeApi, fakeKubeconfig } from '../helpers/fake-kube';

const NS = 'games';
const LEASE = 'catalog-status-writer';
const silent = pino({ level: 'silent' });

async function eventually(fn: () => boolean, what: string, capMs = 10_000): Promise<void> {
  const until = Date.now() + capMs;
  while (!fn()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Lease leader election against a fake Kubernetes API', () => {
  let fake: FakeKubeApi;
  let api: k8s.CoordinationV1Api;
  const electors: LeaseElector[] = [];
  const elector = (identity: string, leaseDurationSeconds = 1) => {
    const e = new LeaseElector(api, {
      namespace: NS,
      name: LEASE,
      identity,
      leaseDurationSeconds,
      renewIntervalMs: 100,
      retryIntervalMs: 50,
      log: silent,
    });
    electors.push(e);
    return e;
  };
  const holder = () =>
    fake.get(FakeKubeApi.leases(NS), LEASE)?.spec as
      { holderIdentity?: string; leaseTransitions?: number } | undefined;

  beforeEach(async () => {
    fake = new FakeKubeApi();
    await fake.start();
    const kc = new k8s.KubeConfig();
    kc.loadFromString(fakeKubeconfig(fake.url, NS));
    api = kc.makeApiClient(k8s.CoordinationV1Api);
  });
  afterEach(async () => {
    await Promise.all(electors.splice(0).map((e) => e.stop()));
    await fake.stop();
  });

  test('fake API: lease times are MicroTime with six fractional digits', () => {
    expect(microTime(Date.UTC(2025, 0, 2, 3, 4, 5, 678))).toBe('2025-01-02T03:04:05.678000Z');
  });

  test('fake API: the first candidate creates the Lease and leads; a second candidate does not', async () => {
    const a = elector('a');
    const b = elector('b');
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    expect(holder()).toMatchObject({ holderIdentity: 'a', leaseTransitions: 0 });
    expect(await a.tryAcquireOrRenew()).toBe(true); // renew
  });

  test('fake API: candidates racing for a free Lease: resourceVersion conflicts leave exactly one holder', async () => {
    fake.apply(FakeKubeApi.leases(NS), LEASE, { holderIdentity: '', leaseDurationSeconds: 1 });
    const candidates = ['a', 'b', 'c', 'd'].map((id) => elector(id));
    const won = await Promise.all(candidates.map((c) => c.tryAcquireOrRenew()));
    expect(won.filter(Boolean)).toHaveLength(1);
    expect(holder()!.holderIdentity).toBe(['a', 'b', 'c', 'd'][won.indexOf(true)]);
    expect(fake.requests.filter((r) => r.method === 'PUT' && r.status === 409).length).toBeGreaterThanOrEqual(
      1,
    );
  });

  test('fake API: a follower takes over only after the holder stopped renewing for the lease duration', async () => {
    const a = elector('a', 1);
    const renewedAt = Date.now();
    expect(await a.tryAcquireOrRenew()).toBe(true); // a holds it and then "crashes" (never renews)
    const b = elector('b', 1);
    b.start();
    await new Promise((r) => setTimeout(r, 300));
    expect(b.isLeader()).toBe(false);
    await eventually(() => b.isLeader(), 'b takes over');
    // Not before a's lease ran out: a correctness bound (a lower one), not a speed measurement.
    expect(Date.now() - renewedAt).toBeGreaterThanOrEqual(1000);
    expect(holder()).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
  });

  test('fake API: a stopping leader releases the Lease and a follower takes over without waiting it out', async () => {
    const a = elector('a', 30);
    const b = elector('b', 30);
    a.start();
    await eventually(() => a.isLeader(), 'a leads');
    b.start();
    await new Promise((r) => setTimeout(r, 200));
    expect(b.isLeader()).toBe(false);
    await a.stop();
    expect(a.isLeader()).toBe(false);
    await eventually(() => b.isLeader(), 'b takes over a released lease', 5000);
  });

  test('fake API: a leader that finds someone else holding the Lease steps down', async () => {
    const a = elector('a', 30);
    a.start();
    await eventually(() => a.isLeader(), 'a leads');
    const lease = fake.get(FakeKubeApi.leases(NS), LEASE)!;
    fake.apply(FakeKubeApi.leases(NS), LEASE, { ...(lease.spec as object), holderIdentity: 'intruder' });
    await eventually(() => !a.isLeader(), 'a steps down');
    expect(a.isLeader()).toBe(false);
    // It stepped down without writing itself back over the other holder.
    expect(holder()!.holderIdentity).toBe('intruder');
  });
});
