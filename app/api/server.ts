// The player data plane on uWebSockets.js: routes, metrics hooks, listen/close.
import uWS, { type us_listen_socket } from 'uWebSockets.js';
import { HttpServer, type HttpHooks } from './http';
import { registerPlayerRoutes, type ApiDeps } from './routes';
import {
  admissionRejectionsTotal,
  httpAcceptToAnswerSeconds,
  httpRequestDurationSeconds,
  httpRequestsInFlight,
  httpRequestsTotal,
} from '../ops/metrics';

/** Requests slower than this are logged at warn level (5xx answers always are). */
export const SLOW_REQUEST_SECONDS = 1;

export interface ApiServer {
  readonly http: HttpServer;
  readonly port: number;
  /** Stop accepting new connections; requests in flight continue. */
  stopListening(): void;
  inFlight(): number;
  /** Close every connection (after draining). */
  close(): void;
}

export interface ApiServerOptions {
  host: string;
  port: number;
  deadlineMs: number;
  maxBody: number;
  draining: () => boolean;
  /** Most requests open at once in this process; beyond it 503 + Retry-After and close (0 = no cap). */
  maxOpenRequests?: number;
  /** Extra route modules (events ingest, WebSocket, ...) registered before the 404 fallback. */
  extraRoutes?: ((http: HttpServer) => void)[];
}

/** How often the event-loop delay is sampled (a timer that measures its own lateness). */
const LOOP_SAMPLE_MS = 20;

/**
 * The event loop's current delay, ms: how late the last sampling timer fired. A request read now
 * waited about this long between the kernel and uWS (accept and read happen in the same poll phase).
 */
function loopDelaySampler(): { delayMs(): number; stop(): void } {
  let expected = performance.now() + LOOP_SAMPLE_MS;
  let delay = 0;
  const t = setInterval(() => {
    const now = performance.now();
    delay = Math.max(0, now - expected);
    expected = now + LOOP_SAMPLE_MS;
  }, LOOP_SAMPLE_MS);
  t.unref();
  return { delayMs: () => Math.max(delay, performance.now() - expected), stop: () => clearInterval(t) };
}

export async function startApiServer(deps: ApiDeps, opts: ApiServerOptions): Promise<ApiServer> {
  const app = uWS.App();
  const log = deps.log;
  let inFlight = 0;
  const loop = loopDelaySampler();
  const hooks: HttpHooks = {
    deadlineMs: opts.deadlineMs,
    maxBody: opts.maxBody,
    maxOpenRequests: opts.maxOpenRequests ?? 0,
    onCapped: () => {
      admissionRejectionsTotal.inc({ pool: 'api', reason: 'connections' });
      httpRequestsTotal.inc({ route: 'capped', method: 'any', status: '503' });
    },
    loopDelayMs: loop.delayMs,
    onAnswered: (seconds) => httpAcceptToAnswerSeconds.observe(seconds),
    // Asked once per request before any work: a request refused while draining is counted as such.
    draining: () => {
      if (!opts.draining()) return false;
      admissionRejectionsTotal.inc({ pool: 'api', reason: 'draining' });
      return true;
    },
    inFlight: {
      inc: () => {
        inFlight++;
        httpRequestsInFlight.inc();
      },
      dec: () => {
        inFlight--;
        httpRequestsInFlight.dec();
      },
    },
    onDone: (route, method, status, seconds, requestId) => {
      httpRequestsTotal.inc({ route, method, status: String(status) });
      httpRequestDurationSeconds.observe({ route, method }, seconds);
      // Hot path: no log object is built unless its level is enabled.
      if (status >= 500 || seconds > SLOW_REQUEST_SECONDS) {
        if (log.isLevelEnabled('warn')) {
          log.warn(
            { route, method, status, durationMs: Math.round(seconds * 10_000) / 10, requestId },
            status >= 500 ? 'request failed' : 'slow request',
          );
        }
      } else if (log.isLevelEnabled('debug')) {
        log.debug(
          { route, method, status, durationMs: Math.round(seconds * 10_000) / 10, requestId },
          'request',
        );
      }
    },
    onError: (err, ctx) =>
      deps.log.error({ err, route: ctx.route, requestId: ctx.requestId }, 'unhandled error'),
  };
  const http = new HttpServer(app, hooks);
  registerPlayerRoutes(http, deps);
  for (const register of opts.extraRoutes ?? []) register(http);
  http.fallback();

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(opts.host, opts.port, (s) =>
      s ? resolve(s) : reject(new Error(`cannot listen on ${opts.host}:${opts.port}`)),
    );
  });
  let listening: us_listen_socket | null = listenSocket;
  return {
    http,
    port: uWS.us_socket_local_port(listenSocket),
    stopListening() {
      if (listening) uWS.us_listen_socket_close(listening);
      listening = null;
    },
    inFlight: () => inFlight,
    close() {
      loop.stop();
      if (listening) uWS.us_listen_socket_close(listening);
      listening = null;
      // This uWS build has no app.close(): idle keep-alive sockets end with the process.
    },
  };
}
