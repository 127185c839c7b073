import type { Schedule } from '../../app/domain/catalog';
import { nextPeriod, periodAt, type Period } from '../../app/domain/periods';

const DAY = 86_400_000;
const HOUR = 3_600_000;

/** Epoch ms of an ISO instant; every literal below is explicit UTC (`Z`). */
const at = (iso: string): number => {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`bad instant ${iso}`);
  return ms;
};
/** First ms of a UTC calendar day. */
const dayStart = (ymd: string): number => at(`${ymd}T00:00:00.000Z`);
/** Last ms of a UTC calendar day. */
const dayLast = (ymd: string): number => at(`${ymd}T23:59:59.999Z`);

function expectPeriod(p: Period, key: string, startYmd: string, endYmd: string): void {
  expect(p).toEqual({ key, start: dayStart(startYmd), end: dayStart(endYmd) });
}

describe('daily periods', () => {
  test('the first ms of a UTC day starts that day', () => {
    expectPeriod(periodAt('daily', dayStart('2026-11-23')), 'd2026-11-23', '2026-11-23', '2026-11-24');
  });

  test('the last ms of a UTC day (23:59:59.999) still belongs to that day', () => {
    expectPeriod(periodAt('daily', dayLast('2026-11-23')), 'd2026-11-23', '2026-11-23', '2026-11-24');
  });

  test('one ms after the last ms of a day is the next day', () => {
    expectPeriod(periodAt('daily', dayLast('2026-11-23') + 1), 'd2026-11-24', '2026-11-24', '2026-11-25');
  });

  test('a day in the middle of the day has the same period as its first and last ms', () => {
    const noon = periodAt('daily', at('2026-11-23T12:34:56.789Z'));
    expect(noon).toEqual(periodAt('daily', dayStart('2026-11-23')));
    expect(noon).toEqual(periodAt('daily', dayLast('2026-11-23')));
  });

  test('day keys pad month and day to two digits', () => {
    expect(periodAt('daily', at('2027-01-05T08:00:00Z')).key).toBe('d2027-01-05');
  });

  test('the last day of a year is followed by the first day of the next year', () => {
    expectPeriod(periodAt('daily', dayLast('2026-12-31')), 'd2026-12-31', '2026-12-31', '2027-01-01');
    expectPeriod(periodAt('daily', dayLast('2026-12-31') + 1), 'd2027-01-01', '2027-01-01', '2027-01-02');
  });

  test('leap day 2028-02-29 is a day of its own between Feb 28 and Mar 1', () => {
    expectPeriod(periodAt('daily', dayLast('2028-02-28') + 1), 'd2028-02-29', '2028-02-29', '2028-03-01');
    expectPeriod(periodAt('daily', dayLast('2028-02-29')), 'd2028-02-29', '2028-02-29', '2028-03-01');
  });

  test('2100 is not a leap year: the day after 2100-02-28 is 2100-03-01', () => {
    expectPeriod(periodAt('daily', dayLast('2100-02-28')), 'd2100-02-28', '2100-02-28', '2100-03-01');
    expect(periodAt('daily', dayLast('2100-02-28') + 1).key).toBe('d2100-03-01');
  });

  test.each([
    ['Europe spring forward', '2026-03-29'],
    ['Europe fall back', '2026-10-25'],
    ['US spring forward', '2026-03-08'],
    ['US fall back', '2026-11-01'],
  ])('a day with a DST switch (%s, %s) is a 24 h UTC day', (_name, ymd) => {
    for (const hour of [0, 1, 2, 3, 6, 12, 23]) {
      const p = periodAt('daily', dayStart(ymd) + hour * HOUR);
      expect(p.key).toBe(`d${ymd}`);
      expect(p.start).toBe(dayStart(ymd));
      expect(p.end - p.start).toBe(24 * HOUR);
    }
  });
});

