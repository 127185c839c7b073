// HS256 JWT minting with no runtime dependencies, shared by the k6 scenarios and the node tools.
// The HMAC is injected: k6 passes k6/crypto, node passes node:crypto (see nodeHmac in tokens.ts).

/** Returns the HMAC-SHA256 of `data` keyed with `secret`, encoded as unpadded base64url. */
export type HmacBase64Url = (secret: string, data: string) => string;

export interface PlayerClaims {
  sub: string;
  iat: number;
  exp: number;
  scope?: string;
  iss?: string;
  aud?: string;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** UTF-8 bytes of a string (works without TextEncoder, which k6 may lack). */
export function utf8Bytes(text: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (code < 0x80) out.push(code);
    else if (code < 0x800) out.push(0xc0 | (code >> 6), 0x80 | (code & 63));
    else if (code < 0x10000) out.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63));
    else
      out.push(
        0xf0 | (code >> 18),
        0x80 | ((code >> 12) & 63),
        0x80 | ((code >> 6) & 63),
        0x80 | (code & 63),
      );
  }
  return out;
}

/** Unpadded base64url of the UTF-8 encoding of `text`. */
export function base64UrlEncode(text: string): string {
  const bytes = utf8Bytes(text);
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i]!;
    const b1 = bytes[i + 1];
    const b2 = bytes[i + 2];
    out += ALPHABET[b0 >> 2]!;
    out += ALPHABET[((b0 & 3) << 4) | ((b1 ?? 0) >> 4)]!;
    if (b1 !== undefined) out += ALPHABET[((b1 & 15) << 2) | ((b2 ?? 0) >> 6)]!;
    if (b2 !== undefined) out += ALPHABET[b2 & 63]!;
  }
  return out;
}

/** Signs `claims` as a compact HS256 JWT. */
export function mintHs256(claims: PlayerClaims, secret: string, hmac: HmacBase64Url): string {
  const input = `${base64UrlEncode(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${base64UrlEncode(JSON.stringify(claims))}`;
  return `${input}.${hmac(secret, input)}`;
}

export interface TokenCacheOptions {
  secret: string;
  hmac: HmacBase64Url;
  /** Token lifetime; tokens are re-minted once less than a quarter of it remains. */
  ttlSeconds: number;
  issuer?: string;
  audience?: string;
  now?: () => number;
}

/** Mints each user's token once and reuses it until it nears expiry. */
export class TokenCache {
  private readonly tokens = new Map<string, { token: string; exp: number }>();

  constructor(private readonly opts: TokenCacheOptions) {}

  get size(): number {
    return this.tokens.size;
  }

  /** A player token (sub = userId). */
  player(userId: string): string {
    return this.get(userId, undefined);
  }

  /** A service token carrying `scope`. */
  service(subject: string, scope: string): string {
    return this.get(subject, scope);
  }

  private get(sub: string, scope: string | undefined): string {
    const nowSec = Math.floor((this.opts.now ?? Date.now)() / 1000);
    const key = scope === undefined ? `p:${sub}` : `s:${sub}:${scope}`;
    const hit = this.tokens.get(key);
    if (hit && hit.exp - nowSec > this.opts.ttlSeconds / 4) return hit.token;
    const claims: PlayerClaims = { sub, iat: nowSec, exp: nowSec + this.opts.ttlSeconds };
    if (scope !== undefined) claims.scope = scope;
    if (this.opts.issuer) claims.iss = this.opts.issuer;
    if (this.opts.audience) claims.aud = this.opts.audience;
    const token = mintHs256(claims, this.opts.secret, this.opts.hmac);
    this.tokens.set(key, { token, exp: claims.exp });
    return token;
  }
}
