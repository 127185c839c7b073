// Operator routes on the ops port, under /admin/v1 (service credential only):
//   GET  /rewards?status=dead|pending&limit=N     outbox rows of one status, oldest first
//   POST /rewards/{claimId}/replay                one dead (or idle pending) reward back to the relay
//   POST /rewards/replay-dead                     every dead reward back to the relay
//   GET  /players/{userId}/claims                 a player's claims with their reward status
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Authenticator } from '../auth/auth';
import { ApiError, apiError, badRequest, notFound } from '../errors';
import type { Clock } from '../domain/clock';
import type { Db } from '../store/db';
import { listRewards, playerClaims, replayAllDead, replayReward } from '../store/outbox';
import { MAX_ID_LENGTH } from '../limits';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_LIMIT = 1000;

type AsyncHandler = (req: Request, res: Response) => Promise<void>;

function send(res: Response, e: ApiError): void {
  if (e.retryAfter !== undefined) res.set('retry-after', String(e.retryAfter));
  res.status(e.status).type('application/json').send(e.body());
}

export function rewardsAdminRouter(deps: { db: Db; auth: Authenticator; clock: Clock }): Router {
  const router = express.Router();
  const guarded =
    (fn: AsyncHandler) =>
    (req: Request, res: Response, next: NextFunction): void => {
      const header = req.headers['x-api-key'];
      const apiKey = Array.isArray(header) ? header[0] : header;
      deps.auth
        .service(req.headers.authorization, apiKey)
        .then(() => fn(req, res))
        .catch((e: unknown) => (e instanceof ApiError ? send(res, e) : next(e)));
    };

  const limitOf = (req: Request): number => {
    const raw = req.query.limit;
    if (raw === undefined) return 100;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT)
      throw badRequest(`limit must be 1..${MAX_LIMIT}`, { field: 'limit' });
    return n;
  };

  router.get(
    '/rewards',
    guarded(async (req, res) => {
      const status = req.query.status ?? 'dead';
      if (status !== 'dead' && status !== 'pending') {
        throw badRequest('status must be dead or pending', { field: 'status' });
      }
      const rewards = await listRewards(deps.db, status, limitOf(req));
      res.json({ status, rewards, count: rewards.length });
    }),
  );

  router.post(
    '/rewards/replay-dead',
    guarded(async (_req, res) => {
      const replayed = await replayAllDead(deps.db, deps.clock.now());
      res.json({ replayed });
    }),
  );

  router.post(
    '/rewards/:claimId/replay',
    guarded(async (req, res) => {
      const claimId = req.params.claimId!;
      const result = UUID_RE.test(claimId)
        ? await replayReward(deps.db, claimId, deps.clock.now())
        : 'not_found';
      switch (result) {
        case 'replayed':
          res.json({ claimId, rewardStatus: 'pending', replayed: true });
          return;
        case 'not_found':
          throw notFound(`no reward for claim ${claimId}`, { claimId }, 'REWARD_NOT_FOUND');
        case 'granted':
          throw apiError('REWARD_ALREADY_GRANTED', 'this reward was already granted', {
            claimId,
          });
        case 'in_flight':
          throw apiError('REWARD_IN_FLIGHT', 'a relay is granting this reward right now', { claimId }, 5);
      }
    }),
  );

  router.get(
    '/players/:userId/claims',
    guarded(async (req, res) => {
      const userId = req.params.userId!;
      if (userId.length > MAX_ID_LENGTH)
        throw badRequest(`userId is longer than ${MAX_ID_LENGTH} characters`, { field: 'userId' });
      const claims = await playerClaims(deps.db, userId, limitOf(req));
      res.json({ userId, claims });
    }),
  );

  return router;
}
