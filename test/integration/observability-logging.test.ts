// Request logging of the api: one debug line per request, warn for 5xx and slow (> 1 s) requests,
// error lines with the request id, x-request-id propagated or generated, no raw player ids, and no
// logging call at all on the hot path when the level is off.
import pino, { type Logger } from 'pino';
import { mintToken } from '../../app/api/auth';
import { noLimits, type Admission } from '../../app/admission';
import { loadConfig } from '../../app/config';
import { startService, type Service } from '../../app/runtime';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { TEST_SECRET } from '../helpers/service';

type Line = Record<string, unknown>;

describe('request logging', () => {
  let db: TestDatabase;
  let svc: Service;
  let log: Logger;
  let base: string;
  const lines: Line[] = [];
  let mode: 'normal' | 'throw' | 'slow' = 'normal';

  const get = async (userId: string, headers: Record<string, string> = {}) => {
    const token = (await mintToken(TEST_SECRET, userId)).token;
    return fetch(`${base}/v1/challenges`, { headers: { authorization: `Bearer ${token}`, ...headers } });
  };
  const linesFor = (requestId: string) => lines.filter((l) => l.requestId === requestId);

  beforeAll(async () => {
    db = await createTestDatabase();
    const cfg = loadConfig({
      ROLE: 'api',
      HOST: '127.0.0.1',
      PORT: '0',
      OPS_PORT: '0',
      DATABASE_URL: db.pooledUrl,
      DATABASE_DIRECT_URL: db.directUrl,
      JWT_HS256_SECRET: TEST_SECRET,
      LOG_LEVEL: 'debug',
    });
    log = pino({ level: cfg.LOG_LEVEL }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
    const admission: Admission = {
      check: () => null,
      wouldRefuse: () => false,
      run: async (_cls, _deadline, fn) => {
        if (mode === 'throw') throw new Error('simulated bug');
        if (mode === 'slow') await new Promise((r) => setTimeout(r, 1100));
        return fn();
      },
    };
    svc = await startService(cfg, log, { admission, limits: noLimits }, []);
    base = `http://127.0.0.1:${svc.api!.port}${cfg.BASE_PATH}`;
  });

  afterAll(async () => {
    await svc?.shutdown();
    await db?.drop();
  });

  beforeEach(() => {
    mode = 'normal';
    log.level = 'debug';
  });

  test('logs each request at debug with route, method, status, duration and the propagated request id', async () => {
    const res = await get('log-player-1', { 'x-request-id': 'log-req-1' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('log-req-1');
    expect(linesFor('log-req-1')).toEqual([
      expect.objectContaining({
        level: 20,
        msg: 'request',
        route: 'list_challenges',
        method: 'GET',
        status: 200,
        durationMs: expect.any(Number),
      }),
    ]);
  });

  test('generates a request id when none is sent and logs the one it returned', async () => {
    const res = await get('log-player-2');
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(linesFor(id!)).toHaveLength(1);
  });

  test('a 5xx is logged at warn and its error at error level, both with the request id; no raw player id', async () => {
    mode = 'throw';
    const res = await get('log-secret-player-42', { 'x-request-id': 'log-req-500' });
    expect(res.status).toBe(500);
    const mine = linesFor('log-req-500');
    expect(mine).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 50, msg: 'unhandled error', route: 'list_challenges' }),
        expect.objectContaining({ level: 40, msg: 'request failed', status: 500, route: 'list_challenges' }),
      ]),
    );
    const all = JSON.stringify(lines);
    expect(all).not.toContain('log-secret-player-42');
  });

  test('a request slower than 1 s is logged at warn as slow', async () => {
    mode = 'slow';
    const res = await get('log-player-3', { 'x-request-id': 'log-req-slow' });
    expect(res.status).toBe(200);
    expect(linesFor('log-req-slow')).toEqual([
      expect.objectContaining({ level: 40, msg: 'slow request', status: 200, route: 'list_challenges' }),
    ]);
  });

  test('with debug off, the hot path makes no logging call at all', async () => {
    log.level = 'info';
    const debug = jest.spyOn(log, 'debug');
    const info = jest.spyOn(log, 'info');
    try {
      const res = await get('log-player-4', { 'x-request-id': 'log-req-quiet' });
      expect(res.status).toBe(200);
      expect(debug).not.toHaveBeenCalled();
      expect(info).not.toHaveBeenCalled();
      expect(linesFor('log-req-quiet')).toEqual([]);
    } finally {
      debug.mockRestore();
      info.mockRestore();
    }
  });
});
