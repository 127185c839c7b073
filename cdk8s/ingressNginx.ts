// The ingress pairing, from one set of values: the ingress-nginx annotations of the chart's api
// Ingress, and the nginx.conf of the local stack (`make up`, `make bench`), which stands in for the
// ingress controller on this machine. Both read the chart's values (cdk8s/values.ts defaults, or a
// values file's overrides), so a setting tried locally is the setting deployed.
//   node .tmp/cdk8s-build/cdk8s/ingressNginx.js --listen 8080 --upstream 127.0.0.1:8081,... \
//     --dir DIR [--set ingress.limitRpsPerIp=50 ...]   -> DIR/nginx.conf
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { defaultOf } from './values';

/** The values both sides read (paths in the chart's values). */
export const INGRESS_VALUE_PATHS = {
  deadlineMs: 'config.requestDeadlineMs',
  basePath: 'config.basePath',
  maxOpenRequests: 'config.apiMaxOpenRequests',
  keepaliveConnections: 'ingress.upstreamKeepaliveConnections',
  keepaliveRequests: 'ingress.upstreamKeepaliveRequests',
  keepaliveTimeoutSeconds: 'ingress.upstreamKeepaliveTimeoutSeconds',
  limitConnectionsPerIp: 'ingress.limitConnectionsPerIp',
  limitRpsPerIp: 'ingress.limitRpsPerIp',
  limitBurstMultiplier: 'ingress.limitBurstMultiplier',
  websocketTimeoutSeconds: 'ingress.websocketTimeoutSeconds',
} as const;

export type IngressSettings = {
  [K in keyof typeof INGRESS_VALUE_PATHS]: K extends 'basePath' ? string : number;
};

/** The settings from the chart's defaults, with `overrides` (value path -> value) applied. */
export function ingressSettings(overrides: Record<string, string | number> = {}): IngressSettings {
  const out: Record<string, string | number> = {};
  for (const [k, p] of Object.entries(INGRESS_VALUE_PATHS)) {
    const raw = p in overrides ? overrides[p]! : (defaultOf(p) as string | number);
    out[k] = k === 'basePath' ? String(raw) : Number(raw);
    if (k !== 'basePath' && !Number.isFinite(out[k])) throw new Error(`${p} must be a number, got ${raw}`);
  }
  return out as IngressSettings;
}

/** Proxy timeouts in whole seconds (what the annotations take): the deadline, rounded up. */
export const proxyTimeoutSeconds = (deadlineMs: number): number => Math.max(1, Math.ceil(deadlineMs / 1000));
/** Connecting to a pod on the cluster network or loopback: a second is already a failure. */
export const PROXY_CONNECT_TIMEOUT_SECONDS = 1;

/**
 * The ingress-nginx annotations for given settings (the chart's Network construct writes the same
 * keys from Helm expressions; the chart test compares both). Per-IP limits only when > 0.
 */
export function ingressAnnotations(s: IngressSettings): Record<string, string> {
  const n = 'nginx.ingress.kubernetes.io';
  const t = String(proxyTimeoutSeconds(s.deadlineMs));
  const a: Record<string, string> = {
    [`${n}/proxy-connect-timeout`]: String(PROXY_CONNECT_TIMEOUT_SECONDS),
    [`${n}/proxy-send-timeout`]: t,
    [`${n}/proxy-read-timeout`]: t,
    [`${n}/proxy-http-version`]: '1.1',
    [`${n}/proxy-next-upstream`]: 'error timeout',
    [`${n}/proxy-next-upstream-tries`]: '2',
  };
  if (s.limitConnectionsPerIp > 0) a[`${n}/limit-connections`] = String(s.limitConnectionsPerIp);
  if (s.limitRpsPerIp > 0) {
    a[`${n}/limit-rps`] = String(s.limitRpsPerIp);
    a[`${n}/limit-burst-multiplier`] = String(s.limitBurstMultiplier);
  }
  return a;
}

/**
 * ConfigMap keys of the ingress-nginx controller for the upstream keep-alive pool (global settings
 * there, not annotations); docs/DEPLOY.md shows them, the local nginx applies them per upstream.
 */
export function controllerConfigMap(s: IngressSettings): Record<string, string> {
  return {
    'upstream-keepalive-connections': String(s.keepaliveConnections),
    'upstream-keepalive-requests': String(s.keepaliveRequests),
    'upstream-keepalive-timeout': String(s.keepaliveTimeoutSeconds),
    'limit-req-status-code': '429',
    'limit-conn-status-code': '429',
  };
}

export interface LocalNginxOptions {
  listenPort: number;
  /** api processes, host:port each (loopback). */
  upstreams: string[];
  /** Directory for the pid file, temp paths and logs (writable by `user`). */
  dir: string;
  workerProcesses?: number;
}

/** A JSON error body in the service's own error shape, for answers nginx writes itself. */
const ERROR_BODY = (status: number, error: string, message: string, reason: string) =>
  `'{"code":${status === 429 ? 8 : 14},"message":"${message}","error":"${error}","details":{"reason":"${reason}"}}'`;

/**
 * nginx.conf for the local stack. Mirrors the Ingress: proxy timeouts of the deadline, HTTP/1.1 with
 * an upstream keep-alive pool, per-IP limits when set (answered 429 + Retry-After), upstream
 * connections bounded per api process (max_conns = the api's open-request cap), and every answer
 * nginx itself would give when the api cannot be reached in time (502/504) turned into 503 +
 * Retry-After. The api's own 429/503 and their Retry-After pass through unchanged.
 */
