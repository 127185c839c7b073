// The token matrix over HTTP on the real service: HS256 (shared secret), RS256 (PEM key) and RS256
// through a JWKS endpoint served by a real local HTTP server (key rotation, outage, unknown kid),
// plus cross-player access, and the service credential rules over gRPC event ingest and HTTP ingest. Policy under test: app/api/auth.ts header, docs/RELIABILITY.md.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT, type JWK, type KeyLike } from 'jose';
import * as grpc from '@grpc/grpc-js';
import { mintToken } from '../../app/api/auth';
import { loadProtos } from '../../app/events/grpc';
import { eventsModule } from '../../app/events/module';
import { rewardsModule } from '../../app/rewards/module';
import { dropEventKeys, eventsEnv, eventually, sql } from '../helpers/events';
import { completeFirstSteps, CLAIM_FIRST_STEPS } from './rewards-receiver';
import { startTestService, TEST_API_KEY, TEST_SECRET, type TestService } from '../helpers/service';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON answers
type AnyJson = any;

const enc = (s: string) => new TextEncoder().encode(s);
const nowS = () => Math.floor(Date.now() / 1000);

async function get(base: string, token: string | undefined, path = '/v1/challenges') {
  const res = await fetch(`${base}${path}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  const text = await res.text();
  let body: AnyJson = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body, retryAfter: res.headers.get('retry-after') };
}

/** Every refusal carries the error model with the matching code and a non-empty message. */
function refused(res: { status: number; body: AnyJson }, status: number, error: string) {
  expect({ status: res.status, error: res.body?.error }).toEqual({ status, error });
  expect(Object.keys(res.body).sort()).toEqual(['code', 'details', 'error', 'message']);
  expect(typeof res.body.message).toBe('string');
  expect(res.body.message.length).toBeGreaterThan(0);
  expect(res.body.code).toBe(status === 401 ? 16 : status === 403 ? 7 : 14);
}

const hs = (claims: Record<string, unknown> = {}) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject('auth-p1');

describe('HS256 (shared secret)', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ modules: [rewardsModule] });
  });
  afterAll(async () => t.stop());

  test('a valid token is accepted', async () => {
    const token = await hs().setExpirationTime('1h').sign(enc(TEST_SECRET));
    expect((await get(t.base, token)).status).toBe(200);
  });

  test('expired, not yet valid, without exp, wrong secret, alg none, no subject: 401 with the error model', async () => {
    const cases: [string, string][] = [
      [
        'expired',
        await hs()
          .setExpirationTime(nowS() - 10)
          .sign(enc(TEST_SECRET)),
      ],
      [
        'nbf in the future',
        await hs()
          .setExpirationTime('2h')
          .setNotBefore(nowS() + 600)
          .sign(enc(TEST_SECRET)),
      ],
      ['no exp', await hs().sign(enc(TEST_SECRET))],
      ['wrong secret', await hs().setExpirationTime('1h').sign(enc('another-secret-another-secret-0000'))],
      ['alg none', new UnsecuredJWT({ sub: 'auth-p1', exp: nowS() + 3600 }).encode()],
      [
        'no subject',
        await new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setExpirationTime('1h')
          .sign(enc(TEST_SECRET)),
      ],
      ['not a JWT', 'not-a-token'],
    ];
    for (const [what, token] of cases) {
      const res = await get(t.base, token);
      expect([what, res.status]).toEqual([what, 401]);
      refused(res, 401, 'UNAUTHENTICATED');
    }
    refused(await get(t.base, undefined), 401, 'UNAUTHENTICATED');
  });

  test('a token cached while valid is refused once it expires (the cache honours exp)', async () => {
    const token = await hs()
      .setExpirationTime(nowS() + 2)
      .sign(enc(TEST_SECRET));
    expect((await get(t.base, token)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 3100));
    refused(await get(t.base, token), 401, 'UNAUTHENTICATED');
  });

  test('cross-player: a token acts only as its own subject', async () => {
    // B has completed first-steps; A has not. A's token cannot claim B's goal, and sees only A.
    const a = await t.token('xp-alice');
    const b = await t.token('xp-bob');
    await fetch(`${t.base}/v1/challenges/initialize`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a}` },
    });
    await completeFirstSteps(t.svc.db, ['xp-bob']);
    const claimA = await fetch(`${t.base}${CLAIM_FIRST_STEPS}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a}` },
    });
    expect(claimA.status).toBe(409);
    expect(((await claimA.json()) as AnyJson).error).toBe('GOAL_NOT_COMPLETED');
    const claimB = await fetch(`${t.base}${CLAIM_FIRST_STEPS}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${b}` },
    });
    expect(claimB.status).toBe(200);
    const rows = await t.svc.db.query<{ user_id: string }>(
      "SELECT user_id FROM claims WHERE user_id IN ('xp-alice', 'xp-bob')",
    );
    expect(rows.rows.map((r) => r.user_id)).toEqual(['xp-bob']);
    // A's list shows A's own, unclaimed, goal.
    const listA = await get(t.base, a, '/v1/challenges/starter-path');
    const goal = (listA.body.goals as AnyJson[]).find((g) => g.goalId === 'first-steps');
    expect(goal.status).not.toBe('claimed');
    // A player token is no service credential: the operator's claims route answers 403.
    const admin = await fetch(`${t.ops}/admin/v1/players/xp-bob/claims`, {
      headers: { authorization: `Bearer ${a}` },
    });
    expect(admin.status).toBe(403);
  });
});

