// The player data plane on uWebSockets.js: routes, metrics hooks, listen/close.
import uWS, { type us_listen_socket } from 'uWebSockets.js';
import { HttpServer, type HttpHooks } from './http';
import { registerPlayerRoutes, type ApiDeps } from './routes';
import { httpRequestDurationSeconds, httpRequestsInFlight, httpRequestsTotal } from '../ops/metrics';

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
  /** Extra route modules (events ingest, WebSocket, ...) registered before the 404 fallback. */
  extraRoutes?: ((http: HttpServer) => void)[];
}

export async function startApiServer(deps: ApiDeps, opts: ApiServerOptions): Promise<ApiServer> {
  const app = uWS.App();
  let inFlight = 0;
  const hooks: HttpHooks = {
    deadlineMs: opts.deadlineMs,
    maxBody: opts.maxBody,
    draining: opts.draining,
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
    onDone: (route, method, status, seconds) => {
      httpRequestsTotal.inc({ route, method, status: String(status) });
      httpRequestDurationSeconds.observe({ route, method }, seconds);
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
      if (listening) uWS.us_listen_socket_close(listening);
      listening = null;
      // This uWS build has no app.close(): idle keep-alive sockets end with the process.
    },
  };
}