export function localNginxConf(s: IngressSettings, o: LocalNginxOptions): string {
  const timeout = `${Math.max(1, Math.round(s.deadlineMs))}ms`;
  const lines: string[] = [];
  const dir = path.resolve(o.dir);
  lines.push(
    '# Generated by cdk8s/ingressNginx.ts from the chart values; do not edit.',
    `pid ${dir}/nginx.pid;`,
    'daemon on;',
    `worker_processes ${o.workerProcesses ?? 1};`,
    `error_log ${dir}/error.log warn;`,
    'events {',
    '  worker_connections 8192;',
    '  multi_accept on;',
    '}',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${dir}/tmp/body;`,
    `  proxy_temp_path ${dir}/tmp/proxy;`,
    `  fastcgi_temp_path ${dir}/tmp/fastcgi;`,
    `  uwsgi_temp_path ${dir}/tmp/uwsgi;`,
    `  scgi_temp_path ${dir}/tmp/scgi;`,
    '  server_tokens off;',
    '  keepalive_timeout 60s;',
    '  keepalive_requests 10000;',
    '  client_max_body_size 4m;',
    '  client_header_timeout 2s;',
    '  client_body_timeout 2s;',
    '  send_timeout 2s;',
    '  reset_timedout_connection on;',
  );
  if (s.limitConnectionsPerIp > 0) {
    lines.push('  limit_conn_zone $binary_remote_addr zone=perip_conn:10m;', '  limit_conn_status 429;');
  }
  if (s.limitRpsPerIp > 0) {
    lines.push(
      `  limit_req_zone $binary_remote_addr zone=perip_req:10m rate=${s.limitRpsPerIp}r/s;`,
      '  limit_req_status 429;',
    );
  }
  // WebSocket path (the chart's second Ingress): Upgrade passed on, long idle timeout.
  lines.push("  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }");
  lines.push('  upstream challenge_api {');
  for (const u of o.upstreams) {
    lines.push(`    server ${u}${s.maxOpenRequests > 0 ? ` max_conns=${s.maxOpenRequests}` : ''};`);
  }
  lines.push(
    `    keepalive ${s.keepaliveConnections};`,
    `    keepalive_requests ${s.keepaliveRequests};`,
    `    keepalive_timeout ${s.keepaliveTimeoutSeconds}s;`,
    '  }',
    '  server {',
    `    listen 127.0.0.1:${o.listenPort} backlog=4096 reuseport;`,
    '    location / {',
  );
  if (s.limitConnectionsPerIp > 0) lines.push(`      limit_conn perip_conn ${s.limitConnectionsPerIp};`);
  if (s.limitRpsPerIp > 0) {
    lines.push(
      `      limit_req zone=perip_req burst=${Math.max(1, Math.round(s.limitRpsPerIp * s.limitBurstMultiplier))} nodelay;`,
    );
  }
  lines.push(
    '      proxy_pass http://challenge_api;',
    '      proxy_http_version 1.1;',
    '      proxy_set_header Connection "";',
    '      proxy_set_header Host $host;',
    '      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    `      proxy_connect_timeout ${PROXY_CONNECT_TIMEOUT_SECONDS}s;`,
    `      proxy_send_timeout ${timeout};`,
    `      proxy_read_timeout ${timeout};`,
    '      proxy_next_upstream error timeout;',
    '      proxy_next_upstream_tries 2;',
    `      proxy_next_upstream_timeout ${timeout};`,
    '      proxy_buffering on;',
    '      error_page 502 504 = @unavailable;',
    '      error_page 429 = @limited;',
    '    }',
    `    location = ${s.basePath.replace(/\/$/, '')}/v1/ws {`,
    '      proxy_pass http://challenge_api;',
    '      proxy_http_version 1.1;',
    '      proxy_set_header Upgrade $http_upgrade;',
    '      proxy_set_header Connection $connection_upgrade;',
    `      proxy_connect_timeout ${PROXY_CONNECT_TIMEOUT_SECONDS}s;`,
    `      proxy_read_timeout ${s.websocketTimeoutSeconds}s;`,
    `      proxy_send_timeout ${s.websocketTimeoutSeconds}s;`,
    '    }',
    '    location @unavailable {',
    '      default_type application/json;',
    '      add_header Retry-After 1 always;',
    `      return 503 ${ERROR_BODY(503, 'OVERLOADED', 'upstream not available in time; retry later', 'ingress')};`,
    '    }',
    '    location @limited {',
    '      default_type application/json;',
    '      add_header Retry-After 1 always;',
    `      return 429 ${ERROR_BODY(429, 'RATE_LIMITED', 'too many requests from this address', 'ingress')};`,
    '    }',
    '  }',
    '}',
  );
  return lines.join('\n') + '\n';
}

function cliArg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function main(): void {
  const listen = Number(cliArg('listen'));
  const upstreams = (cliArg('upstream') ?? '').split(',').filter(Boolean);
  const dir = cliArg('dir');
  if (!listen || upstreams.length === 0 || !dir) {
    throw new Error(
      'usage: ingressNginx.js --listen PORT --upstream host:port[,...] --dir DIR [--set path=value ...]',
    );
  }
  const overrides: Record<string, string> = {};
  process.argv.forEach((a, i) => {
    if (a === '--set') {
      const [k, ...v] = (process.argv[i + 1] ?? '').split('=');
      if (k) overrides[k] = v.join('=');
    }
  });
  const s = ingressSettings(overrides);
  mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  writeFileSync(path.join(dir, 'nginx.conf'), localNginxConf(s, { listenPort: listen, upstreams, dir }));
}

if (require.main === module) main();
