// Helm placeholders for cdk8s objects, and the YAML writer that turns them into template text.
// Constructs put opaque string tokens where a chart value belongs; cdk8s synthesises plain JSON
// (tokens survive as strings); toHelmYaml() then writes YAML and swaps each token for its
// `{{ ... }}` expression, so the object's shape is owned by TypeScript and its values by Helm.
import YAML from 'yaml';

type TokenSpec =
  | { readonly kind: 'scalar'; readonly expr: string }
  | { readonly kind: 'block'; readonly expr: string }
  | { readonly kind: 'splice'; readonly expr: string }
  | { readonly kind: 'if'; readonly cond: string };

const TOKEN_RE = /@@H(\d+)@@/g;
const WHOLE_TOKEN_RE = /^@@H(\d+)@@$/;

let registry: TokenSpec[] = [];

/** Forget every token: each chart synthesis starts from zero so its output is reproducible. */
export function resetTokens(): void {
  registry = [];
}

function token(spec: TokenSpec): string {
  registry.push(spec);
  return `@@H${registry.length - 1}@@`;
}

function specOf(tok: string): TokenSpec | undefined {
  const m = WHOLE_TOKEN_RE.exec(tok);
  return m ? registry[Number(m[1])] : undefined;
}

/**
 * A scalar written as `{{ expr }}`. Typed as whatever the field expects so constructs keep the
 * kubernetes-models types; at synth time it is a string.
 */
export function tpl<T = string>(expr: string): T {
  return token({ kind: 'scalar', expr }) as unknown as T;
}

/** A whole YAML value (mapping or list) from `toYaml expr`, indented under its key. */
export function block<T>(expr: string): T {
  return token({ kind: 'block', expr }) as unknown as T;
}

/** List items appended from a values list (`extraEnv`, `extraEgress`); nothing when empty. */
export function splice<T>(expr: string): T {
  return token({ kind: 'splice', expr }) as unknown as T;
}

/** Map entries taken from a values mapping (e.g. extra labels): spread the result into the object. */
export function mergeFrom<T extends object = Record<string, string>>(expr: string): T {
  return { [token({ kind: 'splice', expr })]: true } as unknown as T;
}

/** Map entries kept only when the Helm condition holds: spread the result into the object. */
export function when<T extends object>(cond: string, entries: T): Partial<T> {
  return { [token({ kind: 'if', cond })]: entries } as unknown as Partial<T>;
}

/** List items kept only when the Helm condition holds: spread the result into the list. */
export function whenItems<T>(cond: string, items: T[]): T[] {
  return [{ [token({ kind: 'if', cond })]: items } as unknown as T];
}

/** Text that Helm must print literally (alert annotations carry their own `{{ $labels }}`). */
function escapeHelm(text: string): string {
  return text.replace(/\{\{|\}\}/g, (m) => (m === '{{' ? '{{ "{{" }}' : '{{ "}}" }}'));
}

function substitute(text: string): string {
  return text.replace(TOKEN_RE, (_m, n: string) => {
    const spec = registry[Number(n)];
    if (!spec || spec.kind !== 'scalar') throw new Error(`token @@H${n}@@ cannot sit inside a string`);
    return `{{ ${spec.expr} }}`;
  });
}

function scalar(value: unknown): string {
  if (typeof value === 'string') {
    const spec = specOf(value);
    if (spec) {
      if (spec.kind !== 'scalar') throw new Error(`${spec.kind} token used as a scalar`);
      return `{{ ${spec.expr} }}`;
    }
    if (TOKEN_RE.test(value)) {
      TOKEN_RE.lastIndex = 0;
      return substitute(escapeHelm(JSON.stringify(value)));
    }
    return escapeHelm(YAML.stringify(value, { lineWidth: 0 }).trimEnd());
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null) return 'null';
  throw new Error(`not a scalar: ${typeof value}`);
}

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function isMultiline(v: unknown): v is string {
  return typeof v === 'string' && v.includes('\n') && !specOf(v);
}

function literalBlock(text: string, indent: number): string[] {
  const pad = ' '.repeat(indent);
  const chomp = text.endsWith('\n') ? '|' : '|-';
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  return [chomp, ...body.split('\n').map((l) => (l === '' ? '' : pad + substitute(escapeHelm(l))))];
}

const TOP_ORDER = ['apiVersion', 'kind', 'metadata'];

