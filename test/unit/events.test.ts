// Pure parts of the events module: validation, queue encoding, login expansion, push diffs.
import fc from 'fast-check';
import path from 'node:path';
import { loadCatalogFile } from '../../app/catalog/load';
import { emptyFacts, factKey, type PlayerFacts, type StatFact } from '../../app/domain/facts';
import { periodAt } from '../../app/domain/periods';
import { decodeEvent, encodeEvent, validateEvent, type GameEvent } from '../../app/events/event';
import { baselineNeeds, expandEvent, playerPartition } from '../../app/events/expand';
import { goalChanges } from '../../app/events/pushes';
import { isTransientDbError } from '../../app/events/worker';

const catalog = loadCatalogFile(path.resolve(__dirname, '../../examples/catalog.json'));
const NOW = Date.UTC(2026, 0, 14, 12, 0, 0);

describe('validateEvent', () => {
  const ok = {
    eventId: 'e1',
    userId: 'u1',
    type: 'stat',
    statCode: 's',
    value: 3,
    occurredAt: '2026-01-14T11:00:00Z',
  };

  test('mode defaults to set; login needs neither statCode nor value', () => {
    expect(validateEvent(ok, NOW)).toEqual({ ...ok, mode: 'set', occurredAt: Date.parse(ok.occurredAt) });
    expect(
      validateEvent(
        { eventId: 'e', userId: 'u', type: 'login', occurredAt: '2026-01-14T11:00:00.123+02:00' },
        NOW,
      ),
    ).toEqual({
      type: 'login',
      eventId: 'e',
      userId: 'u',
      occurredAt: Date.parse('2026-01-14T09:00:00.123Z'),
    });
  });

  test('every field error of one event is reported', () => {
    const errs = validateEvent({ type: 'stat', value: '3', occurredAt: 12 }, NOW) as { field: string }[];
    expect(errs.map((e) => e.field)).toEqual(['eventId', 'userId', 'occurredAt', 'statCode', 'value']);
  });

  test('ids of 128 characters pass, 129 do not', () => {
    expect(Array.isArray(validateEvent({ ...ok, eventId: 'x'.repeat(128) }, NOW))).toBe(false);
    expect(validateEvent({ ...ok, eventId: 'x'.repeat(129) }, NOW)).toEqual([
      { field: 'eventId', reason: 'eventId is longer than 128 characters' },
    ]);
  });

  test('occurredAt up to 5 minutes ahead passes, beyond is rejected', () => {
    const at = (ms: number) => ({ ...ok, occurredAt: new Date(NOW + ms).toISOString() });
    expect(Array.isArray(validateEvent(at(5 * 60_000), NOW))).toBe(false);
    expect(Array.isArray(validateEvent(at(5 * 60_000 + 1), NOW))).toBe(true);
  });

  test('value must be a safe integer', () => {
    for (const value of [1.5, Number.MAX_SAFE_INTEGER + 1, NaN, '1', null]) {
      expect(validateEvent({ ...ok, value }, NOW)).toEqual([
        { field: 'value', reason: 'value must be a safe integer' },
      ]);
    }
    expect(Array.isArray(validateEvent({ ...ok, value: -Number.MAX_SAFE_INTEGER }, NOW))).toBe(false);
  });
});

describe('queue encoding', () => {
  const arbEvent: fc.Arbitrary<GameEvent> = fc.oneof(
    fc.record({
      type: fc.constant('login' as const),
      eventId: fc.string({ minLength: 1, maxLength: 128 }),
      userId: fc.string({ minLength: 1, maxLength: 128 }),
      occurredAt: fc.integer({ min: 0, max: 4_102_444_800_000 }),
    }),
    fc.record({
      type: fc.constant('stat' as const),
      eventId: fc.string({ minLength: 1, maxLength: 128 }),
      userId: fc.string({ minLength: 1, maxLength: 128 }),
      statCode: fc.string({ minLength: 1, maxLength: 128 }),
      value: fc.maxSafeInteger(),
      mode: fc.constantFrom('set' as const, 'increment' as const, 'max' as const, 'min' as const),
      occurredAt: fc.integer({ min: 0, max: 4_102_444_800_000 }),
    }),
  );

  test('decode(encode(e)) = e for every event', () => {
    fc.assert(fc.property(arbEvent, (e) => expect(decodeEvent(encodeEvent(e))).toEqual(e)));
  });

  test('payloads we did not write decode to null', () => {
    for (const raw of [
      '',
      'x',
      '[]',
      'null',
      '{"t":"s","i":"a","u":"b","o":1}',
      '{"t":"q","i":"a","u":"b","o":1}',
    ]) {
      expect(decodeEvent(raw)).toBeNull();
    }
  });
});

