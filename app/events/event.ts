// Game events: the ingest shape of API.md, its validation (one reason per bad event, with every
// field error), and the compact encoding stored in the queue.
import type { Aggregation } from '../domain/catalog';
import { MAX_EVENTS_PER_REQUEST, MAX_ID_LENGTH } from '../limits';

export { MAX_EVENTS_PER_REQUEST, MAX_ID_LENGTH };
/** occurredAt may be at most this far ahead of the service clock (producer clock skew). */
export const MAX_FUTURE_MS = 5 * 60 * 1000;

/** How an event changes its stat: set (latest), increment (sum), max, min. */
export type StatMode = 'set' | 'increment' | 'max' | 'min';
export const STAT_MODES: readonly StatMode[] = ['set', 'increment', 'max', 'min'];

/** The mode a stat's declared aggregation takes (what an event of that stat must say, or may omit). */
export const MODE_OF: Readonly<Record<Aggregation, StatMode>> = {
  latest: 'set',
  sum: 'increment',
  max: 'max',
  min: 'min',
};

/** The catalog's declared aggregation of a stat, undefined when it declares none. */
export type AggregationOf = (statCode: string) => Aggregation | undefined;

/** A validated event, as queued. `occurredAt` is epoch ms. */
export type GameEvent =
  | { type: 'login'; eventId: string; userId: string; occurredAt: number }
  | {
      type: 'stat';
      eventId: string;
      userId: string;
      statCode: string;
      value: number;
      mode: StatMode;
      occurredAt: number;
    };

export interface FieldError {
  field: string;
  reason: string;
}

export interface Rejection {
  index: number;
  /** All field errors of the event in one sentence. */
  reason: string;
  errors: FieldError[];
}

// ISO 8601 date-time with an explicit zone: what game servers send; anything looser is ambiguous.
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

function checkId(v: unknown, field: string, errors: FieldError[]): string {
  if (typeof v !== 'string') errors.push({ field, reason: `${field} must be a string` });
  else if (v.length === 0) errors.push({ field, reason: `${field} must not be empty` });
  else if (v.length > MAX_ID_LENGTH)
    errors.push({ field, reason: `${field} is longer than ${MAX_ID_LENGTH} characters` });
  else return v;
  return '';
}

/**
 * Validate one raw event; returns the event or the list of its field errors. With `aggregationOf`
 * (the live catalog's declarations), a stat event's mode must be its stat's declared one (an omitted
 * mode means it); stats the catalog does not declare take set (the default) or increment.
 */
export function validateEvent(
  raw: unknown,
  now: number,
  aggregationOf?: AggregationOf,
): GameEvent | FieldError[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return [{ field: '', reason: 'event must be a JSON object' }];
  }
  const r = raw as Record<string, unknown>;
  const errors: FieldError[] = [];
  const eventId = checkId(r.eventId, 'eventId', errors);
  const userId = checkId(r.userId, 'userId', errors);

  let occurredAt = NaN;
  if (typeof r.occurredAt !== 'string' || !ISO_RE.test(r.occurredAt)) {
    errors.push({ field: 'occurredAt', reason: 'occurredAt must be an ISO 8601 date-time with a time zone' });
  } else {
    occurredAt = Date.parse(r.occurredAt);
    if (!Number.isFinite(occurredAt)) {
      errors.push({ field: 'occurredAt', reason: 'occurredAt is not a valid date-time' });
    } else if (occurredAt > now + MAX_FUTURE_MS) {
      errors.push({ field: 'occurredAt', reason: 'occurredAt is more than 5 minutes in the future' });
    }
  }

  if (r.type === 'login') {
    return errors.length ? errors : { type: 'login', eventId, userId, occurredAt };
  }
  if (r.type !== 'stat') {
    errors.push({ field: 'type', reason: 'type must be "login" or "stat"' });
    return errors;
  }
  const statCode = checkId(r.statCode, 'statCode', errors);
  let value = 0;
  if (typeof r.value !== 'number' || !Number.isSafeInteger(r.value)) {
    errors.push({ field: 'value', reason: 'value must be a safe integer' });
  } else value = r.value;
  const declared = statCode === '' ? undefined : aggregationOf?.(statCode);
  let mode: StatMode = declared ? MODE_OF[declared] : 'set';
  if (r.mode !== undefined && r.mode !== null) {
    if ((STAT_MODES as readonly unknown[]).includes(r.mode)) mode = r.mode as StatMode;
    else errors.push({ field: 'mode', reason: 'mode must be "set", "increment", "max" or "min"' });
  }
  if (declared && mode !== MODE_OF[declared] && !errors.some((e) => e.field === 'mode')) {
    errors.push({
      field: 'mode',
      reason: `mode "${mode}" does not match the aggregation "${declared}" the catalog declares for stat ${statCode} (send mode "${MODE_OF[declared]}" or omit it)`,
    });
  } else if (!declared && (mode === 'max' || mode === 'min')) {
    errors.push({
      field: 'mode',
      reason: `mode "${mode}" needs stat ${statCode} declared with aggregation "${mode}" in the catalog`,
    });
  }
  return errors.length ? errors : { type: 'stat', eventId, userId, statCode, value, mode, occurredAt };
}

