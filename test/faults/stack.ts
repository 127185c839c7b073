// The production-shaped stack as real processes on loopback: PostgreSQL, PgBouncer and Redis
// (scripts/services.sh), api x2 and worker x2 (the built service, ROLE=api / ROLE=worker), and a
// fake of the game platform's reward receiver in the test process. Each process can be SIGKILLed,
// SIGSTOPped/SIGCONTed and restarted on the same port with the same data.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../helpers/net';
import { childrenOf } from '../helpers/procs';
import { WebhookReceiver } from '../integration/rewards-receiver';

export const ROOT = path.resolve(__dirname, '../..');
export const SECRET = 'faults-stack-hs256-secret-0123456789abcdef';
export const API_KEY = 'faults-stack-api-key-0123';
export const DEADLINE_MS = 2000;
/** The AGS namespace the api processes take gRPC events for. */
export const NAMESPACE = 'faults-ns';

export type NodeName = 'api-1' | 'api-2' | 'worker-1' | 'worker-2';

interface NodeProc {
  name: NodeName;
  role: 'api' | 'worker';
  port: number;
  opsPort: number;
  /** gRPC event ingest (api only): a free port of its own, kept across restarts. */
  grpcPort: number;
  child?: ChildProcess;
}

function readEnvFile(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

const asPostgres = (cmd: string, args: string[]) =>
  process.getuid?.() === 0
    ? execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'ignore' })
    : execFileSync(cmd, args, { stdio: 'ignore' });

