// A FAKE Kubernetes API server for tests (a real API server cannot run here): a node http server
// that speaks enough of the API for informers and leader election, with the semantics they rely on:
//   - one global resourceVersion counter; list answers carry it, every write bumps it;
//   - watch = newline-delimited JSON events (ADDED/MODIFIED/DELETED/BOOKMARK/ERROR) replayed from
//     the requested resourceVersion, then live; a resourceVersion older than the compacted history
//     gets 410 Gone (as an ERROR event in a 200 stream, like the real server, or as HTTP 410);
//   - create 409 AlreadyExists; replace with a stale metadata.resourceVersion 409 Conflict;
//   - custom resources with a status subresource: metadata.generation bumps on spec changes only,
//     the main resource ignores status, /status takes merge patches and leaves the spec alone;
//   - Lease MicroTime fields must have six fractional digits (the real server rejects others).
// Test controls: dropWatches (connection reset), endWatches (server-side timeout), compact,
// bookmark, failNext (answer the next matching requests with an error status), request log.
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
  };
  spec?: unknown;
  status?: unknown;
  [k: string]: unknown;
};

interface WatchEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
}

interface Watcher {
  collection: string;
  res: ServerResponse;
}

interface FailRule {
  method: string;
  watch: boolean | undefined;
  pathIncludes: string;
  status: number;
  remaining: number;
}

export interface RequestRecord {
  method: string;
  path: string;
  watch: boolean;
  resourceVersion: string | null;
  status: number;
}

const ROUTE = /^\/apis\/([^/]+)\/([^/]+)\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+)(\/status)?)?$/;
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/;

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

