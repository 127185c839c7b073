// The platform's way of delivering game events: an AGS Extend event handler is a gRPC server the
// platform calls once per event. Two services, as the reference handles them:
//   accelbyte.iam.account.v1.UserAuthenticationUserLoggedInService/OnMessage      -> a `login` event
//   accelbyte.social.statistic.v1.StatisticStatItemUpdatedService/OnMessage       -> a `stat` event
// Each message becomes exactly the event POST /v1/events would queue (same validation, same queue,
// same per-client rate limit and admission class), so dedup by id, ordering and pushes are shared.
// OK is answered only after the queue acknowledged the append. Health (grpc.health.v1) and server
// reflection are served on the same port.
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import type { Logger } from 'pino';
import type { Admission, RateLimits } from '../admission';
import { ApiError, apiError } from '../errors';
import type { Authenticator } from '../auth/auth';
import type { Clock } from '../domain/clock';
import { eventsIngestedTotal } from '../ops/metrics';
import { ROOT } from '../paths';
import type { Catalog } from '../domain/catalog';
import { validateEvent, type AggregationOf, type FieldError, type GameEvent } from './event';
import type { EventQueue } from './queue';

export const LOGIN_SERVICE = 'accelbyte.iam.account.v1.UserAuthenticationUserLoggedInService';
export const STAT_SERVICE = 'accelbyte.social.statistic.v1.StatisticStatItemUpdatedService';
export const HEALTH_SERVICE = 'grpc.health.v1.Health';
export const PROTO_DIR = path.join(ROOT, 'proto');
export const PROTO_FILES = [
  'accelbyte/iam/account/v1/account.proto',
  'accelbyte/social/statistic/v1/statistic.proto',
  'grpc/health/v1/health.proto',
];

export interface GrpcIngestDeps {
  host: string;
  port: number;
  /** The AGS namespace events must belong to; others are acknowledged and skipped (as the reference). */
  namespace: string | undefined;
  /** Dev mode: no credential needed (as the reference with PLUGIN_GRPC_SERVER_AUTH_ENABLED=false). */
  devMode: boolean;
  /** The live catalog: its stat declarations decide which event modes are accepted. */
  catalog?: { readonly current: Catalog };
  auth: Authenticator;
  queue: EventQueue;
  clock: Clock;
  limits: RateLimits;
  admission: Admission;
  deadlineMs: number;
  log: Logger;
}

export interface GrpcIngest {
  readonly port: number;
  stop(graceMs: number): Promise<void>;
}

// Wire shapes after decoding (proto-loader, camelCase, no defaults: absent fields are undefined).
interface LoginMsg {
  id?: string;
  namespace?: string;
  timestamp?: string;
  userId?: string;
}
interface StatMsg extends LoginMsg {
  payload?: { statCode?: string; latestValue?: number; inc?: number } | null;
}

/** The gRPC field each validation field of the shared event rules came from. */
const FIELD_OF: Record<'login' | 'stat', Record<string, string>> = {
  login: { eventId: 'id', userId: 'userId', occurredAt: 'timestamp' },
  stat: { eventId: 'id', userId: 'userId', occurredAt: 'timestamp', statCode: 'payload.statCode' },
};

export class InvalidMessage extends Error {
  constructor(readonly errors: FieldError[]) {
    super(errors.map((e) => e.reason).join('; '));
  }
}

/**
 * The queued event a platform message stands for (pure). Throws InvalidMessage naming the gRPC
 * fields. `timestamp` absent (the reference's own load scripts send none) = the time received.
 * Stat values: `latestValue` on the wire sets the stat (truncated toward zero, as the reference);
 * only `inc` on the wire adds it; neither = the platform's omitted zero, a set to 0.
 */
export function messageToEvent(
  kind: 'login' | 'stat',
  msg: StatMsg,
  now: number,
  aggregationOf?: AggregationOf,
): GameEvent {
  const errors: FieldError[] = [];
  const raw: Record<string, unknown> = {
    type: kind,
    eventId: msg.id ?? '',
    userId: msg.userId ?? '',
    occurredAt: msg.timestamp ? msg.timestamp : new Date(now).toISOString(),
  };
  let valueField = 'payload.latestValue';
  if (kind === 'stat') {
    const p = msg.payload;
    if (!p) errors.push({ field: 'payload', reason: 'payload must be set' });
    raw.statCode = p?.statCode ?? '';
    let v: number | undefined = 0;
    if (p?.latestValue !== undefined) {
      v = p.latestValue;
      // a reported value: the stat's max / min when the catalog declares one, else a set
      const declared = aggregationOf?.(p.statCode ?? '');
      raw.mode = declared === 'max' || declared === 'min' ? declared : 'set';
    } else if (p?.inc !== undefined) {
      v = p.inc;
      valueField = 'payload.inc';
      raw.mode = 'increment';
    } else raw.mode = 'set';
    if (!Number.isFinite(v))
      errors.push({ field: valueField, reason: `${valueField} must be a finite number` });
    else raw.value = Math.trunc(v) || 0; // -0 -> 0
  }
  const res = validateEvent(raw, now, aggregationOf);
  if (Array.isArray(res) || errors.length) {
    const names = FIELD_OF[kind];
    for (const e of Array.isArray(res) ? res : []) {
      if (e.field === 'value' && errors.some((x) => x.field === valueField)) continue;
      const field = e.field === 'value' ? valueField : (names[e.field] ?? e.field);
      errors.push({ field, reason: e.reason.replace(e.field, field) });
    }
    throw new InvalidMessage(errors);
  }
  return res;
}