/** Split a request's events into valid ones and rejections by index. */
export function validateEvents(
  raw: readonly unknown[],
  now: number,
  aggregationOf?: AggregationOf,
): { valid: GameEvent[]; rejected: Rejection[] } {
  const valid: GameEvent[] = [];
  const rejected: Rejection[] = [];
  raw.forEach((item, index) => {
    const res = validateEvent(item, now, aggregationOf);
    if (Array.isArray(res))
      rejected.push({ index, reason: res.map((e) => e.reason).join('; '), errors: res });
    else valid.push(res);
  });
  return { valid, rejected };
}

// ---- queue encoding: short keys, one JSON string per event --------------------------------------

type WireMode = 's' | 'i' | 'x' | 'n';
const WIRE_MODE: Readonly<Record<StatMode, WireMode>> = { set: 's', increment: 'i', max: 'x', min: 'n' };
const MODE_OF_WIRE: Readonly<Record<WireMode, StatMode>> = { s: 'set', i: 'increment', x: 'max', n: 'min' };

type Wire = { i: string; u: string; o: number } & (
  { t: 'l' } | { t: 's'; c: string; v: number; m: WireMode }
);

export function encodeEvent(e: GameEvent): string {
  const w: Wire =
    e.type === 'login'
      ? { t: 'l', i: e.eventId, u: e.userId, o: e.occurredAt }
      : {
          t: 's',
          i: e.eventId,
          u: e.userId,
          o: e.occurredAt,
          c: e.statCode,
          v: e.value,
          m: WIRE_MODE[e.mode],
        };
  return JSON.stringify(w);
}

/** Decode a queued event; null when the payload is not one we wrote (dead-lettered by the worker). */
export function decodeEvent(s: string): GameEvent | null {
  let w: Partial<Record<string, unknown>>;
  try {
    w = JSON.parse(s) as Partial<Record<string, unknown>>;
  } catch {
    return null;
  }
  if (typeof w !== 'object' || w === null) return null;
  const { i, u, o, t } = w;
  if (typeof i !== 'string' || typeof u !== 'string' || typeof o !== 'number') return null;
  if (t === 'l') return { type: 'login', eventId: i, userId: u, occurredAt: o };
  if (
    t === 's' &&
    typeof w.c === 'string' &&
    typeof w.v === 'number' &&
    typeof w.m === 'string' &&
    w.m in MODE_OF_WIRE
  ) {
    return {
      type: 'stat',
      eventId: i,
      userId: u,
      occurredAt: o,
      statCode: w.c,
      value: w.v,
      mode: MODE_OF_WIRE[w.m as WireMode],
    };
  }
  return null;
}
