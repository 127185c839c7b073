// Per-hop timings of initialize on the real service (PostgreSQL through PgBouncer, admission on,
// in-memory limiters): asked for with X-Server-Timing: 1, answered in Server-Timing; never otherwise.
import { startTestService, type TestService } from '../helpers/service';

describe('initialize Server-Timing hops', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
  });
  afterAll(async () => t.stop());

  const hops = (h: string | null) => (h ?? '').split(', ').map((p) => p.split(';')[0]);

  it('names every hop of a new player and of a returning one when asked', async () => {
    const fresh = await t.call('timing-new', 'POST', '/v1/challenges/initialize', undefined, {
      'x-server-timing': '1',
    });
    expect(fresh.status).toBe(200);
    expect(hops(fresh.headers.get('server-timing'))).toEqual([
      'auth',
      'limits',
      'admit',
      'db',
      'view',
      'total',
    ]);
    for (const part of (fresh.headers.get('server-timing') ?? '').split(', '))
      expect(part).toMatch(/^[a-z]+;dur=\d+\.\d{3}$/);

    const again = await t.call('timing-new', 'POST', '/v1/challenges/initialize', undefined, {
      'x-server-timing': '1',
    });
    expect(hops(again.headers.get('server-timing'))).toEqual(['auth', 'limits', 'db', 'view', 'total']);
  });

  it('sends no Server-Timing unless asked', async () => {
    const r = await t.call('timing-quiet', 'POST', '/v1/challenges/initialize');
    expect(r.status).toBe(200);
    expect(r.headers.get('server-timing')).toBeNull();
  });
});
