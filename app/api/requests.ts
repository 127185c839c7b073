// Request parsing of the player routes: clear 400s that name the field. Each parser reads one
// request (path parameters, query, JSON body) into the input of a use case (app/usecases/players.ts).
import { badRequest } from '../errors';
import { MAX_ID_LENGTH } from '../limits';
import type { BatchSelectInput, GoalActiveInput, GoalRef, RandomSelectInput } from '../usecases/players';
import { parseJson, type Ctx } from './http';

/** The reference's HTTP gateway also took the proto field names; its clients send some of them. */
const SNAKE_ALIASES: Record<string, string> = {
  goal_ids: 'goalIds',
  replace_existing: 'replaceExisting',
  exclude_active: 'excludeActive',
  is_active: 'isActive',
};

export function bodyObject(ctx: Ctx): Record<string, unknown> {
  const v = parseJson(ctx.body);
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw badRequest('request body must be a JSON object');
  const body = v as Record<string, unknown>;
  for (const [snake, camel] of Object.entries(SNAKE_ALIASES)) {
    if (snake in body && !(camel in body)) body[camel] = body[snake];
  }
  return body;
}

export function optionalBool(body: Record<string, unknown>, field: string, def: boolean): boolean {
  const v = body[field];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') throw badRequest(`${field} must be a boolean`, { field });
  return v;
}

export function checkId(value: string, field: string): string {
  if (value.length === 0) throw badRequest(`${field} must not be empty`, { field });
  if (value.length > MAX_ID_LENGTH)
    throw badRequest(`${field} is longer than ${MAX_ID_LENGTH} characters`, { field, max: MAX_ID_LENGTH });
  return value;
}

const challengeId = (ctx: Ctx) => checkId(ctx.params[0]!, 'challengeId');

/** `/challenges/:challengeId` */
export const challengeRef = (ctx: Ctx) => ({ challengeId: challengeId(ctx) });

/** `/challenges/:challengeId/goals/:goalId/...` */
export const goalRef = (ctx: Ctx): GoalRef => ({
  challengeId: challengeId(ctx),
  goalId: checkId(ctx.params[1]!, 'goalId'),
});

/** `?activeOnly=true` (or `active_only`, `1`/`0`, empty) */
export function listQuery(ctx: Ctx): { activeOnly: boolean } {
  const raw = ctx.query.get('activeOnly') ?? ctx.query.get('active_only');
  if (raw !== null && raw !== 'true' && raw !== 'false' && raw !== '1' && raw !== '0' && raw !== '') {
    throw badRequest('activeOnly must be true or false', { field: 'activeOnly' });
  }
  return { activeOnly: raw === 'true' || raw === '1' };
}

/** PUT .../goals/:goalId/active `{isActive}` */
export function goalActive(ctx: Ctx): GoalActiveInput {
  const body = () => {
    const b = bodyObject(ctx);
    if (typeof b.isActive !== 'boolean')
      throw badRequest('isActive must be a boolean', { field: 'isActive' });
    return { isActive: b.isActive };
  };
  return { ...goalRef(ctx), body };
}

/** POST .../goals/batch-select `{goalIds, replaceExisting}` */
export function batchSelect(ctx: Ctx): BatchSelectInput {
  const body = () => {
    const b = bodyObject(ctx);
    const ids = b.goalIds;
    if (!Array.isArray(ids) || ids.length === 0) {
      throw badRequest('goalIds must be a non-empty array of goal ids', { field: 'goalIds' });
    }
    const replaceExisting = optionalBool(b, 'replaceExisting', false);
    const goalIds = ids.map((id: unknown, i) => {
      if (typeof id !== 'string')
        throw badRequest(`goalIds[${i}] must be a string`, { field: `goalIds[${i}]` });
      return checkId(id, `goalIds[${i}]`);
    });
    return { goalIds, replaceExisting };
  };
  return { ...challengeRef(ctx), body };
}

/** POST .../goals/random-select `{count, replaceExisting, excludeActive}` */
export function randomSelect(ctx: Ctx): RandomSelectInput {
  const body = () => {
    const b = bodyObject(ctx);
    const count = b.count;
    if (typeof count !== 'number' || !Number.isInteger(count)) {
      throw badRequest('count must be an integer', { field: 'count' });
    }
    return {
      count,
      replaceExisting: optionalBool(b, 'replaceExisting', false),
      excludeActive: optionalBool(b, 'excludeActive', false),
    };
  };
  return { ...challengeRef(ctx), body };
}
