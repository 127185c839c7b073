// The catalog document's zod schema (app/schemas/catalog.ts) is the one source of the ChallengeCatalog
// CRD's schema and of the loader's field checks:
//  - the CRD generated from it equals the committed chart's CRD (and the operator's CRD likewise);
//  - the loader answers exactly what the hand-written loader before it answered (kept verbatim in
//    test/unit/before/catalog-load.ts), on the reference's catalogs and on thousands of broken ones.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { challengeCatalogCrd } from '../../app/catalog/crd';
import { parseCatalog } from '../../app/catalog/load';
import { CatalogInvalidError, type Catalog } from '../../app/domain/catalog';
import { challengeServiceCrd } from '../../app/operator/crd';
import { catalogDocumentSchema, catalogSpecSchema } from '../../app/schemas/catalog';
import { kubernetesSchema } from '../../app/schemas/kubernetes';
import { parseCatalog as parseCatalogBefore } from './before/catalog-load';

const ROOT = path.resolve(__dirname, '../..');
const FIXTURES_DIR = process.env.FIXTURES_DIR ?? path.resolve(__dirname, '../../../shared/fixtures');
const TEMPLATES = path.join(ROOT, 'charts/challenge-service/templates');

type Json = Record<string, unknown>;

/** A chart template as YAML: Helm control lines dropped, `{{ ... }}` expressions replaced by a word. */
function templateYaml(file: string): Json {
  const text = readFileSync(path.join(TEMPLATES, file), 'utf8')
    .split('\n')
    .filter((line) => !/^\s*\{\{-/.test(line))
    .join('\n')
    .replace(/\{\{[^}]*\}\}/g, 'TEMPLATED');
  return YAML.parse(text) as Json;
}

const schemaOf = (crd: Json): unknown => ((crd.spec as Json).versions as Json[])[0]!.schema as Json;

describe('CRD schemas generated from the zod schemas', () => {
  test('ChallengeCatalog: the generated openAPIV3Schema equals the committed chart CRD', () => {
    const committed = templateYaml('catalog-crd.yaml');
    expect(committed.kind).toBe('CustomResourceDefinition');
    expect(schemaOf(challengeCatalogCrd() as Json)).toEqual(schemaOf(committed));
  });

  test('ChallengeService: the generated openAPIV3Schema equals the committed chart CRD', () => {
    const committed = templateYaml('operator-crd.yaml');
    expect(schemaOf(challengeServiceCrd() as Json)).toEqual(schemaOf(committed));
  });

  test('the spec schema is the catalog schema: ids bounded, enums and required fields from it', () => {
    const spec = kubernetesSchema(catalogSpecSchema) as Json;
    const challenge = ((spec.properties as Json).challenges as Json).items as Json;
    const goal = ((challenge.properties as Json).goals as Json).items as Json;
    // requirement or requirementGroups: exactly one of them (a refinement the CRD cannot carry)
    expect(goal.required).toEqual(['goalId', 'name', 'eventSource', 'reward']);
    expect(Object.keys(goal.properties as Json)).toEqual(
      expect.arrayContaining(['requirement', 'requirementGroups', 'evaluateAt']),
    );
    expect((spec.properties as Json).stats).toMatchObject({ type: 'array' });
    expect((goal.properties as Json).goalId).toMatchObject({ type: 'string', minLength: 1, maxLength: 128 });
    expect(JSON.stringify(spec)).not.toContain('9007199254740991');
    expect(JSON.stringify(spec)).not.toContain('additionalProperties');
  });
});

// ---- the loader against the loader before the schema ------------------------------------------

const readJson = (file: string): unknown => JSON.parse(readFileSync(file, 'utf8'));
const DOCS: Record<string, unknown> = {
  current: readJson(path.join(FIXTURES_DIR, 'anchor-challenges.json')),
  legacy: readJson(path.join(FIXTURES_DIR, 'anchor-loadtest-challenges.json')),
  'legacy-500-default': readJson(path.join(FIXTURES_DIR, 'anchor-loadtest-500-default.json')),
  example: readJson(path.join(ROOT, 'examples/catalog.json')),
};

type Outcome = { catalog: Omit<Catalog, never> } | { problems: unknown };

function outcome(parse: (raw: unknown) => Catalog, raw: unknown): Outcome {
  try {
    return { catalog: parse(structuredClone(raw)) };
  } catch (err) {
    if (err instanceof Error && err.name === 'CatalogInvalidError') {
      return { problems: (err as CatalogInvalidError).problems };
    }
    throw err;
  }
}

/** Deterministic PRNG (mulberry32), so a failure names a case that can be run again. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every path (array of keys) to a value inside `node`. */
function paths(node: unknown, at: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(at);
  if (Array.isArray(node)) node.forEach((v, i) => paths(v, [...at, i], out));
  else if (typeof node === 'object' && node !== null) {
    for (const [k, v] of Object.entries(node)) paths(v, [...at, k], out);
  }
  return out;
}

const REPLACEMENTS: unknown[] = [
  undefined, // the key removed
  null,
  0,
  -1,
  2.5,
  2 ** 60,
  '',
  '3',
  'bogus',
  'g'.repeat(128),
  'g'.repeat(129),
  true,
  false,
  [],
  {},
  ['a'],
  'daily',
  'relative',
  'login',
  'WALLET',
];

/** The same document with the value at `at` replaced (or removed). */
function mutate(doc: unknown, at: (string | number)[], value: unknown): unknown {
  if (at.length === 0) return value;
  const copy = structuredClone(doc) as Json;
  let node: Json = copy;
  for (const key of at.slice(0, -1)) node = node[key as string] as Json;
  const last = at[at.length - 1]!;
  if (value === undefined && Array.isArray(node)) node.splice(last as number, 1);
  else if (value === undefined) delete node[last as string];
  else node[last as string] = value;
  return copy;
}

/** A small copy of a document (first two challenges, first four goals each), so that mutations hit
 *  every field often and the comparison stays fast. */
function small(doc: unknown): unknown {
  const d = structuredClone(doc) as { challenges: { goals: unknown[] }[] };
  d.challenges = d.challenges.slice(0, 2).map((c) => ({ ...c, goals: c.goals.slice(0, 4) }));
  return d;
}

/** The one difference, on purpose: a prerequisite id over the id limit (refused before too, as an
 *  unknown goal id, since no goal may have such an id) now also gets the schema's own problem line. */
function withoutLongPrerequisite(o: Outcome): Outcome {
  if (!('problems' in o)) return o;
  const problems = o.problems as { path: string; message: string }[];
  const unknown = new Set(problems.filter((p) => p.message.startsWith('unknown goal id')).map((p) => p.path));
  return {
    problems: problems.filter(
      (p) =>
        !(
          /\.prerequisites\[\d+\]$/.test(p.path) &&
          unknown.has(p.path) &&
          p.message.startsWith('must be at most')
        ),
    ),
  };
}

describe('the schema-based loader answers what the loader before it answered', () => {
  test('an over-long prerequisite: the unknown-id problem as before, plus the length problem', () => {
    const doc = structuredClone(DOCS.current) as { challenges: { goals: { prerequisites?: string[] }[] }[] };
    doc.challenges[0]!.goals[0]!.prerequisites = ['g'.repeat(129)];
    const problems = (outcome(parseCatalog, doc) as { problems: unknown }).problems;
    expect(problems).toEqual([
      {
        path: 'challenges[0].goals[0].prerequisites[0]',
        message: 'must be at most 128 characters (got 129)',
      },
      {
        path: 'challenges[0].goals[0].prerequisites[0]',
        message: expect.stringMatching(/^unknown goal id "g+"$/),
      },
    ]);
    expect(outcome(parseCatalogBefore, doc)).toEqual({ problems: [(problems as unknown[])[1]] });
  });

  test.each(Object.keys(DOCS))('%s catalog: the same normalised catalog', (name) => {
    const before = outcome(parseCatalogBefore, DOCS[name]);
    expect('catalog' in before).toBe(true);
    expect(outcome(parseCatalog, DOCS[name])).toEqual(before);
  });

  test.each(Object.keys(DOCS))(
    '%s catalog, 1 to 3 fields broken at random, 1,500 times: the same problems, paths and messages',
    (name) => {
      const base = small(DOCS[name]);
      const all = paths(base);
      const random = prng(name.length * 7919 + 15);
      let refused = 0;
      for (let n = 0; n < 1500; n++) {
        let doc = base;
        const edits: string[] = [];
        const times = 1 + Math.floor(random() * 3);
        for (let k = 0; k < times; k++) {
          const at = all[Math.floor(random() * all.length)]!;
          const value = REPLACEMENTS[Math.floor(random() * REPLACEMENTS.length)];
          try {
            doc = mutate(doc, at, value);
          } catch {
            continue; // the path went away with an earlier edit
          }
          edits.push(`${at.join('.')}=${JSON.stringify(value) ?? 'removed'}`);
        }
        const before = outcome(parseCatalogBefore, doc);
        if ('problems' in before) refused++;
        expect([edits, withoutLongPrerequisite(outcome(parseCatalog, doc))]).toEqual([edits, before]);
      }
      // The cases are mostly refusals (each reported like before), not only harmless edits.
      expect(refused).toBeGreaterThan(500);
    },
  );

  test('the document schema accepts exactly the documents the loader accepts (reference catalogs)', () => {
    for (const doc of Object.values(DOCS)) expect(catalogDocumentSchema.safeParse(doc).success).toBe(true);
    expect(catalogDocumentSchema.safeParse({ challenges: [{ challengeId: 'c', name: 'C' }] }).success).toBe(
      false,
    );
  });
});
