// Source `admin`: catalogs published through the admin API live in PostgreSQL (catalog_versions).
// Every pod polls the newest revision (one tiny indexed query) and, when REDIS_URL is set, also
// listens on a pub/sub channel the publishing pod nudges, so a publish is seen at once and polling
// is the safety net for a lost message or a Redis outage.
import Redis from 'ioredis';
import type { Logger } from 'pino';
import type { Db } from '../../store/db';
import { latestCatalogHead, readCatalogRevision } from '../../store/catalogs';
import type { Catalog } from '../../domain/catalog';
import type { CatalogReloader, CatalogSource } from '../watchReloader';
import { coalesced } from '../../every';

export interface StoreSourceOptions {
  pollIntervalMs: number;
  redisUrl?: string;
  channel: string;
}

export class StoreCatalogSource implements CatalogSource {
  readonly kind = 'admin' as const;
  /** Highest revision applied or refused by this pod (0: none yet; the bootstrap file is live). */
  private revision = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly checks = coalesced(
    () =>
      this.check().then(
        () => {
          this.checkedOnce = true;
        },
        (err: unknown) => this.log.warn({ err }, 'catalog poll failed; will retry'),
      ),
    () => this.stopped,
  );
  private checkedOnce = false;
  private stopped = false;
  private sub: Redis | undefined;
  private pub: Redis | undefined;

  constructor(
    private readonly db: Db,
    private readonly reloader: CatalogReloader,
    private readonly log: Logger,
    private readonly opts: StoreSourceOptions,
  ) {}

  async start(): Promise<void> {
    await this.checkNow();
    this.timer = setInterval(() => void this.checkNow(), this.opts.pollIntervalMs);
    this.timer.unref();
    if (this.opts.redisUrl) this.listen(this.opts.redisUrl);
  }

  ready(): boolean {
    return this.checkedOnce;
  }

  get liveRevision(): number {
    return this.revision;
  }

  /** Look at PostgreSQL now; concurrent calls share one look (plus one more if asked meanwhile). */
  checkNow(): Promise<void> {
    return this.checks.run();
  }

  private async check(): Promise<void> {
    const head = await latestCatalogHead(this.db);
    if (!head || head.revision <= this.revision) return;
    const row = await readCatalogRevision(this.db, head.revision);
    // A publish on this pod may have moved past this revision while we were reading.
    if (!row || row.revision <= this.revision) return;
    this.revision = row.revision;
    this.reloader.applyDocument(row.document, `admin:revision ${row.revision}`);
  }

  /** Called by the admin API after this pod committed `revision`: serve it now, nudge the others. */
  async published(revision: number, catalog: Catalog): Promise<void> {
    if (revision > this.revision) {
      this.revision = revision;
      this.reloader.accept(catalog, `admin:revision ${revision}`);
    }
    if (this.pub) {
      await this.pub.publish(this.opts.channel, String(revision)).catch((err: unknown) => {
        this.log.warn({ err }, 'catalog publish nudge failed; other pods will see it on their next poll');
      });
    }
  }

  private listen(url: string): void {
    const options = { maxRetriesPerRequest: 1, lazyConnect: false, connectionName: 'challenge-catalog' };
    this.pub = new Redis(url, options);
    this.sub = new Redis(url, options);
    for (const r of [this.pub, this.sub]) {
      r.on('error', (err: unknown) => this.log.debug({ err }, 'catalog redis error'));
    }
    this.sub.on('message', (_channel: string, message: string) => {
      if (Number(message) > this.revision) void this.checkNow();
    });
    // After a reconnect a nudge may have been missed: look once.
    this.sub.on('ready', () => void this.checkNow());
    this.sub.subscribe(this.opts.channel).catch((err: unknown) => {
      this.log.warn({ err }, 'catalog redis subscribe failed; relying on polling');
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.checks.settled();
    for (const r of [this.sub, this.pub]) {
      if (r) await r.quit().catch(() => r.disconnect());
    }
  }
}