describe('HS256 with JWT_REQUIRE_EXP=0 (the documented opt-out)', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ env: { JWT_REQUIRE_EXP: '0' } });
  });
  afterAll(async () => t.stop());

  test('a token without exp is accepted; an expired one still is not', async () => {
    expect((await get(t.base, await hs().sign(enc(TEST_SECRET)))).status).toBe(200);
    refused(
      await get(
        t.base,
        await hs()
          .setExpirationTime(nowS() - 10)
          .sign(enc(TEST_SECRET)),
      ),
      401,
      'UNAUTHENTICATED',
    );
  });
});

describe('RS256 with a PEM public key', () => {
  let t: TestService;
  let priv: KeyLike;
  let pem: string;
  beforeAll(async () => {
    const kp = await generateKeyPair('RS256');
    priv = kp.privateKey;
    pem = await exportSPKI(kp.publicKey);
    t = await startTestService({
      env: { JWT_HS256_SECRET: '', DEV_MODE: '0', JWT_PUBLIC_KEY_PEM: pem, JWT_ISSUER: 'https://iam.test' },
    });
  });
  afterAll(async () => t.stop());

  const rs = () =>
    new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject('rs-p1').setIssuer('https://iam.test');

  test('a valid RS256 token is accepted', async () => {
    expect((await get(t.base, await rs().setExpirationTime('1h').sign(priv))).status).toBe(200);
  });

  test('algorithm confusion, alg none, expired, nbf, no exp, wrong issuer: 401', async () => {
    const other = (await generateKeyPair('RS256')).privateKey;
    const cases: [string, string][] = [
      // The classic confusion: HS256 with the (public) PEM text as the HMAC secret.
      [
        'HS256 signed with the RSA public key',
        await new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('rs-p1')
          .setIssuer('https://iam.test')
          .setExpirationTime('1h')
          .sign(enc(pem)),
      ],
      ['alg none', new UnsecuredJWT({ sub: 'rs-p1', iss: 'https://iam.test', exp: nowS() + 3600 }).encode()],
      [
        'expired',
        await rs()
          .setExpirationTime(nowS() - 10)
          .sign(priv),
      ],
      [
        'nbf in the future',
        await rs()
          .setExpirationTime('2h')
          .setNotBefore(nowS() + 600)
          .sign(priv),
      ],
      ['no exp', await rs().sign(priv)],
      ['wrong issuer', await rs().setIssuer('https://evil.test').setExpirationTime('1h').sign(priv)],
      ['another key', await rs().setExpirationTime('1h').sign(other)],
    ];
    for (const [what, token] of cases) {
      const res = await get(t.base, token);
      expect([what, res.status]).toEqual([what, 401]);
      refused(res, 401, 'UNAUTHENTICATED');
    }
  });
});

/** A real JWKS endpoint on loopback: its key set can be swapped and the server stopped/restarted. */
class JwksServer {
  keys: JWK[] = [];
  fetches = 0;
  private server?: http.Server;
  port = 0;
  async start(): Promise<this> {
    this.server = http.createServer((_req, res) => {
      this.fetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys }));
    });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }
  get url() {
    return `http://127.0.0.1:${this.port}/.well-known/jwks.json`;
  }
  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server = undefined;
  }
}

