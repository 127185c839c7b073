// Failure paths: an unexpected error answers 500 without internals; a database outage answers 503.
import net from 'node:net';
import { badRequest } from '../../app/api/errors';
import { json } from '../../app/api/http';
import { startTestService } from '../helpers/service';

describe('failure answers', () => {
  test('an unexpected exception in a handler -> 500 with the request id, no stack or message leaked', async () => {
    const t = await startTestService({
      modules: [
        async () => ({
          name: 'boom',
          routes: (http) => {
            http.route('get', '/challenge/v1/boom', 'boom', async () => {
              throw new Error('secret internal detail at /etc/passwd');
            });
            http.route('get', '/challenge/v1/fine', 'fine', async (ctx) => {
              if (ctx.query.get('bad')) throw badRequest('bad flag', { field: 'bad' });
              return json(200, { ok: true });
            });
          },
        }),
      ],
    });
    try {
      const res = await fetch(`${t.base}/v1/boom`, { headers: { 'x-request-id': 'req-500' } });
      expect(res.status).toBe(500);
      const text = await res.text();
      expect(text).not.toContain('secret');
      expect(JSON.parse(text)).toEqual({
        code: 13,
        error: 'INTERNAL',
        message: 'internal error (request id req-500)',
        details: { requestId: 'req-500' },
      });
      expect((await fetch(`${t.base}/v1/fine`)).status).toBe(200);
    } finally {
      await t.stop();
    }
  });

  test('PostgreSQL unreachable -> 503 with Retry-After, not 500 and not a hang', async () => {
    // A port with nothing listening: connections are refused at once.
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const t = await startTestService({
      env: {
        DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/none`,
        LOG_LEVEL: process.env.DEBUG_LOG ?? 'silent',
      },
    });
    try {
      const res = await t.call('db-down', 'GET', '/v1/challenges');
      expect(res.status).toBe(503);
      expect(res.body.error).toBe('DATABASE_UNAVAILABLE');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const ready = await fetch(`${t.ops}/readyz`);
      expect(ready.status).toBe(503);
    } finally {
      await t.stop();
    }
  });
});
