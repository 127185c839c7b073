// Builds the running service from config: used by main.ts and by in-process integration tests.
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { Authenticator } from './auth/auth';
import { startApiServer, type ApiServer } from './api/server';
import type { ApiDeps } from './api/routes';
import { createIdempotency, type IdempotencyWrapper } from './idempotency';
import type { HttpServer } from './api/http';
import { admitAll, noLimits, type Admission, type RateLimits } from './admission';
import { createProtection } from './admission/setup';
import type { KnownPlayers } from './admission/knownPlayers';
import { CatalogHolder } from './catalog/holder';
import { loadCatalogFile } from './catalog/load';
import type { Goal } from './domain/catalog';
import type { Config } from './config';
import { AdjustableClock, type Clock } from './domain/clock';
import { createOpsApp, listenOps, type ReadinessCheck } from './ops/server';
import { bindPgPoolMetrics, claimsTotal, setCatalogVersion } from './ops/metrics';
import { createGranter } from './rewards/factory';
import type { Granter } from './rewards/granter';
import { createPool, type Db } from './store/db';
import { startEmbeddedPostgres, type EmbeddedDb } from './store/embedded';
import { migrate } from './store/migrate';
import { playerUseCases } from './usecases/players';
import type { Router } from 'express';

export interface Overrides {
  clock?: Clock;
  granter?: Granter;
  random?: () => number;
  admission?: Admission;
  limits?: RateLimits;
  idempotency?: IdempotencyWrapper;
  knownPlayers?: KnownPlayers;
}

export interface Service {
  readonly cfg: Config;
  readonly db: Db;
  readonly catalog: CatalogHolder;
  readonly clock: Clock;
  readonly api?: ApiServer;
  readonly ops: Server;
  readonly opsPort: number;
  readonly log: Logger;
  isDraining(): boolean;
  /** Graceful stop: readiness false, stop accepting, finish in-flight within the grace period. */
  shutdown(): Promise<void>;
}

/** Hooks for later modules (events, rewards relay, websocket, admin) to join the same lifecycle. */
export interface Module {
  name: string;
  routes?: (http: HttpServer) => void;
  admin?: Router;
  readiness?: ReadinessCheck;
  /** Stop taking new work and finish the current unit (batch, grant); called on shutdown. */
  stop?: () => Promise<void>;
}

export interface ModuleContext {
  cfg: Config;
  db: Db;
  catalog: CatalogHolder;
  clock: Clock;
  log: Logger;
  auth: Authenticator;
  granter: Granter;
  role: 'api' | 'worker';
  /** Burst protection shared by the player routes and module routes (events ingest). */
  admission: Admission;
  limits: RateLimits;
  /** Players this pod has seen (with admission on); GDPR erasure forgets them. */
  knownPlayers?: KnownPlayers;
  /** Listeners called after a claim commits (e.g. the `claimed` WebSocket push). */
  claimListeners: Set<(userId: string, goal: Goal, claimId: string) => void>;
}

export type ModuleFactory = (ctx: ModuleContext) => Promise<Module | null>;

