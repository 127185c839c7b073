// The platform's event delivery as the reference's k6 scripts drive it: one gRPC OnMessage per
// event, 20 % logins and 80 % stat updates (latestValue 0..999 of five stat codes), plaintext, one
// connection per VU reused across iterations. Our own .proto files (proto/), same wire format.
// UNAVAILABLE / RESOURCE_EXHAUSTED with retry-after metadata is admission shedding: counted in
// shed_rate, not checked (lib/common.ts, served()).
import grpc from 'k6/net/grpc';
import { check } from 'k6';
import { servedAnswers, servedGrpcDuration, shedRate } from './common.ts';

const PROTO_DIR = __ENV.PROTO_DIR || '../../proto';
export const GRPC_ADDR = __ENV.GRPC_ADDR || '127.0.0.1:6565';
const NAMESPACE = __ENV.AB_NAMESPACE || 'test';
const STAT_CODES = ['enemy_kills', 'login_count', 'games_played', 'headshots', 'wins'];

// Loaded in the init context (k6 requires it); each VU connects on its first event.
const client = new grpc.Client();
// (the cluster CLI's ConfigMap is flat: it rewrites these paths to the files' base names)
client.load(
  [PROTO_DIR],
  'accelbyte/iam/account/v1/account.proto',
  'accelbyte/social/statistic/v1/statistic.proto',
);
let connected = false;

function metadata(): Record<string, string> {
  return __ENV.SERVICE_API_KEY && __ENV.DEV_MODE !== '1' ? { 'x-api-key': __ENV.SERVICE_API_KEY } : {};
}

function eventId(): string {
  return `k6-event-${Date.now()}-${Math.random().toString(36).substring(7)}`;
}

interface GrpcAnswer {
  status: number;
  headers?: Record<string, unknown>;
  trailers?: Record<string, unknown>;
}

/** false when admission shed the call (checks skipped), true when it was served. */
function servedGrpc(res: GrpcAnswer | null, started: number): boolean {
  const tags = { endpoint: 'grpc-event' };
  const retryAfter = res?.trailers?.['retry-after'] ?? res?.headers?.['retry-after'];
  const shed =
    !!res &&
    (res.status === grpc.StatusUnavailable || res.status === grpc.StatusResourceExhausted) &&
    !!retryAfter;
  shedRate.add(shed, tags);
  if (shed) return false;
  servedAnswers.add(1, tags);
  servedGrpcDuration.add(Date.now() - started, tags);
  return true;
}

/** One event for `userId`, checked as the reference checks it (when served). */
export function sendGrpcEvent(userId: string): void {
  if (!connected) {
    client.connect(GRPC_ADDR, { plaintext: true });
    connected = true;
  }
  const params = { metadata: metadata(), tags: { endpoint: 'grpc-event' } };
  const started = Date.now();
  if (Math.random() < 0.2) {
    const res = client.invoke(
      'accelbyte.iam.account.v1.UserAuthenticationUserLoggedInService/OnMessage',
      { id: eventId(), userId, namespace: NAMESPACE },
      params,
    );
    if (servedGrpc(res, started)) check(res, { 'Event: login OK': (r) => !!r && r.status === grpc.StatusOK });
  } else {
    const res = client.invoke(
      'accelbyte.social.statistic.v1.StatisticStatItemUpdatedService/OnMessage',
      {
        id: eventId(),
        userId,
        namespace: NAMESPACE,
        payload: {
          statCode: STAT_CODES[Math.floor(Math.random() * STAT_CODES.length)],
          latestValue: Math.floor(Math.random() * 1000),
        },
      },
      params,
    );
    if (servedGrpc(res, started)) check(res, { 'Event: stat OK': (r) => !!r && r.status === grpc.StatusOK });
  }
}
