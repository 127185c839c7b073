// Admin API for catalogs on the ops port, under /admin/v1/catalogs (service credential):
//   GET  current             what this pod serves, its last reload, seconds since it
//   POST validate            dry run: 200 with counts, or 422 with every problem
//   POST preview             diff against the live catalog (goals added/removed/changed, by field)
//   POST publish             store in PostgreSQL (history) and make it live everywhere [source admin]
//   GET  history             published revisions, newest first
//   POST rollback/{version}  publish an earlier version again                        [source admin]
// Request bodies are the catalog document itself (JSON, or YAML with a yaml content type).
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import YAML from 'yaml';
import type { Authenticator } from '../auth/auth';
import { ApiError, apiError, errorBody } from '../errors';
import {
  findCatalogVersion,
  insertCatalogRevision,
  latestCatalogHead,
  listCatalogRevisions,
  lockCatalogVersions,
  readCatalogRevision,
  type CatalogRevision,
} from '../store/catalogs';
import { withTransaction, type Db } from '../store/db';
import { parseCatalog } from './load';
import type { StoreCatalogSource } from './sources/store';
import { CatalogInvalidError, type Catalog, type Challenge, type Goal } from '../domain/catalog';
import { problemsOf, type CatalogReloader } from './watchReloader';

// ---- diff -----------------------------------------------------------------------------------

export interface GoalChange {
  readonly goalId: string;
  readonly challengeId: string;
  /** Dotted field names whose value differs, e.g. `requirement.targetValue`. */
  readonly fields: readonly string[];
}

export interface CatalogDiff {
  readonly fromVersion: string;
  readonly toVersion: string;
  readonly unchanged: boolean;
  readonly challenges: {
    readonly added: readonly string[];
    readonly removed: readonly string[];
    readonly changed: readonly { challengeId: string; fields: readonly string[] }[];
  };
  readonly goals: {
    readonly added: readonly { goalId: string; challengeId: string }[];
    readonly removed: readonly { goalId: string; challengeId: string }[];
    readonly changed: readonly GoalChange[];
  };
}

/** Leaf values by dotted path; arrays are leaves (compared whole). */
function flatten(value: unknown, prefix: string, out: Map<string, string>): Map<string, string> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.set(prefix, JSON.stringify(value));
  }
  return out;
}

function changedFields(a: object, b: object): string[] {
  const fa = flatten(a, '', new Map());
  const fb = flatten(b, '', new Map());
  const keys = new Set([...fa.keys(), ...fb.keys()]);
  return [...keys].filter((k) => fa.get(k) !== fb.get(k)).sort();
}

function challengeHead(c: Challenge): object {
  return { name: c.name, description: c.description, goalOrder: c.goals.map((g) => g.goalId) };
}

const goalRef = (g: Goal) => ({ goalId: g.goalId, challengeId: g.challengeId });

export function diffCatalogs(from: Catalog, to: Catalog): CatalogDiff {
  const challengesAdded = to.challenges
    .filter((c) => !from.challengeById.has(c.challengeId))
    .map((c) => c.challengeId);
  const challengesRemoved = from.challenges
    .filter((c) => !to.challengeById.has(c.challengeId))
    .map((c) => c.challengeId);
  const challengesChanged: { challengeId: string; fields: string[] }[] = [];
  for (const c of to.challenges) {
    const old = from.challengeById.get(c.challengeId);
    if (!old) continue;
    const fields = changedFields(challengeHead(old), challengeHead(c));
    if (fields.length) challengesChanged.push({ challengeId: c.challengeId, fields });
  }
  const goals = (cat: Catalog) => cat.challenges.flatMap((c) => c.goals);
  const goalsAdded = goals(to)
    .filter((g) => !from.goalById.has(g.goalId))
    .map(goalRef);
  const goalsRemoved = goals(from)
    .filter((g) => !to.goalById.has(g.goalId))
    .map(goalRef);
  const goalsChanged: GoalChange[] = [];
  for (const g of goals(to)) {
    const old = from.goalById.get(g.goalId);
    if (!old) continue;
    const fields = changedFields(old, g);
    if (fields.length) goalsChanged.push({ ...goalRef(g), fields });
  }
  return {
    fromVersion: from.version,
    toVersion: to.version,
    unchanged: from.version === to.version,
    challenges: { added: challengesAdded, removed: challengesRemoved, changed: challengesChanged },
    goals: { added: goalsAdded, removed: goalsRemoved, changed: goalsChanged },
  };
}

