import { OPENAPI_ROUTES, openApiDocument } from '../../app/api/openapi';

type Node = Record<string, unknown>;

const BASE = '/games/challenge';
const doc = openApiDocument(BASE) as Node;
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

function pointer(target: Node, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = target;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (typeof node !== 'object' || node === null || !(key in node)) return undefined;
    node = (node as Node)[key];
  }
  return node;
}

function deref(node: unknown): Node {
  let current = node as Node;
  for (let hops = 0; typeof current.$ref === 'string' && hops < 10; hops++) {
    current = pointer(doc, current.$ref) as Node;
  }
  return current;
}

function allRefs(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => allRefs(n, found));
  else if (typeof node === 'object' && node !== null) {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') found.push(value);
      else allRefs(value, found);
    }
  }
  return found;
}

interface Operation {
  method: string;
  path: string;
  op: Node;
}

function operations(): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Node>)) {
    for (const method of HTTP_METHODS) {
      if (item[method]) out.push({ method: method.toUpperCase(), path, op: item[method] as Node });
    }
  }
  return out;
}

function effectiveSecurity(op: Node): Node[] {
  return (op.security ?? doc.security ?? []) as Node[];
}

function needsAuth(op: Node): boolean {
  return effectiveSecurity(op).some((requirement) => Object.keys(requirement).length > 0);
}

function find(method: string, path: string): Node {
  const hit = operations().find((o) => o.method === method && o.path === path);
  if (!hit) throw new Error(`${method} ${path} not documented`);
  return hit.op;
}

function responseSchemaName(op: Node, status: string): string | undefined {
  const response = deref((op.responses as Node)[status]);
  const content = response.content as Record<string, Node> | undefined;
  const schema = content?.['application/json']?.schema as Node | undefined;
  return typeof schema?.$ref === 'string' ? schema.$ref.split('/').pop() : undefined;
}

