// #18 item 2: an event's mode must match its stat's declared aggregation (latest = set, sum =
// increment, max, min); an omitted mode means the declared one; undeclared stats take set / increment.
import { validateEvent, validateEvents, type AggregationOf } from '../../app/events/event';
import { messageToEvent } from '../../app/events/grpc';

const NOW = Date.UTC(2026, 0, 14, 12);
const AGGREGATIONS = new Map([
  ['best', 'max'],
  ['fastest', 'min'],
  ['total', 'sum'],
  ['level', 'latest'],
] as const);
const DECLARED: AggregationOf = (code) => AGGREGATIONS.get(code as 'best');
const ev = (statCode: string, mode?: string) => ({
  type: 'stat',
  eventId: `e-${statCode}-${mode ?? 'none'}`,
  userId: 'u',
  statCode,
  value: 7,
  ...(mode === undefined ? {} : { mode }),
  occurredAt: new Date(NOW).toISOString(),
});

describe('mode against the declared aggregation', () => {
  test.each([
    ['best', 'max'],
    ['fastest', 'min'],
    ['total', 'increment'],
    ['level', 'set'],
  ])('%s accepts %s, and an omitted mode means it', (stat, mode) => {
    expect(validateEvent(ev(stat, mode), NOW, DECLARED)).toMatchObject({ statCode: stat, mode });
    expect(validateEvent(ev(stat), NOW, DECLARED)).toMatchObject({ statCode: stat, mode });
  });

  test('a mismatched mode is rejected with a reason naming the stat, its aggregation and the mode to send', () => {
    const { valid, rejected } = validateEvents(
      [ev('best', 'set'), ev('total', 'max'), ev('best', 'max')],
      NOW,
      DECLARED,
    );
    expect(valid).toHaveLength(1);
    expect(rejected).toEqual([
      {
        index: 0,
        reason:
          'mode "set" does not match the aggregation "max" the catalog declares for stat best (send mode "max" or omit it)',
        errors: [{ field: 'mode', reason: expect.stringContaining('does not match the aggregation "max"') }],
      },
      {
        index: 1,
        reason:
          'mode "max" does not match the aggregation "sum" the catalog declares for stat total (send mode "increment" or omit it)',
        errors: [{ field: 'mode', reason: expect.stringContaining('aggregation "sum"') }],
      },
    ]);
  });

  test('undeclared stats: set (default) and increment as before; max / min need a declaration', () => {
    expect(validateEvent(ev('other'), NOW, DECLARED)).toMatchObject({ mode: 'set' });
    expect(validateEvent(ev('other', 'increment'), NOW, DECLARED)).toMatchObject({ mode: 'increment' });
    expect(validateEvent(ev('other', 'max'), NOW, DECLARED)).toEqual([
      { field: 'mode', reason: 'mode "max" needs stat other declared with aggregation "max" in the catalog' },
    ]);
    expect(validateEvent(ev('other', 'min'), NOW)).toEqual([
      { field: 'mode', reason: 'mode "min" needs stat other declared with aggregation "min" in the catalog' },
    ]);
    expect(validateEvent(ev('other', 'avg'), NOW)).toEqual([
      { field: 'mode', reason: 'mode must be "set", "increment", "max" or "min"' },
    ]);
  });

  test('gRPC: latestValue of a max / min stat is that mode; inc of a max stat is refused', () => {
    const msg = (statCode: string, payload: Record<string, number>) => ({
      id: `g-${statCode}`,
      userId: 'u',
      namespace: 'ns',
      timestamp: new Date(NOW).toISOString(),
      payload: { statCode, ...payload },
    });
    expect(messageToEvent('stat', msg('best', { latestValue: 9 }), NOW, DECLARED)).toMatchObject({
      mode: 'max',
      value: 9,
    });
    expect(messageToEvent('stat', msg('fastest', { latestValue: 9 }), NOW, DECLARED)).toMatchObject({
      mode: 'min',
    });
    expect(messageToEvent('stat', msg('other', { latestValue: 9 }), NOW, DECLARED)).toMatchObject({
      mode: 'set',
    });
    expect(() => messageToEvent('stat', msg('best', { inc: 1 }), NOW, DECLARED)).toThrow(/aggregation "max"/);
  });
});
