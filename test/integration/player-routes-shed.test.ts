// Shedding at the edge of the player routes (app/api/routes.ts): a request of a class admission
// refuses right now is answered 503 before its token is verified or its Idempotency-Key looked up.
// Real service and PostgreSQL through PgBouncer; the admission decision is scripted per class and
// the idempotency wrapper counts the lookups it is asked for.
import type { Admission, AdmissionClass } from '../../app/admission';
import { unavailable } from '../../app/api/errors';
import type { IdempotencyWrapper } from '../../app/idempotency';
import { startTestService, type TestService } from '../helpers/service';

describe('player routes shed at the edge (scripted admission, counted idempotency lookups)', () => {
  let t: TestService;
  const refused = new Set<AdmissionClass>();
  const admission: Admission = {
    run: (_cls, _deadline, fn) => fn(),
    wouldRefuse: (cls) => refused.has(cls),
    check: (cls) => (refused.has(cls) ? unavailable('shed', 1, 'OVERLOADED', { reason: 'deadline' }) : null),
  };
  let lookups = 0;
  const idempotency: IdempotencyWrapper = {
    wrap: (_route, handler) => (ctx) => {
      lookups++;
      return handler(ctx);
    },
  };
  beforeAll(async () => {
    t = await startTestService({ overrides: { admission, idempotency } });
  });
  afterAll(async () => t.stop());
  beforeEach(() => {
    refused.clear();
    lookups = 0;
  });

  const badToken = { authorization: 'Bearer not-a-token', 'idempotency-key': 'k-1' };
  const claim = '/v1/challenges/daily-quests/goals/login-today/claim';

  test('not shed: a bad token is 401 after the idempotency lookup (the requests reach both)', async () => {
    expect((await t.call('u', 'POST', claim, undefined, badToken)).status).toBe(401);
    expect((await t.call('u', 'GET', '/v1/challenges', undefined, badToken)).status).toBe(401);
    expect(lookups).toBe(1);
  });

  test('claim class shed: 503 + Retry-After before the token or the idempotency key is looked at', async () => {
    refused.add('claim');
    const res = await t.call('u', 'POST', claim, undefined, badToken);
    expect([res.status, res.body.error]).toEqual([503, 'OVERLOADED']);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(lookups).toBe(0);
    // other classes are not shed
    expect((await t.call('u', 'GET', '/v1/challenges', undefined, badToken)).status).toBe(401);
  });

  test('read class shed: a list is 503 before its token is verified', async () => {
    refused.add('read');
    const res = await t.call('u', 'GET', '/v1/challenges', undefined, badToken);
    expect([res.status, res.body.error]).toEqual([503, 'OVERLOADED']);
  });

  test('player class shed: initialize is 503 before the token or the idempotency key', async () => {
    refused.add('player');
    const res = await t.call('u', 'POST', '/v1/challenges/initialize', undefined, badToken);
    expect([res.status, res.body.error]).toEqual([503, 'OVERLOADED']);
    expect(lookups).toBe(0);
  });
});
