// The layering rules of docs/ARCHITECTURE.md, checked on the import statements of app/**/*.ts.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const APP = path.join(__dirname, '../../app');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** file (relative to app/, without .ts) -> the app files it imports (same form). */
export function importGraph(root: string = APP): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(root)) {
    const text = readFileSync(file, 'utf8');
    const specs = [
      ...text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'/gms),
      ...text.matchAll(/\b(?:import|require)\(\s*'([^']+)'\s*\)/g),
    ].map((m) => m[1]!);
    const targets = specs
      .filter((s) => s.startsWith('.'))
      .map((s) => {
        const abs = path.resolve(path.dirname(file), s);
        const rel = path.relative(root, abs).split(path.sep).join('/');
        try {
          if (statSync(abs).isDirectory()) return `${rel}/index`;
        } catch {
          // a file, not a directory
        }
        return rel.replace(/\.(ts|js)$/, '');
      });
    graph.set(path.relative(root, file).split(path.sep).join('/').replace(/\.ts$/, ''), targets);
  }
  return graph;
}

const top = (f: string) => f.split('/')[0]!;
/** Composition roots wire modules together (they may import every layer). */
const isComposition = (f: string) =>
  /(^|\/)module$/.test(f) || ['main', 'runtime', 'modules', 'operator'].includes(f);

const LOWER = new Set([
  'store',
  'admission',
  'catalog',
  'domain',
  'events',
  'rewards',
  'gdpr',
  'auth',
  'usecases',
]);
/** Packages of the HTTP layer: use cases know nothing of HTTP. */
const HTTP_PACKAGES = ['uWebSockets.js', 'express'];

/** file -> the packages (bare specifiers) it imports, same form as importGraph. */
export function packageImports(root: string = APP): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const file of sources(root)) {
    const text = readFileSync(file, 'utf8');
    const specs = [
      ...text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'/gms),
      ...text.matchAll(/^\s*import\s+'([^']+)'/gm),
      ...text.matchAll(/\b(?:import|require)\(\s*'([^']+)'\s*\)/g),
    ].map((m) => m[1]!);
    out.set(
      path.relative(root, file).split(path.sep).join('/').replace(/\.ts$/, ''),
      specs.filter((s) => !s.startsWith('.')),
    );
  }
  return out;
}

function violations(graph: Map<string, string[]>, packages = new Map<string, string[]>()): string[] {
  const out: string[] = [];
  for (const [file, pkgs] of packages) {
    if (top(file) !== 'usecases') continue;
    for (const p of pkgs) {
      if (HTTP_PACKAGES.some((h) => p === h || p.startsWith(`${h}/`)))
        out.push(`${file} -> ${p} (use cases know nothing of HTTP)`);
    }
  }
  for (const [file, targets] of graph) {
    if (isComposition(file)) continue;
    for (const t of targets) {
      if (LOWER.has(top(file)) && top(t) === 'api') out.push(`${file} -> ${t} (lower layer imports the api)`);
      if (top(t) === 'usecases' && !['usecases', 'api'].includes(top(file)))
        out.push(`${file} -> ${t} (only the api calls the use cases)`);
      if (top(file) === 'domain' && !['domain', 'errors', 'limits'].includes(top(t)))
        out.push(`${file} -> ${t} (domain is pure: domain, errors and limits only)`);
      if (top(file) === 'schemas' && !['schemas', 'errors', 'limits'].includes(top(t)))
        out.push(`${file} -> ${t} (schemas import only schemas, errors and limits)`);
      if (file === 'errors' || file === 'limits')
        out.push(`${file} -> ${t} (the bottom imports nothing from app/)`);
    }
  }
  return out;
}

describe('import graph of app/', () => {
  const graph = importGraph();
  const packages = packageImports();

  test('the parser sees the imports (sanity: known edges are found)', () => {
    expect(graph.get('api/routes')).toEqual(expect.arrayContaining(['api/http', 'usecases/players']));
    expect(graph.get('usecases/players')).toEqual(
      expect.arrayContaining(['domain/progress', 'store/players']),
    );
    expect(graph.get('domain/progress')).toEqual(expect.arrayContaining(['domain/catalog']));
    expect(packages.get('api/server')).toEqual(expect.arrayContaining(['uWebSockets.js']));
    expect(graph.size).toBeGreaterThan(50);
  });

  test('no lower layer imports app/api; domain is pure; errors.ts is the bottom', () => {
    expect(violations(graph, packages)).toEqual([]);
  });

  test('use cases import neither app/api nor an HTTP package; only the api calls them', () => {
    const planted = new Map(graph);
    planted.set('usecases/players', [...(graph.get('usecases/players') ?? []), 'api/views']);
    planted.set('events/worker', [...(graph.get('events/worker') ?? []), 'usecases/players']);
    const plantedPackages = new Map(packages);
    plantedPackages.set('usecases/players', ['pino', 'uWebSockets.js', 'express/lib/router']);
    expect(violations(planted, plantedPackages).sort()).toEqual([
      'events/worker -> usecases/players (only the api calls the use cases)',
      'usecases/players -> api/views (lower layer imports the api)',
      'usecases/players -> express/lib/router (use cases know nothing of HTTP)',
      'usecases/players -> uWebSockets.js (use cases know nothing of HTTP)',
    ]);
  });

  test('the rules catch a violation (an api import planted in a store file)', () => {
    const planted = new Map(graph);
    planted.set('store/players', [...(graph.get('store/players') ?? []), 'api/http']);
    planted.set('domain/rules', ['store/db']);
    planted.set('schemas/api', [...(graph.get('schemas/api') ?? []), 'catalog/load']);
    expect(violations(planted).sort()).toEqual([
      'domain/rules -> store/db (domain is pure: domain, errors and limits only)',
      'schemas/api -> catalog/load (schemas import only schemas, errors and limits)',
      'store/players -> api/http (lower layer imports the api)',
    ]);
  });
});
