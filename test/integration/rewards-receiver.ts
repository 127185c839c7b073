// A real local HTTP webhook receiver for the rewards tests. It behaves like a real platform: it
// grants each Idempotency-Key at most once (a repeat of a granted key answers 200 without granting
// again) and records every raw delivery so tests can count them.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { applyStatChanges } from '../../app/store/stats';
import type { Db } from '../../app/store/db';

export interface Delivery {
  key: string | undefined;
  rawBody: string;
  headers: http.IncomingHttpHeaders;
  /** epoch ms the delivery arrived */
  at: number;
  /** Status the receiver answered (undefined while held / if the client went away first). */
  status?: number;
}

/** What to answer a delivery: a status, after an optional delay. */
export type Behaviour = (d: Delivery) => { status: number; delayMs?: number } | Promise<{ status: number }>;

export class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  /** Keys granted, with how many 2xx answers each got (a platform would grant once). */
  readonly successes = new Map<string, number>();
  /** Keys actually granted (first 2xx only). */
  readonly granted = new Set<string>();
  behaviour: Behaviour = () => ({ status: 200 });
  private server?: http.Server;
  url = '';

  async start(port = 0): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const key = req.headers['idempotency-key'];
        const d: Delivery = {
          key: Array.isArray(key) ? key[0] : key,
          rawBody: Buffer.concat(chunks).toString('utf8'),
          headers: req.headers,
          at: Date.now(),
        };
        this.deliveries.push(d);
        void Promise.resolve(this.behaviour(d)).then(async (b) => {
          const delay = 'delayMs' in b ? (b.delayMs ?? 0) : 0;
          if (delay > 0) await new Promise((r) => setTimeout(r, delay));
          d.status = b.status;
          // The grant happens on the platform whether or not the caller is still listening.
          if (b.status >= 200 && b.status < 300 && d.key) {
            this.successes.set(d.key, (this.successes.get(d.key) ?? 0) + 1);
            this.granted.add(d.key);
          }
          if (!res.destroyed) res.writeHead(b.status, { 'content-type': 'application/json' }).end('{}');
        });
      });
    });
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/grants`;
    return this;
  }

  deliveriesFor(key: string): Delivery[] {
    return this.deliveries.filter((d) => d.key === key);
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** Completes the example catalog's `starter-path/first-steps` goal (tutorial_steps_done >= 1). */
export async function completeFirstSteps(db: Db, userIds: string[], now = Date.now()): Promise<void> {
  await applyStatChanges(
    db,
    userIds.map((userId) => ({
      eventId: `tutorial-${userId}`,
      userId,
      statCode: 'tutorial_steps_done',
      mode: 'set' as const,
      value: 1,
      occurredAt: now,
    })),
    [],
    now,
  );
}

export const CLAIM_FIRST_STEPS = '/v1/challenges/starter-path/goals/first-steps/claim';

export async function waitFor(
  what: string,
  cond: () => Promise<boolean> | boolean,
  timeoutMs: number,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function outboxRows(
  db: Db,
): Promise<{ claim_id: string; status: string; attempts: number; last_error: string | null }[]> {
  return (
    await db.query('SELECT claim_id, status, attempts, last_error FROM reward_outbox ORDER BY created_at')
  ).rows;
}
