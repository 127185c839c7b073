// Bare ceiling: the least a server can do for new-player initialise on this machine. uWebSockets.js
// and a pg pool, the service's own INITIALIZE_SQL (from dist/), the player id read from the token
// without verifying it, the row answered as JSON. No admission, no Redis, no views. Requests
// waiting for the database go together through the service's batcher, one statement per group, at
// most BARE_IN_FLIGHT statements at a time (one statement per request caps the machine at one
// commit per request, about 1,000/s here, which is a limit of that design, not of the machine).
// Driven by the same generator as the service, its capacity is the machine's limit for this work,
// and service capacity / bare capacity the ratio to it.
//   PORT=... DATABASE_URL=... [BARE_POOL=16] [BARE_IN_FLIGHT=2] [BARE_BATCH=256]
//   node .tmp/bench-build/bare.js   (ROOT = repo root)
import path from 'node:path';
import { Pool } from 'pg';
import uWS from 'uWebSockets.js';

const root = path.resolve(process.env.ROOT ?? process.cwd());
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { INITIALIZE_SQL } = require(path.join(root, 'dist/app/store/players.js')) as {
  INITIALIZE_SQL: string;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { periodAt } = require(path.join(root, 'dist/app/domain/periods.js')) as {
  periodAt: (s: string, now: number) => { key: string };
};

const pool = new Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.BARE_POOL ?? 16),
});
pool.on('error', () => undefined);

// The service's own batcher (dist/app/store/batcher.js), so bare and service group the same way.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Batcher } = require(path.join(root, 'dist/app/store/batcher.js')) as {
  Batcher: new <I, R>(
    run: (items: I[]) => Promise<R[]>,
    opts: { maxBatch: number; maxInFlight: number },
  ) => { submit(item: I): Promise<R> };
};
const inits = new Batcher<string, unknown>(
  async (userIds) => {
    const now = Date.now();
    const keys = ['daily', 'weekly', 'monthly'].map((s) => periodAt(s, now).key);
    const r = await pool.query(INITIALIZE_SQL, [userIds, userIds.map(() => true), keys, new Date(now)]);
    return r.rows; // one row per input, in input order
  },
  {
    maxBatch: Number(process.env.BARE_BATCH ?? 256),
    maxInFlight: Number(process.env.BARE_IN_FLIGHT ?? 2),
  },
);

function userOf(auth: string): string | null {
  const payload = auth.split('.')[1];
  if (!payload) return null;
  try {
    return String(
      (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: unknown }).sub ?? '',
    );
  } catch {
    return null;
  }
}

const app = uWS.App();
app.post('/challenge/v1/challenges/initialize', (res, req) => {
  const userId = userOf(req.getHeader('authorization'));
  let aborted = false;
  res.onAborted(() => (aborted = true));
  const answer = (status: string, body: string) => {
    if (aborted) return;
    res.cork(() => res.writeStatus(status).writeHeader('content-type', 'application/json').end(body));
  };
  res.onData((_chunk, last) => {
    if (!last) return;
    if (!userId) return answer('401 Unauthorized', '{"error":"UNAUTHENTICATED"}');
    inits.submit(userId).then(
      (row) => answer('200 OK', JSON.stringify(row ?? {})),
      (e: Error) => answer('500 Internal Server Error', JSON.stringify({ error: e.message })),
    );
  });
});
app.get('/challenge/healthz', (res) => {
  res.end('{"status":"healthy"}');
});
app.listen('127.0.0.1', Number(process.env.PORT ?? 0), (s) => {
  if (!s) {
    process.stderr.write('bare: cannot listen\n');
    process.exit(1);
  }
  process.stdout.write(`bare listening on ${uWS.us_socket_local_port(s)}\n`);
});
process.on('SIGTERM', () => void pool.end().finally(() => process.exit(0)));