describe('weekly periods', () => {
  test('a week starts on Monday 00:00 UTC and is keyed by that Monday', () => {
    expectPeriod(periodAt('weekly', dayStart('2026-11-23')), 'w2026-11-23', '2026-11-23', '2026-11-30');
  });

  test('every day from Monday to Sunday belongs to the week of that Monday', () => {
    for (let d = 0; d < 7; d++) {
      const p = periodAt('weekly', dayStart('2026-11-23') + d * DAY + 5 * HOUR);
      expectPeriod(p, 'w2026-11-23', '2026-11-23', '2026-11-30');
    }
  });

  test('Sunday 23:59:59.999 belongs to the previous week, Monday 00:00 starts the next one', () => {
    expectPeriod(periodAt('weekly', dayLast('2026-11-29')), 'w2026-11-23', '2026-11-23', '2026-11-30');
    expectPeriod(periodAt('weekly', dayStart('2026-11-30')), 'w2026-11-30', '2026-11-30', '2026-12-07');
  });

  test('Sunday 00:00 belongs to the week that started six days earlier', () => {
    expectPeriod(periodAt('weekly', dayStart('2026-11-29')), 'w2026-11-23', '2026-11-23', '2026-11-30');
  });

  test('a week crossing a month end keeps the key and bounds of its Monday in the earlier month', () => {
    // Monday 2026-03-30 .. Sunday 2026-04-05.
    for (const ymd of ['2026-03-30', '2026-03-31', '2026-04-01', '2026-04-05']) {
      expectPeriod(periodAt('weekly', at(`${ymd}T10:00:00Z`)), 'w2026-03-30', '2026-03-30', '2026-04-06');
    }
    expectPeriod(periodAt('weekly', dayLast('2026-04-05')), 'w2026-03-30', '2026-03-30', '2026-04-06');
  });

  test('a week crossing a year end is keyed by its Monday in the earlier year', () => {
    // Monday 2026-12-28 .. Sunday 2027-01-03.
    for (const ymd of ['2026-12-28', '2026-12-31', '2027-01-01', '2027-01-03']) {
      expectPeriod(periodAt('weekly', at(`${ymd}T10:00:00Z`)), 'w2026-12-28', '2026-12-28', '2027-01-04');
    }
    expectPeriod(periodAt('weekly', dayStart('2027-01-04')), 'w2027-01-04', '2027-01-04', '2027-01-11');
  });

  test('a week containing leap day 2028-02-29 runs Monday Feb 28 to Monday Mar 6', () => {
    expectPeriod(periodAt('weekly', dayLast('2028-02-29')), 'w2028-02-28', '2028-02-28', '2028-03-06');
  });

  test('a week containing a DST switch lasts exactly 7 x 24 h', () => {
    const p = periodAt('weekly', at('2026-03-29T01:30:00Z'));
    expectPeriod(p, 'w2026-03-23', '2026-03-23', '2026-03-30');
    expect(p.end - p.start).toBe(7 * 24 * HOUR);
  });
});

describe('monthly periods', () => {
  test.each([
    ['2026-01', '2026-01-01', '2026-02-01', 31],
    ['2026-02', '2026-02-01', '2026-03-01', 28],
    ['2028-02', '2028-02-01', '2028-03-01', 29],
    ['2100-02', '2100-02-01', '2100-03-01', 28],
    ['2026-04', '2026-04-01', '2026-05-01', 30],
    ['2026-12', '2026-12-01', '2027-01-01', 31],
  ])('month %s runs from %s to %s (%i days)', (ym, first, next, days) => {
    const lastDay = new Date(dayStart(next) - 1).toISOString().slice(0, 10);
    for (const instant of [dayStart(first), dayLast(lastDay), at(`${ym}-15T12:00:00Z`)]) {
      const p = periodAt('monthly', instant);
      expectPeriod(p, `m${ym}`, first, next);
      expect(p.end - p.start).toBe(days * DAY);
    }
    expect(periodAt('monthly', dayStart(next)).key).not.toBe(`m${ym}`);
  });

  test('the last ms of a month belongs to it and the next ms to the next month', () => {
    expect(periodAt('monthly', dayLast('2026-04-30')).key).toBe('m2026-04');
    expect(periodAt('monthly', dayLast('2026-04-30') + 1).key).toBe('m2026-05');
  });

  test('leap day 2028-02-29 belongs to February 2028', () => {
    expectPeriod(periodAt('monthly', dayLast('2028-02-29')), 'm2028-02', '2028-02-01', '2028-03-01');
  });

  test('a month containing DST switches is a whole number of 24 h days', () => {
    const p = periodAt('monthly', at('2026-10-25T01:30:00Z'));
    expectPeriod(p, 'm2026-10', '2026-10-01', '2026-11-01');
    expect(p.end - p.start).toBe(31 * 24 * HOUR);
  });
});