function grpcError(code: grpc.status, details: string, meta?: Record<string, string>): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(meta ?? {})) metadata.set(k, v);
  return Object.assign(new Error(details), { code, details, metadata }) as grpc.ServiceError;
}

/** HTTP-side ApiErrors (auth, rate limit, admission) as gRPC statuses. */
export function toGrpcError(err: unknown): grpc.ServiceError {
  if (err instanceof InvalidMessage) return grpcError(grpc.status.INVALID_ARGUMENT, err.message);
  if (err instanceof ApiError) {
    const retry = err.retryAfter !== undefined ? { 'retry-after': String(err.retryAfter) } : undefined;
    const code =
      err.status === 401
        ? grpc.status.UNAUTHENTICATED
        : err.status === 403
          ? grpc.status.PERMISSION_DENIED
          : err.status === 429
            ? grpc.status.RESOURCE_EXHAUSTED
            : err.status === 400
              ? grpc.status.INVALID_ARGUMENT
              : grpc.status.UNAVAILABLE;
    return grpcError(code, err.message, retry);
  }
  return grpcError(grpc.status.UNAVAILABLE, 'the event queue is unavailable; retry', { 'retry-after': '1' });
}

function first(md: grpc.Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  return v === undefined ? undefined : typeof v === 'string' ? v : v.toString('utf8');
}

export function loadProtos(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(PROTO_FILES, {
    includeDirs: [PROTO_DIR],
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
}

export async function startGrpcIngest(deps: GrpcIngestDeps): Promise<GrpcIngest> {
  const pkg = loadProtos();
  const server = new grpc.Server();
  let draining = false;
  const watchers = new Set<grpc.ServerWritableStream<unknown, unknown>>();

  const handle =
    (kind: 'login' | 'stat') =>
    (call: grpc.ServerUnaryCall<StatMsg, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
      ingest(kind, call).then(
        () => callback(null, {}),
        (err: unknown) => {
          if (!(err instanceof InvalidMessage) && !(err instanceof ApiError))
            deps.log.warn({ err }, 'gRPC event append failed');
          if (err instanceof InvalidMessage) eventsIngestedTotal.inc({ result: 'rejected' });
          callback(toGrpcError(err));
        },
      );
    };

  async function ingest(kind: 'login' | 'stat', call: grpc.ServerUnaryCall<StatMsg, unknown>): Promise<void> {
    if (draining) throw apiError('DRAINING', 'server is shutting down; retry', {}, 1);
    const now = deps.clock.now();
    const clientId = deps.devMode
      ? 'dev'
      : (await deps.auth.service(first(call.metadata, 'authorization'), first(call.metadata, 'x-api-key')))
          .id;
    const msg = call.request;
    if (deps.namespace === undefined)
      throw apiError('NOT_CONFIGURED', 'AB_NAMESPACE is not configured on this service');
    const aggregations = deps.catalog?.current.statAggregations;
    const event = messageToEvent(kind, msg, now, aggregations ? (code) => aggregations.get(code) : undefined);
    if ((msg.namespace ?? '') !== deps.namespace) {
      // The reference acknowledges events of another namespace without applying them.
      eventsIngestedTotal.inc({ result: 'other_namespace' });
      return;
    }
    const callDeadline = call.getDeadline();
    const d = callDeadline instanceof Date ? callDeadline.getTime() : Number(callDeadline);
    const deadline = Math.min(Number.isFinite(d) ? d : Infinity, Date.now() + deps.deadlineMs);
    await deps.limits.ingest(clientId, 1);
    await deps.admission.run('events', deadline, () => deps.queue.append([event]));
    eventsIngestedTotal.inc({ result: 'accepted' });
  }

  const serviceDef = (name: string) => pkg[name] as grpc.ServiceDefinition;
  server.addService(serviceDef(LOGIN_SERVICE), { OnMessage: handle('login') });
  server.addService(serviceDef(STAT_SERVICE), { OnMessage: handle('stat') });

  const known = new Set(['', LOGIN_SERVICE, STAT_SERVICE]);
  const statusOf = (service: string) => (draining ? 'NOT_SERVING' : known.has(service) ? 'SERVING' : null);
  server.addService(serviceDef(HEALTH_SERVICE), {
    Check: (call: grpc.ServerUnaryCall<{ service?: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const s = statusOf(call.request.service ?? '');
      if (s === null) cb(grpcError(grpc.status.NOT_FOUND, 'unknown service'));
      else cb(null, { status: s });
    },
    Watch: (call: grpc.ServerWritableStream<{ service?: string }, unknown>) => {
      call.write({ status: statusOf(call.request.service ?? '') ?? 'SERVICE_UNKNOWN' });
      watchers.add(call);
      call.on('cancelled', () => watchers.delete(call));
    },
  });
  new ReflectionService(pkg).addToServer(server);

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${deps.host}:${deps.port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    port,
    async stop(graceMs) {
      draining = true;
      for (const w of watchers) {
        w.write({ status: 'NOT_SERVING' });
        w.end();
      }
      watchers.clear();
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
    },
  };
}