function diffSummary(d: CatalogDiff): Record<string, number> {
  return {
    challengesAdded: d.challenges.added.length,
    challengesRemoved: d.challenges.removed.length,
    challengesChanged: d.challenges.changed.length,
    goalsAdded: d.goals.added.length,
    goalsRemoved: d.goals.removed.length,
    goalsChanged: d.goals.changed.length,
  };
}

// ---- request plumbing -----------------------------------------------------------------------

export interface CatalogAdminDeps {
  auth: Authenticator;
  db: Db;
  reloader: CatalogReloader;
  source: 'file' | 'kubernetes' | 'admin';
  /** Present when the source is `admin`: publish and rollback go through it. */
  store?: StoreCatalogSource;
  maxBytes: number;
  log: Logger;
}

function invalid(err: unknown): ApiError {
  const problems = problemsOf(err);
  return apiError('CATALOG_INVALID', `catalog invalid: ${problems.length} problem(s)`, {
    problems,
  });
}

/** The request body as a catalog document (JSON, or YAML when the content type says so or it is not JSON). */
export function readDocument(body: unknown, contentType: string | undefined): unknown {
  if (typeof body !== 'string' || body.trim() === '') {
    throw new CatalogInvalidError([{ path: '$', message: 'request body must be a catalog document' }]);
  }
  const text = body.replace(/^\uFEFF/, '');
  const first = text.trimStart()[0];
  const asYaml = /yaml/i.test(contentType ?? '') || (first !== '{' && first !== '[');
  try {
    return asYaml ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    throw new CatalogInvalidError([
      {
        path: '$',
        message: `not valid ${asYaml ? 'YAML' : 'JSON'}: ${err instanceof Error ? err.message : String(err)}`,
      },
    ]);
  }
}

function parseBody(req: Request): { raw: unknown; catalog: Catalog } {
  try {
    const raw = readDocument(req.body, req.header('content-type'));
    return { raw, catalog: parseCatalog(raw) };
  } catch (err) {
    throw invalid(err);
  }
}

function counts(c: Catalog) {
  return { challenges: c.challenges.length, goals: c.goalById.size };
}

type AsyncHandler = (req: Request, res: Response) => Promise<void>;

function handle(fn: AsyncHandler) {
  return (req: Request, res: Response, next: NextFunction) => {
    fn(req, res).catch(next);
  };
}

function revisionJson(r: CatalogRevision, liveRevision: number | undefined) {
  return {
    revision: r.revision,
    version: r.version,
    action: r.action,
    previousVersion: r.previousVersion,
    publishedBy: r.publishedBy,
    publishedAt: new Date(r.publishedAt).toISOString(),
    comment: r.comment,
    summary: r.summary,
    live: r.revision === liveRevision,
  };
}

// ---- router ---------------------------------------------------------------------------------

