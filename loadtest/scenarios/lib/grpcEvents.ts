// The platform's event delivery as the reference's k6 scripts drive it: one gRPC OnMessage per
// event, 20 % logins and 80 % stat updates (latestValue 0..999 of five stat codes), plaintext, one
// connection per VU reused across iterations. Our own .proto files (proto/), same wire format.
import grpc from 'k6/net/grpc';
import { check } from 'k6';

const PROTO_DIR = __ENV.PROTO_DIR || '../../proto';
export const GRPC_ADDR = __ENV.GRPC_ADDR || '127.0.0.1:6565';
const NAMESPACE = __ENV.AB_NAMESPACE || 'test';
const STAT_CODES = ['enemy_kills', 'login_count', 'games_played', 'headshots', 'wins'];

// Loaded in the init context (k6 requires it); each VU connects on its first event.
const client = new grpc.Client();
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

/** One event for a random player of `userIds`, checked as the reference checks it. */
export function sendGrpcEvent(userId: string): void {
  if (!connected) {
    client.connect(GRPC_ADDR, { plaintext: true });
    connected = true;
  }
  const params = { metadata: metadata(), tags: { endpoint: 'grpc-event' } };
  if (Math.random() < 0.2) {
    const res = client.invoke(
      'accelbyte.iam.account.v1.UserAuthenticationUserLoggedInService/OnMessage',
      { id: eventId(), userId, namespace: NAMESPACE },
      params,
    );
    check(res, { 'Event: login OK': (r) => !!r && r.status === grpc.StatusOK });
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
    check(res, { 'Event: stat OK': (r) => !!r && r.status === grpc.StatusOK });
  }
}
