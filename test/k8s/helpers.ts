// Shared by the chart tests: run helm, parse its output, validate objects, build the k6 models.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generate } from '@kubernetes-models/crd-generate';
import ts from 'typescript';
import YAML from 'yaml';

export const ROOT = path.resolve(__dirname, '../..');
export const HELM = path.join(ROOT, '.tools', 'bin', 'helm');
export const CHART_DIR = path.join(ROOT, 'charts', 'challenge-service');
export const VALUE_SETS_DIR = path.join(__dirname, 'values');
export const VALUE_SETS = ['minimal', 'production-keda', 'external'] as const;
const K6_CRD = '/work/shared/fixtures/crds/k6.io_testruns.yaml';

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
} & Record<string, unknown>;

export interface HelmResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function helm(args: string[]): HelmResult {
  const r = spawnSync(HELM, args, { encoding: 'utf8', cwd: ROOT });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export const valuesFile = (set: string): string => path.join(VALUE_SETS_DIR, `${set}.yaml`);

/** `helm template` of the chart (hooks included); throws with helm's message when it fails. */
export function renderText(opts: { valueSet?: string; set?: string[]; chartDir?: string } = {}): string {
  const args = ['template', 'rel', opts.chartDir ?? CHART_DIR, '--namespace', 'games'];
  if (opts.valueSet) args.push('-f', valuesFile(opts.valueSet));
  for (const s of opts.set ?? []) args.push('--set', s);
  const r = helm(args);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return r.stdout;
}

export function parseDocs(text: string): K8sObject[] {
  return YAML.parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

export const render = (opts: Parameters<typeof renderText>[0] = {}): K8sObject[] =>
  parseDocs(renderText(opts));

export const ofKind = (objects: K8sObject[], kind: string): K8sObject[] =>
  objects.filter((o) => o.kind === kind);

export function one(objects: K8sObject[], kind: string, nameSuffix: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name.endsWith(nameSuffix));
  if (found.length !== 1) throw new Error(`expected one ${kind} *${nameSuffix}, found ${found.length}`);
  return found[0]!;
}

/** Chart defaults overlaid with a value set, the way helm merges them. */
export function effectiveValues(valueSet?: string): Record<string, unknown> {
  const base = YAML.parse(readFileSync(path.join(CHART_DIR, 'values.yaml'), 'utf8')) as Record<
    string,
    unknown
  >;
  if (!valueSet) return base;
  const overlay = YAML.parse(readFileSync(valuesFile(valueSet), 'utf8')) as Record<string, unknown>;
  const merge = (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> => {
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) {
      const cur = out[k];
      out[k] =
        v &&
        typeof v === 'object' &&
        !Array.isArray(v) &&
        cur &&
        typeof cur === 'object' &&
        !Array.isArray(cur)
          ? merge(cur as Record<string, unknown>, v as Record<string, unknown>)
          : v;
    }
    return out;
  };
  return merge(base, overlay);
}

export function get(obj: unknown, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
}

/**
 * Generates the k6 TestRun model from its CRD with @kubernetes-models/crd-generate and compiles
 * it to ES modules, so the validator can load it. Returns the directory.
 */
export async function buildK6Models(): Promise<string> {
  const tmpRoot = path.join(ROOT, '.tmp');
  mkdirSync(tmpRoot, { recursive: true });
  const dir = mkdtempSync(path.join(tmpRoot, 'k6-models-'));
  const log = console.log;
  console.log = () => undefined; // the generator narrates every file it writes
  try {
    await generate({ input: readFileSync(K6_CRD, 'utf8'), outputPath: dir });
  } finally {
    console.log = log;
  }
  const withJsExtensions = (code: string): string =>
    code.replace(/(from\s+["'])(\.{1,2}\/[^"']+?)(["'])/g, (_m, a: string, spec: string, b: string) =>
      spec.endsWith('.js') ? `${a}${spec}${b}` : `${a}${spec}.js${b}`,
    );
  const walk = (d: string): string[] =>
    readdirSync(d).flatMap((f) =>
      statSync(path.join(d, f)).isDirectory() ? walk(path.join(d, f)) : [path.join(d, f)],
    );
  for (const file of walk(dir)) {
    if (file.endsWith('.ts') && !file.endsWith('.d.ts')) {
      const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
        fileName: file,
        compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
      });
      writeFileSync(file.replace(/\.ts$/, '.js'), withJsExtensions(outputText));
    } else if (file.endsWith('.js')) {
      writeFileSync(file, withJsExtensions(readFileSync(file, 'utf8')));
    }
  }
  writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}\n');
  return dir;
}

export interface SchemaProblem {
  readonly index: number;
  readonly key: string;
  readonly name?: string;
  readonly error: string;
}

/** Validate objects against kubernetes-models / KEDA / prometheus-operator / generated k6 schemas. */
export function validateObjects(objects: unknown[], k6Dir: string): SchemaProblem[] {
  const out = execFileSync(process.execPath, [path.join(__dirname, 'validate-models.mjs'), k6Dir], {
    input: JSON.stringify(objects),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(out) as SchemaProblem[];
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
