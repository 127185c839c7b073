// The ingress pairing: the local stack's nginx.conf and the chart's ingress-nginx annotations come
// from the same chart values; and a real nginx started from that config in front of a real
// uWebSockets.js server passes a 200 and the server's 503 + Retry-After through, and answers
// 503 + Retry-After itself when no api process can be reached.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import uWS, { type us_listen_socket } from 'uWebSockets.js';
import {
  controllerConfigMap,
  ingressAnnotations,
  ingressSettings,
  localNginxConf,
} from '../../cdk8s/ingressNginx';
import { defaultOf } from '../../cdk8s/values';
import { freePort } from '../helpers/net';
import { one, render, removeDir } from './helpers';

const LIMITS = {
  'ingress.limitRpsPerIp': 50,
  'ingress.limitConnectionsPerIp': 20,
  'ingress.limitBurstMultiplier': 4,
  'config.requestDeadlineMs': 4500,
  'ingress.upstreamKeepaliveConnections': 32,
};

describe('nginx config generated from the chart values', () => {
  it('takes the chart defaults: deadline timeouts, keep-alive pool, bounded upstream connections, no per-IP limits', () => {
    const s = ingressSettings();
    expect(s.deadlineMs).toBe(defaultOf('config.requestDeadlineMs'));
    const conf = localNginxConf(s, {
      listenPort: 8080,
      upstreams: ['127.0.0.1:8180', '127.0.0.1:8181'],
      dir: '/tmp/x',
    });
    expect(conf).toContain(`proxy_read_timeout ${s.deadlineMs}ms;`);
    expect(conf).toContain(`proxy_send_timeout ${s.deadlineMs}ms;`);
    expect(conf).toContain(`keepalive ${defaultOf('ingress.upstreamKeepaliveConnections')};`);
    expect(conf).toContain(`server 127.0.0.1:8181 max_conns=${defaultOf('config.apiMaxOpenRequests')};`);
    expect(conf).toContain('proxy_http_version 1.1;');
    expect(conf).toContain('proxy_set_header Connection "";');
    expect(conf).toContain('error_page 502 504 = @unavailable;');
    expect(conf).not.toContain('limit_req');
    expect(conf).not.toContain('limit_conn ');
    expect(conf).toContain('listen 127.0.0.1:8080');
    expect(conf).toContain(`location = ${defaultOf('config.basePath')}/v1/ws {`);
    expect(conf).toContain(`proxy_read_timeout ${defaultOf('ingress.websocketTimeoutSeconds')}s;`);
  });

  it('writes the per-IP limits and the deadline set in the values, and the chart annotates the same numbers', () => {
    const s = ingressSettings(LIMITS);
    const conf = localNginxConf(s, { listenPort: 8080, upstreams: ['127.0.0.1:8180'], dir: '/tmp/x' });
    expect(conf).toContain('zone=perip_req:10m rate=50r/s;');
    expect(conf).toContain('limit_req zone=perip_req burst=200 nodelay;');
    expect(conf).toContain('limit_conn perip_conn 20;');
    expect(conf).toContain('proxy_read_timeout 4500ms;');
    expect(conf).toContain('keepalive 32;');

    const objects = render({ set: Object.entries(LIMITS).map(([k, v]) => `${k}=${v}`) });
    const ann = one(objects, 'Ingress', '-api-ingress').metadata.annotations ?? {};
    for (const [k, v] of Object.entries(ingressAnnotations(s))) expect([k, ann[k]]).toEqual([k, v]);
    expect(ann['nginx.ingress.kubernetes.io/limit-rps']).toBe('50');
    expect(ann['nginx.ingress.kubernetes.io/proxy-read-timeout']).toBe('5');
    const cm = one(objects, 'ConfigMap', '-ingress-nginx-settings') as unknown as {
      data: Record<string, string>;
    };
    expect(cm.data).toEqual(controllerConfigMap(s));
    expect(cm.data['upstream-keepalive-connections']).toBe('32');
  });

  it('leaves the per-IP annotations out of the chart when the values are 0', () => {
    const ann = one(render(), 'Ingress', '-api-ingress').metadata.annotations ?? {};
    expect(ann['nginx.ingress.kubernetes.io/limit-rps']).toBeUndefined();
    expect(ann['nginx.ingress.kubernetes.io/limit-connections']).toBeUndefined();
    expect(ann).toMatchObject(ingressAnnotations(ingressSettings()));
  });
});

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));

(NGINX ? describe : describe.skip)('real nginx in front of a real uWebSockets.js server', () => {
  let dir: string;
  let listen: us_listen_socket;
  let port: number;
  let deadPort: number;

  async function get(url: string): Promise<{ status: number; retryAfter: string | null; body: string }> {
    const res = await fetch(url);
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text() };
  }

  function startNginx(name: string, upstream: string, listenPort: number): void {
    const d = path.join(dir, name);
    execFileSync('mkdir', ['-p', path.join(d, 'tmp')]);
    writeFileSync(
      path.join(d, 'nginx.conf'),
      localNginxConf(ingressSettings(), { listenPort, upstreams: [upstream], dir: d }),
    );
    const r = spawnSync(
      NGINX!,
      ['-p', d, '-c', path.join(d, 'nginx.conf'), '-e', path.join(d, 'error.log')],
      {
        encoding: 'utf8',
      },
    );
    if (r.status !== 0) throw new Error(`nginx did not start: ${r.stderr}`);
  }

  async function waitFor(url: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      try {
        await fetch(url);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error(`${url} never answered`);
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ingress-nginx-test-'));
    chmodSync(dir, 0o755);
    const app = uWS.App();
    app.get('/challenge/ok', (res) => {
      res.end('{"ok":true}');
    });
    app.get('/challenge/busy', (res) => {
      res.cork(() => {
        res.writeStatus('503 Service Unavailable');
        res.writeHeader('retry-after', '2');
        res.end('{"error":"OVERLOADED"}');
      });
    });
    listen = await new Promise<us_listen_socket>((resolve, reject) =>
      app.listen('127.0.0.1', 0, (s) => (s ? resolve(s) : reject(new Error('listen failed')))),
    );
    const api = uWS.us_socket_local_port(listen);
    [port, deadPort] = [await freePort(), await freePort()];
    const nobody = await freePort(); // an upstream port nobody listens on
    startNginx('live', `127.0.0.1:${api}`, port);
    startNginx('dead', `127.0.0.1:${nobody}`, deadPort);
    await waitFor(`http://127.0.0.1:${port}/challenge/ok`);
    await waitFor(`http://127.0.0.1:${deadPort}/challenge/ok`);
  });

  afterAll(() => {
    for (const name of ['live', 'dead']) {
      const pidFile = path.join(dir, name, 'nginx.pid');
      if (existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGTERM');
    }
    uWS.us_listen_socket_close(listen);
    removeDir(dir);
  });

  it("passes a 200 and the api's own 503 with its Retry-After through", async () => {
    expect(await get(`http://127.0.0.1:${port}/challenge/ok`)).toMatchObject({
      status: 200,
      body: '{"ok":true}',
    });
    expect(await get(`http://127.0.0.1:${port}/challenge/busy`)).toMatchObject({
      status: 503,
      retryAfter: '2',
    });
  });

  it('answers 503 with Retry-After itself when no api process can be reached', async () => {
    const r = await get(`http://127.0.0.1:${deadPort}/challenge/ok`);
    expect(r.status).toBe(503);
    expect(r.retryAfter).toBe('1');
    expect(JSON.parse(r.body)).toMatchObject({ error: 'OVERLOADED', details: { reason: 'ingress' } });
  });
});
