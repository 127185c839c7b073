// The per-process cap on open requests, on a real uWebSockets.js listener: requests beyond the cap
// are answered 503 + Retry-After at once and their connection is closed by the server; once the
// open requests finish, new ones are served again.
import net from 'node:net';
import uWS, { type us_listen_socket } from 'uWebSockets.js';
import { HttpServer, spreadRetryAfter } from '../../app/api/http';

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  /** The server closed the connection after answering. */
  closedByServer: boolean;
}

/** One raw HTTP/1.1 request on its own connection; resolves when the server closes or answers. */
function rawRequest(port: number, request: string, waitForClose: boolean): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    let done = false;
    const parse = (closedByServer: boolean): RawAnswer => {
      const [head] = data.split('\r\n\r\n');
      const lines = (head ?? '').split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      return { status, headers, closedByServer };
    };
    sock.on('data', (d) => {
      data += d.toString('utf8');
      if (!waitForClose && !done && data.includes('\r\n\r\n')) {
        done = true;
        sock.destroy();
        resolve(parse(false));
      }
    });
    sock.on('end', () => {
      if (done) return;
      done = true;
      sock.destroy();
      resolve(parse(true));
    });
    sock.on('error', (e) => (done ? undefined : reject(e)));
    sock.write(request);
  });
}

describe('api connection cap (real uWebSockets.js)', () => {
  let listen: us_listen_socket;
  let port: number;
  let http: HttpServer;
  const release: (() => void)[] = [];
  let capped = 0;

  beforeAll(async () => {
    const app = uWS.App();
    http = new HttpServer(app, {
      deadlineMs: 10_000,
      maxBody: 1024,
      maxOpenRequests: 2,
      onCapped: () => capped++,
    });
    // A route that stays open until the test releases it.
    http.route(
      'get',
      '/hold',
      'hold',
      () => new Promise((r) => release.push(() => r({ status: 200, body: '{}' }))),
    );
    http.route('get', '/ok', 'ok', async () => ({ status: 200, body: '{"ok":true}' }));
    listen = await new Promise<us_listen_socket>((resolve, reject) =>
      app.listen('127.0.0.1', 0, (s) => (s ? resolve(s) : reject(new Error('listen failed')))),
    );
    port = uWS.us_socket_local_port(listen);
  });

  afterAll(() => uWS.us_listen_socket_close(listen));

  it('answers 503 with Retry-After beyond the cap and closes the connection; serves again after', async () => {
    const held = [
      rawRequest(port, 'GET /hold HTTP/1.1\r\nHost: t\r\n\r\n', false),
      rawRequest(port, 'GET /hold HTTP/1.1\r\nHost: t\r\n\r\n', false),
    ];
    // Both held requests are open in the server before the third one arrives.
    while (http.openRequests < 2) await new Promise((r) => setTimeout(r, 10));

    const refused = await rawRequest(port, 'GET /ok HTTP/1.1\r\nHost: t\r\n\r\n', true);
    expect(refused.status).toBe(503);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.headers.connection).toBe('close');
    expect(refused.closedByServer).toBe(true);
    expect(capped).toBe(1);

    for (const r of release.splice(0)) r();
    expect((await Promise.all(held)).map((a) => a.status)).toEqual([200, 200]);
    while (http.openRequests > 0) await new Promise((r) => setTimeout(r, 10));

    const served = await rawRequest(port, 'GET /ok HTTP/1.1\r\nHost: t\r\n\r\n', false);
    expect(served.status).toBe(200);
  });

  it('spreads Retry-After over [base, base + spread] whole seconds', () => {
    expect(spreadRetryAfter(1, 2, () => 0)).toBe(1);
    expect(spreadRetryAfter(1, 2, () => 0.5)).toBe(2);
    expect(spreadRetryAfter(1, 2, () => 0.999)).toBe(3);
    expect(spreadRetryAfter(0, 0, () => 0.9)).toBe(1);
  });
});
