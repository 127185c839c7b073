// Request parsing of the player routes: clear 400s that name the field. Each parser reads one
// request (path parameters, query, JSON body) into the input of a use case (app/usecases/players.ts),
// through the request schemas' parsers (app/schemas/requests.ts), which answer the same code,
// message and field as the routes always did.
import type { BatchSelectInput, GoalActiveInput, GoalRef, RandomSelectInput } from '../usecases/players';
import {
  orThrow,
  parseActiveOnlyQuery,
  parseBatchSelectBody,
  parseId,
  parseRandomSelectBody,
  parseSetActiveBody,
} from '../schemas/requests';
import { parseJson, type Ctx } from './http';

export const checkId = (value: string, field: string): string => orThrow(parseId(value, field));

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
  return { activeOnly: orThrow(parseActiveOnlyQuery(raw)) };
}

/** PUT .../goals/:goalId/active `{isActive}` */
export function goalActive(ctx: Ctx): GoalActiveInput {
  return { ...goalRef(ctx), body: () => orThrow(parseSetActiveBody(parseJson(ctx.body))) };
}

/** POST .../goals/batch-select `{goalIds, replaceExisting}` */
export function batchSelect(ctx: Ctx): BatchSelectInput {
  return {
    ...challengeRef(ctx),
    body: (goalCount) => orThrow(parseBatchSelectBody(parseJson(ctx.body), goalCount)),
  };
}

/** POST .../goals/random-select `{count, replaceExisting, excludeActive}` */
export function randomSelect(ctx: Ctx): RandomSelectInput {
  return {
    ...challengeRef(ctx),
    body: (goalCount) => orThrow(parseRandomSelectBody(parseJson(ctx.body), goalCount)),
  };
}
