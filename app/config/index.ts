// One typed config object, parsed once from the environment. No other module reads process.env.
import { z } from 'zod';
import path from 'node:path';
import { ROOT } from '../paths';

const bool = z
  .enum(['0', '1', 'true', 'false', 'yes', 'no', ''])
  .transform((v) => v === '1' || v === 'true' || v === 'yes');
const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max).default(def);
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
  BASE_PATH: z.string().regex(/^\/[A-Za-z0-9/_-]*$/).default('/challenge'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DEV_MODE: bool.default(false),
  /** Grace period for SIGTERM: in-flight work may finish within it. */
  SHUTDOWN_GRACE_MS: int(10000, 0),

  // --- catalog ---
  CHALLENGE_CATALOG: z.string().default(path.join(ROOT, 'examples/catalog.json')),
  CATALOG_SOURCE: z.enum(['file', 'kubernetes', 'admin']).default('file'),

  // --- storage ---
  /** Pooled (PgBouncer) URL for the data plane; unset = embedded PostgreSQL under DATA_DIR. */
  DATABASE_URL: optionalString,
  /** Direct PostgreSQL URL for migrations; defaults to DATABASE_URL. */
  DATABASE_DIRECT_URL: optionalString,
  DATA_DIR: z.string().default(path.join(ROOT, '.data')),
  PG_POOL_MAX: int(16, 1, 1000),
  /** Server-side statement timeout, a backstop behind the request deadline. */
  PG_STATEMENT_TIMEOUT_MS: int(5000, 0),
  /** Unset = in-memory limiter, queue and pub/sub. */
  REDIS_URL: optionalString,

  // --- auth ---
  JWT_HS256_SECRET: optionalString,
  JWT_PUBLIC_KEY_PEM: optionalString,
  JWT_JWKS_URL: optionalString,
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  /** A service token must carry this value in its `scope` claim (space separated). */
  SERVICE_TOKEN_SCOPE: z.string().default('challenge:service'),
  /** Comma-separated API keys accepted as `X-Api-Key` for service routes (from a Secret). */
  SERVICE_API_KEYS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),

  // --- requests ---
  REQUEST_DEADLINE_MS: int(2000, 10),
  MAX_BODY_BYTES: int(1024 * 1024, 1024),
  MAX_EVENTS_BODY_BYTES: int(4 * 1024 * 1024, 1024),

  // --- rewards ---
  GRANTER: z.enum(['log', 'webhook']).default('log'),
  GRANT_TIMEOUT_MS: int(500, 1),
  WEBHOOK_URL: optionalString,
  WEBHOOK_SECRET: optionalString,
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
  if (cfg.DEV_MODE && !cfg.JWT_HS256_SECRET && !cfg.JWT_PUBLIC_KEY_PEM && !cfg.JWT_JWKS_URL) {
    // Dev mode mints its own tokens; a fixed dev secret keeps tokens valid across restarts.
    return { ...cfg, JWT_HS256_SECRET: 'dev-secret-change-me-dev-secret-change-me' };
  }
  if (!cfg.JWT_HS256_SECRET && !cfg.JWT_PUBLIC_KEY_PEM && !cfg.JWT_JWKS_URL && cfg.ROLE !== 'migrate' && cfg.ROLE !== 'worker') {
    throw new ConfigError('invalid configuration: one of JWT_HS256_SECRET, JWT_PUBLIC_KEY_PEM, JWT_JWKS_URL is required');
  }
  return cfg;
}
