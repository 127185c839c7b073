// Hot reload of the live catalog: picks the configured source (file, kubernetes, admin), feeds it
// to one CatalogReloader and mounts the admin API. See docs/CATALOGS.md.
import type { ModuleFactory } from '../runtime';
import { catalogAdminRouter } from './admin';
import { FileCatalogSource } from './sources/file';
import { StoreCatalogSource } from './sources/store';
import { CatalogReloader, type CatalogSource } from './watchReloader';

export { CatalogReloader, problemsOf, type CatalogSource, type ReloadOutcome } from './watchReloader';

/**
 * The catalog module: one source per process (ROLE=all builds modules for both roles; the second
 * call returns null), the admin API under /admin/v1/catalogs, and a readiness check.
 */
export const catalogModule: ModuleFactory = async (ctx) => {
  if (ctx.cfg.ROLE === 'all' && ctx.role === 'worker') return null;
  const log = ctx.log.child({ module: 'catalog' });
  const reloader = new CatalogReloader(ctx.catalog, log);
  const cfg = ctx.cfg;
  let source: CatalogSource;
  let store: StoreCatalogSource | undefined;
  if (cfg.CATALOG_SOURCE === 'kubernetes') {
    // Loaded only here: the client is large and ESM-only.
    const { kubernetesSourceFromConfig } = await import('./sources/kubernetes');
    source = await kubernetesSourceFromConfig(cfg, reloader, log);
  } else if (cfg.CATALOG_SOURCE === 'admin') {
    store = new StoreCatalogSource(ctx.db, reloader, log, {
      pollIntervalMs: cfg.CATALOG_POLL_INTERVAL_MS,
      redisUrl: cfg.REDIS_URL,
      channel: cfg.CATALOG_REDIS_CHANNEL,
    });
    source = store;
  } else {
    source = new FileCatalogSource(cfg.CHALLENGE_CATALOG, reloader, log, {
      useFsWatch: cfg.CATALOG_FILE_WATCH,
      pollMs: cfg.CATALOG_FILE_POLL_MS,
    });
  }
  await source.start();
  const admin = catalogAdminRouter({
    auth: ctx.auth,
    db: ctx.db,
    reloader,
    source: source.kind,
    store,
    maxBytes: cfg.CATALOG_ADMIN_MAX_BYTES,
    log,
  });
  return {
    name: 'catalog',
    admin,
    readiness: { name: 'catalog-source', check: async () => source.ready() },
    stop: () => source.stop(),
  };
};
