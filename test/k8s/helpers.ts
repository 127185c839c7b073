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
export const VALUE_SETS = [
  'minimal',
  'production-keda',
  'external',
  'catalog-kubernetes',
  'operator',
] as const;
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

/** APIs of the third-party CRDs the chart can use (../shared/fixtures/crds), as `--api-versions`. */
export const THIRD_PARTY_APIS = [
  'monitoring.coreos.com/v1/ServiceMonitor',
  'monitoring.coreos.com/v1/PrometheusRule',
  'keda.sh/v1alpha1/ScaledObject',
  'k6.io/v1alpha1/TestRun',
] as const;

/**
 * `helm template` of the chart (hooks included); throws with helm's message when it fails. Renders
 * as for a cluster serving the third-party APIs unless `bare` (then they are left out).
 */
export function renderText(
  opts: {
    valueSet?: string;
    set?: string[];
    chartDir?: string;
    bare?: boolean;
    apiVersions?: readonly string[];
  } = {},
): string {
  const args = ['template', 'rel', opts.chartDir ?? CHART_DIR, '--namespace', 'games'];
  for (const api of [...(opts.bare ? [] : THIRD_PARTY_APIS), ...(opts.apiVersions ?? [])]) {
    args.push('--api-versions', api);
  }
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
 * Generates models with @kubernetes-models/crd-generate from the k6 TestRun CRD and from `crds`
 * (e.g. the ChallengeCatalog CRDs the chart renders, so custom resources are checked against the
 * very schema the chart installs), and compiles them to ES modules, so the validator can load
 * them. Returns the directory.
 */
export async function buildCrdModels(crds: readonly unknown[] = []): Promise<string> {
  const tmpRoot = path.join(ROOT, '.tmp');
  mkdirSync(tmpRoot, { recursive: true });
  const dir = mkdtempSync(path.join(tmpRoot, 'crd-models-'));
  const input = [readFileSync(K6_CRD, 'utf8'), ...crds.map((c) => YAML.stringify(c))].join('\n---\n');
  const log = console.log;
  console.log = () => undefined; // the generator narrates every file it writes
  try {
    await generate({ input, outputPath: dir });
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

/** Validate objects against kubernetes-models / KEDA / prometheus-operator / CRD-generated schemas. */
export function validateObjects(objects: unknown[], modelDir: string): SchemaProblem[] {
  const out = execFileSync(process.execPath, [path.join(__dirname, 'validate-models.mjs'), modelDir], {
    input: JSON.stringify(objects),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(out) as SchemaProblem[];
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
};

/**
 * Fields of `value` a structural schema does not declare: the API server prunes them silently on
 * create, so a custom resource carrying any would lose data. (Types, enums and required fields are
 * checked by the CRD-generated model; this is what that model does not check.) `metadata` is
 * validated by the API server itself and skipped.
 */
export function prunedFields(value: unknown, schema: Schema, at = ''): string[] {
  if (schema['x-kubernetes-preserve-unknown-fields']) return [];
  if (Array.isArray(value))
    return schema.items ? value.flatMap((v, i) => prunedFields(v, schema.items!, `${at}[${i}]`)) : [];
  if (value === null || typeof value !== 'object' || schema.type !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => {
    const where = `${at}.${k}`;
    if (at === '' && k === 'metadata') return [];
    const child =
      schema.properties?.[k] ??
      (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
    if (!child) return schema.additionalProperties === true ? [] : [where];
    return prunedFields(v, child, where);
  });
}