export class FakeKubeApi {
  private server!: http.Server;
  url = '';
  private rv = 1000;
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private readonly history = new Map<string, WatchEvent[]>();
  private readonly compactedBelow = new Map<string, number>();
  private readonly watchers = new Set<Watcher>();
  private readonly failRules: FailRule[] = [];
  readonly requests: RequestRecord[] = [];
  /** How a too-old watch is refused: an ERROR event in a 200 stream (real servers) or HTTP 410. */
  goneAs: 'event' | 'status' = 'event';
  /** Plurals that have a status subresource. */
  readonly statusSubresources = new Set<string>(['challengecatalogs']);

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, res, Buffer.concat(chunks).toString('utf8')));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.dropWatches();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  // ---- test controls ----------------------------------------------------------------------

  static catalogs(group: string, namespace: string): string {
    return `/apis/${group}/v1alpha1/namespaces/${namespace}/challengecatalogs`;
  }

  static leases(namespace: string): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
  }

  get(collection: string, name: string): KubeObject | undefined {
    const o = this.objects.get(collection)?.get(name);
    return o ? clone(o) : undefined;
  }

  /** kubectl apply: create, or replace the spec (generation bumps when it changed). */
  apply(collection: string, name: string, spec: unknown): KubeObject {
    const existing = this.objects.get(collection)?.get(name);
    if (!existing) return this.create(collection, { metadata: { name }, spec });
    return this.replace(collection, name, { ...clone(existing), spec });
  }

  delete(collection: string, name: string): void {
    const existing = this.objects.get(collection)?.get(name);
    if (!existing) return;
    this.objects.get(collection)!.delete(name);
    const gone = {
      ...clone(existing),
      metadata: { ...existing.metadata, resourceVersion: String(++this.rv) },
    };
    this.emit(collection, 'DELETED', gone);
  }

  /** Reset every open watch connection (as a network failure would). */
  dropWatches(): void {
    for (const w of this.watchers) w.res.socket?.destroy();
    this.watchers.clear();
  }

  /** End every watch cleanly (as the server's watch timeout does). */
  endWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  /** Forget the event history: watches from any earlier resourceVersion get 410 Gone. */
  compact(): void {
    for (const c of new Set([...this.objects.keys(), ...this.history.keys()])) {
      this.history.set(c, []);
      this.compactedBelow.set(c, this.rv);
    }
  }

  /** Send a BOOKMARK with the current resourceVersion to every open watch. */
  bookmark(): void {
    for (const w of this.watchers) {
      const kind = w.collection.endsWith('/leases') ? 'Lease' : 'ChallengeCatalog';
      this.write(w.res, {
        type: 'BOOKMARK',
        object: { kind, metadata: { resourceVersion: String(this.rv) } },
      });
    }
  }

  failNext(opts: {
    method: string;
    pathIncludes: string;
    watch?: boolean;
    status: number;
    times?: number;
  }): void {
    this.failRules.push({
      method: opts.method,
      pathIncludes: opts.pathIncludes,
      watch: opts.watch,
      status: opts.status,
      remaining: opts.times ?? 1,
    });
  }

  openWatches(): number {
    return this.watchers.size;
  }

  count(filter: Partial<Pick<RequestRecord, 'method' | 'watch'>> & { pathIncludes?: string }): number {
    return this.requests.filter(
      (r) =>
        (filter.method === undefined || r.method === filter.method) &&
        (filter.watch === undefined || r.watch === filter.watch) &&
        (filter.pathIncludes === undefined || r.path.includes(filter.pathIncludes)),
    ).length;
  }

  // ---- store ------------------------------------------------------------------------------

  private coll(collection: string): Map<string, KubeObject> {
    let m = this.objects.get(collection);
    if (!m) {
      m = new Map();
      this.objects.set(collection, m);
    }
    return m;
  }

  private emit(collection: string, type: WatchEvent['type'], object: KubeObject): void {
    const ev: WatchEvent = { rv: Number(object.metadata.resourceVersion), type, object: clone(object) };
    const h = this.history.get(collection) ?? [];
    h.push(ev);
    this.history.set(collection, h);
    for (const w of this.watchers)
      if (w.collection === collection) this.write(w.res, { type, object: ev.object });
  }

  private create(collection: string, body: KubeObject): KubeObject {
    const m = this.coll(collection);
    const name = body.metadata.name;
    if (m.has(name)) throw Object.assign(new Error('exists'), { http: 409, reason: 'AlreadyExists' });
    const namespace = ROUTE.exec(collection)?.[3];
    const obj: KubeObject = {
      ...clone(body),
      metadata: {
        ...clone(body.metadata),
        name,
        namespace,
        uid: randomUUID(),
        resourceVersion: String(++this.rv),
        generation: 1,
        creationTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      },
    };
    if (this.hasStatus(collection)) delete obj.status;
    m.set(name, obj);
    this.emit(collection, 'ADDED', obj);
    return clone(obj);
  }

  private hasStatus(collection: string): boolean {
    return this.statusSubresources.has(collection.split('/').pop()!);
  }

  private replace(collection: string, name: string, body: KubeObject): KubeObject {
    const m = this.coll(collection);
    const existing = m.get(name);
    if (!existing) throw Object.assign(new Error('missing'), { http: 404, reason: 'NotFound' });
    const expected = body.metadata?.resourceVersion;
    if (expected && expected !== existing.metadata.resourceVersion) {
      throw Object.assign(new Error('the object has been modified'), { http: 409, reason: 'Conflict' });
    }
    const withStatus = this.hasStatus(collection);
    const specChanged = JSON.stringify(body.spec) !== JSON.stringify(existing.spec);
    const obj: KubeObject = {
      ...clone(body),
      metadata: {
        ...clone(body.metadata ?? existing.metadata),
        name,
        namespace: existing.metadata.namespace,
        uid: existing.metadata.uid,
        creationTimestamp: existing.metadata.creationTimestamp,
        generation: (existing.metadata.generation ?? 1) + (specChanged ? 1 : 0),
        resourceVersion: String(++this.rv),
      },
    };
    if (withStatus) {
      if (existing.status === undefined) delete obj.status;
      else obj.status = clone(existing.status);
    }
    m.set(name, obj);
    this.emit(collection, 'MODIFIED', obj);
    return clone(obj);
  }

  private patchStatus(collection: string, name: string, patch: { status?: unknown }): KubeObject {
    const existing = this.coll(collection).get(name);
    if (!existing) throw Object.assign(new Error('missing'), { http: 404, reason: 'NotFound' });
    const obj = clone(existing);
    obj.status = mergePatch(obj.status, patch.status);
    obj.metadata.resourceVersion = String(++this.rv);
    this.coll(collection).set(name, obj);
    this.emit(collection, 'MODIFIED', obj);
    return clone(obj);
  }

  // ---- http -------------------------------------------------------------------------------

  private write(res: ServerResponse, event: unknown): void {
    if (!res.writableEnded) res.write(`${JSON.stringify(event)}\n`);
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private handle(req: IncomingMessage, res: ServerResponse, text: string): void {
    const u = new URL(req.url ?? '/', 'http://fake');
    const watch = u.searchParams.get('watch') === 'true';
    const record: RequestRecord = {
      method: req.method ?? 'GET',
      path: u.pathname,
      watch,
      resourceVersion: u.searchParams.get('resourceVersion'),
      status: 200,
    };
    this.requests.push(record);
    const reply = (code: number, body: unknown) => {
      record.status = code;
      this.send(res, code, body);
    };
    const rule = this.failRules.find(
      (r) =>
        r.remaining > 0 &&
        r.method === record.method &&
        u.pathname.includes(r.pathIncludes) &&
        (r.watch === undefined || r.watch === watch),
    );
    if (rule) {
      rule.remaining--;
      reply(rule.status, status(rule.status, 'InternalError', 'injected failure'));
      return;
    }
    const m = ROUTE.exec(u.pathname);
    if (!m) {
      reply(404, status(404, 'NotFound', `no route ${u.pathname}`));
      return;
    }
    const [, group, version, namespace, plural, name, statusSub] = m;
    const collection = `/apis/${group}/${version}/namespaces/${namespace}/${plural}`;
    try {
      let body: KubeObject | undefined;
      if (text) body = JSON.parse(text) as KubeObject;
      if (plural === 'leases' && body) checkLease(body);
      if (!name && req.method === 'GET' && watch) return this.watch(collection, u, res, record);
      if (!name && req.method === 'GET') {
        const items = [...this.coll(collection).values()].map(clone);
        return reply(200, {
          apiVersion: group === 'coordination.k8s.io' ? 'coordination.k8s.io/v1' : `${group}/${version}`,
          kind: 'List',
          metadata: { resourceVersion: String(this.rv) },
          items,
        });
      }
      if (!name && req.method === 'POST') return reply(201, this.create(collection, body!));
      const existing = name ? this.coll(collection).get(name) : undefined;
      if (req.method === 'GET') {
        return existing
          ? reply(200, existing)
          : reply(404, status(404, 'NotFound', `${plural} "${name}" not found`));
      }
      if (req.method === 'PUT' && !statusSub) return reply(200, this.replace(collection, name!, body!));
      if (req.method === 'PATCH' && statusSub) {
        const type = req.headers['content-type'] ?? '';
        if (!type.startsWith('application/merge-patch+json')) {
          return reply(
            415,
            status(415, 'UnsupportedMediaType', `fake accepts merge patches only, got ${type}`),
          );
        }
        return reply(200, this.patchStatus(collection, name!, body as { status?: unknown }));
      }
      if (req.method === 'DELETE' && existing) {
        this.delete(collection, name!);
        return reply(200, existing);
      }
      reply(405, status(405, 'MethodNotAllowed', `${req.method} ${u.pathname}`));
    } catch (err) {
      const e = err as { http?: number; reason?: string; message: string };
      reply(e.http ?? 400, status(e.http ?? 400, e.reason ?? 'BadRequest', e.message));
    }
  }

  private watch(collection: string, u: URL, res: ServerResponse, record: RequestRecord): void {
    const from = Number(u.searchParams.get('resourceVersion') || '0');
    const floor = this.compactedBelow.get(collection) ?? 0;
    if (from !== 0 && from < floor) {
      const gone = status(410, 'Expired', `too old resource version: ${from} (${floor})`);
      record.status = 410;
      if (this.goneAs === 'status') return this.send(res, 410, gone);
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      this.write(res, { type: 'ERROR', object: gone });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    if (from === 0) {
      for (const o of this.coll(collection).values()) this.write(res, { type: 'ADDED', object: clone(o) });
    } else {
      for (const ev of this.history.get(collection) ?? []) {
        if (ev.rv > from) this.write(res, { type: ev.type, object: ev.object });
      }
    }
    const w: Watcher = { collection, res };
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
  }
}

function checkLease(body: KubeObject): void {
  const spec = (body.spec ?? {}) as Record<string, unknown>;
  for (const f of ['renewTime', 'acquireTime']) {
    const v = spec[f];
    if (v !== undefined && v !== null && (typeof v !== 'string' || !MICRO_TIME.test(v))) {
      throw Object.assign(
        new Error(`Lease in version "v1" cannot be handled as a Lease: spec.${f}: ${JSON.stringify(v)}`),
        {
          http: 400,
          reason: 'BadRequest',
        },
      );
    }
  }
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return clone(patch);
  const out: Record<string, unknown> =
    typeof target === 'object' && target !== null && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** kubeconfig YAML pointing at the fake (token auth, plain http). */
export function fakeKubeconfig(url: string, namespace: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: fake',
    '  cluster:',
    `    server: ${url}`,
    '    insecure-skip-tls-verify: true',
    'users:',
    '- name: tester',
    '  user:',
    '    token: fake-token',
    'contexts:',
    '- name: fake',
    '  context:',
    '    cluster: fake',
    '    user: tester',
    `    namespace: ${namespace}`,
    'current-context: fake',
    '',
  ].join('\n');
}
