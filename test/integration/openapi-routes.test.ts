// The served route table and the OpenAPI document describe the same surface.
import { OPENAPI_ROUTES } from '../../app/api/openapi';
import { serviceModules } from '../../app/modules';
import { startTestService, type TestService } from '../helpers/service';

describe('OpenAPI document vs the running server', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ modules: serviceModules() });
  });
  afterAll(async () => t.stop());

  const toTemplate = (pattern: string, base: string) =>
    pattern.slice(base.length).replace(/:([A-Za-z]+)/g, '{$1}');

  test('every route the server registers is documented', () => {
    const base = t.cfg.BASE_PATH;
    const documented = new Set(OPENAPI_ROUTES.map((r) => `${r.method} ${r.path}`));
    const served = t.svc.api!.http.routes.map((r) => `${r.method} ${toTemplate(r.pattern, base)}`);
    expect(served.filter((r) => !documented.has(r))).toEqual([]);
  });

  test('every documented HTTP route is served (no ROUTE_NOT_FOUND)', async () => {
    const missing: string[] = [];
    for (const r of OPENAPI_ROUTES) {
      if (r.path === '/v1/ws') continue; // a WebSocket upgrade, exercised by the events tests
      const url = `${t.base}${r.path.replace(/\{[A-Za-z]+\}/g, 'x')}`;
      const res = await fetch(url, { method: r.method, body: r.method === 'GET' ? undefined : '{}' });
      const body = (await res.json().catch(() => ({}))) as { error?: string };
      if (body.error === 'ROUTE_NOT_FOUND') missing.push(`${r.method} ${r.path}`);
    }
    expect(missing).toEqual([]);
  });

  test('GET /openapi.json serves the document for this base path', async () => {
    const res = await fetch(`${t.base}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      servers: { url: string }[];
      paths: Record<string, unknown>;
    };
    expect(doc.openapi).toMatch(/^3\.1/);
    expect(doc.servers[0]!.url).toBe(t.cfg.BASE_PATH);
    expect(Object.keys(doc.paths).length).toBeGreaterThanOrEqual(
      new Set(OPENAPI_ROUTES.map((r) => r.path)).size,
    );
  });
});
