// The ChallengeCatalog CRD: shape of the manifest, and its schema against real catalogs. The API
// server prunes fields a structural schema does not declare, so the test prunes like it does and
// checks that the loader still reads the very same catalog.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseCatalog } from '../../app/catalog/load';
import {
  catalogRbacRules,
  catalogSpecSchema,
  challengeCatalogCrd,
  challengeCatalogResource,
  crdName,
} from '../../app/catalog/crd';
import { ROOT } from '../../app/paths';
import { FIXTURES_DIR } from '../helpers/db';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies and manifests are checked by assertions
type Loose = any;

type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  minimum?: number;
  minLength?: number;
  maxLength?: number;
};

/** Prunes unknown fields (like the API server) and returns the pruned value plus schema violations. */
function prune(value: unknown, schema: Schema, at: string, errors: string[]): unknown {
  const type = schema.type;
  if (type === 'object') {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      errors.push(`${at}: not an object`);
      return value;
    }
    const obj = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (obj[r] === undefined) errors.push(`${at}.${r}: required`);
    if (!schema.properties) return obj; // free-form (metadata)
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) {
      const sub = schema.properties[k];
      if (sub) out[k] = prune(v, sub, `${at}.${k}`, errors);
    }
    return out;
  }
  if (type === 'array') {
    if (!Array.isArray(value)) {
      errors.push(`${at}: not an array`);
      return value;
    }
    return value.map((v, i) => prune(v, schema.items!, `${at}[${i}]`, errors));
  }
  if (type === 'string' && typeof value !== 'string') errors.push(`${at}: not a string`);
  if (type === 'boolean' && typeof value !== 'boolean') errors.push(`${at}: not a boolean`);
  if (type === 'integer' && !Number.isInteger(value)) errors.push(`${at}: not an integer`);
  if (schema.enum && !schema.enum.includes(value)) errors.push(`${at}: not in enum`);
  if (schema.minimum !== undefined && typeof value === 'number' && value < schema.minimum)
    errors.push(`${at}: below minimum`);
  if (typeof value === 'string' && schema.maxLength !== undefined && value.length > schema.maxLength)
    errors.push(`${at}: too long`);
  if (typeof value === 'string' && schema.minLength !== undefined && value.length < schema.minLength)
    errors.push(`${at}: too short`);
  return value;
}

const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as unknown;

describe('ChallengeCatalog CRD', () => {
  test('is a namespaced v1alpha1 CRD named challengecatalogs.<group> with a status subresource', () => {
    const crd = challengeCatalogCrd() as Loose;
    expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
    expect(crd.kind).toBe('CustomResourceDefinition');
    expect(crd.metadata.name).toBe('challengecatalogs.challenges.example.com');
    expect(crd.spec).toMatchObject({
      group: 'challenges.example.com',
      scope: 'Namespaced',
      names: { kind: 'ChallengeCatalog', plural: 'challengecatalogs' },
    });
    expect(crd.spec.versions).toHaveLength(1);
    expect(crd.spec.versions[0]).toMatchObject({
      name: 'v1alpha1',
      served: true,
      storage: true,
      subresources: { status: {} },
    });
    const status = crd.spec.versions[0].schema.openAPIV3Schema.properties.status.properties;
    expect(Object.keys(status)).toEqual(
      expect.arrayContaining(['observedGeneration', 'conditions', 'version', 'problems']),
    );
    const custom = challengeCatalogCrd('games.acme.io') as Loose;
    expect(custom.metadata.name).toBe(crdName('games.acme.io'));
    expect(custom.metadata.name).toBe('challengecatalogs.games.acme.io');
  });

  test.each([
    ['example catalog', path.join(ROOT, 'examples/catalog.json')],
    ['rules example catalog', path.join(ROOT, 'examples/catalog-rules.json')],
    ['anchor fixture', path.join(FIXTURES_DIR, 'anchor-challenges.json')],
  ])('the %s conforms to the spec schema and loses nothing the loader reads when pruned', (_name, file) => {
    const doc = readJson(file);
    const errors: string[] = [];
    const pruned = prune(doc, catalogSpecSchema as Schema, 'spec', errors);
    expect(errors).toEqual([]);
    expect(parseCatalog(pruned).version).toBe(parseCatalog(doc).version);
  });

  test('the schema refuses what the loader refuses field by field (non-positive target, unknown enum)', () => {
    const doc = readJson(path.join(ROOT, 'examples/catalog.json')) as Loose;
    doc.challenges[0].goals[0].requirement.targetValue = 0;
    doc.challenges[0].goals[1].eventSource = 'purchase';
    const errors: string[] = [];
    prune(doc, catalogSpecSchema as Schema, 'spec', errors);
    expect(errors).toEqual([
      'spec.challenges[0].goals[0].requirement.targetValue: below minimum',
      'spec.challenges[0].goals[1].eventSource: not in enum',
    ]);
  });

  test('RBAC rules cover watching the resource, patching its status and holding a Lease', () => {
    const rules = catalogRbacRules('games.acme.io');
    const allows = (group: string, resource: string, verb: string) =>
      rules.some(
        (r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb),
      );
    for (const verb of ['get', 'list', 'watch'])
      expect(allows('games.acme.io', 'challengecatalogs', verb)).toBe(true);
    expect(allows('games.acme.io', 'challengecatalogs/status', 'patch')).toBe(true);
    for (const verb of ['get', 'create', 'update'])
      expect(allows('coordination.k8s.io', 'leases', verb)).toBe(true);
    expect(allows('games.acme.io', 'challengecatalogs', 'update')).toBe(false); // pods never edit the spec
  });

  test('a resource built from a catalog file carries it as its spec', () => {
    const doc = readJson(path.join(ROOT, 'examples/catalog.json'));
    expect(challengeCatalogResource('live', doc, { namespace: 'games' })).toEqual({
      apiVersion: 'challenges.example.com/v1alpha1',
      kind: 'ChallengeCatalog',
      metadata: { name: 'live', namespace: 'games' },
      spec: doc,
    });
  });
});