const pidOf = (file: string): number => Number(readFileSync(file, 'utf8').split('\n')[0]!.trim());

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitGone(pids: number[], ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (pids.some(alive)) {
    if (Date.now() > until) throw new Error(`processes ${pids.filter(alive).join(',')} still alive`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export class FaultStack {
  readonly dir = mkdtempSync('/tmp/challenge-faults.');
  env: Record<string, string> = {};
  /** A fake of the game platform's reward API: a real local HTTP receiver that grants each key once. */
  readonly platform = new WebhookReceiver();
  readonly nodes: NodeProc[] = [];
  private build = path.join(ROOT, '.tmp', `faults-${process.pid}`);
  logs: string[] = [];

  async start(): Promise<void> {
    execFileSync(
      path.join(ROOT, 'node_modules/.bin/tsc'),
      ['-p', 'tsconfig.build.json', '--outDir', this.build],
      {
        cwd: ROOT,
        stdio: 'ignore',
      },
    );
    execFileSync(path.join(ROOT, 'scripts/services.sh'), ['start', this.dir], { stdio: 'ignore' });
    this.env = readEnvFile(path.join(this.dir, 'env'));
    await this.platform.start();
    execFileSync(process.execPath, [path.join(this.build, 'app/main.js')], {
      cwd: ROOT,
      env: { ...this.baseEnv(), ROLE: 'migrate' },
      stdio: 'ignore',
    });
    for (const [name, role] of [
      ['api-1', 'api'],
      ['api-2', 'api'],
      ['worker-1', 'worker'],
      ['worker-2', 'worker'],
    ] as const) {
      this.nodes.push({
        name,
        role,
        port: role === 'api' ? await freePort() : 0,
        opsPort: await freePort(),
        grpcPort: role === 'api' ? await freePort() : 0,
      });
    }
    for (const n of this.nodes) this.spawnNode(n);
    await this.waitAllReady(60_000);
  }

  private baseEnv(): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      DATABASE_URL: this.env.DATABASE_URL!,
      DATABASE_DIRECT_URL: this.env.DATABASE_DIRECT_URL!,
      REDIS_URL: this.env.REDIS_URL!,
      JWT_HS256_SECRET: SECRET,
      SERVICE_API_KEYS: API_KEY,
      CHALLENGE_CATALOG: path.join(ROOT, 'examples/catalog.json'),
      // Catalogs published through the admin API (PostgreSQL, Redis nudge); the file until then.
      CATALOG_SOURCE: 'admin',
      CATALOG_POLL_INTERVAL_MS: '2000',
      REQUEST_DEADLINE_MS: String(DEADLINE_MS),
      PG_POOL_MAX: '8',
      GRANTER: 'webhook',
      WEBHOOK_URL: this.platform.url,
      WEBHOOK_SECRET: 'faults-webhook-secret',
      GRANT_TIMEOUT_MS: '500',
      REWARD_RELAY_POLL_MS: '200',
      REWARD_RELAY_SYNC_GRACE_MS: '300',
      REWARD_RELAY_LEASE_MS: '6000',
      REWARD_RELAY_GRANT_TIMEOUT_MS: '2000',
      REWARD_RETRY_BASE_MS: '200',
      REWARD_RETRY_MAX_MS: '1000',
      EVENTS_READ_BLOCK_MS: '200',
      EVENTS_CLAIM_IDLE_MS: '2000',
      EVENTS_CLAIM_INTERVAL_MS: '250',
      EVENTS_MAINTENANCE_INTERVAL_MS: '500',
      RATE_LIMIT_PLAYER_PER_SEC: '0',
      NEW_PLAYER_BUDGET_PER_SEC: '0',
      SHUTDOWN_GRACE_MS: '2000',
      // A key left in progress by a killed api is taken over by a retry after this long.
      IDEMPOTENCY_LOCK_MS: '2000',
      AB_NAMESPACE: NAMESPACE,
    };
  }

  private spawnNode(n: NodeProc): void {
    const child = spawn(process.execPath, [path.join(this.build, 'app/main.js')], {
      cwd: ROOT,
      env: {
        ...this.baseEnv(),
        ROLE: n.role,
        PORT: String(n.port),
        OPS_PORT: String(n.opsPort),
        // two api processes on one machine: each its own gRPC port (the same one after a restart)
        GRPC_PORT: String(n.grpcPort),
        EVENTS_CONSUMER: `${n.name}-${Date.now()}`,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (c: Buffer) => {
      if (this.logs.length < 2000) this.logs.push(`${n.name}: ${c.toString('utf8')}`);
    });
    n.child = child;
  }

  node(name: NodeName): NodeProc {
    return this.nodes.find((n) => n.name === name)!;
  }

  apiBases(): string[] {
    return this.nodes.filter((n) => n.role === 'api').map((n) => `http://127.0.0.1:${n.port}/challenge`);
  }

  /** The api processes' gRPC event ingest addresses (127.0.0.1). */
  grpcTargets(): string[] {
    return this.nodes.filter((n) => n.role === 'api').map((n) => `127.0.0.1:${n.grpcPort}`);
  }

  /** The catalog version each process serves (its admin API), `undefined` when it does not answer. */
  async catalogVersions(): Promise<Record<string, string | undefined>> {
    const out: Record<string, string | undefined> = {};
    await Promise.all(
      this.nodes.map(async (n) => {
        try {
          const res = await fetch(`http://127.0.0.1:${n.opsPort}/admin/v1/catalogs/current`, {
            headers: { 'x-api-key': API_KEY },
            signal: AbortSignal.timeout(1500),
          });
          out[n.name] = ((await res.json()) as { version?: string }).version;
        } catch {
          out[n.name] = undefined;
        }
      }),
    );
    return out;
  }

  async readiness(): Promise<Record<string, boolean>> {
    const out: Record<string, boolean> = {};
    await Promise.all(
      this.nodes.map(async (n) => {
        try {
          const res = await fetch(`http://127.0.0.1:${n.opsPort}/readyz`, {
            signal: AbortSignal.timeout(1500),
          });
          out[n.name] = res.status === 200;
        } catch {
          out[n.name] = false;
        }
      }),
    );
    return out;
  }

  async waitAllReady(ms: number): Promise<void> {
    const until = Date.now() + ms;
    for (;;) {
      const r = await this.readiness();
      if (Object.values(r).every(Boolean)) return;
      if (Date.now() > until)
        throw new Error(`not ready: ${JSON.stringify(r)}\n${this.logs.slice(-20).join('')}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  // ---- faults ------------------------------------------------------------------------------------

  async killNode(name: NodeName): Promise<void> {
    const n = this.node(name);
    const c = n.child!;
    await new Promise<void>((r) => {
      if (c.exitCode !== null || c.signalCode !== null) return r();
      c.once('exit', () => r());
      c.kill('SIGKILL');
    });
  }

  restartNode(name: NodeName): void {
    this.spawnNode(this.node(name));
  }

  signalNode(name: NodeName, sig: 'SIGSTOP' | 'SIGCONT'): void {
    this.node(name).child!.kill(sig);
  }

  private pgData = () => path.join(this.dir, 'pg/data');

  /** The whole PostgreSQL server dies at once (postmaster and every backend, as an OOM kill). */
  async killPostgres(): Promise<void> {
    const pm = pidOf(path.join(this.pgData(), 'postmaster.pid'));
    const all = [pm, ...childrenOf(pm)];
    for (const p of all) process.kill(p, 'SIGKILL');
    await waitGone(all);
  }

  restartPostgres(): void {
    asPostgres(`${this.env.TEST_PG_BIN}/pg_ctl`, [
      '-D',
      this.pgData(),
      '-l',
      path.join(this.dir, 'pg/server.log'),
      '-w',
      '-t',
      '60',
      'start',
    ]);
  }

  async killPgBouncer(): Promise<void> {
    const pid = pidOf(path.join(this.dir, 'pgbouncer/pgbouncer.pid'));
    process.kill(pid, 'SIGKILL');
    await waitGone([pid]);
    rmSync(path.join(this.dir, 'pgbouncer/pgbouncer.pid'), { force: true });
  }

  restartPgBouncer(): void {
    asPostgres('pgbouncer', ['-d', '-q', path.join(this.dir, 'pgbouncer/pgbouncer.ini')]);
  }

  async killRedis(): Promise<void> {
    const pid = pidOf(path.join(this.dir, 'redis/redis.pid'));
    process.kill(pid, 'SIGKILL');
    await waitGone([pid]);
    rmSync(path.join(this.dir, 'redis/redis.pid'), { force: true });
  }

  /** Restart on the same port; `empty`: its data is gone (no append-only file survived). */
  restartRedis(empty = false): void {
    const d = path.join(this.dir, 'redis');
    if (empty) rmSync(path.join(d, 'appendonlydir'), { recursive: true, force: true });
    execFileSync(
      'redis-server',
      [
        '--port',
        this.env.TEST_REDIS_PORT!,
        '--bind',
        '127.0.0.1',
        '--dir',
        d,
        '--daemonize',
        'yes',
        '--pidfile',
        path.join(d, 'redis.pid'),
        '--logfile',
        path.join(d, 'redis.log'),
        '--appendonly',
        'yes',
        '--appendfsync',
        'everysec',
        '--save',
        '',
      ],
      { stdio: 'ignore' },
    );
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) {
      if (n.child && n.child.exitCode === null) {
        n.child.kill('SIGCONT');
        n.child.kill('SIGKILL');
      }
    }
    await this.platform.stop();
    try {
      execFileSync(path.join(ROOT, 'scripts/services.sh'), ['stop', this.dir], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
    rmSync(this.build, { recursive: true, force: true });
  }
}
