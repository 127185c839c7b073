// WebSocket push at {base}/v1/ws on the uWS app. A socket authenticates with a player JWT, either
// `?token=` on the upgrade request or as its first message (`{"token": "..."}`); it then only ever
// receives messages whose userId is its own player. When a slow client's buffered amount is over
// the limit, messages to it are dropped (and counted), never queued without bound. An `erased`
// message (GDPR erasure, from any pod) closes the player's sockets with 4410.
import type { WebSocket } from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/auth';
import { errorBody } from '../errors';
import type { HttpServer } from './http';
import { websocketConnections, websocketMessagesDroppedTotal } from '../ops/metrics';
import type { PushBus, PushMessage } from '../events/bus';

interface SocketData {
  userId: string | null;
  /** Player authenticated by `?token=` during the upgrade, attached on open. */
  preAuth: string | null;
  closed: boolean;
  authTimer?: NodeJS.Timeout;
}

export interface WsOptions {
  basePath: string;
  auth: Authenticator;
  bus: PushBus;
  log: Logger;
  /** Above this many buffered bytes, messages to a socket are dropped. */
  maxBufferedBytes: number;
  /** A socket that has not authenticated within this time is closed. */
  authTimeoutMs: number;
  /** Presence refresh period; presence lasts three periods. */
  presenceRefreshMs: number;
}

const CLOSE_UNAUTHORIZED = 4401;
/** Private-use close code: the player's data was erased (GDPR); like HTTP 410 Gone. */
export const CLOSE_PLAYER_ERASED = 4410;
/** RFC 6455 close code 1012: the service is restarting; the client should reconnect. */
export const CLOSE_SERVICE_RESTART = 1012;
/** Sent to every socket right before the 1012 close on shutdown. */
export const RECONNECT_HINT = JSON.stringify({ type: 'reconnect', reason: 'service restart' });

export class PushHub {
  private readonly byUser = new Map<string, Set<WebSocket<SocketData>>>();
  private unsubscribe: (() => Promise<void>) | undefined;
  private refresh: NodeJS.Timeout | undefined;
  private readonly sockets = new Set<WebSocket<SocketData>>();

  constructor(private readonly opts: WsOptions) {}

  async start(): Promise<void> {
    this.unsubscribe = await this.opts.bus.subscribe((msgs) => this.deliver(msgs));
    this.refresh = setInterval(() => {
      const users = [...this.byUser.keys()];
      if (users.length) {
        this.opts.bus
          .markPresent(users)
          .catch((err: unknown) => this.opts.log.warn({ err }, 'presence refresh failed'));
      }
    }, this.opts.presenceRefreshMs);
    this.refresh.unref();
  }

  connections(userId: string): number {
    return this.byUser.get(userId)?.size ?? 0;
  }

  /** Route messages to the sockets of their players on this pod. */
  deliver(messages: readonly PushMessage[]): void {
    for (const m of messages) {
      const set = this.byUser.get(m.userId);
      if (!set) continue;
      const text = JSON.stringify(m);
      if (m.type === 'erased') {
        // forgotten first, so the presence refresh does not write the erased player back to Redis
        this.byUser.delete(m.userId);
        for (const ws of set) {
          if (ws.getUserData().closed) continue;
          ws.send(text, false);
          ws.end(CLOSE_PLAYER_ERASED, 'player data erased');
        }
        continue;
      }
      for (const ws of set) this.send(ws, text);
    }
  }

  private send(ws: WebSocket<SocketData>, text: string): void {
    if (ws.getUserData().closed) return;
    if (ws.getBufferedAmount() > this.opts.maxBufferedBytes) {
      websocketMessagesDroppedTotal.inc();
      return;
    }
    // 2 = dropped by uWS's own backpressure cap (maxBackpressure).
    if (ws.send(text, false) === 2) websocketMessagesDroppedTotal.inc();
  }

  private attach(ws: WebSocket<SocketData>, userId: string): void {
    const data = ws.getUserData();
    if (data.closed) return;
    data.userId = userId;
    if (data.authTimer) clearTimeout(data.authTimer);
    let set = this.byUser.get(userId);
    if (!set) this.byUser.set(userId, (set = new Set()));
    set.add(ws);
    this.opts.bus
      .markPresent([userId])
      .catch((err: unknown) => this.opts.log.warn({ err }, 'presence update failed'));
    ws.send(JSON.stringify({ type: 'ready', userId }), false);
  }

