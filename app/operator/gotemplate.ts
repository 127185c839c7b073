// A small evaluator of the Go text/template dialect Helm charts use, enough for the templates that
// cdk8s/ generates (issue 16): the operator renders the chart's own constructs with the values of a
// ChallengeService and gets the objects `helm template` would (a test compares both for every value
// set). Supported: text with {{- -}} trimming, comments, if / else if / else, with / else, define,
// variables ($x :=, $x =, $, $.Field), pipelines, parenthesised pipelines, method values
// (.Capabilities.APIVersions.Has), and the functions in FUNCS. Integers are BigInt (Go int64: what
// `int`, `add`, `div` return), numbers from values are float64 (JS number), so printing matches Go.
import { createHash } from 'node:crypto';
import YAML from 'yaml';

type Pipe = { decl?: { name: string; assign: boolean }; cmds: Arg[][] };
type Arg =
  | { t: 'field'; base: string; path: string[] } // base: '.' | '$' | '$name'
  | { t: 'lit'; v: unknown }
  | { t: 'ident'; name: string }
  | { t: 'pipe'; p: Pipe; path: string[] };
type Node =
  | { t: 'text'; v: string }
  | { t: 'action'; p: Pipe }
  | { t: 'if' | 'with'; p: Pipe; yes: Node[]; no: Node[] };

export class TemplateError extends Error {}
/** `fail` in a template: the render is refused with the template's own message. */
export class TemplateFail extends Error {}

// --- lexing -------------------------------------------------------------------------------

interface RawAction {
  text: string; // content between the delimiters, trim markers removed
}
type Piece = { kind: 'text'; v: string } | { kind: 'action'; a: RawAction };

function split(src: string): Piece[] {
  const out: Piece[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
    if (open < 0) {
      out.push({ kind: 'text', v: text });
      break;
    }
    let j = open + 2;
    if (src.startsWith('- ', j) || src.startsWith('-\n', j) || src.startsWith('-\t', j)) {
      text = text.replace(/[ \t\r\n]+$/, '');
      j += 1;
    }
    out.push({ kind: 'text', v: text });
    // Find the closing delimiter outside string literals and comments.
    let k = j;
    let inStr: string | null = null;
    while (k < src.length) {
      const c = src[k]!;
      if (inStr) {
        if (c === '\\' && inStr === '"') k++;
        else if (c === inStr) inStr = null;
      } else if (src.startsWith('/*', k)) {
        const end = src.indexOf('*/', k + 2);
        if (end < 0) throw new TemplateError('unclosed comment');
        k = end + 1;
      } else if (c === '"' || c === '`') inStr = c;
      else if (src.startsWith('}}', k)) break;
      k++;
    }
    if (k >= src.length) throw new TemplateError('unclosed action');
    let content = src.slice(j, k);
    trimNext = false;
    if (/[ \t\r\n]-$/.test(content)) {
      content = content.slice(0, -1);
      trimNext = true;
    }
    out.push({ kind: 'action', a: { text: content.trim() } });
    i = k + 2;
  }
  return out;
}

type Tok =
  | { k: 'str'; v: string }
  | { k: 'num'; v: unknown }
  | { k: 'field'; path: string[] }
  | { k: 'var'; name: string; path: string[] }
  | { k: 'ident'; v: string }
  | { k: 'op'; v: '(' | ')' | '|' | ':=' | '=' };

function lex(s: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const ident = /[A-Za-z0-9_]/;
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      toks.push({ k: 'str', v: JSON.parse(s.slice(i, j + 1)) as string });
      i = j + 1;
    } else if (c === '`') {
      const j = s.indexOf('`', i + 1);
      toks.push({ k: 'str', v: s.slice(i + 1, j) });
      i = j + 1;
    } else if (c === '(' || c === ')' || c === '|') {
      toks.push({ k: 'op', v: c });
      i++;
    } else if (s.startsWith(':=', i)) {
      toks.push({ k: 'op', v: ':=' });
      i += 2;
    } else if (c === '=') {
      toks.push({ k: 'op', v: '=' });
      i++;
    } else if (c === '.' || c === '$') {
      let j = i;
      let name = '';
      if (c === '$') {
        j++;
        while (j < s.length && ident.test(s[j]!)) j++;
        name = s.slice(i, j);
      }
      const path: string[] = [];
      while (s[j] === '.') {
        let e = j + 1;
        while (e < s.length && ident.test(s[e]!)) e++;
        if (e > j + 1) path.push(s.slice(j + 1, e));
        j = e;
        if (e === j && path.length === 0 && c === '.') break;
      }
      toks.push(c === '$' ? { k: 'var', name, path } : { k: 'field', path });
      i = j;
    } else if (/[-0-9]/.test(c)) {
      let j = i + 1;
      while (j < s.length && /[0-9.eE+x_a-fA-F]/.test(s[j]!)) j++;
      const text = s.slice(i, j);
      toks.push({ k: 'num', v: /^-?\d+$/.test(text) ? BigInt(text) : Number(text) });
      i = j;
    } else if (ident.test(c)) {
      let j = i;
      while (j < s.length && ident.test(s[j]!)) j++;
      toks.push({ k: 'ident', v: s.slice(i, j) });
      i = j;
    } else {
      throw new TemplateError(`unexpected ${c} in {{ ${s} }}`);
    }
  }
  return toks;
}