describe('RS256 through a JWKS endpoint (real local server)', () => {
  const MAX_AGE_MS = 6000;
  let t: TestService;
  let jwks: JwksServer;
  const pairs: { kid: string; priv: KeyLike; jwk: JWK }[] = [];
  const keyPair = async (kid: string) => {
    const kp = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(kp.publicKey)), kid, alg: 'RS256', use: 'sig' };
    const p = { kid, priv: kp.privateKey, jwk };
    pairs.push(p);
    return p;
  };
  /** A fresh token each call (so the verified-token cache cannot answer for the key cache). */
  let seq = 0;
  const token = (p: { kid: string; priv: KeyLike }) =>
    new SignJWT({ n: seq++ })
      .setProtectedHeader({ alg: 'RS256', kid: p.kid })
      .setSubject('jwks-p1')
      .setExpirationTime('1h')
      .sign(p.priv);

  beforeAll(async () => {
    jwks = await new JwksServer().start();
    t = await startTestService({
      env: {
        JWT_HS256_SECRET: '',
        DEV_MODE: '0',
        JWT_JWKS_URL: jwks.url,
        JWT_JWKS_CACHE_MAX_AGE_MS: String(MAX_AGE_MS),
        JWT_JWKS_COOLDOWN_MS: '0',
        JWT_JWKS_TIMEOUT_MS: '500',
      },
    });
  });
  afterAll(async () => {
    await t.stop();
    await jwks.stop();
  });

  test('rotation, unknown kid, an outage within and past the cache max age, and recovery', async () => {
    const k1 = await keyPair('k1');
    const k2 = await keyPair('k2');
    const stranger = await keyPair('k3'); // never published
    jwks.keys = [k1.jwk];
    expect((await get(t.base, await token(k1))).status).toBe(200);

    // Rotation: the endpoint now publishes k2 only. A k2 token makes one refetch and is accepted.
    jwks.keys = [k2.jwk];
    const before = jwks.fetches;
    expect((await get(t.base, await token(k2))).status).toBe(200);
    expect(jwks.fetches).toBe(before + 1);

    // Unknown kid while the endpoint is up: one refetch, then refused as a bad token. This is the
    // last successful fetch: the cache's max age counts from it (between these two instants).
    const fetchFrom = Date.now();
    refused(await get(t.base, await token(stranger)), 401, 'UNAUTHENTICATED');
    const fetchTo = Date.now();
    // A token naming a published kid but signed by another key: refused.
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: 'k2' })
      .setSubject('jwks-p1')
      .setExpirationTime('1h')
      .sign(stranger.priv);
    refused(await get(t.base, forged), 401, 'UNAUTHENTICATED');
    // HS256 signed with the published public JWK as secret, and alg none: refused.
    const confused = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: 'k2' })
      .setSubject('jwks-p1')
      .setExpirationTime('1h')
      .sign(enc(JSON.stringify(k2.jwk)));
    refused(await get(t.base, confused), 401, 'UNAUTHENTICATED');
    refused(
      await get(t.base, new UnsecuredJWT({ sub: 'jwks-p1', exp: nowS() + 60 }).encode()),
      401,
      'UNAUTHENTICATED',
    );

    // Outage (connection refused). Within the max age, cached keys keep verifying new tokens.
    await jwks.stop();
    const fetchesBeforeOutage = jwks.fetches;
    expect(Date.now() - fetchFrom).toBeLessThan(MAX_AGE_MS); // precondition of the next line
    expect((await get(t.base, await token(k2))).status).toBe(200);
    // An unknown kid cannot be looked up: refused, as a dependency failure (503 + Retry-After).
    const unknown = await get(t.base, await token(stranger));
    refused(unknown, 503, 'AUTH_UNAVAILABLE');
    expect(Number(unknown.retryAfter)).toBeGreaterThan(0);
    expect(jwks.fetches).toBe(fetchesBeforeOutage);

    // Past the max age the cached set is no longer trusted: new tokens are refused with 503.
    await new Promise((r) => setTimeout(r, Math.max(0, fetchTo + MAX_AGE_MS + 200 - Date.now())));
    refused(await get(t.base, await token(k2)), 503, 'AUTH_UNAVAILABLE');

    // The endpoint comes back (same port): verification resumes without a restart.
    await jwks.start();
    expect((await get(t.base, await token(k2))).status).toBe(200);
    // k1 was rotated out: its new tokens are refused.
    refused(await get(t.base, await token(k1)), 401, 'UNAUTHENTICATED');
  });
});

/**
 * The service credential rules over gRPC (metadata `authorization` / `x-api-key`) on the running
 * service's event ingest, next to the same credential on HTTP `POST /v1/events`: one verdict per
 * credential on both transports. A real gRPC client (grpc-js) calls the platform's event service;
 * refused messages are not applied (read from PostgreSQL after an accepted marker).
 */
