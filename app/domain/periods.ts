// Rotation periods are calendar periods in UTC: day from 00:00, week from Monday 00:00, month from the 1st.
import type { Schedule } from './catalog';

export interface Period {
  /** Stable key of the period, e.g. `d2026-11-23`, `w2026-11-23` (the Monday), `m2026-11`. */
  readonly key: string;
  /** Inclusive start, epoch ms. */
  readonly start: number;
  /** Exclusive end, epoch ms (= start of the next period). */
  readonly end: number;
}

const DAY_MS = 86_400_000;

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function dayKey(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}

// One request evaluates every goal at the same instant: remember the periods of the last instant.
let memoNow = Number.NaN;
const memo = new Map<Schedule, Period>();

/** The period of `schedule` that contains instant `now` (epoch ms). */
export function periodAt(schedule: Schedule, now: number): Period {
  if (now !== memoNow) {
    memoNow = now;
    memo.clear();
  }
  let p = memo.get(schedule);
  if (!p) memo.set(schedule, (p = computePeriod(schedule, now)));
  return p;
}

function computePeriod(schedule: Schedule, now: number): Period {
  const d = new Date(now);
  const dayStart = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  switch (schedule) {
    case 'daily':
      return { key: `d${dayKey(dayStart)}`, start: dayStart, end: dayStart + DAY_MS };
    case 'weekly': {
      // getUTCDay: Sunday=0 .. Saturday=6; weeks start on Monday.
      const sinceMonday = (d.getUTCDay() + 6) % 7;
      const start = dayStart - sinceMonday * DAY_MS;
      return { key: `w${dayKey(start)}`, start, end: start + 7 * DAY_MS };
    }
    case 'monthly': {
      const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
      const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
      return { key: `m${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}`, start, end };
    }
  }
}

/** The period right after the one containing `now`. */
export function nextPeriod(schedule: Schedule, now: number): Period {
  return periodAt(schedule, periodAt(schedule, now).end);
}

/** The period right before the one containing `now` (not memoised: `periodAt`'s memo is per instant). */
export function previousPeriod(schedule: Schedule, now: number): Period {
  return computePeriod(schedule, computePeriod(schedule, now).start - 1);
}