function parsePipe(toks: Tok[], pos: { i: number }, src: string): Pipe {
  const pipe: Pipe = { cmds: [] };
  const a = toks[pos.i];
  const b = toks[pos.i + 1];
  if (a?.k === 'var' && a.path.length === 0 && b?.k === 'op' && (b.v === ':=' || b.v === '=')) {
    pipe.decl = { name: a.name, assign: b.v === '=' };
    pos.i += 2;
  }
  let cmd: Arg[] = [];
  for (;;) {
    const t = toks[pos.i];
    if (!t || (t.k === 'op' && t.v === ')')) break;
    pos.i++;
    if (t.k === 'op' && t.v === '|') {
      pipe.cmds.push(cmd);
      cmd = [];
    } else if (t.k === 'op' && t.v === '(') {
      const inner = parsePipe(toks, pos, src);
      if (toks[pos.i]?.k !== 'op') throw new TemplateError(`unclosed ( in {{ ${src} }}`);
      pos.i++;
      cmd.push({ t: 'pipe', p: inner, path: [] });
    } else if (t.k === 'str' || t.k === 'num') cmd.push({ t: 'lit', v: t.v });
    else if (t.k === 'field') cmd.push({ t: 'field', base: '.', path: t.path });
    else if (t.k === 'var') cmd.push({ t: 'field', base: t.name, path: t.path });
    else if (t.k === 'ident') {
      if (t.v === 'true' || t.v === 'false') cmd.push({ t: 'lit', v: t.v === 'true' });
      else if (t.v === 'nil') cmd.push({ t: 'lit', v: null });
      else cmd.push({ t: 'ident', name: t.v });
    } else throw new TemplateError(`unexpected token in {{ ${src} }}`);
  }
  pipe.cmds.push(cmd);
  return pipe;
}

const pipeOf = (text: string): Pipe => parsePipe(lex(text), { i: 0 }, text);

/** Parses template source into nodes and the templates it defines. */
function parse(src: string, defines: Map<string, Node[]>): Node[] {
  const pieces = split(src);
  let pos = 0;
  const block = (): { nodes: Node[]; end: string } => {
    const nodes: Node[] = [];
    while (pos < pieces.length) {
      const p = pieces[pos++]!;
      if (p.kind === 'text') {
        if (p.v) nodes.push({ t: 'text', v: p.v });
        continue;
      }
      const text = p.a.text;
      if (text.startsWith('/*')) continue;
      const word = /^(\w+)\b/.exec(text)?.[1];
      if (word === 'end' || word === 'else') return { nodes, end: text };
      if (word === 'if' || word === 'with') {
        nodes.push(conditional(word, text.slice(word.length)));
      } else if (word === 'define') {
        const name = JSON.parse(text.slice(6).trim()) as string;
        const body = block();
        if (body.end !== 'end') throw new TemplateError(`define ${name}: expected end`);
        defines.set(name, body.nodes);
      } else if (word === 'range' || word === 'template' || word === 'block') {
        throw new TemplateError(`{{ ${word} }} is not supported by this renderer`);
      } else {
        nodes.push({ t: 'action', p: pipeOf(text) });
      }
    }
    return { nodes, end: '' };
  };
  const conditional = (kind: 'if' | 'with', cond: string): Node => {
    const yes = block();
    const node: Node = { t: kind, p: pipeOf(cond), yes: yes.nodes, no: [] };
    if (yes.end.startsWith('else')) {
      const rest = yes.end.slice(4).trim();
      if (rest.startsWith('if')) {
        node.no = [conditional('if', rest.slice(2))];
        return node; // the nested conditional consumed the shared end
      }
      const no = block();
      if (no.end !== 'end') throw new TemplateError(`${kind}: expected end`);
      node.no = no.nodes;
    } else if (yes.end !== 'end') throw new TemplateError(`${kind}: expected end`);
    return node;
  };
  const top = block();
  if (top.end) throw new TemplateError(`unexpected {{ ${top.end} }}`);
  return top.nodes;
}

// --- values -------------------------------------------------------------------------------

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === '' || v === 0 || v === 0n) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return true;
}