function orderedEntries(map: Record<string, unknown>, top: boolean): [string, unknown][] {
  const entries = Object.entries(map);
  const rank = ([k, v]: [string, unknown]): number => {
    if (top && TOP_ORDER.includes(k)) return TOP_ORDER.indexOf(k) - 10;
    const spec = specOf(k);
    if (spec) return 3;
    if (typeof v === 'string' && specOf(v)?.kind === 'block') return 2;
    if (isMap(v) || Array.isArray(v)) return 1;
    return 0;
  };
  return entries
    .map((e, i) => ({ e, i }))
    .sort((a, b) => rank(a.e) - rank(b.e) || a.i - b.i)
    .map((x) => x.e);
}

function emitMap(map: Record<string, unknown>, indent: number, top = false): string[] {
  const pad = ' '.repeat(indent);
  const out: string[] = [];
  for (const [key, value] of orderedEntries(map, top)) {
    const keySpec = specOf(key);
    if (keySpec?.kind === 'splice') {
      out.push(
        `${pad}{{- with ${keySpec.expr} }}`,
        `${pad}{{- toYaml . | nindent ${indent} }}`,
        `${pad}{{- end }}`,
      );
      continue;
    }
    if (keySpec) {
      if (keySpec.kind !== 'if' || !isMap(value))
        throw new Error('only when() and mergeFrom() tokens may be keys');
      out.push(`${pad}{{- if ${keySpec.cond} }}`, ...emitMap(value, indent), `${pad}{{- end }}`);
      continue;
    }
    const k = scalar(key);
    const valueSpec = typeof value === 'string' ? specOf(value) : undefined;
    if (valueSpec?.kind === 'block') {
      out.push(`${pad}${k}:`, `${pad}  {{- toYaml ${valueSpec.expr} | nindent ${indent + 2} }}`);
    } else if (isMultiline(value)) {
      const [head, ...rest] = literalBlock(value, indent + 2);
      out.push(`${pad}${k}: ${head}`, ...rest);
    } else if (isMap(value)) {
      out.push(
        ...(Object.keys(value).length === 0
          ? [`${pad}${k}: {}`]
          : [`${pad}${k}:`, ...emitMap(value, indent + 2)]),
      );
    } else if (Array.isArray(value)) {
      out.push(
        ...(value.length === 0 ? [`${pad}${k}: []`] : [`${pad}${k}:`, ...emitList(value, indent + 2)]),
      );
    } else {
      out.push(`${pad}${k}: ${scalar(value)}`);
    }
  }
  return out;
}

function emitList(list: unknown[], indent: number): string[] {
  const pad = ' '.repeat(indent);
  const out: string[] = [];
  for (const item of list) {
    const itemSpec = typeof item === 'string' ? specOf(item) : undefined;
    if (itemSpec?.kind === 'splice') {
      out.push(
        `${pad}{{- with ${itemSpec.expr} }}`,
        `${pad}{{- toYaml . | nindent ${indent} }}`,
        `${pad}{{- end }}`,
      );
      continue;
    }
    if (isMap(item)) {
      const keys = Object.keys(item);
      const onlySpec = keys.length === 1 ? specOf(keys[0]!) : undefined;
      if (onlySpec?.kind === 'if') {
        const inner = item[keys[0]!];
        if (!Array.isArray(inner)) throw new Error('whenItems() needs a list');
        out.push(`${pad}{{- if ${onlySpec.cond} }}`, ...emitList(inner, indent), `${pad}{{- end }}`);
        continue;
      }
      const lines = emitMap(item, indent + 2);
      if (lines.length === 0) {
        out.push(`${pad}- {}`);
        continue;
      }
      const first = lines[0]!.slice(indent + 2);
      if (first.startsWith('{{')) throw new Error('a list item needs one unconditional entry first');
      out.push(`${pad}- ${first}`, ...lines.slice(1));
      continue;
    }
    if (Array.isArray(item)) throw new Error('nested lists are not used in manifests');
    out.push(
      isMultiline(item) ? `${pad}- ${literalBlock(item, indent + 2).join('\n')}` : `${pad}- ${scalar(item)}`,
    );
  }
  return out;
}

/** One Kubernetes object as Helm template text (no leading `---`). */
export function toHelmYaml(obj: Record<string, unknown>): string {
  return emitMap(obj, 0, true).join('\n') + '\n';
}
