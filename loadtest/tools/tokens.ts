// Node side of the offline token minting (the k6 scenarios use k6/crypto with the same jwt.ts).
import { createHmac } from 'node:crypto';
import { mintHs256, type HmacBase64Url } from './jwt';

export const nodeHmac: HmacBase64Url = (secret, data) =>
  createHmac('sha256', secret).update(data).digest('base64url');

export function mintPlayerToken(userId: string, secret: string, ttlSeconds = 3600, now = Date.now()): string {
  const iat = Math.floor(now / 1000);
  return mintHs256({ sub: userId, iat, exp: iat + ttlSeconds }, secret, nodeHmac);
}

export function mintServiceToken(
  secret: string,
  scope = 'challenge:service',
  ttlSeconds = 3600,
  now = Date.now(),
): string {
  const iat = Math.floor(now / 1000);
  return mintHs256({ sub: 'loadtest', iat, exp: iat + ttlSeconds, scope }, secret, nodeHmac);
}
