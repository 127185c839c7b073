// The HS256 fast path accepts exactly what jose accepts for our tokens and refuses the rest.
import { createHmac, createSecretKey } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { Authenticator, mintToken, verifyHs256 } from '../../app/api/auth';

const SECRET = 'unit-secret-unit-secret-unit-secret-01';
const key = createSecretKey(Buffer.from(SECRET));
const enc = new TextEncoder().encode(SECRET);

describe('HS256 verification', () => {
  test('a token minted with the secret verifies and yields its claims', async () => {
    const { token } = await mintToken(SECRET, 'player-7');
    expect(verifyHs256(token, key, Date.now()).sub).toBe('player-7');
  });

  test('wrong secret, tampered payload, expired, not-yet-valid, alg none and crit headers are refused', async () => {
    const other = (await mintToken('another-secret-another-secret-0000', 'p')).token;
    expect(() => verifyHs256(other, key, Date.now())).toThrow('bad signature');
    const good = (await mintToken(SECRET, 'p')).token;
    const [h, , s] = good.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ sub: 'admin' })).toString('base64url')}.${s}`;
    expect(() => verifyHs256(forged, key, Date.now())).toThrow('bad signature');
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('p')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 10)
      .sign(enc);
    expect(() => verifyHs256(expired, key, Date.now())).toThrow('expired');
    const future = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('p')
      .setNotBefore(Math.floor(Date.now() / 1000) + 60)
      .setExpirationTime('2h')
      .sign(enc);
    expect(() => verifyHs256(future, key, Date.now())).toThrow('not yet valid');
    // No exp: refused unless the policy allows it (JWT_REQUIRE_EXP=0).
    const noExp = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('p').sign(enc);
    expect(() => verifyHs256(noExp, key, Date.now())).toThrow('no exp');
    expect(verifyHs256(noExp, key, Date.now(), undefined, undefined, false).sub).toBe('p');
    const none = new UnsecuredJWT({ sub: 'p' }).encode();
    expect(() => verifyHs256(none, key, Date.now())).toThrow();
    // jose refuses to sign an unknown critical header, so this one is signed by hand.
    const ch = Buffer.from(JSON.stringify({ alg: 'HS256', crit: ['x'], x: 1 })).toString('base64url');
    const cp = Buffer.from(JSON.stringify({ sub: 'p' })).toString('base64url');
    const crit = `${ch}.${cp}.${createHmac('sha256', key).update(`${ch}.${cp}`).digest('base64url')}`;
    expect(() => verifyHs256(crit, key, Date.now())).toThrow('unexpected JWS header');
    expect(() => verifyHs256('a.b', key, Date.now())).toThrow();
  });

  test('issuer and audience are enforced when configured', async () => {
    const t = (await mintToken(SECRET, 'p', { issuer: 'game', audience: 'challenges' })).token;
    expect(verifyHs256(t, key, Date.now(), 'game', 'challenges').sub).toBe('p');
    expect(() => verifyHs256(t, key, Date.now(), 'other')).toThrow('issuer');
    expect(() => verifyHs256(t, key, Date.now(), undefined, 'other')).toThrow('audience');
  });

  test('the authenticator answers 401 for refused tokens and 403 for a service token on a player route', async () => {
    const auth = new Authenticator({
      hs256Secret: SECRET,
      serviceScope: 'challenge:service',
      serviceApiKeys: [],
    });
    const player = (await mintToken(SECRET, 'p-1')).token;
    await expect(auth.player(`Bearer ${player}`)).resolves.toBe('p-1');
    const bad = (await mintToken('another-secret-another-secret-0000', 'p')).token;
    await expect(auth.player(`Bearer ${bad}`)).rejects.toMatchObject({ status: 401 });
    const svc = (await mintToken(SECRET, 'gs', { service: true })).token;
    await expect(auth.player(`Bearer ${svc}`)).rejects.toMatchObject({ status: 403 });
    await expect(auth.service(`Bearer ${svc}`, undefined)).resolves.toMatchObject({
      kind: 'service',
      id: 'gs',
    });
  });
});