describe('service credentials over gRPC event ingest and HTTP ingest (same rules)', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- generated client constructors
  const pkg = grpc.loadPackageDefinition(loadProtos()) as any;
  let t: TestService;
  let env: Record<string, string>;
  let port = 0;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- generated client
  let login: any;

  beforeAll(async () => {
    env = eventsEnv({ GRPC_PORT: '0', DEV_MODE: '0', AB_NAMESPACE: 'auth-ns' });
    t = await startTestService({
      modules: [eventsModule(undefined, { grpc: { onListening: (p) => (port = p) } })],
      env,
    });
    login = new pkg.accelbyte.iam.account.v1.UserAuthenticationUserLoggedInService(
      `127.0.0.1:${port}`,
      grpc.credentials.createInsecure(),
    );
  });
  afterAll(async () => {
    login?.close();
    await t.stop();
    await dropEventKeys(env);
  });

  const svc = (claims: Record<string, unknown> = { scope: 'challenge:service' }) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject('platform');

  const grpcCall = (id: string, meta: Record<string, string>) =>
    new Promise<{ code: grpc.status; details: string }>((resolve) => {
      const md = new grpc.Metadata();
      for (const [k, v] of Object.entries(meta)) md.set(k, v);
      login.OnMessage(
        { id, userId: 'grpc-auth-p', namespace: 'auth-ns' },
        md,
        { deadline: Date.now() + 10_000 },
        (err: grpc.ServiceError | null) =>
          resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' }),
      );
    });
  const httpCall = async (id: string, meta: Record<string, string>) => {
    const res = await fetch(`${t.base}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...meta },
      body: JSON.stringify({
        events: [
          {
            eventId: id,
            userId: 'grpc-auth-p',
            type: 'login',
            occurredAt: new Date(Date.now() - 1000).toISOString(),
          },
        ],
      }),
    });
    return { status: res.status, body: (await res.json()) as AnyJson };
  };

  test('missing, player token, expired, no exp, alg none, wrong key, wrong API key: refused on both; API key and service JWT accepted', async () => {
    const bearer = (tok: string) => ({ authorization: `Bearer ${tok}` });
    const cases: [string, Record<string, string>, 'ok' | 'unauthenticated' | 'forbidden'][] = [
      ['missing', {}, 'unauthenticated'],
      ['player token', bearer((await mintToken(TEST_SECRET, 'grpc-auth-p')).token), 'forbidden'],
      [
        'expired service JWT',
        bearer(
          await svc()
            .setExpirationTime(nowS() - 10)
            .sign(enc(TEST_SECRET)),
        ),
        'unauthenticated',
      ],
      ['service JWT without exp', bearer(await svc().sign(enc(TEST_SECRET))), 'unauthenticated'],
      [
        'alg none',
        bearer(
          new UnsecuredJWT({ sub: 'platform', scope: 'challenge:service', exp: nowS() + 3600 }).encode(),
        ),
        'unauthenticated',
      ],
      [
        'service JWT signed with another key',
        bearer(await svc().setExpirationTime('1h').sign(enc('another-secret-another-secret-0000'))),
        'unauthenticated',
      ],
      ['wrong API key', { 'x-api-key': 'not-the-api-key-0000' }, 'unauthenticated'],
      ['not a JWT', bearer('not-a-token'), 'unauthenticated'],
      ['API key', { 'x-api-key': TEST_API_KEY }, 'ok'],
      ['service JWT', bearer(await svc().setExpirationTime('1h').sign(enc(TEST_SECRET))), 'ok'],
    ];
    const grpcOf = {
      ok: grpc.status.OK,
      unauthenticated: grpc.status.UNAUTHENTICATED,
      forbidden: grpc.status.PERMISSION_DENIED,
    };
    const httpOf = { ok: 202, unauthenticated: 401, forbidden: 403 };
    const refusedIds: string[] = [];
    for (const [i, [what, meta, verdict]] of cases.entries()) {
      const g = await grpcCall(`ga-g${i}`, meta);
      expect([what, g.code]).toEqual([what, grpcOf[verdict]]);
      if (verdict !== 'ok') expect(g.details.length).toBeGreaterThan(0);
      const h = await httpCall(`ga-h${i}`, meta);
      expect([what, h.status]).toEqual([what, httpOf[verdict]]);
      if (verdict !== 'ok') {
        refused(h, h.status, h.status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN');
        refusedIds.push(`ga-g${i}`, `ga-h${i}`);
      }
    }
    // Only the four accepted messages are applied: the refused ones never reached the queue.
    await eventually(async () => {
      const rows = await sql(t.db.directUrl, "SELECT 1 FROM processed_events WHERE event_id LIKE 'ga-%'");
      return rows.length === 4 ? true : undefined;
    });
    const applied = await sql<{ event_id: string }>(
      t.db.directUrl,
      "SELECT event_id FROM processed_events WHERE event_id LIKE 'ga-%' ORDER BY event_id",
    );
    expect(applied.map((r) => r.event_id)).toEqual(['ga-g8', 'ga-g9', 'ga-h8', 'ga-h9']);
    expect(refusedIds.length).toBe(16);
  });
});
