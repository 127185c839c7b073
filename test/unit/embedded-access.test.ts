// make run as root: embedded PostgreSQL runs as the postgres user, which must pass through every
// directory above its binaries and data; the service names the first one that blocks it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { firstBlockedDir } from '../../app/store/embedded';

describe('firstBlockedDir', () => {
  test('names the first directory without o+x on the way, on the real file system', () => {
    const top = fs.mkdtempSync(path.join(os.tmpdir(), 'blocked-'));
    try {
      fs.chmodSync(top, 0o700);
      fs.mkdirSync(path.join(top, 'a', 'b'), { recursive: true, mode: 0o755 });
      expect(firstBlockedDir(path.join(top, 'a', 'b'))).toBe(top);
      fs.chmodSync(top, 0o711);
      expect(firstBlockedDir(path.join(top, 'a', 'b'))).toBeNull();
      // a directory that does not exist yet (the data directory) is not a blocker
      expect(firstBlockedDir(path.join(top, 'a', 'b', 'later', 'pg'))).toBeNull();
    } finally {
      fs.rmSync(top, { recursive: true, force: true });
    }
  });

  test('checks from the root down', () => {
    const modes: Record<string, number> = { '/srv': 0o755, '/srv/home': 0o700, '/srv/home/p': 0o700 };
    expect(firstBlockedDir('/srv/home/p', (d) => modes[d]!)).toBe('/srv/home');
  });
});