describe('expandEvent / baselineNeeds', () => {
  test('a login becomes one increment of every login stat with the same event id', () => {
    const { changes } = expandEvent(catalog, { type: 'login', eventId: 'l1', userId: 'u', occurredAt: NOW });
    expect(catalog.loginStats.length).toBeGreaterThan(0);
    expect(changes).toEqual(
      catalog.loginStats.map((statCode) => ({
        eventId: 'l1',
        userId: 'u',
        statCode,
        mode: 'increment',
        value: 1,
        occurredAt: NOW,
      })),
    );
  });

  test('a stat no goal uses is dropped and flagged', () => {
    const e: GameEvent = {
      type: 'stat',
      eventId: 'x',
      userId: 'u',
      statCode: 'nope',
      value: 1,
      mode: 'set',
      occurredAt: NOW,
    };
    expect(expandEvent(catalog, e)).toEqual({ changes: [], unknownStat: true });
  });

  test('baselines are requested for the current period of stats with relative rotating goals only', () => {
    const e = (statCode: string): GameEvent => ({
      type: 'stat',
      eventId: statCode,
      userId: 'u',
      statCode,
      value: 1,
      mode: 'increment',
      occurredAt: NOW,
    });
    const changes = ['crates_opened', 'matches_finished', 'meters_travelled'].flatMap(
      (s) => expandEvent(catalog, e(s)).changes,
    );
    expect(baselineNeeds(catalog, changes, NOW)).toEqual([
      { statCode: 'crates_opened', periodKey: periodAt('daily', NOW).key },
      { statCode: 'meters_travelled', periodKey: periodAt('weekly', NOW).key },
    ]);
  });

  test('partitions are stable and within range', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1, max: 64 }), (u, n) => {
        const p = playerPartition(u, n);
        expect(p).toBe(playerPartition(u, n));
        expect(p >= 0 && p < n).toBe(true);
      }),
    );
  });
});

describe('goalChanges', () => {
  const stat = (value: number): StatFact => ({
    value,
    firstValue: 0,
    firstSeenAt: NOW - 1000,
    updatedAt: NOW,
  });
  const facts = (stats: Record<string, number>, createdAt = NOW - 5000): PlayerFacts => ({
    ...emptyFacts('p', createdAt),
    stats: new Map(Object.entries(stats).map(([k, v]) => [k, stat(v)])),
  });

  test('completing an active goal is "completed"; staying completed pushes nothing', () => {
    const msgs = goalChanges(
      catalog,
      facts({}),
      facts({ tutorial_steps_done: 1 }),
      new Set(['tutorial_steps_done']),
      NOW,
    );
    expect(msgs).toEqual([
      {
        type: 'completed',
        userId: 'p',
        challengeId: 'starter-path',
        goalId: 'first-steps',
        progress: 1,
        target: 1,
        status: 'completed',
      },
    ]);
    expect(
      goalChanges(
        catalog,
        facts({ tutorial_steps_done: 1 }),
        facts({ tutorial_steps_done: 2 }),
        new Set(['tutorial_steps_done']),
        NOW,
      ),
    ).toEqual([]);
  });

  test('progress below the target is "progress"; inactive goals are not pushed', () => {
    const msgs = goalChanges(
      catalog,
      facts({ matches_finished: 0 }),
      facts({ matches_finished: 1 }),
      new Set(['matches_finished']),
      NOW,
    );
    // first-match (active by default) completes; ten-matches is not active, so nothing about it
    expect(msgs.map((m) => [m.goalId, m.type])).toEqual([['first-match', 'completed']]);
    const daily = goalChanges(catalog, null, facts({ crates_opened: 1 }), new Set(['crates_opened']), NOW);
    expect(daily).toEqual([
      expect.objectContaining({
        goalId: 'daily-crates',
        type: 'progress',
        progress: 1,
        target: 3,
        status: 'in_progress',
      }),
    ]);
  });

  test('a claimed goal is not pushed again', () => {
    const after: PlayerFacts = {
      ...facts({ tutorial_steps_done: 3 }),
      claims: new Map([
        [
          factKey('first-steps', ''),
          {
            claimId: 'c',
            goalId: 'first-steps',
            periodKey: '',
            claimedAt: NOW,
            rewardStatus: 'granted' as const,
          },
        ],
      ]),
    };
    expect(
      goalChanges(catalog, facts({ tutorial_steps_done: 1 }), after, new Set(['tutorial_steps_done']), NOW),
    ).toEqual([]);
  });
});

describe('isTransientDbError', () => {
  test('connection, shutdown, deadlock and network errors are transient; data errors are not', () => {
    for (const code of ['08006', '57P01', '40P01', '40001', '53300', 'ECONNREFUSED', undefined]) {
      expect(isTransientDbError(Object.assign(new Error('x'), { code }))).toBe(true);
    }
    for (const code of ['22003', '23505', '42601', '22P02']) {
      expect(isTransientDbError(Object.assign(new Error('x'), { code }))).toBe(false);
    }
  });
});
