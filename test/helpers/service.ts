// Start the real service in-process (uWS + express on free ports) against a test database and, by
// default, the real Redis of scripts/with-services.sh (rate limits, new-player budget, event queue
// and bus, catalog nudges), as in production. Services on one test database share their Redis keys
// (one fleet); other databases' services never see them.
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { mintToken } from '../../app/api/auth';
import { loadConfig, type Config } from '../../app/config';
import { startService, type ModuleFactory, type Overrides, type Service } from '../../app/runtime';
import { createTestDatabase, type TestDatabase } from './db';

export const TEST_SECRET = 'test-secret-test-secret-test-secret-0123';
export const TEST_API_KEY = 'test-api-key-0123456789';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON answers
type AnyJson = any;

export interface TestService {
  svc: Service;
  db: TestDatabase;
  cfg: Config;
  base: string;
  ops: string;
  token(userId: string): Promise<string>;
  serviceToken(): Promise<string>;
  /** fetch against the player API with a player token. */
  call(
    userId: string,
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: AnyJson; headers: Headers }>;
  stop(): Promise<void>;
}

export interface TestServiceOptions {
  env?: Record<string, string>;
  overrides?: Overrides;
  modules?: ModuleFactory[];
  /** Connect through PgBouncer (default) or directly. */
  viaPgBouncer?: boolean;
  db?: TestDatabase;
  /**
   * No REDIS_URL: the in-memory limiter, queue and bus of embedded mode (`make run`). Only for
   * tests about that mode; every other suite runs on real Redis.
   */
  inMemoryMode?: boolean;
}

/** Redis settings for a service on `db`: keys of that database's fleet, a consumer of its own. */
export function redisEnv(db: TestDatabase): Record<string, string> {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set: run tests through scripts/with-services.sh (make test)');
  const p = `test:${db.name}`;
  return {
    REDIS_URL: url,
    RATE_LIMIT_KEY_PREFIX: `${p}:rl:`,
    EVENTS_STREAM_KEY: `${p}:events`,
    EVENTS_PUSH_CHANNEL: `${p}:push`,
    EVENTS_PRESENCE_KEY: `${p}:presence`,
    EVENTS_CONSUMER: `${p}:${randomBytes(3).toString('hex')}`,
    CATALOG_REDIS_CHANNEL: `${p}:catalog`,
    // a blocked read ends soon enough for a quick shutdown
    EVENTS_READ_BLOCK_MS: '200',
  };
}

export async function startTestService(opts: TestServiceOptions = {}): Promise<TestService> {
  const db = opts.db ?? (await createTestDatabase());
  const viaPgBouncer = opts.viaPgBouncer ?? true;
  const cfg = loadConfig({
    ROLE: 'all',
    HOST: '127.0.0.1',
    PORT: '0',
    OPS_PORT: '0',
    GRPC_PORT: '0', // never the default 6565: suites run in parallel, other services on this machine
    DATABASE_URL: viaPgBouncer ? db.pooledUrl : db.directUrl,
    DATABASE_DIRECT_URL: db.directUrl,
    JWT_HS256_SECRET: TEST_SECRET,
    SERVICE_API_KEYS: TEST_API_KEY,
    DEV_MODE: '1',
    LOG_LEVEL: 'silent',
    ...(opts.inMemoryMode ? {} : redisEnv(db)),
    ...opts.env,
  });
  const log = pino({ level: cfg.LOG_LEVEL });
  const svc = await startService(cfg, log, opts.overrides ?? {}, opts.modules ?? []);
  const base = `http://127.0.0.1:${svc.api!.port}${cfg.BASE_PATH}`;
  const tokens = new Map<string, string>();
  const token = async (userId: string) => {
    let t = tokens.get(userId);
    if (!t) {
      t = (await mintToken(TEST_SECRET, userId)).token;
      tokens.set(userId, t);
    }
    return t;
  };
  return {
    svc,
    db,
    cfg,
    base,
    ops: `http://127.0.0.1:${svc.opsPort}`,
    token,
    serviceToken: async () => (await mintToken(TEST_SECRET, 'game-server-1', { service: true })).token,
    async call(userId, method, path, body, headers = {}) {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${await token(userId)}`, ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async stop() {
      await svc.shutdown();
      if (!opts.db) await db.drop();
    },
  };
}