describe('OpenAPI document', () => {
  test('document is OpenAPI 3.1 with the base path as its server', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect((doc.servers as Node[])[0]!.url).toBe(BASE);
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });

  test('every route in OPENAPI_ROUTES is in the document and vice versa', () => {
    const listed = OPENAPI_ROUTES.map((r) => `${r.method} ${r.path}`);
    const documented = operations().map((o) => `${o.method} ${o.path}`);
    expect(new Set(listed).size).toBe(listed.length);
    expect([...documented].sort()).toEqual([...listed].sort());
    for (const expected of [
      'GET /v1/challenges',
      'POST /v1/challenges/{challengeId}/goals/{goalId}/claim',
      'POST /v1/events',
      'GET /v1/ws',
      'POST /dev/clock',
    ]) {
      expect(listed).toContain(expected);
    }
  });

  test('every $ref resolves', () => {
    const refs = allRefs(doc);
    expect(refs.length).toBeGreaterThan(20);
    const broken = refs.filter((r) => pointer(doc, r) === undefined);
    expect(broken).toEqual([]);
  });

  test('operationIds are unique and every path template parameter is declared', () => {
    const ids = operations().map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { path, op } of operations()) {
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const declared = ((op.parameters ?? []) as Node[])
        .map(deref)
        .filter((p) => p.in === 'path')
        .map((p) => p.name);
      expect({ path, params: declared.sort() }).toEqual({ path, params: templated.sort() });
    }
  });

  test('every operation that needs a credential documents 401; only health, docs and dev routes are public', () => {
    const publicRoutes = operations()
      .filter((o) => !needsAuth(o.op))
      .map((o) => `${o.method} ${o.path}`);
    expect(publicRoutes.sort()).toEqual([
      'GET /healthz',
      'GET /openapi.json',
      'POST /dev/clock',
      'POST /dev/token',
    ]);
    for (const { method, path, op } of operations().filter((o) => needsAuth(o.op))) {
      expect({ route: `${method} ${path}`, has401: '401' in (op.responses as Node) }).toEqual({
        route: `${method} ${path}`,
        has401: true,
      });
    }
  });

  test('service route accepts a service JWT or an API key and documents 403 for player tokens', () => {
    const events = find('POST', '/v1/events');
    expect(effectiveSecurity(events)).toEqual([{ bearerAuth: [] }, { apiKey: [] }]);
    expect(responseSchemaName(events, '403')).toBe('Error');
    const schemes = (doc.components as Node).securitySchemes as Record<string, Node>;
    expect(schemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    expect(schemes.apiKey).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-Api-Key' });
    expect(effectiveSecurity(find('GET', '/v1/challenges'))).toEqual([{ bearerAuth: [] }]);
  });

  test('every 4xx/5xx response carries the Error schema; 429 and 503 carry Retry-After', () => {
    let checked = 0;
    for (const { method, path, op } of operations()) {
      for (const [status, response] of Object.entries(op.responses as Node)) {
        if (!/^[45]\d\d$/.test(status)) continue;
        checked++;
        expect({ route: `${method} ${path}`, status, schema: responseSchemaName(op, status) }).toEqual({
          route: `${method} ${path}`,
          status,
          schema: 'Error',
        });
        if (status === '429' || status === '503') {
          const headers = deref(response).headers as Node | undefined;
          expect(deref(headers?.['Retry-After'])).toMatchObject({ schema: { type: 'integer' } });
        }
      }
    }
    expect(checked).toBeGreaterThan(50);
    const error = (doc.components as { schemas: Record<string, Node> }).schemas.Error!;
    expect(error.required).toEqual(['code', 'message', 'error', 'details']);
    expect((error.properties as Record<string, Node>).code).toMatchObject({ type: 'integer' });
  });

  test('route-specific error statuses of the error table are documented', () => {
    const statuses = (method: string, path: string) => Object.keys(find(method, path).responses as Node);
    expect(statuses('POST', '/v1/challenges/{challengeId}/goals/{goalId}/claim')).toEqual(
      expect.arrayContaining(['400', '401', '404', '409', '413', '429', '500', '503']),
    );
    expect(statuses('POST', '/v1/challenges/{challengeId}/goals/random-select')).toEqual(
      expect.arrayContaining(['404', '422']),
    );
    expect(statuses('POST', '/v1/challenges/{challengeId}/goals/batch-select')).toEqual(
      expect.arrayContaining(['404', '409']),
    );
    expect(statuses('PUT', '/v1/challenges/{challengeId}/goals/{goalId}/active')).toEqual(
      expect.arrayContaining(['404', '409']),
    );
    expect(statuses('POST', '/v1/events')).toEqual(expect.arrayContaining(['202', '400', '413']));
    expect(statuses('POST', '/dev/token')).toContain('404');
  });

  test('every POST/PUT player route takes an Idempotency-Key header', () => {
    const writes = operations().filter(
      (o) => ['POST', 'PUT'].includes(o.method) && o.path.startsWith('/v1/challenges'),
    );
    expect(writes).toHaveLength(5);
    for (const { path, op } of writes) {
      const headers = ((op.parameters ?? []) as Node[]).map(deref).filter((p) => p.in === 'header');
      expect({ path, headers: headers.map((h) => h.name) }).toEqual({ path, headers: ['Idempotency-Key'] });
    }
  });

  test('list route takes activeOnly and active_only; bodies and answers use the contract schemas', () => {
    const list = find('GET', '/v1/challenges');
    expect(((list.parameters ?? []) as Node[]).map((p) => p.name).sort()).toEqual([
      'activeOnly',
      'active_only',
    ]);
    expect(responseSchemaName(list, '200')).toBe('ChallengeList');
    const bodyOf = (method: string, path: string) =>
      (
        ((find(method, path).requestBody as Node).content as Record<string, Node>)['application/json']!
          .schema as Node
      ).$ref;
    expect(bodyOf('PUT', '/v1/challenges/{challengeId}/goals/{goalId}/active')).toBe(
      '#/components/schemas/SetActiveRequest',
    );
    expect(bodyOf('POST', '/v1/events')).toBe('#/components/schemas/EventsRequest');
    expect(responseSchemaName(find('POST', '/v1/challenges/initialize'), '200')).toBe('InitializeResponse');
    expect(responseSchemaName(find('GET', '/v1/challenges/{challengeId}/rotation'), '200')).toBe(
      'RotationResponse',
    );
    expect(responseSchemaName(find('POST', '/v1/events'), '202')).toBe('EventsResponse');

    const schemas = (doc.components as { schemas: Record<string, Node> }).schemas;
    expect(deref(schemas.ClaimResponse!.properties as Node).rewardStatus).toEqual({
      $ref: '#/components/schemas/RewardStatus',
    });
    expect(schemas.RewardStatus!.enum).toEqual(['granted', 'pending']);
    expect(schemas.EventsResponse!.required).toEqual(['accepted', 'rejected']);
    const rejected = (schemas.EventsResponse!.properties as Record<string, Node>).rejected!;
    expect((rejected.items as Node).required).toEqual(['index', 'reason']);
    expect((schemas.EventsRequest!.properties as Record<string, Node>).events).toMatchObject({
      maxItems: 1000,
    });
    expect(schemas.GoalView!.required).toEqual(
      expect.arrayContaining([
        'goalId',
        'progress',
        'target',
        'status',
        'locked',
        'isActive',
        'expiresInSeconds',
      ]),
    );
  });
});
