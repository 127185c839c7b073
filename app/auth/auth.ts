// Player and service credentials. Players: JWT (HS256 secret, PEM public key or JWKS URL), `sub` is
// the player id. Services (events, admin): an API key from a Secret, or a JWT whose `scope` claim
// holds the configured service scope. A player token on a service route is 403, not 401.
//
// Token policy (docs/RELIABILITY.md, "Tokens"): a token must carry `exp` unless JWT_REQUIRE_EXP=0
// (then it is cached at most 60 s); `nbf` in the future is refused; the algorithm is pinned by the
// key kind (HS256 for the shared secret, JWT_ALGORITHMS, default RS256, for a PEM key or JWKS), so
// `alg: none` and HS256 signed with the public key are refused. JWKS keys are cached for
// JWT_JWKS_CACHE_MAX_AGE_MS after the last successful fetch; an unknown `kid` makes one refetch
// (at most once per JWT_JWKS_COOLDOWN_MS), and a token whose key cannot be fetched (endpoint down,
// timeout, bad answer) is answered 503 AUTH_UNAVAILABLE, not 401: a new token would not help.
import { createHash, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import {
  createRemoteJWKSet,
  importSPKI,
  jwtVerify,
  SignJWT,
  type JWTPayload,
  type JWTVerifyGetKey,
  type KeyLike,
} from 'jose';
import { forbidden, unauthorized, unavailable } from '../errors';
import { MAX_ID_LENGTH } from '../limits';

export interface AuthConfig {
  hs256Secret?: string;
  publicKeyPem?: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  serviceScope: string;
  serviceApiKeys: readonly string[];
  /** Refuse tokens without `exp` (default true). */
  requireExp?: boolean;
  /** Algorithms accepted with a PEM key or JWKS (default RS256). */
  algorithms?: readonly string[];
  jwksCacheMaxAgeMs?: number;
  jwksCooldownMs?: number;
  jwksTimeoutMs?: number;
}

/** The JWKS endpoint could not give us the key (down, slow, bad answer): not the token's fault. */
class KeySourceUnavailable extends Error {}

/** jose's codes for "the key set answered, and has no (single) key for this token". */
const KEY_REFUSALS = new Set([
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
  'ERR_JOSE_NOT_SUPPORTED',
]);

/** Tokens without `exp` (when allowed) are trusted from the cache this long. */
const NO_EXP_CACHE_MS = 60_000;

export interface Principal {
  kind: 'player' | 'service';
  /** Player id (`sub`) for players; the client id (`sub` or key hash) for services. */
  id: string;
}

const CACHE_MAX = 20_000;

export class Authenticator {
  private key: Uint8Array | KeyLike | JWTVerifyGetKey | undefined;
  private hs256Key: KeyObject | undefined;
  private readonly cache = new Map<string, { principal: Principal; exp: number }>();
  private readonly apiKeyHashes: Buffer[];

  constructor(private readonly cfg: AuthConfig) {
    this.apiKeyHashes = cfg.serviceApiKeys.map((k) => sha256(k));
  }

  private async verifierKey(): Promise<Uint8Array | KeyLike | JWTVerifyGetKey> {
    if (this.key) return this.key;
    // A KeyObject made once: passing raw bytes makes jose build one on every verification.
    if (this.cfg.hs256Secret) {
      const k = createSecretKey(Buffer.from(this.cfg.hs256Secret, 'utf8'));
      this.hs256Key = k;
      this.key = k;
    } else if (this.cfg.publicKeyPem)
      this.key = await importSPKI(this.cfg.publicKeyPem, this.algorithms()[0] ?? 'RS256');
    else if (this.cfg.jwksUrl) {
      const remote = createRemoteJWKSet(new URL(this.cfg.jwksUrl), {
        cacheMaxAge: this.cfg.jwksCacheMaxAgeMs ?? 600_000,
        cooldownDuration: this.cfg.jwksCooldownMs ?? 30_000,
        timeoutDuration: this.cfg.jwksTimeoutMs ?? 1000,
      });
      this.key = async (header, token) => {
        try {
          return await remote(header, token);
        } catch (e) {
          const code = (e as { code?: unknown }).code;
          if (typeof code === 'string' && KEY_REFUSALS.has(code)) throw e;
          throw new KeySourceUnavailable(e instanceof Error ? e.message : String(e));
        }
      };
    } else throw new Error('no JWT verification key configured');
    return this.key;
  }

  /** Verify a bearer token; cached until its expiry so the hot path does no crypto. */
  async verifyToken(token: string): Promise<{ principal: Principal; payload?: JWTPayload }> {
    const now = Date.now();
    const hit = this.cache.get(token);
    if (hit && hit.exp > now) return { principal: hit.principal };
    let payload: JWTPayload;
    const requireExp = this.cfg.requireExp ?? true;
    try {
      const key = await this.verifierKey();
      const fast = this.hs256Key
        ? verifyHs256(token, this.hs256Key, now, this.cfg.issuer, this.cfg.audience, requireExp)
        : null;
      const opts = {
        issuer: this.cfg.issuer,
        audience: this.cfg.audience,
        algorithms: [...this.algorithms()],
        requiredClaims: requireExp ? ['exp'] : [],
      };
      if (fast) payload = fast;
      else {
        const res =
          typeof key === 'function' ? await jwtVerify(token, key, opts) : await jwtVerify(token, key, opts);
        payload = res.payload;
      }
    } catch (e) {
      if (e instanceof KeySourceUnavailable)
        throw unavailable('token signing keys are unavailable; retry shortly', 1, 'AUTH_UNAVAILABLE');
      throw unauthorized('invalid or expired token');
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0)
      throw unauthorized('token has no subject');
    if (payload.sub.length > MAX_ID_LENGTH)
      throw unauthorized(`token subject longer than ${MAX_ID_LENGTH} characters`);
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
    const principal: Principal = {
      kind: scopes.includes(this.cfg.serviceScope) ? 'service' : 'player',
      id: payload.sub,
    };
    const exp = typeof payload.exp === 'number' ? payload.exp * 1000 : now + NO_EXP_CACHE_MS;
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(token, { principal, exp });
    return { principal, payload };
  }

  private algorithms(): readonly string[] {
    return this.cfg.algorithms?.length ? this.cfg.algorithms : ['RS256'];
  }

  async player(authorization: string | undefined): Promise<string> {
    const token = bearer(authorization);
    if (!token) throw unauthorized();
    const { principal } = await this.verifyToken(token);
    if (principal.kind !== 'player') throw forbidden('service credentials cannot act as a player');
    return principal.id;
  }

  async service(authorization: string | undefined, apiKey: string | undefined): Promise<Principal> {
    if (apiKey) {
      const h = sha256(apiKey);
      if (this.apiKeyHashes.some((k) => timingSafeEqual(k, h)))
        return { kind: 'service', id: `key:${h.toString('hex').slice(0, 12)}` };
      throw unauthorized('invalid API key');
    }
    const token = bearer(authorization);
    if (!token) throw unauthorized('missing service credential');
    const { principal } = await this.verifyToken(token);
    if (principal.kind !== 'service')
      throw forbidden('this route needs a service credential, not a player token');
    return principal;
  }
}

/**
 * HS256 compact JWT verification without the general JOSE machinery (a new player's first request
 * always misses the token cache). Same rules as jose for what we accept: header alg HS256 and no
 * `crit`, signature over `header.payload`, exp/nbf against now, iss/aud when configured, `exp`
 * present unless requireExp is false. Throws on any failure; the caller maps it to 401.
 */
export function verifyHs256(
  token: string,
  key: KeyObject,
  now: number,
  issuer?: string,
  audience?: string,
  requireExp = true,
): JWTPayload {
  const [h, p, sig, extra] = token.split('.');
  if (!h || !p || !sig || extra !== undefined) throw new Error('not a compact JWS');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as {
    alg?: unknown;
    crit?: unknown;
  };
  if (header.alg !== 'HS256' || header.crit !== undefined) throw new Error('unexpected JWS header');
  const expected = createHmac('sha256', key).update(`${h}.${p}`).digest();
  const given = Buffer.from(sig, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new Error('bad signature');
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as JWTPayload;
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    throw new Error('bad payload');
  const sec = Math.floor(now / 1000);
  if (requireExp && payload.exp === undefined) throw new Error('no exp');
  if (payload.exp !== undefined && (typeof payload.exp !== 'number' || payload.exp <= sec))
    throw new Error('expired');
  if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf > sec))
    throw new Error('not yet valid');
  if (issuer !== undefined && payload.iss !== issuer) throw new Error('issuer');
  if (audience !== undefined) {
    const aud = payload.aud;
    if (!(aud === audience || (Array.isArray(aud) && aud.includes(audience)))) throw new Error('audience');
  }
  return payload;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function bearer(h: string | undefined): string | undefined {
  if (!h) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  return m ? m[1] : undefined;
}

/** Dev-mode token issuer (also used by tests and the load-test kit's docs). */
export async function mintToken(
  secret: string,
  sub: string,
  opts: { service?: boolean; scope?: string; ttlSeconds?: number; issuer?: string; audience?: string } = {},
): Promise<{ token: string; expiresAt: string }> {
  const ttl = opts.ttlSeconds ?? 3600;
  const exp = Math.floor(Date.now() / 1000) + ttl;
  let jwt = new SignJWT(opts.service ? { scope: opts.scope ?? 'challenge:service' } : {})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(exp);
  if (opts.issuer) jwt = jwt.setIssuer(opts.issuer);
  if (opts.audience) jwt = jwt.setAudience(opts.audience);
  const token = await jwt.sign(new TextEncoder().encode(secret));
  return { token, expiresAt: new Date(exp * 1000).toISOString() };
}
