// One typed config object, parsed once from the environment. No other module reads process.env.
import { z } from 'zod';
import path from 'node:path';
import { ROOT } from '../paths';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_EVENTS_BODY_BYTES } from '../limits';

const bool = z
  .enum(['0', '1', 'true', 'false', 'yes', 'no', ''])
  .transform((v) => v === '1' || v === 'true' || v === 'yes');
const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(def);
/** `a, b,,c` -> ['a', 'b', 'c'] */
const commaList = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v === '' ? undefined : v));

export const configSchema = z.object({
  // --- process ---
  ROLE: z.enum(['all', 'api', 'worker', 'migrate']).default('all'),
  PORT: int(8080, 0, 65535),
  OPS_PORT: int(9090, 0, 65535),
  HOST: z.string().default('0.0.0.0'),
  BASE_PATH: z
    .string()
    .regex(/^\/[A-Za-z0-9/_-]*$/)
    .default('/challenge'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DEV_MODE: bool.default(false),
  /** Grace period for SIGTERM: in-flight work may finish within it. */
  SHUTDOWN_GRACE_MS: int(10000, 0),

  // --- catalog ---
  CHALLENGE_CATALOG: z.string().default(path.join(ROOT, 'examples/catalog.json')),
  CATALOG_SOURCE: z.enum(['file', 'kubernetes', 'admin']).default('file'),
  /** file: watch CHALLENGE_CATALOG's directory with fs.watch (ConfigMap symlink swaps included). */
  CATALOG_FILE_WATCH: bool.default(true),
  /** file: stat CHALLENGE_CATALOG this often as a fallback for missed fs events; 0 = never. */
  CATALOG_FILE_POLL_MS: int(5000, 0),
  /** kubernetes: API group of the ChallengeCatalog CRD (CRD name challengecatalogs.<group>). */
  CATALOG_CRD_GROUP: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/)
    .default('challenges.example.com'),
  /** kubernetes: the ChallengeCatalog (in the pod's namespace) that is live. */
  CATALOG_RESOURCE_NAME: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/)
    .default('challenge-catalog'),
  /** kubernetes: namespace of the resource; unset = the pod's own (service-account namespace file). */
  CATALOG_NAMESPACE: optionalString,
  /** kubernetes: kubeconfig file to use instead of the in-cluster service account (dev, tests). */
  CATALOG_KUBECONFIG: optionalString,
  /** kubernetes: re-evaluate the cached resource (and its status) this often. */
  CATALOG_KUBE_RESYNC_MS: int(300000, 1000),
  /** kubernetes: Lease electing the one pod that writes the resource's status; unset = `<name>-status-writer`. */
  CATALOG_LEASE_NAME: optionalString,
  CATALOG_LEASE_DURATION_SECONDS: int(15, 2, 3600),
  /** kubernetes: this pod's identity in the Lease; unset = hostname plus a random suffix. */
  CATALOG_LEASE_IDENTITY: optionalString,
  /** admin: how often pods look for a newly published catalog in PostgreSQL. */
  CATALOG_POLL_INTERVAL_MS: int(5000, 50),
  /** admin: Redis pub/sub channel nudging pods to look at once (needs REDIS_URL). */
  CATALOG_REDIS_CHANNEL: z.string().min(1).default('challenge:catalog:published'),
  /** Largest catalog the admin API accepts. */
  CATALOG_ADMIN_MAX_BYTES: int(8 * 1024 * 1024, 1024),

  // --- storage ---
  /** Pooled (PgBouncer) URL for the data plane; unset = embedded PostgreSQL under DATA_DIR. */
  DATABASE_URL: optionalString,
  /** Direct PostgreSQL URL for migrations; defaults to DATABASE_URL. */
  DATABASE_DIRECT_URL: optionalString,
  DATA_DIR: z.string().default(path.join(ROOT, '.data')),
  PG_POOL_MAX: int(16, 1, 1000),
  /** PostgreSQL's statement_timeout (server-side), set with SET LOCAL in every transaction (app/store/db.ts); 0 = none. */
  PG_STATEMENT_TIMEOUT_MS: int(5000, 0),
  /** Client-side timeout of every query (pg query_timeout), a backstop behind the request deadline; 0 = none. */
  PG_QUERY_TIMEOUT_MS: int(5000, 0),
  /** Unset = in-memory limiter, queue and pub/sub. */
  REDIS_URL: optionalString,

  // --- auth ---
  JWT_HS256_SECRET: optionalString,
  JWT_PUBLIC_KEY_PEM: optionalString,
  JWT_JWKS_URL: optionalString,
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  /** Refuse tokens without an `exp` claim (0 = accept them, trusted from cache at most 60 s). */
  JWT_REQUIRE_EXP: bool.default(true),
  /** Algorithms accepted with JWT_PUBLIC_KEY_PEM or JWT_JWKS_URL (comma separated); HS256 is only
   *  ever accepted with JWT_HS256_SECRET. */
  JWT_ALGORITHMS: z
    .string()
    .default('RS256')
    .transform(commaList)
    .pipe(
      z
        .array(
          z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']),
        )
        .min(1),
    ),
  /** JWKS: keys are used this long after the last successful fetch (also through an outage). */
  JWT_JWKS_CACHE_MAX_AGE_MS: int(600000, 1000),
  /** JWKS: an unknown `kid` refetches the set at most this often. */
  JWT_JWKS_COOLDOWN_MS: int(30000, 0),
  /** JWKS: one fetch's time limit (below the request deadline). */
  JWT_JWKS_TIMEOUT_MS: int(1000, 50),
  /** A service token must carry this value in its `scope` claim (space separated). */
  SERVICE_TOKEN_SCOPE: z.string().default('challenge:service'),
  /** Comma-separated API keys accepted as `X-Api-Key` for service routes (from a Secret). */
  SERVICE_API_KEYS: z.string().default('').transform(commaList),

  // --- requests ---
  REQUEST_DEADLINE_MS: int(2000, 10),
  /**
   * Requests open at once per api process (each holds its connection); beyond it 503 + Retry-After
   * and the connection is closed (0 = no cap). About capacity x the time an answer may take under load.
   */
  API_MAX_OPEN_REQUESTS: int(1024, 0),
  MAX_BODY_BYTES: int(DEFAULT_MAX_BODY_BYTES, 1024),
  MAX_EVENTS_BODY_BYTES: int(DEFAULT_MAX_EVENTS_BODY_BYTES, 1024),

  // --- rewards ---
  GRANTER: z.enum(['log', 'webhook']).default('log'),
  GRANT_TIMEOUT_MS: int(500, 1),
  WEBHOOK_URL: optionalString,
  WEBHOOK_SECRET: optionalString,
  /** Outbox relay (worker): poll interval, rows leased per round, lease length, one grant's time. */
  REWARD_RELAY_POLL_MS: int(1000, 10),
  REWARD_RELAY_BATCH: int(16, 1, 1000),
  REWARD_RELAY_LEASE_MS: int(30000, 100),
  REWARD_RELAY_GRANT_TIMEOUT_MS: int(5000, 1),
  /** The relay leaves a fresh row to the claim's own attempt for GRANT_TIMEOUT_MS + this. */
  REWARD_RELAY_SYNC_GRACE_MS: int(2000, 0),
  /** Retry backoff: base * 2^(attempts-1), capped, with jitter. */
  REWARD_RETRY_BASE_MS: int(1000, 1),
  REWARD_RETRY_MAX_MS: int(600000, 1),
  /** A row goes dead after this many attempts or this age (since claim or operator replay). */
  REWARD_MAX_ATTEMPTS: int(50, 1),
  REWARD_MAX_AGE_MS: int(72 * 3600 * 1000, 1),
  /** How often the worker refreshes the outbox gauges. */
  REWARD_OUTBOX_METRICS_MS: int(15000, 10),
  /** Idempotency-Key: answers kept this long; a duplicate in flight waits up to WAIT_MS for the first. */
  IDEMPOTENCY_TTL_MS: int(24 * 3600 * 1000, 1000),
  IDEMPOTENCY_WAIT_MS: int(1500, 0),
  /** An in-progress key whose request died is taken over by a retry after this long. */
  IDEMPOTENCY_LOCK_MS: int(10000, 100),
  IDEMPOTENCY_PRUNE_INTERVAL_MS: int(60000, 10),
  IDEMPOTENCY_PRUNE_BATCH: int(1000, 1, 100000),

  // --- admission ---
  /** 0 = no adaptive limit, no queue, no rate limits (the "without limiter" benchmark baseline). */
  ADMISSION_ENABLED: bool.default(true),
  /** Per-pod adaptive concurrency limit of player database work: start, floor, ceiling. */
  ADMISSION_INITIAL_LIMIT: int(32, 1, 100000),
  ADMISSION_MIN_LIMIT: int(32, 1, 100000),
  ADMISSION_MAX_LIMIT: int(256, 1, 100000),
  /** Completions slower than this shrink the limit (by DECREASE_PERCENT, once per round trip). */
  ADMISSION_TARGET_LATENCY_MS: int(40, 1),
  ADMISSION_DECREASE_PERCENT: int(10, 1, 90),
  /** Requests waiting for a permit, per pod; beyond it lower priorities, then newcomers, get 503. */
  ADMISSION_QUEUE_MAX: int(512, 0),
  /** The queue non-empty this long counts as sustained overload: newest first. */
  ADMISSION_LIFO_AFTER_MS: int(1000, 0),
  /** Longest a request waits for a permit (0 = as long as its deadline allows); longer -> 503 at once. */
  ADMISSION_MAX_QUEUE_WAIT_MS: int(0, 0),
  /**
   * CoDel-like queue delay target: a request waits for a permit at most the service time (bounded
   * by ADMISSION_TARGET_LATENCY_MS) plus this slack, ms; a newcomer that could not start within it
   * is refused at once (0 = off).
   */
  ADMISSION_QUEUE_DELAY_SLACK_MS: int(5, 0),
  /** CoDel interval: the target is enforced once the queue delay stayed above it this long, ms. */
  ADMISSION_QUEUE_DELAY_INTERVAL_MS: int(100, 0),
  /** Retry-After of admission refusals: 1 + uniform 0..this whole seconds (retries do not synchronise). */
  ADMISSION_RETRY_AFTER_SPREAD_S: int(2, 0, 60),
  /** Event ingest has its own limiter. */
  ADMISSION_EVENTS_INITIAL_LIMIT: int(8, 1, 100000),
  ADMISSION_EVENTS_MAX_LIMIT: int(64, 1, 100000),
  /** Initialize calls answered from this pod's memory of known players, without a lookup (0 = off). */
  ADMISSION_KNOWN_PLAYERS_CACHE: int(100000, 0),
  /** Per-player token bucket (429); 0 = off. */
  RATE_LIMIT_PLAYER_PER_SEC: int(20, 0),
  RATE_LIMIT_PLAYER_BURST: int(40, 1),
  /** Per service client, counted in events (429); 0 = off. */
  RATE_LIMIT_INGEST_EVENTS_PER_SEC: int(20000, 0),
  RATE_LIMIT_INGEST_BURST: int(40000, 1),
  /** Fleet-wide GCRA budget of new-player initialisations, all pods together; 0 = off. */
  NEW_PLAYER_BUDGET_PER_SEC: int(4000, 0),
  NEW_PLAYER_BUDGET_BURST: int(400, 1),
  /**
   * Longest a new player waits for a booked budget slot (also at most half its remaining deadline).
   * Small on purpose: slots booked far ahead are a standing queue every new player waits in.
   */
  NEW_PLAYER_BUDGET_MAX_WAIT_MS: int(10, 0),
  /** Redis limiter calls slower than this are answered locally; the pod then probes Redis this often. */
  RATE_LIMIT_REDIS_TIMEOUT_MS: int(50, 1),
  RATE_LIMIT_REDIS_PROBE_MS: int(1000, 10),
  /** Fleet budgets are divided by this when a pod answers alone (Redis down). */
  RATE_LIMIT_EXPECTED_REPLICAS: int(1, 1, 10000),
  RATE_LIMIT_KEY_PREFIX: z.string().default('challenge:rl:'),

  // --- events ---
  /** Redis stream of ingested events; the dead-letter stream is `<key>:dead`. */
  EVENTS_STREAM_KEY: z.string().default('challenge:events'),
  EVENTS_GROUP: z.string().default('challenge-workers'),
  /** Consumer name of this worker in the group; default `<hostname>-<pid>`. */
  EVENTS_CONSUMER: optionalString,
  /** Entries per worker batch (XREADGROUP COUNT) and how long an empty read waits. */
  EVENTS_READ_COUNT: int(2000, 1, 100000),
  EVENTS_READ_BLOCK_MS: int(1000, 1, 60000),
  /** Concurrent apply statements per batch (players partitioned by hash). */
  EVENTS_APPLY_PARTITIONS: int(4, 1, 64),
  /** Entries pending this long on a (dead) consumer are claimed by a live one; checked this often. */
  EVENTS_CLAIM_IDLE_MS: int(30000, 100),
  EVENTS_CLAIM_INTERVAL_MS: int(5000, 50),
  /** Deliveries after which an entry failing with a data error goes to the dead-letter stream. */
  EVENTS_MAX_DELIVERIES: int(5, 1, 1000),
  EVENTS_DEAD_LETTER_MAXLEN: int(100000, 1),
  /** Queue gauges, stream trimming (never unacknowledged entries) and consumer cleanup. */
  EVENTS_MAINTENANCE_INTERVAL_MS: int(5000, 50),
  /** Processed event ids kept this long for duplicate suppression, pruned in batches. */
  PROCESSED_EVENTS_RETENTION_MS: int(7 * 86400 * 1000, 60000),
  PROCESSED_EVENTS_PRUNE_INTERVAL_MS: int(60000, 100),
  PROCESSED_EVENTS_PRUNE_BATCH: int(5000, 1, 1000000),
  /** Live pushes: pub/sub channel and presence set (players with a socket open). */
  EVENTS_PUSH_CHANNEL: z.string().default('challenge:push'),
  EVENTS_PRESENCE_KEY: z.string().default('challenge:presence'),
  WS_PRESENCE_REFRESH_MS: int(30000, 100),
  /** Messages to a socket with more buffered bytes than this are dropped (and counted). */
  WS_MAX_BUFFERED_BYTES: int(256 * 1024, 1024),
  WS_AUTH_TIMEOUT_MS: int(5000, 100),

  // --- drop-in for the reference (issue 14) ---
  /** gRPC event ingest (the platform's event delivery), health and reflection; own port. */
  GRPC_ENABLED: bool.default(true),
  GRPC_PORT: int(6565, 0, 65535),
  /** AGS namespace the platform's events must carry; `test` in dev mode (the reference's local setup). */
  AB_NAMESPACE: optionalString,
  /** With DEV_MODE=1 only: a request without a bearer token acts as the player in X-Mock-User-Id. */
  DEV_MOCK_USER_HEADER: bool.default(false),
  /** Worker pods delete baselines, selections and completion records of past periods this often. */
  RETENTION_INTERVAL_MS: int(3600_000, 1000),
  RETENTION_BATCH: int(5000, 1, 1000000),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {}

/** Parse the environment (or any record, for tests) into the typed config. Throws naming every bad key. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${lines.join('; ')}`);
  }
  const cfg = parsed.data;
  if (cfg.DEV_MOCK_USER_HEADER && !cfg.DEV_MODE) {
    throw new ConfigError(
      'invalid configuration: DEV_MOCK_USER_HEADER=1 needs DEV_MODE=1 (it lets any caller act as any player)',
    );
  }
  if (cfg.DEV_MODE && !cfg.JWT_HS256_SECRET && !cfg.JWT_PUBLIC_KEY_PEM && !cfg.JWT_JWKS_URL) {
    // Dev mode mints its own tokens; a fixed dev secret keeps tokens valid across restarts.
    return {
      ...cfg,
      JWT_HS256_SECRET: 'dev-secret-change-me-dev-secret-change-me',
      AB_NAMESPACE: cfg.AB_NAMESPACE ?? 'test',
    };
  }
  if (cfg.DEV_MODE && !cfg.AB_NAMESPACE) return { ...cfg, AB_NAMESPACE: 'test' };
  if (
    !cfg.JWT_HS256_SECRET &&
    !cfg.JWT_PUBLIC_KEY_PEM &&
    !cfg.JWT_JWKS_URL &&
    cfg.ROLE !== 'migrate' &&
    cfg.ROLE !== 'worker'
  ) {
    throw new ConfigError(
      'invalid configuration: one of JWT_HS256_SECRET, JWT_PUBLIC_KEY_PEM, JWT_JWKS_URL is required',
    );
  }
  return cfg;
}
