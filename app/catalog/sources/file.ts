// Source `file`: CHALLENGE_CATALOG on disk, typically a ConfigMap mount. The kubelet updates a
// ConfigMap volume by writing a new timestamped directory and renaming the `..data` symlink over
// the old one, so watching the file itself would keep watching a deleted inode. We watch the
// DIRECTORY (any event, rename included, schedules a re-read), and stat the path on a timer as a
// fallback for events that never come (network filesystems, watcher errors).
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { problemsOf, type CatalogReloader, type CatalogSource } from '../watchReloader';
import { parseCatalogText } from '../load';
import { coalesced } from '../../every';

export interface FileSourceOptions {
  useFsWatch: boolean;
  /** 0 = no stat fallback. */
  pollMs: number;
  /** Quiet time after an fs event before reading (an editor or the kubelet writes in steps). */
  debounceMs?: number;
}

const MISSING = 'missing';

export class FileCatalogSource implements CatalogSource {
  readonly kind = 'file' as const;
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  /** Hash of the last content looked at (valid or not), so one bad file is refused once, not per poll. */
  private lastHash: string | undefined;
  private lastStat = '';
  private readonly reads = coalesced(
    () => this.readOnce(),
    () => this.stopped,
  );
  private stopped = false;

  constructor(
    private readonly file: string,
    private readonly reloader: CatalogReloader,
    private readonly log: Logger,
    private readonly opts: FileSourceOptions,
  ) {}

  async start(): Promise<void> {
    // runtime.ts loaded this file already; remember it so an unchanged file is not a reload.
    this.lastStat = await this.statSignature();
    try {
      this.lastHash = hash(await readFile(this.file, 'utf8'));
    } catch {
      this.lastHash = MISSING;
    }
    if (this.opts.useFsWatch) this.watchDirectory();
    if (this.opts.pollMs > 0) {
      this.pollTimer = setInterval(() => void this.poll(), this.opts.pollMs);
      this.pollTimer.unref();
    }
  }

  ready(): boolean {
    return true;
  }

  private watchDirectory(): void {
    if (this.stopped) return;
    try {
      this.watcher = watch(path.dirname(this.file), { persistent: false }, () => this.schedule());
      this.watcher.on('error', (err) => {
        this.log.warn(
          { err, file: this.file },
          'catalog directory watch failed; the stat fallback keeps going',
        );
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      this.log.warn({ err, file: this.file }, 'cannot watch the catalog directory; relying on stat polling');
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reread(), this.opts.debounceMs ?? 100);
    this.debounce.unref();
  }

  private async statSignature(): Promise<string> {
    try {
      const s = await stat(this.file); // follows the ..data symlink chain
      return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return MISSING;
    }
  }

  private async poll(): Promise<void> {
    if (this.opts.useFsWatch && !this.watcher) this.watchDirectory(); // re-arm after a watcher error
    const sig = await this.statSignature();
    if (sig !== this.lastStat) await this.reread();
  }

  /** Read the file and hand it to the reloader when its content changed. Serialised. */
  reread(): Promise<void> {
    return this.reads.run();
  }

  private async readOnce(): Promise<void> {
    if (this.stopped) return;
    this.lastStat = await this.statSignature();
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if (this.lastHash !== MISSING) {
        this.lastHash = MISSING;
        this.reloader.reject(problemsOf(err), `file:${this.file}`);
      }
      return;
    }
    const h = hash(text);
    if (h === this.lastHash) return;
    this.lastHash = h;
    let catalog;
    try {
      catalog = parseCatalogText(text, this.file);
    } catch (err) {
      this.reloader.reject(problemsOf(err), `file:${this.file}`);
      return;
    }
    this.reloader.accept(catalog, `file:${this.file}`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.debounce) clearTimeout(this.debounce);
    await this.reads.settled();
  }
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
