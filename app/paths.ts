// Repository root, found the same way from app/ (tests) and dist/app/ (built).
import fs from 'node:fs';
import path from 'node:path';

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'migrations')))
      return dir;
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(start, '../..');
    dir = up;
  }
}

export const ROOT = findRoot(__dirname);
