// `make chart`: writes charts/challenge-service (or the directory given as argument) from the constructs.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderChart, repoRoot } from './chart';

export function writeChart(dir: string): string[] {
  const files = renderChart();
  // Templates are wholly generated: stale ones from removed constructs must go.
  rmSync(path.join(dir, 'templates'), { recursive: true, force: true });
  for (const [rel, text] of files) {
    const target = path.join(dir, rel);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, text);
  }
  return [...files.keys()];
}

/** Files under dir, relative, sorted (for comparing a fresh render with the committed chart). */
export function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(path.join(dir, prefix), { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? listFiles(dir, path.join(prefix, e.name)) : [path.join(prefix, e.name)],
    )
    .sort();
}

if (require.main === module) {
  const dir = path.resolve(process.argv[2] ?? path.join(repoRoot(), 'charts', 'challenge-service'));
  const written = writeChart(dir);
  console.log(`wrote ${written.length} files to ${path.relative(process.cwd(), dir) || '.'}`);
}
