// CATALOG_SOURCE=file: hot reload of CHALLENGE_CATALOG from disk, including a ConfigMap volume's
// symlink swap (kubelet: new timestamped dir, `..data_tmp` symlink renamed over `..data`).
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { CatalogHolder } from '../../app/catalog/holder';
import { loadCatalogFile, parseCatalog } from '../../app/catalog/load';
import { FileCatalogSource } from '../../app/catalog/sources/file';
import { catalogModule } from '../../app/catalog/watch';
import { CatalogReloader } from '../../app/catalog/watchReloader';
import { catalogLastReloadTimestampSeconds, catalogReloadsTotal, registry } from '../../app/ops/metrics';
import { startTestService } from '../helpers/service';

const silent = pino({ level: 'silent' });

function doc(goalIds: string[], target = 5) {
  return {
    challenges: [
      {
        challengeId: 'c',
        name: 'C',
        goals: goalIds.map((id) => ({
          goalId: id,
          name: id,
          eventSource: 'statistic',
          requirement: { statCode: id, targetValue: target },
          reward: { type: 'ITEM', rewardId: 'box', quantity: 1 },
          defaultAssigned: true,
        })),
      },
    ],
  };
}
const versionOf = (d: unknown) => parseCatalog(d).version;

async function eventually(fn: () => boolean | Promise<boolean>, what: string, capMs = 10_000): Promise<void> {
  const until = Date.now() + capMs;
  while (!(await fn())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function reloads(result: 'success' | 'failure'): Promise<number> {
  return (await catalogReloadsTotal.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
}

/** A directory laid out like a ConfigMap volume: catalog.json -> ..data/catalog.json, ..data -> ..<stamp>. */
class ConfigMapDir {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'cm-'));
  private n = 0;
  private current = '';
  constructor(content: unknown) {
    this.current = this.writeVersion(content);
    symlinkSync(this.current, path.join(this.dir, '..data'));
    symlinkSync('..data/catalog.json', path.join(this.dir, 'catalog.json'));
  }
  get file(): string {
    return path.join(this.dir, 'catalog.json');
  }
  private writeVersion(content: unknown): string {
    const stamp = `..2024_01_01_00_00_0${this.n++}.${process.pid}`;
    mkdirSync(path.join(this.dir, stamp));
    writeFileSync(
      path.join(this.dir, stamp, 'catalog.json'),
      typeof content === 'string' ? content : JSON.stringify(content),
    );
    return stamp;
  }
  /** What the kubelet does on a ConfigMap update. */
  update(content: unknown): void {
    const next = this.writeVersion(content);
    symlinkSync(next, path.join(this.dir, '..data_tmp'));
    renameSync(path.join(this.dir, '..data_tmp'), path.join(this.dir, '..data'));
    rmSync(path.join(this.dir, this.current), { recursive: true });
    this.current = next;
  }
}

describe('file catalog source', () => {
  const sources: FileCatalogSource[] = [];
  afterEach(async () => {
    await Promise.all(sources.splice(0).map((s) => s.stop()));
  });

  function start(file: string, opts: { useFsWatch: boolean; pollMs: number }) {
    const holder = new CatalogHolder(loadCatalogFile(file));
    const source = new FileCatalogSource(file, new CatalogReloader(holder, silent), silent, {
      ...opts,
      debounceMs: 20,
    });
    sources.push(source);
    return { holder, source };
  }

  test('a ConfigMap symlink swap is picked up by the directory watch (rename events)', async () => {
    const cm = new ConfigMapDir(doc(['a']));
    // Stat polling off: only fs.watch can see this.
    const { holder, source } = start(cm.file, { useFsWatch: true, pollMs: 0 });
    await source.start();
    expect(holder.current.version).toBe(versionOf(doc(['a'])));
    const v2 = doc(['a', 'b']);
    cm.update(v2);
    await eventually(() => holder.current.version === versionOf(v2), 'swap after symlink rename');
    expect(holder.current.goalById.has('b')).toBe(true);
    const v3 = doc(['c']);
    cm.update(v3); // the watch survives the swap (it is on the directory, not the old inode)
    await eventually(() => holder.current.version === versionOf(v3), 'second swap');
    expect([...holder.current.goalById.keys()]).toEqual(['c']);
  });

  test('with fs events unavailable, the periodic stat fallback reloads the file', async () => {
    const cm = new ConfigMapDir(doc(['a']));
    const { holder, source } = start(cm.file, { useFsWatch: false, pollMs: 50 });
    await source.start();
    expect(holder.current.goalById.has('polled')).toBe(false);
    const v2 = doc(['polled']);
    cm.update(v2);
    await eventually(() => holder.current.version === versionOf(v2), 'reload by polling');
    expect([...holder.current.goalById.keys()]).toEqual(['polled']);
  });

  test('an invalid file keeps the old catalog, counts one failure, and a fixed file is loaded', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cat-'));
    const file = path.join(dir, 'catalog.json');
    const v1 = doc(['a']);
    writeFileSync(file, JSON.stringify(v1));
    const { holder, source } = start(file, { useFsWatch: true, pollMs: 50 });
    await source.start();
    const failures = await reloads('failure');
    const successes = await reloads('success');

    writeFileSync(file, JSON.stringify(doc(['a', 'a'])));
    await eventually(async () => (await reloads('failure')) === failures + 1, 'failure counted');
    await new Promise((r) => setTimeout(r, 200)); // several polls of the same bad content
    expect(await reloads('failure')).toBe(failures + 1);
    expect(holder.current.version).toBe(versionOf(v1));

    writeFileSync(file, '{ "challenges": [ ');
    await eventually(async () => (await reloads('failure')) === failures + 2, 'syntax error counted');
    expect(holder.current.version).toBe(versionOf(v1));

    const before = Date.now() / 1000;
    const v2 = doc(['a'], 9);
    writeFileSync(file, JSON.stringify(v2));
    await eventually(() => holder.current.version === versionOf(v2), 'fixed file live');
    expect(await reloads('success')).toBe(successes + 1);
    const ts = (await catalogLastReloadTimestampSeconds.get()).values[0]!.value;
    expect(ts).toBeGreaterThanOrEqual(Math.floor(before));
  });

  test('the service reports the new version in challenge_catalog_info after a file reload', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cat-svc-'));
    const file = path.join(dir, 'catalog.json');
    writeFileSync(file, JSON.stringify(doc(['a'])));
    const t = await startTestService({
      modules: [catalogModule],
      env: { CATALOG_SOURCE: 'file', CHALLENGE_CATALOG: file, CATALOG_FILE_POLL_MS: '100' },
    });
    try {
      const v2 = doc(['a', 'b']);
      writeFileSync(file, JSON.stringify(v2));
      await eventually(
        async () =>
          (await registry.getSingleMetricAsString('challenge_catalog_info')).includes(
            `version="${versionOf(v2)}"`,
          ),
        'metric label',
      );
      const res = await t.call('file-player', 'GET', '/v1/challenges');
      expect(res.body.challenges[0].goals.map((g: { goalId: string }) => g.goalId)).toEqual(['a', 'b']);
    } finally {
      await t.stop();
    }
  });
});
