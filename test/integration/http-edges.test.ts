// Failure paths of the player API over HTTP on the real service: a duplicate Idempotency-Key while
// the first request still runs (409 IDEMPOTENCY_KEY_IN_PROGRESS), the request deadline
// (503 DEADLINE_EXCEEDED while PostgreSQL holds a lock), a chunked body over the limit (413 with no
// Content-Length to go by), a client that goes away mid-request, and the webhook granter's receiver
// refusing connections on the claim path (200 pending, delivered by the relay once it listens).
import http from 'node:http';
import net from 'node:net';
import { Client } from 'pg';
import type { Granter, GrantRequest } from '../../app/rewards/granter';
import { rewardsModule } from '../../app/rewards/module';
import { freePort } from '../helpers/net';
import { startTestService, type TestService } from '../helpers/service';
import {
  CLAIM_FIRST_STEPS,
  completeFirstSteps,
  outboxRows,
  waitFor,
  WebhookReceiver,
} from './rewards-receiver';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON answers
type AnyJson = any;

function errorModel(body: AnyJson, error: string) {
  expect(body?.error).toBe(error);
  expect(Object.keys(body).sort()).toEqual(['code', 'details', 'error', 'message']);
}

/** A granter whose grants wait until the test releases them (counts calls). */
function heldGranter(): Granter & { calls: GrantRequest[]; release(): void; reached: Promise<void> } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let reached!: () => void;
  const reachedP = new Promise<void>((r) => (reached = r));
  const calls: GrantRequest[] = [];
  return {
    name: 'held',
    calls,
    release,
    reached: reachedP,
    async grant(req) {
      calls.push(req);
      reached();
      await gate;
    },
  };
}

/** Raw HTTP/1.1 over a socket: the first status line (or '' if closed without an answer). */
function raw(port: number, head: string, body?: (s: net.Socket) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(head);
      body?.(s);
    });
    let got = '';
    s.on('data', (c: Buffer) => {
      got += c.toString('utf8');
      if (/\r\n\r\n[\s\S]*\}/.test(got)) s.destroy();
    });
    s.on('error', (e) => (got ? resolve(got) : reject(e)));
    s.on('close', () => resolve(got));
  });
}

