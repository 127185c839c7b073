// The ops port (express): metrics, liveness, readiness, and the admin API mount point.
import express, { type Express, type Router } from 'express';
import type { Server } from 'node:http';
import { registry } from './metrics';
import { errorBody } from '../errors';

export interface ReadinessCheck {
  name: string;
  /** Resolves true when ready; a thrown error or false means not ready. */
  check(): Promise<boolean>;
}

export interface OpsOptions {
  checks: ReadinessCheck[];
  draining: () => boolean;
  /** Routers mounted under /admin/v1 (service credential is enforced by each router). */
  admin?: Router[];
  checkTimeoutMs?: number;
}

export function createOpsApp(opts: OpsOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'alive' });
  });
  app.get('/readyz', async (_req, res) => {
    const timeout = opts.checkTimeoutMs ?? 1000;
    const results: Record<string, boolean> = {};
    await Promise.all(
      opts.checks.map(async (c) => {
        results[c.name] = await Promise.race([
          c.check().catch(() => false),
          new Promise<boolean>((r) => setTimeout(() => r(false), timeout).unref()),
        ]);
      }),
    );
    const draining = opts.draining();
    const ready = !draining && Object.values(results).every(Boolean);
    res.status(ready ? 200 : 503).json({ ready, draining, checks: results });
  });
  app.get('/metrics', async (_req, res) => {
    res.set('content-type', registry.contentType);
    res.send(await registry.metrics());
  });
  for (const r of opts.admin ?? []) app.use('/admin/v1', r);
  app.use((_req, res) => {
    res.status(404).json(errorBody('ROUTE_NOT_FOUND', 'no such route on the ops port'));
  });
  return app;
}

export function listenOps(app: Express, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, () => resolve(server));
    server.once('error', reject);
  });
}
