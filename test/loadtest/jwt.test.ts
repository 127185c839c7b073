import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { jwtVerify } from 'jose';
import { base64UrlEncode, TokenCache } from '../../loadtest/tools/jwt';
import { mintPlayerToken, mintServiceToken, nodeHmac } from '../../loadtest/tools/tokens';

const secret = 'test-secret-0123456789abcdef0123456789abcdef';
const key = new TextEncoder().encode(secret);
const root = path.resolve(__dirname, '../..');
const k6 = path.join(root, '.tools/bin/k6');

describe('offline HS256 token minting', () => {
  it('encodes any string as the same base64url as Buffer', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        expect(base64UrlEncode(s)).toBe(Buffer.from(s, 'utf8').toString('base64url'));
      }),
    );
  });

  it('mints player tokens that jose verifies with the shared secret, sub = user id', async () => {
    const token = mintPlayerToken('player-ü-42', secret);
    const { payload, protectedHeader } = await jwtVerify(token, key, { algorithms: ['HS256'] });
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload.sub).toBe('player-ü-42');
    expect(payload.exp! - payload.iat!).toBe(3600);
  });

  it('mints service tokens carrying the challenge:service scope', async () => {
    const { payload } = await jwtVerify(mintServiceToken(secret), key);
    expect(String(payload.scope).split(' ')).toContain('challenge:service');
  });

  it('rejects a token minted with another secret', async () => {
    await expect(
      jwtVerify(mintPlayerToken('u1', 'other-secret-other-secret-other-secret'), key),
    ).rejects.toThrow();
  });

  it('caches one token per user and re-mints it when less than a quarter of its lifetime is left', () => {
    let now = 1_700_000_000_000;
    const cache = new TokenCache({ secret, hmac: nodeHmac, ttlSeconds: 400, now: () => now });
    const a = cache.player('u1');
    expect(cache.player('u1')).toBe(a);
    expect(cache.player('u2')).not.toBe(a);
    now += 250_000;
    expect(cache.player('u1')).toBe(a);
    now += 60_000;
    expect(cache.player('u1')).not.toBe(a);
    expect(cache.size).toBe(2);
  });

  (existsSync(k6) ? it : it.skip)('mints tokens inside k6 (k6/crypto) that jose verifies', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'k6jwt-'));
    try {
      const script = path.join(dir, 'mint.ts');
      writeFileSync(
        script,
        [
          `import crypto from 'k6/crypto';`,
          `import { TokenCache } from '${path.join(root, 'loadtest/tools/jwt.ts')}';`,
          `export const options = { iterations: 1, vus: 1 };`,
          `const cache = new TokenCache({ secret: __ENV.SECRET, ttlSeconds: 600,`,
          `  hmac: (s: string, d: string) => String(crypto.hmac('sha256', s, d, 'base64rawurl')) });`,
          `export default function (): void { console.log('TOKEN=' + cache.player('k6-user-é')); }`,
        ].join('\n'),
      );
      const run = spawnSync(k6, ['run', '--quiet', '--no-summary', '-e', `SECRET=${secret}`, script], {
        encoding: 'utf8',
        env: { ...process.env, K6_NO_USAGE_REPORT: 'true' },
      });
      // console.log of k6 goes to stderr as a log line
      const m = /TOKEN=([A-Za-z0-9_.-]+)/.exec(`${run.stdout}${run.stderr}`);
      expect(m).not.toBeNull();
      const { payload } = await jwtVerify(m![1]!, key, { algorithms: ['HS256'] });
      expect(payload.sub).toBe('k6-user-é');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