function goFloat(n: number): string {
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN';
  if (n === 0) return '0';
  const exp = Math.floor(Math.log10(Math.abs(n)));
  if (exp < -4 || exp >= 6) {
    const [m, e] = n.toExponential().split('e');
    const ev = Number(e);
    return `${m}e${ev < 0 ? '-' : '+'}${String(Math.abs(ev)).padStart(2, '0')}`;
  }
  return String(n);
}

/** fmt.Sprint of a value. */
export function str(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return goFloat(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(str).join(' ')}]`;
  if (isMap(v))
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${str(v[k])}`)
      .join(' ')}]`;
  return String(v);
}

function toInt(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (typeof v === 'string') {
    const n = Number(v);
    return Number.isFinite(n) ? BigInt(Math.trunc(n)) : 0n;
  }
  return 0n;
}

const plain = (v: unknown): unknown =>
  typeof v === 'bigint'
    ? Number(v)
    : Array.isArray(v)
      ? v.map(plain)
      : isMap(v)
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
        : v;

function toYaml(v: unknown): string {
  if (v === undefined || v === null) return 'null';
  return YAML.stringify(plain(v), { sortMapEntries: true, lineWidth: 0, indentSeq: false }).replace(
    /\n$/,
    '',
  );
}

function printf(format: string, ...args: unknown[]): string {
  let i = 0;
  return format.replace(/%([sdvq%])/g, (_m, verb: string) => {
    if (verb === '%') return '%';
    const a = args[i++];
    if (verb === 'q') return JSON.stringify(str(a));
    if (verb === 'd') return toInt(a).toString();
    return str(a);
  });
}

const cmp = (a: unknown, b: unknown): number => {
  const x = typeof a === 'bigint' ? Number(a) : (a as number);
  const y = typeof b === 'bigint' ? Number(b) : (b as number);
  if (typeof x === 'string' && typeof y === 'string') return x < y ? -1 : x > y ? 1 : 0;
  return x - y;
};
const eq1 = (a: unknown, b: unknown): boolean =>
  (typeof a === 'bigint' || typeof a === 'number') && (typeof b === 'bigint' || typeof b === 'number')
    ? Number(a) === Number(b)
    : a === b || (a == null && b == null);

type Fn = (...args: unknown[]) => unknown;
const FUNCS: Record<string, Fn> = {
  quote: (...a) =>
    a
      .filter((x) => x !== undefined && x !== null)
      .map((x) => JSON.stringify(str(x)))
      .join(' '),
  int: (v) => toInt(v),
  int64: (v) => toInt(v),
  toString: (v: unknown) => str(v),
  toYaml: (v) => toYaml(v),
  toJson: (v) => (v === undefined ? 'null' : JSON.stringify(plain(v))),
  fromJson: (v) => {
    try {
      return JSON.parse(str(v)) as unknown;
    } catch {
      return {};
    }
  },
  nindent: (n, s) => '\n' + FUNCS.indent!(n, s),
  indent: (n, s) => {
    const pad = ' '.repeat(Number(toInt(n)));
    return str(s)
      .split('\n')
      .map((l) => pad + l)
      .join('\n');
  },
  eq: (a, ...bs) => bs.some((b) => eq1(a, b)),
  ne: (a, b) => !eq1(a, b),
  lt: (a, b) => cmp(a, b) < 0,
  le: (a, b) => cmp(a, b) <= 0,
  gt: (a, b) => cmp(a, b) > 0,
  ge: (a, b) => cmp(a, b) >= 0,
  not: (v) => !truthy(v),
  add: (...a) => a.reduce<bigint>((s, x) => s + toInt(x), 0n),
  sub: (a, b) => toInt(a) - toInt(b),
  mul: (...a) => a.reduce<bigint>((s, x) => s * toInt(x), 1n),
  div: (a, b) => toInt(a) / toInt(b),
  default: (d, ...given) => (given.length && truthy(given[0]) ? given[0] : d),
  ternary: (a, b, c) => (truthy(c) ? a : b),
  printf: (f, ...a) => printf(str(f), ...a),
  print: (...a) => a.map(str).join(''),
  trim: (s) => str(s).trim(),
  trunc: (n, s) => {
    const len = Number(toInt(n));
    const text = str(s);
    return len >= 0 ? text.slice(0, len) : text.slice(Math.max(0, text.length + len));
  },
  trimSuffix: (suffix, s) => {
    const text = str(s);
    const suf = str(suffix);
    return suf && text.endsWith(suf) ? text.slice(0, -suf.length) : text;
  },
  replace: (old, neu, s) => str(s).split(str(old)).join(str(neu)),
  contains: (sub, s) => str(s).includes(str(sub)),
  hasKey: (m, k) => isMap(m) && Object.prototype.hasOwnProperty.call(m, str(k)),
  list: (...a) => a,
  sha256sum: (s) => createHash('sha256').update(str(s)).digest('hex'),
  fail: (msg) => {
    throw new TemplateFail(str(msg));
  },
  required: (msg, v) => {
    if (!truthy(v) && v !== false && v !== 0) throw new TemplateFail(str(msg));
    return v;
  },
};

// --- execution ----------------------------------------------------------------------------

class Scope {
  private readonly vars = new Map<string, unknown>();
  constructor(private readonly parent?: Scope) {}
  get(name: string): unknown {
    if (this.vars.has(name)) return this.vars.get(name);
    if (this.parent) return this.parent.get(name);
    throw new TemplateError(`undefined variable ${name}`);
  }
  declare(name: string, v: unknown): void {
    this.vars.set(name, v);
  }
  assign(name: string, v: unknown): void {
    if (this.vars.has(name) || !this.parent) this.vars.set(name, v);
    else this.parent.assign(name, v);
  }
}

function walk(base: unknown, path: string[]): unknown {
  let cur = base;
  for (const p of path) {
    if (cur === undefined || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

export class Templates {
  private readonly defines = new Map<string, Node[]>();

  /** `files`: template name (e.g. challenge-service/templates/x.yaml) -> source. */
  constructor(files: Map<string, string>) {
    for (const [name, src] of files) this.defines.set(name, parse(src, this.defines));
  }

  /** Renders template `name` with `data` as dot and `$`. */
  render(name: string, data: unknown): string {
    const nodes = this.defines.get(name);
    if (!nodes) throw new TemplateError(`no template ${name}`);
    const scope = new Scope();
    scope.declare('$', data);
    return this.exec(nodes, data, scope);
  }

  private exec(nodes: Node[], dot: unknown, scope: Scope): string {
    let out = '';
    for (const n of nodes) {
      if (n.t === 'text') out += n.v;
      else if (n.t === 'action') {
        const v = this.pipe(n.p, dot, scope);
        if (!n.p.decl) out += str(v);
      } else {
        const inner = new Scope(scope);
        const v = this.pipe(n.p, dot, inner);
        if (truthy(v)) out += this.exec(n.yes, n.t === 'with' ? v : dot, inner);
        else out += this.exec(n.no, dot, new Scope(scope));
      }
    }
    return out;
  }

  private pipe(p: Pipe, dot: unknown, scope: Scope): unknown {
    let value: unknown;
    let first = true;
    for (const cmd of p.cmds) {
      value = this.command(cmd, dot, scope, first ? [] : [value]);
      first = false;
    }
    if (p.decl) {
      if (p.decl.assign) scope.assign(p.decl.name, value);
      else scope.declare(p.decl.name, value);
    }
    return value;
  }

  private arg(a: Arg, dot: unknown, scope: Scope): unknown {
    if (a.t === 'lit') return a.v;
    if (a.t === 'pipe') return walk(this.pipe(a.p, dot, scope), a.path);
    if (a.t === 'field') return walk(a.base === '.' ? dot : scope.get(a.base), a.path);
    if (a.t === 'ident') return this.call(a.name, [], dot, scope, []);
    return undefined;
  }

  private command(cmd: Arg[], dot: unknown, scope: Scope, piped: unknown[]): unknown {
    const [head, ...rest] = cmd;
    if (!head) throw new TemplateError('empty command');
    if (head.t === 'ident') return this.call(head.name, rest, dot, scope, piped);
    const v = this.arg(head, dot, scope);
    if (typeof v === 'function') {
      return (v as Fn)(...rest.map((a) => this.arg(a, dot, scope)), ...piped);
    }
    if (rest.length || piped.length) throw new TemplateError('a value cannot take arguments');
    return v;
  }

  private call(name: string, args: Arg[], dot: unknown, scope: Scope, piped: unknown[]): unknown {
    if (name === 'and' || name === 'or') {
      // Short-circuit like Go: evaluate left to right, return the deciding value.
      const all = [...args.map((a) => () => this.arg(a, dot, scope)), ...piped.map((p) => () => p)];
      let v: unknown;
      for (const f of all) {
        v = f();
        if (name === 'and' ? !truthy(v) : truthy(v)) return v;
      }
      return v;
    }
    const values = [...args.map((a) => this.arg(a, dot, scope)), ...piped];
    if (name === 'include') {
      const [tplName, data] = values;
      return this.render(str(tplName), data);
    }
    const fn = Object.hasOwn(FUNCS, name) ? FUNCS[name] : undefined;
    if (!fn) throw new TemplateError(`function ${name} is not supported by this renderer`);
    return fn(...values);
  }
}
