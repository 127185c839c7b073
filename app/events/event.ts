// Game events: the ingest shape of API.md, its validation (one reason per bad event, with every
// field error), and the compact encoding stored in the queue.
import { MAX_EVENTS_PER_REQUEST, MAX_ID_LENGTH } from '../limits';

export { MAX_EVENTS_PER_REQUEST, MAX_ID_LENGTH };
/** occurredAt may be at most this far ahead of the service clock (producer clock skew). */
export const MAX_FUTURE_MS = 5 * 60 * 1000;

/** A validated event, as queued. `occurredAt` is epoch ms. */
export type GameEvent =
  | { type: 'login'; eventId: string; userId: string; occurredAt: number }
  | {
      type: 'stat';
      eventId: string;
      userId: string;
      statCode: string;
      value: number;
      mode: 'set' | 'increment';
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

/** Validate one raw event; returns the event or the list of its field errors. */
export function validateEvent(raw: unknown, now: number): GameEvent | FieldError[] {
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
  let mode: 'set' | 'increment' = 'set';
  if (r.mode !== undefined && r.mode !== null) {
    if (r.mode === 'set' || r.mode === 'increment') mode = r.mode;
    else errors.push({ field: 'mode', reason: 'mode must be "set" or "increment"' });
  }
  return errors.length ? errors : { type: 'stat', eventId, userId, statCode, value, mode, occurredAt };
}

/** Split a request's events into valid ones and rejections by index. */
export function validateEvents(
  raw: readonly unknown[],
  now: number,
): { valid: GameEvent[]; rejected: Rejection[] } {
  const valid: GameEvent[] = [];
  const rejected: Rejection[] = [];
  raw.forEach((item, index) => {
    const res = validateEvent(item, now);
    if (Array.isArray(res))
      rejected.push({ index, reason: res.map((e) => e.reason).join('; '), errors: res });
    else valid.push(res);
  });
  return { valid, rejected };
}

// ---- queue encoding: short keys, one JSON string per event --------------------------------------

type Wire = { i: string; u: string; o: number } & (
  { t: 'l' } | { t: 's'; c: string; v: number; m: 's' | 'i' }
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
          m: e.mode === 'set' ? 's' : 'i',
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
  if (t === 's' && typeof w.c === 'string' && typeof w.v === 'number' && (w.m === 's' || w.m === 'i')) {
    return {
      type: 'stat',
      eventId: i,
      userId: u,
      occurredAt: o,
      statCode: w.c,
      value: w.v,
      mode: w.m === 's' ? 'set' : 'increment',
    };
  }
  return null;
}
