// Turns a V8 .cpuprofile (node --cpu-prof) into a self-contained SVG flame graph, so a profile that
// motivated a fix can be committed next to the report and read in any browser.
//   node .tmp/bench-build/flamegraph.js in.cpuprofile out.svg [title]
import { readFileSync, writeFileSync } from 'node:fs';

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: CpuNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface Frame {
  name: string;
  self: number;
  total: number;
  children: Map<string, Frame>;
}

function frameName(n: CpuNode): string {
  const file = n.callFrame.url.split('/').slice(-2).join('/');
  const fn = n.callFrame.functionName || '(anonymous)';
  return file ? `${fn} ${file}:${n.callFrame.lineNumber + 1}` : fn;
}

/** Merge the profile's call tree by frame name along each path; times in microseconds. */
export function buildTree(profile: CpuProfile): Frame {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfTime = new Map<number, number>();
  profile.samples.forEach((id, i) =>
    selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)),
  );
  const root: Frame = { name: 'all', self: 0, total: 0, children: new Map() };
  const walk = (id: number, parent: Frame): number => {
    const node = byId.get(id)!;
    const name = frameName(node);
    if (name === '(root)') {
      let t = 0;
      for (const c of node.children ?? []) t += walk(c, parent);
      return t;
    }
    let f = parent.children.get(name);
    if (!f) parent.children.set(name, (f = { name, self: 0, total: 0, children: new Map() }));
    const self = selfTime.get(id) ?? 0;
    f.self += self;
    let t = self;
    for (const c of node.children ?? []) t += walk(c, f);
    f.total += t;
    return t;
  };
  root.total = walk(profile.nodes[0]!.id, root);
  return root;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function color(name: string): string {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  if (name.includes('app/') || name.includes('api/') || name.includes('store/') || name.includes('domain/')) {
    return `hsl(${200 + (h % 30)},70%,${60 + (h % 15)}%)`; // our code: blue
  }
  if (name.startsWith('(')) return 'hsl(0,0%,80%)'; // idle, GC, program
  return `hsl(${20 + (h % 30)},80%,${55 + (h % 15)}%)`; // libraries and node: warm
}

export function renderSvg(root: Frame, title: string, width = 1600): string {
  const rowH = 16;
  const minWidth = 0.5;
  const rects: string[] = [];
  let depthMax = 0;
  const draw = (f: Frame, x: number, depth: number, scale: number) => {
    const w = f.total * scale;
    if (w < minWidth) return;
    depthMax = Math.max(depthMax, depth);
    const y = depth * rowH;
    const pct = ((f.total / root.total) * 100).toFixed(1);
    const label = w > 40 ? esc(f.name).slice(0, Math.floor(w / 6.5)) : '';
    rects.push(
      `<g><title>${esc(f.name)} — ${pct}% (${(f.total / 1000).toFixed(0)} ms)</title>` +
        `<rect x="${x.toFixed(1)}" y="Y${y}" width="${w.toFixed(1)}" height="${rowH - 1}" fill="${color(f.name)}"/>` +
        (label ? `<text x="${(x + 3).toFixed(1)}" y="Y${y + 11}" font-size="11">${label}</text>` : '') +
        '</g>',
    );
    let cx = x;
    for (const c of [...f.children.values()].sort((a, b) => b.total - a.total)) {
      draw(c, cx, depth + 1, scale);
      cx += c.total * scale;
    }
  };
  draw(root, 0, 0, width / Math.max(1, root.total));
  const height = (depthMax + 1) * rowH + 30;
  // Flame graph: root at the bottom.
  const body = rects.join('\n').replace(/Y(\d+)/g, (_, y: string) => String(height - 10 - Number(y) - rowH));
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="monospace">\n` +
    `<text x="4" y="14" font-size="13">${esc(title)}</text>\n${body}\n</svg>\n`
  );
}

if (require.main === module) {
  const [input, output, title] = process.argv.slice(2);
  if (!input || !output) {
    process.stderr.write('usage: flamegraph in.cpuprofile out.svg [title]\n');
    process.exit(2);
  }
  const tree = buildTree(JSON.parse(readFileSync(input, 'utf8')) as CpuProfile);
  writeFileSync(output, renderSvg(tree, title ?? input));
}
