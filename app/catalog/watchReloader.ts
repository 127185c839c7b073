// Every catalog source (file, kubernetes, admin) hands candidate documents to one CatalogReloader:
// it validates with parseCatalog, swaps the holder only for a valid catalog with a new version, and
// records the outcome in metrics. An invalid candidate never replaces the live catalog; its problems
// are logged and kept for the admin API and the resource status.
import type { Logger } from 'pino';
import { catalogLastReloadTimestampSeconds, catalogReloadsTotal } from '../ops/metrics';
import type { CatalogHolder } from './holder';
import { parseCatalog } from './load';
import { CatalogInvalidError, type Catalog, type CatalogProblem } from '../domain/catalog';

export type ReloadOutcome =
  | { readonly ok: true; readonly catalog: Catalog; readonly changed: boolean }
  | { readonly ok: false; readonly problems: readonly CatalogProblem[] };

export interface ReloadRecord {
  readonly at: number;
  readonly origin: string;
  readonly ok: boolean;
  readonly version?: string;
  readonly problems?: readonly CatalogProblem[];
}

/** Problems of any error thrown while reading a candidate (non-catalog errors become one `$` problem). */
export function problemsOf(err: unknown): readonly CatalogProblem[] {
  if (err instanceof CatalogInvalidError) return err.problems;
  return [{ path: '$', message: err instanceof Error ? err.message : String(err) }];
}

export class CatalogReloader {
  private last: ReloadRecord | undefined;
  private lastSuccessAt: number;

  constructor(
    readonly holder: CatalogHolder,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    // The catalog the process started with counts as the first load.
    this.lastSuccessAt = now();
    catalogLastReloadTimestampSeconds.set(this.lastSuccessAt / 1000);
  }

  /** Validate an already-parsed document (JSON/YAML object) and make it live when valid. */
  applyDocument(raw: unknown, origin: string): ReloadOutcome {
    let catalog: Catalog;
    try {
      catalog = parseCatalog(raw);
    } catch (err) {
      return this.reject(problemsOf(err), origin);
    }
    return this.accept(catalog, origin);
  }

  /** Make an already-validated catalog live (no-op swap when the version is the one served). */
  accept(catalog: Catalog, origin: string): ReloadOutcome {
    const previous = this.holder.current.version;
    const changed = catalog.version !== previous;
    if (changed) this.holder.swap(catalog);
    const at = this.now();
    this.lastSuccessAt = at;
    this.last = { at, origin, ok: true, version: catalog.version };
    catalogReloadsTotal.inc({ result: 'success' });
    catalogLastReloadTimestampSeconds.set(at / 1000);
    this.log.info(
      { origin, version: catalog.version, previous, changed },
      changed ? 'catalog reloaded' : 'catalog unchanged',
    );
    return { ok: true, catalog, changed };
  }

  /** Record a refused candidate; the live catalog stays. */
  reject(problems: readonly CatalogProblem[], origin: string): ReloadOutcome {
    this.last = { at: this.now(), origin, ok: false, problems };
    catalogReloadsTotal.inc({ result: 'failure' });
    this.log.error(
      {
        origin,
        live: this.holder.current.version,
        problems: problems.slice(0, 50),
        problemCount: problems.length,
      },
      'catalog refused; the previous catalog stays live',
    );
    return { ok: false, problems };
  }

  get lastReload(): ReloadRecord | undefined {
    return this.last;
  }

  /** Seconds since the live catalog was last (re)loaded successfully. */
  secondsSinceLastReload(): number {
    return Math.max(0, (this.now() - this.lastSuccessAt) / 1000);
  }
}

/** What the module needs from a source. */
export interface CatalogSource {
  readonly kind: 'file' | 'kubernetes' | 'admin';
  /** Resolves once the first look at the source is done (or failed; the source keeps retrying). */
  start(): Promise<void>;
  ready(): boolean;
  stop(): Promise<void>;
}
