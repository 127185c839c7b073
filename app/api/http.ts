// uWebSockets.js plumbing: request context, body limits checked from Content-Length before reading,
// a deadline per request (answered 503 when it passes, never left hanging), error mapping.
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import {
  ApiError,
  apiError,
  badRequest,
  internal,
  isDatabaseUnavailable,
  payloadTooLarge,
  unavailable,
  jitteredRetryAfter,
  spreadRetryAfter,
} from './errors';
import { MAX_ID_LENGTH } from '../limits';

export { jitteredRetryAfter, spreadRetryAfter } from '../errors';

export interface Reply {
  status: number;
  /** The whole answer, or with `parts` set, the empty string. */
  body: string;
  /**
   * A large answer in pieces, written one after the other (chunked transfer encoding). Each piece is
   * small enough for V8's young generation, so a 200 KB answer never becomes one large string that
   * only a full garbage collection frees (the api's RSS under heavy lists).
   */
  parts?: readonly string[];
  headers?: Record<string, string>;
}

export interface Ctx {
  readonly method: string;
  readonly route: string;
  readonly url: string;
  readonly query: URLSearchParams;
  readonly params: readonly string[];
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly requestId: string;
  /** epoch ms (wall clock, not the dev clock) by which an answer must be sent */
  readonly deadline: number;
  readonly body: Buffer;
  /** Set when the client went away or the deadline answered for us: stop doing work. */
  readonly signal: { aborted: boolean };
  /** Per-hop timings, only when the request sent `X-Server-Timing: 1` (answered as Server-Timing). */
  readonly timing?: HopTimer;
}

/**
 * Where one request's time goes, hop by hop (token, limiter round trip, admission wait, statement,
 * answer): `mark(name)` closes the hop that began at the previous mark. Answered in the standard
 * Server-Timing header, so a load generator can aggregate the hops of real requests.
 */
export class HopTimer {
  private last: number;
  private readonly hops: [string, number][] = [];
  constructor(start: number) {
    this.last = start;
  }
  mark(name: string): void {
    const now = performance.now();
    this.hops.push([name, now - this.last]);
    this.last = now;
  }
  header(total: number): string {
    return [...this.hops, ['total', total] as [string, number]]
      .map(([n, d]) => `${n};dur=${d.toFixed(3)}`)
      .join(', ');
  }
}

export type Handler = (ctx: Ctx) => Promise<Reply>;

export interface RouteOptions {
  maxBody?: number;
}

export interface HttpHooks {
  deadlineMs: number;
  maxBody: number;
  /** Called once per answered request. */
  onDone?: (route: string, method: string, status: number, seconds: number, requestId: string) => void;
  onError?: (err: unknown, ctx: { route: string; requestId: string }) => void;
  inFlight?: { inc(): void; dec(): void };
  /** When true, new requests are answered 503 (draining). */
  draining?: () => boolean;
  /**
   * Most requests open at once in this process (each holds its connection); 0 = no cap. A request
   * beyond it is answered 503 + Retry-After at once, before anything else is read or allocated, and
   * its connection is closed, so a storm of new connections is answered instead of piling up.
   */
  maxOpenRequests?: number;
  /** Called for each request refused by the cap (metrics). */
  onCapped?: () => void;
  /** Event-loop delay now, ms: added to the answer time for the accept-to-answer estimate. */
  loopDelayMs?: () => number;
  onAnswered?: (acceptToAnswerSeconds: number) => void;
}

/** The cap's answer: a constant, written in one corked call, then the connection is closed. */
const CAPPED_BODY = unavailable('server has too many open requests; retry later', 1, 'OVERLOADED', {
  reason: 'connections',
}).body();

const HEADERS = [
  'authorization',
  'content-type',
  'content-length',
  'x-request-id',
  'idempotency-key',
  'x-api-key',
  'x-mock-user-id', // dev only: app/api/devAuth.ts
  'x-server-timing',
];
const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  201: '201 Created',
  202: '202 Accepted',
  204: '204 No Content',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  422: '422 Unprocessable Entity',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

const REQUEST_ID_RE = new RegExp(`^[A-Za-z0-9._:-]{1,${MAX_ID_LENGTH}}$`);

export function json(status: number, value: unknown, headers?: Record<string, string>): Reply {
  return { status, body: JSON.stringify(value), headers };
}

export function errorReply(e: ApiError): Reply {
  const headers: Record<string, string> = {};
  if (e.retryAfter !== undefined) headers['retry-after'] = String(e.retryAfter);
  return { status: e.status, body: e.body(), headers };
}

export function parseJson(body: Buffer): unknown {
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw badRequest('request body is not valid JSON', {}, 'MALFORMED_JSON');
  }
}

export class HttpServer {
  /** Every registered route (method + uWS pattern), for the OpenAPI conformance test. */
  readonly routes: { method: string; pattern: string }[] = [];
  private open = 0;

  /** Requests open in this process right now (read, not yet answered or aborted). */
  get openRequests(): number {
    return this.open;
  }

  constructor(
    readonly app: TemplatedApp,
    private readonly hooks: HttpHooks,
  ) {}

  route(
    method: 'get' | 'post' | 'put' | 'del',
    pattern: string,
    routeName: string,
    handler: Handler,
    opts: RouteOptions = {},
  ): void {
    const maxBody = opts.maxBody ?? this.hooks.maxBody;
    const hasBody = method === 'post' || method === 'put';
    const paramCount = (pattern.match(/\/:/g) ?? []).length;
    this.routes.push({ method: method === 'del' ? 'DELETE' : method.toUpperCase(), pattern });
    this.app[method](pattern, (res, req) =>
      this.serve(res, req, method.toUpperCase(), routeName, handler, hasBody, maxBody, paramCount),
    );
  }

