// Two operators publish at the same moment on two api instances, both with If-Match naming the
// live version: exactly one publish wins, the other is refused with 412, the history has one new
// revision and both instances serve the winner (real PostgreSQL + Redis).
import { parseCatalog } from '../../app/catalog/load';
import { catalogModule } from '../../app/catalog/watch';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { startTestService, TEST_API_KEY, type TestService } from '../helpers/service';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON answers
type AnyJson = any;

const doc = (target: number) => ({
  challenges: [
    {
      challengeId: 'race',
      name: 'Race',
      description: '',
      goals: [
        {
          goalId: 'g1',
          name: 'G1',
          description: '',
          eventSource: 'statistic',
          requirement: { statCode: 's1', operator: '>=', targetValue: target, progressMode: 'absolute' },
          reward: { type: 'WALLET', rewardId: 'COINS', quantity: 1 },
          prerequisites: [],
          defaultAssigned: true,
        },
      ],
    },
  ],
});

async function admin(
  t: TestService,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${t.ops}/admin/v1/catalogs${path}`, {
    method,
    headers: { 'x-api-key': TEST_API_KEY, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as AnyJson };
}

describe('concurrent admin publishes racing on If-Match', () => {
  let db: TestDatabase;
  let a: TestService;
  let b: TestService;
  beforeAll(async () => {
    db = await createTestDatabase('catrace');
    const env = {
      CATALOG_SOURCE: 'admin',
      REDIS_URL: process.env.REDIS_URL!,
      CATALOG_POLL_INTERVAL_MS: '200',
    };
    a = await startTestService({ db, modules: [catalogModule], env });
    b = await startTestService({ db, modules: [catalogModule], env });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await db?.drop();
  });

  test('one wins, the other gets 412; one new revision; both instances serve the winner', async () => {
    const first = await admin(a, 'POST', '/publish', doc(1));
    expect(first.status).toBe(200);
    const live = parseCatalog(doc(1)).version;
    for (let round = 0; round < 5; round++) {
      const base = (await admin(a, 'GET', '/current')).body.version as string;
      const before = (await admin(a, 'GET', '/history')).body.items.length as number;
      const [x, y] = await Promise.all([
        admin(a, 'POST', '/publish', doc(10 + round * 2), { 'if-match': `"${base}"` }),
        admin(b, 'POST', '/publish', doc(11 + round * 2), { 'if-match': `"${base}"` }),
      ]);
      const statuses = [x.status, y.status].sort();
      expect(statuses).toEqual([200, 412]);
      const loser = x.status === 412 ? x : y;
      expect(loser.body.error).toEqual(expect.any(String));
      const winner = x.status === 200 ? 10 + round * 2 : 11 + round * 2;
      const version = parseCatalog(doc(winner)).version;
      const history = (await admin(b, 'GET', '/history')).body.items as { version?: string }[];
      expect(history.length).toBe(before + 1);
      for (const t of [a, b]) {
        const until = Date.now() + 5000;
        while ((await admin(t, 'GET', '/current')).body.version !== version) {
          if (Date.now() > until) throw new Error('instance not on the winning version');
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
    expect(live).not.toBe(parseCatalog(doc(10)).version);
  });
});
