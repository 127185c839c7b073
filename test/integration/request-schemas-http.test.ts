// A request that violates a request schema gets, from the running service, exactly the 400 the
// schema's parser (app/schemas/requests.ts) answers for it: same status, error code, message and
// details (the `field` named). Holds whether a route checks inline or calls the parser, so it pins
// the routes' answers across the switch of their call sites.
import { ApiError } from '../../app/errors';
import { eventsModule } from '../../app/events/module';
import { MAX_EVENTS_PER_REQUEST } from '../../app/limits';
import {
  parseActiveOnlyQuery,
  parseBatchSelectBody,
  parseDevTokenBody,
  parseEventsBody,
  parseId,
  parseRandomSelectBody,
  parseSetActiveBody,
  type Parsed,
} from '../../app/schemas/requests';
import { dropEventKeys, eventsEnv } from '../helpers/events';
import { startTestService, type TestService } from '../helpers/service';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON answers
type AnyJson = any;

function refusal(parsed: Parsed<unknown>) {
  if (parsed.ok) throw new Error('the parser accepted a body the test means to be invalid');
  const e: ApiError = parsed.error;
  return { status: e.status, body: { code: e.code, error: e.error, message: e.message, details: e.details } };
}

describe('invalid requests: the service answers what the request schemas answer', () => {
  let t: TestService;
  let challengeId: string;
  let goalIds: string[];
  let env: Record<string, string>;
  beforeAll(async () => {
    env = eventsEnv({ RATE_LIMIT_PLAYER_PER_SEC: '0' });
    t = await startTestService({ modules: [eventsModule()], env });
    const list = await t.call('schema-p0', 'GET', '/v1/challenges');
    const challenge = (list.body as AnyJson).challenges.find((c: AnyJson) => c.goals.length >= 2);
    challengeId = challenge.challengeId;
    goalIds = challenge.goals.map((g: AnyJson) => g.goalId);
  });
  afterAll(async () => {
    await t?.stop();
    if (env) await dropEventKeys(env);
  });

  const answer = async (method: string, path: string, body?: string, headers?: Record<string, string>) => {
    const r = await t.call('schema-p1', method, path, body, {
      'content-type': 'application/json',
      ...headers,
    });
    return { status: r.status, body: r.body as unknown };
  };

  const BODIES = ['null', '[]', '"text"', '3', '{}'];

  test('PUT .../goals/{goalId}/active', async () => {
    const path = () => `/v1/challenges/${challengeId}/goals/${goalIds[0]}/active`;
    for (const body of [...BODIES, '{"isActive":"yes"}', '{"is_active":1}', '{"isActive":null}']) {
      expect([body, await answer('PUT', path(), body)]).toEqual([
        body,
        refusal(parseSetActiveBody(JSON.parse(body))),
      ]);
    }
  });

  test('POST .../goals/batch-select', async () => {
    const path = `/v1/challenges/${challengeId}/goals/batch-select`;
    const n = goalIds.length;
    const bodies = [
      ...BODIES,
      '{"goalIds":[]}',
      '{"goalIds":"a"}',
      '{"goalIds":[5]}',
      '{"goalIds":[""]}',
      JSON.stringify({ goalIds: [goalIds[0], 'g'.repeat(129)] }),
      JSON.stringify({ goalIds: [goalIds[0]], replaceExisting: 'no' }),
      JSON.stringify({ goal_ids: [goalIds[0]], replace_existing: 1 }),
      JSON.stringify({ goalIds: new Array(n + 1).fill(goalIds[0]) }),
    ];
    for (const body of bodies) {
      expect([body, await answer('POST', path, body)]).toEqual([
        body,
        refusal(parseBatchSelectBody(JSON.parse(body), n)),
      ]);
    }
  });

  test('POST .../goals/random-select', async () => {
    const path = `/v1/challenges/${challengeId}/goals/random-select`;
    const n = goalIds.length;
    const bodies = [
      ...BODIES,
      '{"count":"1"}',
      '{"count":1.5}',
      '{"count":0}',
      `{"count":${n + 1}}`,
      '{"count":1,"replaceExisting":3}',
      '{"count":1,"exclude_active":"x"}',
    ];
    for (const body of bodies) {
      expect([body, await answer('POST', path, body)]).toEqual([
        body,
        refusal(parseRandomSelectBody(JSON.parse(body), n)),
      ]);
    }
  });

  test('path ids over the limit, and the activeOnly query', async () => {
    const long = 'c'.repeat(129);
    expect(await answer('GET', `/v1/challenges/${long}`)).toEqual(refusal(parseId(long, 'challengeId')));
    expect(await answer('POST', `/v1/challenges/${challengeId}/goals/${long}/claim`)).toEqual(
      refusal(parseId(long, 'goalId')),
    );
    expect(await answer('GET', '/v1/challenges?activeOnly=yes')).toEqual(
      refusal(parseActiveOnlyQuery('yes')),
    );
  });

  test('POST /dev/token', async () => {
    for (const body of [...BODIES, '{"userId":""}', '{"userId":5}', '{"service":"x"}']) {
      expect([body, await answer('POST', '/dev/token', body)]).toEqual([
        body,
        refusal(parseDevTokenBody(JSON.parse(body))),
      ]);
    }
  });

  test('POST /v1/events', async () => {
    const tooMany = JSON.stringify({ events: new Array(MAX_EVENTS_PER_REQUEST + 1).fill({}) });
    for (const body of [...BODIES, '{"events":3}', tooMany]) {
      const got = await answer('POST', '/v1/events', body, {
        authorization: `Bearer ${await t.serviceToken()}`,
      });
      expect([body.slice(0, 40), got]).toEqual([
        body.slice(0, 40),
        refusal(parseEventsBody(JSON.parse(body))),
      ]);
    }
  });
});
