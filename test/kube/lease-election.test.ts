// Lease-based leader election (coordination.k8s.io/v1, app/catalog/kubeLease.ts) on the REAL
// kube-apiserver with a token of the chart's own ServiceAccount (issue 16): the Role's lease rights
// are enough, the server's resourceVersion checks decide races (409 Conflict), and MicroTime
// fields are what the real server accepts. Was test/integration/catalog-lease.test.ts on a fake.
import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { LeaseElector, microTime, statusCodeOf } from '../../app/catalog/kubeLease';
import {
  adminConfig,
  createNamespace,
  eventually,
  installCatalogChart,
  kubeConfigFor,
  realKube,
} from '../helpers/kube';

jest.setTimeout(120_000);

const silent = pino({ level: 'silent' });
const GROUP = `e${randomBytes(4).toString('hex')}.challenges.example.com`;
let ns = '';
let token = '';
let leaseNo = 0;
let LEASE = '';

beforeAll(async () => {
  realKube();
  ns = await createNamespace('election');
  token = await installCatalogChart(ns, GROUP);
});

const adminLeases = () => adminConfig().makeApiClient(k8s.CoordinationV1Api);
const holder = async () =>
  (
    await adminLeases()
      .readNamespacedLease({ name: LEASE, namespace: ns })
      .catch(() => undefined)
  )?.spec;

describe('Lease leader election on the REAL API server with the chart ServiceAccount token', () => {
  const electors: LeaseElector[] = [];
  const elector = (identity: string, leaseDurationSeconds = 1, api?: k8s.CoordinationV1Api) => {
    const e = new LeaseElector(api ?? kubeConfigFor(token, ns).makeApiClient(k8s.CoordinationV1Api), {
      namespace: ns,
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
  beforeEach(() => {
    LEASE = `catalog-status-writer-${leaseNo++}`; // a fresh Lease per test
  });
  afterEach(async () => {
    await Promise.all(electors.splice(0).map((e) => e.stop()));
  });

  test('lease times are MicroTime with six fractional digits (the real server rejects others)', async () => {
    expect(microTime(Date.UTC(2025, 0, 2, 3, 4, 5, 678))).toBe('2025-01-02T03:04:05.678000Z');
    expect(await elector('a').tryAcquireOrRenew()).toBe(true);
    expect(String((await holder())?.renewTime)).not.toBe('undefined');
  });

  test('the first candidate creates the Lease and leads; a second candidate does not; the holder renews', async () => {
    const a = elector('a');
    const b = elector('b');
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    expect(await holder()).toMatchObject({ holderIdentity: 'a', leaseTransitions: 0 });
    const before = (await adminLeases().readNamespacedLease({ name: LEASE, namespace: ns })).metadata!
      .resourceVersion;
    expect(await a.tryAcquireOrRenew()).toBe(true); // renew: a new write
    const after = (await adminLeases().readNamespacedLease({ name: LEASE, namespace: ns })).metadata!
      .resourceVersion;
    expect(after).not.toBe(before);
  });

  test('candidates racing for a free Lease: the real server answers 409 Conflict to all but one, leaving exactly one holder', async () => {
    await adminLeases().createNamespacedLease({
      namespace: ns,
      body: { metadata: { name: LEASE }, spec: { holderIdentity: '', leaseDurationSeconds: 1 } },
    });
    // Every candidate reads the same resourceVersion before any writes (a barrier on the client
    // side orders the calls; the server decides who wins).
    const ids = ['a', 'b', 'c', 'd'];
    const conflicts: number[] = [];
    let arrived = 0;
    let release!: () => void;
    const barrier = new Promise<void>((r) => (release = r));
    const candidates = ids.map((id) => {
      const real = kubeConfigFor(token, ns).makeApiClient(k8s.CoordinationV1Api);
      const api = Object.create(real) as k8s.CoordinationV1Api;
      api.replaceNamespacedLease = async (param) => {
        if (++arrived === ids.length) release();
        await barrier;
        return real.replaceNamespacedLease(param).catch((err: unknown) => {
          conflicts.push(statusCodeOf(err) ?? -1);
          throw err;
        });
      };
      return elector(id, 1, api);
    });
    const won = await Promise.all(candidates.map((c) => c.tryAcquireOrRenew()));
    expect(won.filter(Boolean)).toHaveLength(1);
    expect((await holder())!.holderIdentity).toBe(ids[won.indexOf(true)]);
    expect(conflicts).toEqual([409, 409, 409]);
  });

  test('a follower takes over only after the holder stopped renewing for the lease duration', async () => {
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
    expect(await holder()).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
  });

  test('a stopping leader releases the Lease and a follower takes over without waiting it out', async () => {
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

  test('a leader that finds someone else holding the Lease steps down', async () => {
    const a = elector('a', 30);
    a.start();
    await eventually(() => a.isLeader(), 'a leads');
    const lease = await adminLeases().readNamespacedLease({ name: LEASE, namespace: ns });
    await adminLeases().replaceNamespacedLease({
      name: LEASE,
      namespace: ns,
      body: { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder' } },
    });
    await eventually(() => !a.isLeader(), 'a steps down');
    expect(a.isLeader()).toBe(false);
    // It stepped down without writing itself back over the other holder.
    expect((await holder())!.holderIdentity).toBe('intruder');
  });

  test('the ServiceAccount cannot touch Leases of other namespaces', async () => {
    const other = await createNamespace('election-other');
    const api = kubeConfigFor(token, ns).makeApiClient(k8s.CoordinationV1Api);
    const code = await api
      .createNamespacedLease({ namespace: other, body: { metadata: { name: 'x' }, spec: {} } })
      .then(
        () => 200,
        (err: unknown) => statusCodeOf(err),
      );
    expect(code).toBe(403);
  });
});