describe('period keys', () => {
  const schedules: Schedule[] = ['daily', 'weekly', 'monthly'];

  test('keys are stable: every instant of a period gives the same key and bounds', () => {
    for (const schedule of schedules) {
      const p = periodAt(schedule, at('2026-11-25T07:00:00Z'));
      for (const instant of [p.start, p.start + 1, Math.floor((p.start + p.end) / 2), p.end - 1]) {
        expect(periodAt(schedule, instant)).toEqual(p);
      }
    }
  });

  test('consecutive periods over two years have distinct keys and tile time without gaps', () => {
    for (const schedule of schedules) {
      const seen = new Set<string>();
      let p = periodAt(schedule, dayStart('2027-01-01'));
      while (p.start < dayStart('2029-01-01')) {
        expect(seen.has(p.key)).toBe(false);
        seen.add(p.key);
        const next = nextPeriod(schedule, p.start);
        expect(next.start).toBe(p.end);
        p = next;
      }
      expect(seen.size).toBeGreaterThan(20);
    }
  });

  test('the three schedules never share a key for the same instant', () => {
    // 2026-11-23 is a Monday, so the day and week starts coincide; the prefixes keep keys apart.
    const instant = dayStart('2026-11-23');
    const keys = schedules.map((s) => periodAt(s, instant).key);
    expect(keys).toEqual(['d2026-11-23', 'w2026-11-23', 'm2026-11']);
    expect(new Set(keys).size).toBe(3);
  });
});

describe('nextPeriod', () => {
  test('the next period starts at the end of the current one, for each schedule', () => {
    const now = at('2026-11-25T07:00:00Z');
    expectPeriod(nextPeriod('daily', now), 'd2026-11-26', '2026-11-26', '2026-11-27');
    expectPeriod(nextPeriod('weekly', now), 'w2026-11-30', '2026-11-30', '2026-12-07');
    expectPeriod(nextPeriod('monthly', now), 'm2026-12', '2026-12-01', '2027-01-01');
  });

  test('from the last ms of a period the next period is the one right after, not two ahead', () => {
    expect(nextPeriod('daily', dayLast('2026-11-25')).key).toBe('d2026-11-26');
    expect(nextPeriod('weekly', dayLast('2026-11-29')).key).toBe('w2026-11-30');
    expect(nextPeriod('monthly', dayLast('2026-11-30')).key).toBe('m2026-12');
  });

  test('the next month after January is February with its own length, crossing a year end too', () => {
    expectPeriod(nextPeriod('monthly', at('2028-01-31T23:00:00Z')), 'm2028-02', '2028-02-01', '2028-03-01');
    expectPeriod(nextPeriod('monthly', at('2026-12-31T23:00:00Z')), 'm2027-01', '2027-01-01', '2027-02-01');
  });

  test('the day after 2100-02-28 is 2100-03-01 and the one after 2028-02-28 is the leap day', () => {
    expect(nextPeriod('daily', at('2100-02-28T12:00:00Z')).key).toBe('d2100-03-01');
    expect(nextPeriod('daily', at('2028-02-28T12:00:00Z')).key).toBe('d2028-02-29');
  });
});