export function catalogAdminRouter(deps: CatalogAdminDeps): Router {
  const r = Router();
  const holder = deps.reloader.holder;
  const text = express.text({ type: () => true, limit: deps.maxBytes });

  r.use('/catalogs', (req, _res, next) => {
    deps.auth.service(req.header('authorization'), req.header('x-api-key')).then(
      (principal) => {
        res_locals(req).principal = principal.id;
        next();
      },
      (err: unknown) => next(err),
    );
  });

  r.get(
    '/catalogs/current',
    handle(async (_req, res) => {
      const c = holder.current;
      res.json({
        version: c.version,
        source: deps.source,
        ...counts(c),
        revision: deps.store?.liveRevision || null,
        secondsSinceLastReload: deps.reloader.secondsSinceLastReload(),
        lastReload: deps.reloader.lastReload ?? null,
      });
    }),
  );

  r.post(
    '/catalogs/validate',
    text,
    handle(async (req, res) => {
      const { catalog } = parseBody(req);
      res.json({ valid: true, version: catalog.version, ...counts(catalog), problems: [] });
    }),
  );

  r.post(
    '/catalogs/preview',
    text,
    handle(async (req, res) => {
      const { catalog } = parseBody(req);
      const live = holder.current;
      res.json({
        valid: true,
        liveVersion: live.version,
        version: catalog.version,
        changes: diffCatalogs(live, catalog),
      });
    }),
  );

  function requireStore(): StoreCatalogSource {
    if (!deps.store) {
      throw apiError(
        'CATALOG_SOURCE_NOT_ADMIN',
        `catalogs are published through CATALOG_SOURCE=${deps.source} here; set CATALOG_SOURCE=admin to publish through this API`,
        { source: deps.source },
      );
    }
    return deps.store;
  }

  /** Append `catalog` to the history as the live revision, unless it is live already. */
  async function publish(
    req: Request,
    catalog: Catalog,
    document: unknown,
    action: 'publish' | 'rollback',
  ): Promise<{ status: number; body: unknown }> {
    const store = requireStore();
    const ifMatch = req.header('if-match')?.replace(/^W\//, '').replace(/"/g, '').trim();
    const comment = typeof req.query.comment === 'string' ? req.query.comment.slice(0, 1000) : null;
    const out = await withTransaction(deps.db, async (client) => {
      await lockCatalogVersions(client);
      const head = await latestCatalogHead(client);
      const liveVersion = head?.version ?? holder.current.version;
      if (ifMatch && ifMatch !== '*' && ifMatch !== liveVersion) {
        throw apiError('CATALOG_VERSION_MISMATCH', `live version is ${liveVersion}, not ${ifMatch}`, {
          liveVersion,
        });
      }
      let live: Catalog = holder.current;
      if (head && head.version !== live.version) {
        const row = await readCatalogRevision(client, head.revision);
        live = parseCatalog(row!.document);
      }
      const changes = diffCatalogs(live, catalog);
      if (head && head.version === catalog.version) {
        return { revision: null, head: head.revision, changes };
      }
      const row = await insertCatalogRevision(client, {
        version: catalog.version,
        document,
        action,
        previousVersion: head ? head.version : null,
        publishedBy: res_locals(req).principal ?? 'unknown',
        publishedAt: Date.now(),
        comment,
        summary: diffSummary(changes),
      });
      return { revision: row, head: row.revision, changes };
    });
    if (!out.revision) {
      await store.checkNow();
      return {
        status: 200,
        body: { unchanged: true, revision: out.head, version: catalog.version, changes: out.changes },
      };
    }
    await store.published(out.revision.revision, catalog);
    deps.log.info({ revision: out.revision.revision, version: catalog.version, action }, 'catalog published');
    return {
      status: 200,
      body: { unchanged: false, ...revisionJson(out.revision, out.revision.revision), changes: out.changes },
    };
  }

  r.post(
    '/catalogs/publish',
    text,
    handle(async (req, res) => {
      requireStore();
      const { raw, catalog } = parseBody(req);
      const out = await publish(req, catalog, raw, 'publish');
      res.status(out.status).json(out.body);
    }),
  );

  r.post(
    '/catalogs/rollback/:version',
    handle(async (req, res) => {
      requireStore();
      const version = String(req.params.version);
      const row = await findCatalogVersion(deps.db, version);
      if (!row) {
        throw apiError('CATALOG_VERSION_NOT_FOUND', `no published catalog has version ${version}`, {
          version,
        });
      }
      let catalog: Catalog;
      try {
        catalog = parseCatalog(row.document);
      } catch (err) {
        throw invalid(err); // validation rules tightened since it was published
      }
      const out = await publish(req, catalog, row.document, 'rollback');
      res.status(out.status).json(out.body);
    }),
  );

  r.get(
    '/catalogs/history',
    handle(async (req, res) => {
      const limit = Math.min(500, Math.max(1, Number(req.query.limit ?? 50) || 50));
      const before = req.query.before === undefined ? undefined : Number(req.query.before);
      if (before !== undefined && !Number.isSafeInteger(before)) {
        throw apiError('INVALID_REQUEST', 'before must be a revision number');
      }
      const head = await latestCatalogHead(deps.db);
      const items = await listCatalogRevisions(deps.db, limit, before);
      res.json({
        items: items.map((i) => revisionJson(i, head?.revision)),
        liveVersion: holder.current.version,
      });
    }),
  );

  // JSON errors for this router (auth, body parser limits, ApiError, anything else).
  r.use('/catalogs', (err: unknown, _req: Request, res: Response, next: NextFunction) => {
    void next;
    if (err instanceof ApiError) {
      res.status(err.status).type('application/json').send(err.body());
      return;
    }
    const status = (err as { status?: number; type?: string }).status;
    if (status === 413) {
      res
        .status(413)
        .json(
          errorBody('PAYLOAD_TOO_LARGE', `catalog exceeds ${deps.maxBytes} bytes`, { limit: deps.maxBytes }),
        );
      return;
    }
    if (status !== undefined && status >= 400 && status < 500) {
      res.status(status).json(errorBody('INVALID_REQUEST', 'unreadable request body'));
      return;
    }
    deps.log.error({ err }, 'catalog admin request failed');
    res.status(500).json(errorBody('INTERNAL'));
  });
  return r;
}

/** Per-request scratch space (the authenticated principal). */
function res_locals(req: Request): { principal?: string } {
  return ((req as Request & { catalogAdmin?: { principal?: string } }).catalogAdmin ??= {});
}