export async function startService(
  cfg: Config,
  log: Logger,
  overrides: Overrides = {},
  modules: ModuleFactory[] = [],
): Promise<Service> {
  let embedded: EmbeddedDb | undefined;
  let dbUrl = cfg.DATABASE_URL;
  let directUrl = cfg.DATABASE_DIRECT_URL ?? cfg.DATABASE_URL;
  if (!dbUrl) {
    embedded = await startEmbeddedPostgres(cfg.DATA_DIR, (m) => log.warn(m));
    dbUrl = directUrl = embedded.url;
    log.info({ dataDir: cfg.DATA_DIR }, 'embedded PostgreSQL started');
  }
  if (cfg.ROLE === 'all' && directUrl) {
    const res = await migrate(directUrl);
    if (res.applied.length) log.info({ applied: res.applied }, 'migrations applied');
  }

  const catalog = new CatalogHolder(loadCatalogFile(cfg.CHALLENGE_CATALOG));
  setCatalogVersion(catalog.current.version);
  catalog.onChange((next) => setCatalogVersion(next.version));

  const db = createPool({
    connectionString: dbUrl,
    max: cfg.PG_POOL_MAX,
    queryTimeoutMs: cfg.PG_QUERY_TIMEOUT_MS,
    statementTimeoutMs: cfg.PG_STATEMENT_TIMEOUT_MS,
  });
  const unbindPool = bindPgPoolMetrics('main', db);
  const clock = overrides.clock ?? new AdjustableClock();
  const auth = new Authenticator({
    hs256Secret: cfg.JWT_HS256_SECRET,
    publicKeyPem: cfg.JWT_PUBLIC_KEY_PEM,
    jwksUrl: cfg.JWT_JWKS_URL,
    issuer: cfg.JWT_ISSUER,
    audience: cfg.JWT_AUDIENCE,
    serviceScope: cfg.SERVICE_TOKEN_SCOPE,
    serviceApiKeys: cfg.SERVICE_API_KEYS,
    requireExp: cfg.JWT_REQUIRE_EXP,
    algorithms: cfg.JWT_ALGORITHMS,
    jwksCacheMaxAgeMs: cfg.JWT_JWKS_CACHE_MAX_AGE_MS,
    jwksCooldownMs: cfg.JWT_JWKS_COOLDOWN_MS,
    jwksTimeoutMs: cfg.JWT_JWKS_TIMEOUT_MS,
  });
  const granter = overrides.granter ?? createGranter(cfg, log);
  let draining = false;

  const roles: ('api' | 'worker')[] =
    cfg.ROLE === 'all' ? ['api', 'worker'] : cfg.ROLE === 'api' ? ['api'] : ['worker'];
  // A factory runs once per role this process has; player-port routes come only from the api role.
  const loaded: (Module & { role?: 'api' | 'worker' })[] = [];
  // Burst protection from config (ADMISSION_*, RATE_LIMIT_*, NEW_PLAYER_BUDGET_*) unless a test brings both.
  const protection =
    roles.includes('api') && !(overrides.admission && overrides.limits)
      ? createProtection(cfg, log)
      : undefined;
  if (protection) loaded.push({ name: 'admission', stop: protection.close });
  const admission = overrides.admission ?? protection?.admission ?? admitAll;
  const limits = overrides.limits ?? protection?.limits ?? noLimits;
  const knownPlayers = overrides.knownPlayers ?? protection?.knownPlayers;
  const claimListeners: ModuleContext['claimListeners'] = new Set();
  for (const role of roles) {
    for (const factory of modules) {
      const m = await factory({
        cfg,
        db,
        catalog,
        clock,
        log,
        auth,
        granter,
        role,
        admission,
        limits,
        knownPlayers,
        claimListeners,
      });
      if (m) loaded.push({ ...m, role });
    }
  }

  let api: ApiServer | undefined;
  if (roles.includes('api')) {
    const players = playerUseCases({
      db,
      catalog,
      clock,
      admission,
      limits,
      knownPlayers,
      granter,
      grantTimeoutMs: cfg.GRANT_TIMEOUT_MS,
      log,
      metrics: { claims: claimsTotal },
      random: overrides.random,
      onClaimed: (userId, goal, claimId) => {
        for (const l of claimListeners) l(userId, goal, claimId);
      },
    });
    const deps: ApiDeps = {
      basePath: cfg.BASE_PATH,
      players,
      auth,
      idempotency: overrides.idempotency ?? createIdempotency(db, cfg),
      log,
      clock,
      devMode: cfg.DEV_MODE,
      devSecret: cfg.JWT_HS256_SECRET,
      devMockUserHeader: cfg.DEV_MOCK_USER_HEADER,
    };
    api = await startApiServer(deps, {
      host: cfg.HOST,
      port: cfg.PORT,
      deadlineMs: cfg.REQUEST_DEADLINE_MS,
      maxBody: cfg.MAX_BODY_BYTES,
      maxOpenRequests: cfg.API_MAX_OPEN_REQUESTS,
      draining: () => draining,
      extraRoutes: loaded.flatMap((m) => (m.routes && m.role === 'api' ? [m.routes] : [])),
    });
  }

  const checks: ReadinessCheck[] = [
    { name: 'postgres', check: async () => (await db.query('SELECT 1')).rowCount === 1 },
    { name: 'catalog', check: async () => catalog.current.challenges.length >= 0 },
    ...loaded.flatMap((m) => (m.readiness ? [m.readiness] : [])),
  ];
  const opsApp = createOpsApp({
    checks,
    draining: () => draining,
    // One admin router per module name, even when the module runs for both roles.
    admin: [...new Map(loaded.flatMap((m) => (m.admin ? [[m.name, m.admin] as const] : []))).values()],
  });
  const ops = await listenOps(opsApp, cfg.HOST, cfg.OPS_PORT);
  const opsPort = (ops.address() as { port: number }).port;

  let stopping: Promise<void> | undefined;
  const stopModule = (m: Module): Promise<unknown> =>
    m.stop?.().catch((err: unknown) => log.error({ err, module: m.name }, 'stop failed')) ??
    Promise.resolve();
  /**
   * SIGTERM: readiness false and no new connections at once; worker-role units (event batch, reward
   * grants) finish and are acknowledged meanwhile; requests in flight are answered within
   * SHUTDOWN_GRACE_MS (new requests on kept-alive connections get 503 DRAINING); only then do the
   * player-facing modules stop (ingest queue, WebSockets closed with a reconnect hint, limiters).
   */
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      draining = true;
      api?.stopListening();
      const started = Date.now();
      const until = started + cfg.SHUTDOWN_GRACE_MS;
      const workerSide = Promise.all(loaded.filter((m) => m.role === 'worker').map(stopModule));
      while (api && api.inFlight() > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      const left = api?.inFlight() ?? 0;
      if (left > 0) log.warn({ inFlight: left }, 'shutdown grace period over with requests in flight');
      api?.close();
      await Promise.all([workerSide, ...loaded.filter((m) => m.role !== 'worker').map(stopModule)]);
      log.info({ drainMs: Date.now() - started }, 'drained');
      const opsClosed = new Promise<void>((r) => ops.close(() => r()));
      ops.closeAllConnections?.(); // kept-alive scrapers and probers would hold close() open
      await opsClosed;
      unbindPool();
      await db.end().catch(() => undefined);
      if (embedded) await embedded.stop().catch(() => undefined);
    })();
    return stopping;
  };

  return { cfg, db, catalog, clock, api, ops, opsPort, log, isDraining: () => draining, shutdown };
}