describe('idempotency key in progress, deadline, chunked over limit, client abort', () => {
  let t: TestService;
  const granter = heldGranter();
  beforeAll(async () => {
    t = await startTestService({
      overrides: { granter },
      env: {
        GRANT_TIMEOUT_MS: '4000',
        REQUEST_DEADLINE_MS: '5000',
        IDEMPOTENCY_WAIT_MS: '300',
        RATE_LIMIT_PLAYER_PER_SEC: '0',
      },
    });
  });
  afterAll(async () => {
    granter.release();
    await t.stop();
  });

  test('a duplicate while the first runs: 409 IDEMPOTENCY_KEY_IN_PROGRESS; afterwards the first answer replays', async () => {
    await completeFirstSteps(t.svc.db, ['idem-p1']);
    const headers = { 'idempotency-key': 'claim-key-1' };
    const first = t.call('idem-p1', 'POST', CLAIM_FIRST_STEPS, undefined, headers);
    await granter.reached; // the first request is inside its grant, holding the key
    const dup = await t.call('idem-p1', 'POST', CLAIM_FIRST_STEPS, undefined, headers);
    expect(dup.status).toBe(409);
    errorModel(dup.body, 'IDEMPOTENCY_KEY_IN_PROGRESS');
    granter.release();
    const done = await first;
    expect(done.status).toBe(200);
    const replay = await t.call('idem-p1', 'POST', CLAIM_FIRST_STEPS, undefined, headers);
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual(done.body);
    expect(granter.calls.filter((c) => c.userId === 'idem-p1')).toHaveLength(1);
  });

  test('a request still waiting for PostgreSQL at its deadline is answered 503 DEADLINE_EXCEEDED', async () => {
    const lock = new Client({ connectionString: t.db.directUrl });
    await lock.connect();
    try {
      await t.call('dl-p1', 'POST', '/v1/challenges/initialize');
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE goal_states IN ACCESS EXCLUSIVE MODE');
      const res = await t.call('dl-p1', 'POST', '/v1/challenges/daily-bounties/goals/random-select', {
        count: 1,
      });
      expect(res.status).toBe(503);
      errorModel(res.body, 'DEADLINE_EXCEEDED');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    } finally {
      await lock.query('ROLLBACK');
      await lock.end();
    }
    // The pod is fine afterwards.
    expect((await t.call('dl-p1', 'GET', '/v1/challenges')).status).toBe(200);
  });

  test('a chunked body over the limit (no Content-Length) is refused with 413 while it streams', async () => {
    const token = await t.token('chunk-p1');
    const url = new URL(`${t.base}/v1/challenges/daily-bounties/goals/batch-select`);
    const chunk = 'a'.repeat(64 * 1024);
    const answer = await raw(
      Number(url.port),
      `POST ${url.pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
        'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
      (s) => {
        // 17 chunks of 64 KiB = 1.06 MiB, over the 1 MiB limit; never the terminating chunk.
        for (let i = 0; i < 17; i++) s.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      },
    );
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 413 Payload Too Large');
    errorModel(JSON.parse(answer.slice(answer.indexOf('{'))), 'PAYLOAD_TOO_LARGE');
  });

  test('a client that goes away mid-request: the work completes once, nothing stays in flight', async () => {
    const g2 = t.svc; // same service; a new held grant for this player
    await completeFirstSteps(g2.db, ['abort-p1']);
    const token = await t.token('abort-p1');
    const url = new URL(`${t.base}${CLAIM_FIRST_STEPS}`);
    await new Promise<void>((resolve) => {
      const req = http.request({
        host: '127.0.0.1',
        port: Number(url.port),
        path: url.pathname,
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-length': 0 },
      });
      req.on('error', () => resolve());
      req.end();
      // Gone before any answer could be written.
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 50);
    });
    await waitFor('nothing in flight', () => t.svc.api!.inFlight() === 0, 10_000);
    const claims = await t.svc.db.query("SELECT claim_id FROM claims WHERE user_id = 'abort-p1'");
    expect(claims.rowCount).toBe(1);
    // The player's retry sees the claim the aborted request made.
    const retry = await t.call('abort-p1', 'POST', CLAIM_FIRST_STEPS);
    expect(retry.status).toBe(409);
    errorModel(retry.body, 'GOAL_ALREADY_CLAIMED');
  });
});

describe('the platform receiver refuses connections on the claim path', () => {
  let t: TestService;
  let port: number;
  let rx: WebhookReceiver | undefined;
  beforeAll(async () => {
    port = await freePort(); // nobody listens: connection refused
    t = await startTestService({
      modules: [rewardsModule],
      env: {
        GRANTER: 'webhook',
        WEBHOOK_URL: `http://127.0.0.1:${port}/grants`,
        WEBHOOK_SECRET: 'edges-secret',
        REWARD_RELAY_POLL_MS: '100',
        REWARD_RELAY_SYNC_GRACE_MS: '200',
        REWARD_RETRY_BASE_MS: '100',
        REWARD_RETRY_MAX_MS: '500',
      },
    });
  });
  afterAll(async () => {
    await t.stop();
    await rx?.stop();
  });

  test('the claim answers 200 pending at once, the relay retries, and delivers once the receiver listens', async () => {
    await completeFirstSteps(t.svc.db, ['refused-conn-1']);
    const res = await t.call('refused-conn-1', 'POST', CLAIM_FIRST_STEPS);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'claimed', rewardStatus: 'pending' });
    const id = res.body.claimId as string;
    await waitFor(
      'a retried attempt recorded',
      async () => ((await outboxRows(t.svc.db)).find((r) => r.claim_id === id)?.attempts ?? 0) >= 2,
      10_000,
    );
    const row = (await outboxRows(t.svc.db)).find((r) => r.claim_id === id)!;
    expect(row.status).toBe('pending');
    expect(row.last_error).toMatch(/unreachable/);
    // The receiver comes up on that port: the relay delivers, once.
    rx = await new WebhookReceiver().start(port);
    await waitFor(
      'granted',
      async () => (await outboxRows(t.svc.db)).find((r) => r.claim_id === id)?.status === 'granted',
      15_000,
    );
    expect(rx.successes.get(id)).toBe(1);
  });
});
