// The container image recipe, read as data (docker cannot build here).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { LIMITER_SCRIPTS } from '../../app/admission/store';
import { CHART_DIR, ROOT } from './helpers';

interface Instruction {
  readonly op: string;
  readonly args: string;
}

/** Dockerfile instructions with line continuations joined and comments dropped. */
function parseDockerfile(text: string): Instruction[] {
  return text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
}

const instructions = parseDockerfile(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
const stages: Instruction[][] = [];
for (const ins of instructions) {
  if (ins.op === 'FROM') stages.push([]);
  stages.at(-1)?.push(ins);
}
const finalStage = stages.at(-1)!;
const args = Object.fromEntries(
  instructions.filter((i) => i.op === 'ARG').map((i) => i.args.split('=') as [string, string]),
);

describe('Dockerfile', () => {
  it('is multi-stage: a build stage compiles, the final stage installs production dependencies only', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const build = stages[0]!;
    expect(build.filter((i) => i.op === 'RUN').map((i) => i.args)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^npm ci\b/), expect.stringMatching(/npm run build/)]),
    );
    const finalRuns = finalStage.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(finalRuns.some((r) => /npm ci\b.*--omit=dev/.test(r))).toBe(true);
    expect(finalRuns.some((r) => /npm run build|npm ci(?!.*--omit=dev)/.test(r))).toBe(false);
  });

  it('runs on a current Node LTS base image', () => {
    const from = finalStage[0]!.args
      .split(/\s+/)[0]!
      .replace(/^\$\{(\w+)\}$/, (_m, v: string) => args[v] ?? '');
    expect(from).toMatch(/^node:(22|24)[.-]/);
  });

  it('copies the compiled app, migrations and examples into the final stage', () => {
    const copies = finalStage.filter((i) => i.op === 'COPY').map((i) => i.args);
    expect(copies).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/--from=build \/app\/dist \.\/dist/),
        'migrations ./migrations',
        'examples ./examples',
      ]),
    );
  });

  it('ships the files read at runtime where the service looks for them', () => {
    const workdir = finalStage.filter((i) => i.op === 'WORKDIR').at(-1)!.args;
    const copies = finalStage
      .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from='))
      .map((i) => {
        const parts = i.args.split(/\s+/);
        return { sources: parts.slice(0, -1), dest: path.posix.resolve(workdir, parts.at(-1)!) };
      });
    const destOf = (source: string) => copies.find((c) => c.sources.includes(source))?.dest;
    // ROOT (app/paths.ts) is the first directory upward with package.json and migrations/.
    expect(destOf('package.json')).toBe(workdir);
    expect(destOf('migrations')).toBe(path.posix.join(workdir, 'migrations'));
    expect(destOf('examples')).toBe(path.posix.join(workdir, 'examples'));
    expect(destOf('proto')).toBe(path.posix.join(workdir, 'proto')); // gRPC ingest's .proto files
    // The limiter scripts: store.ts reads <its own dir>/lua first, then <ROOT>/app/admission/lua.
    const lua = copies.find((c) => c.sources.some((s) => s.startsWith('app/admission/lua')));
    expect(lua?.sources).toEqual(['app/admission/lua/*.lua']);
    const compiledStoreDir = path.posix.join(workdir, 'dist', 'app', 'admission');
    expect([
      path.posix.join(compiledStoreDir, 'lua'),
      path.posix.join(workdir, 'app', 'admission', 'lua'),
    ]).toContain(lua!.dest.replace(/\/$/, ''));
    // and the glob covers every script the store defines
    const shipped = readdirSync(path.join(ROOT, 'app', 'admission', 'lua')).filter((f) => f.endsWith('.lua'));
    for (const file of Object.values(LIMITER_SCRIPTS)) expect(shipped).toContain(file);
  });

  it('runs as the numeric non-root user the chart expects, with node as PID 1 and no HEALTHCHECK', () => {
    const users = finalStage.filter((i) => i.op === 'USER').map((i) => i.args);
    expect(users).toHaveLength(1);
    const [uid, gid] = users[0]!.split(':').map(Number);
    expect(uid).toBeGreaterThan(0);
    const values = YAML.parse(readFileSync(path.join(CHART_DIR, 'values.yaml'), 'utf8')) as {
      podSecurity: { runAsUser: number; runAsGroup: number };
    };
    expect([uid, gid]).toEqual([values.podSecurity.runAsUser, values.podSecurity.runAsGroup]);
    expect(instructions.filter((i) => i.op === 'HEALTHCHECK')).toEqual([]);
    const entry = finalStage.filter((i) => i.op === 'ENTRYPOINT' || i.op === 'CMD').at(-1)!;
    expect(JSON.parse(entry.args)).toEqual(['node', 'dist/app/main.js']);
  });

  it('.dockerignore keeps local build output, dependencies and secrets-prone dirs out of the context', () => {
    const ignored = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['node_modules', 'dist', '.git', '.tmp', '.data']) expect(ignored).toContain(entry);
    for (const needed of ['app', 'migrations', 'examples', 'package.json'])
      expect(ignored).not.toContain(needed);
  });
});
