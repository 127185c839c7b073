// Writes the dashboards JSON, the alert rules and docs/DASHBOARDS.md. Run with `make dashboards`.
// `--check` writes nothing and exits 1 when a committed file differs from the generated one.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generatedFiles } from './src/index';

/** The repository root: the nearest directory above this file holding package.json. */
export function repoRoot(from: string = __dirname): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
  return dir;
}

function main(argv: string[]): number {
  const check = argv.includes('--check');
  const root = repoRoot();
  let stale = 0;
  for (const f of generatedFiles()) {
    const target = join(root, f.path);
    const current = existsSync(target) ? readFileSync(target, 'utf8') : undefined;
    if (current === f.content) continue;
    if (check) {
      console.error(`out of date: ${f.path}`);
      stale++;
      continue;
    }
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, f.content);
    console.log(`wrote ${f.path}`);
  }
  return stale ? 1 : 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