  register(http: HttpServer): void {
    const { auth } = this.opts;
    http.app.ws<SocketData>(`${this.opts.basePath}/v1/ws`, {
      maxPayloadLength: 16 * 1024,
      idleTimeout: 120,
      sendPingsAutomatically: true,
      maxBackpressure: this.opts.maxBufferedBytes + 64 * 1024,
      upgrade: (res, req, context) => {
        const key = req.getHeader('sec-websocket-key');
        const protocol = req.getHeader('sec-websocket-protocol');
        const extensions = req.getHeader('sec-websocket-extensions');
        const token = new URLSearchParams(req.getQuery() ?? '').get('token');
        if (!token) {
          res.upgrade<SocketData>(
            { userId: null, preAuth: null, closed: false },
            key,
            protocol,
            extensions,
            context,
          );
          return;
        }
        let aborted = false;
        res.onAborted(() => (aborted = true));
        auth.player(`Bearer ${token}`).then(
          (userId) => {
            if (aborted) return;
            res.cork(() =>
              res.upgrade<SocketData>(
                { userId: null, preAuth: userId, closed: false },
                key,
                protocol,
                extensions,
                context,
              ),
            );
          },
          (err: unknown) => {
            if (aborted) return;
            const status = (err as { status?: number }).status === 403 ? '403 Forbidden' : '401 Unauthorized';
            res.cork(() => {
              res.writeStatus(status);
              res.writeHeader('content-type', 'application/json');
              res.end(JSON.stringify(errorBody('UNAUTHENTICATED', 'invalid player token')));
            });
          },
        );
      },
      open: (ws) => {
        this.sockets.add(ws);
        websocketConnections.inc();
        const data = ws.getUserData();
        if (data.preAuth !== null) {
          this.attach(ws, data.preAuth);
          return;
        }
        data.authTimer = setTimeout(() => {
          if (!data.closed && data.userId === null) ws.end(CLOSE_UNAUTHORIZED, 'authentication timeout');
        }, this.opts.authTimeoutMs);
      },
      message: (ws, message) => {
        const data = ws.getUserData();
        if (data.userId !== null) return; // pushes only; clients have nothing else to say
        let token: unknown;
        try {
          const parsed = JSON.parse(Buffer.from(message).toString('utf8')) as { token?: unknown };
          token = parsed.token;
        } catch {
          token = undefined;
        }
        if (typeof token !== 'string') {
          ws.end(CLOSE_UNAUTHORIZED, 'first message must be {"token": "<player JWT>"}');
          return;
        }
        auth.player(`Bearer ${token}`).then(
          (userId) => this.attach(ws, userId),
          () => {
            if (!data.closed) ws.end(CLOSE_UNAUTHORIZED, 'invalid player token');
          },
        );
      },
      close: (ws) => {
        const data = ws.getUserData();
        data.closed = true;
        if (data.authTimer) clearTimeout(data.authTimer);
        this.sockets.delete(ws);
        websocketConnections.dec();
        if (data.userId) {
          const set = this.byUser.get(data.userId);
          set?.delete(ws);
          if (set && set.size === 0) this.byUser.delete(data.userId);
        }
      },
    });
  }

  /**
   * Shutdown: tell every socket to reconnect (a `{"type":"reconnect"}` message, then close code 1012
   * "service restart"), so clients come back through the load balancer to a pod that is staying.
   * Resolves once their close handlers ran, or after `waitMs`.
   */
  async stop(waitMs = 1000): Promise<void> {
    if (this.refresh) clearInterval(this.refresh);
    await this.unsubscribe?.();
    for (const ws of [...this.sockets]) {
      if (ws.getUserData().closed) continue;
      ws.send(RECONNECT_HINT, false);
      ws.end(CLOSE_SERVICE_RESTART, 'service restart');
    }
    const until = Date.now() + waitMs;
    while (this.sockets.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  }
}