  private serve(
    res: HttpResponse,
    req: HttpRequest,
    method: string,
    routeName: string,
    handler: Handler,
    hasBody: boolean,
    maxBody: number,
    paramCount: number,
  ): void {
    const cap = this.hooks.maxOpenRequests ?? 0;
    if (cap > 0 && this.open >= cap) return this.capped(res);
    this.open++;
    const started = performance.now();
    const loopDelayMs = this.hooks.loopDelayMs?.() ?? 0;
    const headers: Record<string, string | undefined> = {};
    for (const h of HEADERS) {
      const v = req.getHeader(h);
      if (v !== '') headers[h] = v;
    }
    const params: string[] = [];
    let badParam = false;
    for (let i = 0; i < paramCount; i++) {
      const p = req.getParameter(i) ?? '';
      try {
        params.push(decodeURIComponent(p));
      } catch {
        badParam = true;
        params.push(p);
      }
    }
    const url = req.getUrl();
    const query = new URLSearchParams(req.getQuery() ?? '');
    const rid = headers['x-request-id'];
    const requestId = rid && REQUEST_ID_RE.test(rid) ? rid : randomUUID();
    const signal = { aborted: false };
    const timing = headers['x-server-timing'] === '1' ? new HopTimer(started) : undefined;
    let answered = false;
    // Assigned once the request is admitted; cleared by whichever answer comes first.
    const deadlineTimer: { t?: NodeJS.Timeout } = {};
    this.hooks.inFlight?.inc();

    const finish = (reply: Reply): void => {
      if (answered) return;
      answered = true;
      this.open--;
      clearTimeout(deadlineTimer.t);
      this.hooks.inFlight?.dec();
      const seconds = (performance.now() - started) / 1000;
      this.hooks.onDone?.(routeName, method, reply.status, seconds, requestId);
      this.hooks.onAnswered?.(seconds + loopDelayMs / 1000);
      if (signal.aborted) return;
      signal.aborted = true; // no more work for this request
      res.cork(() => {
        res.writeStatus(STATUS_TEXT[reply.status] ?? String(reply.status));
        res.writeHeader('content-type', 'application/json');
        res.writeHeader('x-request-id', requestId);
        if (reply.headers) for (const [k, v] of Object.entries(reply.headers)) res.writeHeader(k, v);
        if (timing) res.writeHeader('server-timing', timing.header(seconds * 1000));
        if (reply.parts) {
          for (const part of reply.parts) res.write(part);
          res.end();
        } else res.end(reply.body);
      });
    };
    const fail = (e: unknown): void => {
      if (e instanceof ApiError) return finish(errorReply(e));
      if (isDatabaseUnavailable(e)) {
        return finish(
          errorReply(
            unavailable('database unavailable; retry shortly', jitteredRetryAfter(2), 'DATABASE_UNAVAILABLE'),
          ),
        );
      }
      this.hooks.onError?.(e, { route: routeName, requestId });
      finish(errorReply(internal(requestId)));
    };

    res.onAborted(() => {
      signal.aborted = true;
      if (!answered) {
        answered = true;
        this.open--;
        clearTimeout(deadlineTimer.t);
        this.hooks.inFlight?.dec();
        this.hooks.onDone?.(routeName, method, 499, (performance.now() - started) / 1000, requestId);
      }
    });

    if (badParam) return fail(badRequest('path parameter is not valid percent-encoding', {}, 'INVALID_PATH'));
    if (this.hooks.draining?.()) {
      return fail(unavailable('server is draining; retry on another instance', 1, 'DRAINING'));
    }

    const deadline = Date.now() + this.hooks.deadlineMs;
    deadlineTimer.t = setTimeout(
      () =>
        fail(
          unavailable(
            'request could not be completed before its deadline',
            jitteredRetryAfter(1),
            'DEADLINE_EXCEEDED',
          ),
        ),
      this.hooks.deadlineMs,
    );

    const run = (body: Buffer): void => {
      const ctx: Ctx = {
        method,
        route: routeName,
        url,
        query,
        params,
        headers,
        requestId,
        deadline,
        body,
        signal,
        timing,
      };
      let p: Promise<Reply>;
      try {
        p = handler(ctx);
      } catch (e) {
        return fail(e);
      }
      p.then(finish, fail);
    };

    if (!hasBody) return run(Buffer.alloc(0));

    const declared = headers['content-length'];
    if (declared !== undefined && Number(declared) > maxBody) return fail(payloadTooLarge(maxBody));
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      if (answered) return;
      size += chunk.byteLength;
      if (size > maxBody) return fail(payloadTooLarge(maxBody));
      // uWS reuses the chunk's memory after this callback: copy it.
      chunks.push(Buffer.from(new Uint8Array(chunk.slice(0))));
      if (isLast) run(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
  }

  /** Over the cap: 503 + Retry-After written synchronously, connection closed. No timer, no id. */
  private capped(res: HttpResponse): void {
    this.hooks.onCapped?.();
    res.cork(() => {
      res.writeStatus('503 Service Unavailable');
      res.writeHeader('content-type', 'application/json');
      res.writeHeader('retry-after', String(spreadRetryAfter(1, 2)));
      res.end(CAPPED_BODY, true);
    });
  }

  /** Unknown routes: 404 with the error body (405 is not distinguished, as in the reference). */
  fallback(): void {
    this.app.any('/*', (res, req) => {
      const url = req.getUrl();
      res.onAborted(() => undefined);
      const e = apiError('ROUTE_NOT_FOUND', `no route for ${req.getCaseSensitiveMethod()} ${url}`);
      res.cork(() => {
        res.writeStatus('404 Not Found');
        res.writeHeader('content-type', 'application/json');
        res.end(e.body());
      });
    });
  }
}
