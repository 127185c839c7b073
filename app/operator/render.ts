// Renders the chart that cdk8s/ generates (renderChart(): the same constructs, in process) for a
// set of values, the way `helm template` does: defaults from values.yaml deep-merged with the
// given values, checked against values.schema.json, every template evaluated (gotemplate.ts),
// split into objects. The operator applies the result; a test compares it with helm's (issue 16).
import YAML from 'yaml';
import { renderChart } from '../../cdk8s/chart';
import { Templates, TemplateError, TemplateFail } from './gotemplate';
import { checkSchema, type JsonSchema } from './schema';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export interface RenderInput {
  readonly values: Record<string, unknown>;
  readonly releaseName: string;
  readonly namespace: string;
  /** `group/version/Kind` and `group/version` the API server serves (.Capabilities.APIVersions). */
  readonly apiVersions: ReadonlySet<string>;
  /** .Release.Service: who manages the objects (Helm says "Helm"). */
  readonly service?: string;
  readonly isInstall?: boolean;
}

/** The values are refused before anything renders: each problem names its path. */
export class InvalidValues extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid values: ${problems.join('; ')}`);
  }
}
/** The chart refused to render (a `fail` in its templates, e.g. a budget that leaves no pool). */
export class RenderRefused extends Error {}

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Helm's coalescing of user values over chart defaults: maps merge, null removes a default. */
export function mergeValues(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else if (isMap(v) && isMap(out[k])) out[k] = mergeValues(out[k] as Record<string, unknown>, v);
    else out[k] = v;
  }
  return out;
}

interface Chart {
  readonly name: string;
  readonly version: string;
  readonly appVersion: string;
  readonly defaults: Record<string, unknown>;
  readonly schema: JsonSchema;
  readonly templates: Templates;
  readonly files: string[];
}

let cached: Chart | undefined;

/** The chart from the constructs (rendered once per process). */
export function chartFromConstructs(): Chart {
  if (cached) return cached;
  const files = renderChart();
  const meta = YAML.parse(files.get('Chart.yaml')!) as { name: string; version: string; appVersion: string };
  const base = `${meta.name}/templates`;
  const sources = new Map<string, string>();
  for (const [rel, text] of files) if (rel.startsWith('templates/')) sources.set(`${meta.name}/${rel}`, text);
  cached = {
    name: meta.name,
    version: meta.version,
    appVersion: String(meta.appVersion),
    defaults: (YAML.parse(files.get('values.yaml')!) as Record<string, unknown>) ?? {},
    schema: JSON.parse(files.get('values.schema.json')!) as JsonSchema,
    templates: new Templates(sources),
    files: [...sources.keys()]
      .filter((n) => !n.slice(base.length + 1).startsWith('_') && /\.(ya?ml|tpl|txt)$/.test(n))
      .filter((n) => !n.endsWith('.tpl'))
      .sort(),
  };
  return cached;
}

/** Every object the chart renders for `input` (hooks included, in file order). */
export function renderObjects(input: RenderInput): KubeObject[] {
  const chart = chartFromConstructs();
  const values = mergeValues(chart.defaults, input.values);
  const problems = checkSchema(chart.schema, values);
  if (problems.length) throw new InvalidValues(problems);
  const apis = input.apiVersions;
  const data = {
    Values: values,
    Release: {
      Name: input.releaseName,
      Namespace: input.namespace,
      Service: input.service ?? 'Helm',
      IsInstall: input.isInstall ?? true,
      IsUpgrade: !(input.isInstall ?? true),
      Revision: 1,
    },
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
    Capabilities: { APIVersions: { Has: (v: unknown) => apis.has(String(v)) } },
    Template: { BasePath: `${chart.name}/templates`, Name: '' },
  };
  const objects: KubeObject[] = [];
  for (const file of chart.files) {
    let text: string;
    try {
      text = chart.templates.render(file, { ...data, Template: { ...data.Template, Name: file } });
    } catch (err) {
      if (err instanceof TemplateFail) throw new RenderRefused(`${file}: ${err.message}`);
      if (err instanceof TemplateError) throw new RenderRefused(`${file}: ${err.message}`);
      throw err;
    }
    for (const doc of YAML.parseAllDocuments(text)) {
      if (doc.errors.length) throw new RenderRefused(`${file}: ${doc.errors[0]!.message}`);
      const o = doc.toJS() as KubeObject | null;
      if (o && typeof o === 'object' && o.kind) objects.push(o);
    }
  }
  return objects;
}
