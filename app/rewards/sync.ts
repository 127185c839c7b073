// The claim request's own grant attempt, after the claim committed. Never undoes the claim and never
// fails the request: whatever happens, the outbox row is there for the relay or an operator.
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock';
import { rewardGrantFailuresTotal, rewardsGrantedTotal } from '../ops/metrics';
import { markRewardGranted } from '../store/claims';
import type { Db } from '../store/db';
import { markDeadUnleased } from '../store/outbox';
import { attemptGrant, type Granter, type GrantRequest } from './granter';

export type RewardStatus = 'granted' | 'pending';

export interface SyncGrantDeps {
  db: Db;
  granter: Granter;
  clock: Clock;
  log: Logger;
  timeoutMs: number;
}

/**
 * One attempt bounded by `timeoutMs`:
 * - success: the row is marked granted -> "granted" (also when that mark fails: the reward was
 *   delivered; the relay's repeat carries the same key);
 * - retryable failure or timeout: nothing written, the relay takes the row after its grace -> "pending";
 * - permanent failure: the row goes dead at once for an operator -> "pending" (the claim stands).
 */
export async function grantAfterClaim(deps: SyncGrantDeps, req: GrantRequest): Promise<RewardStatus> {
  const outcome = await attemptGrant(deps.granter, req, deps.timeoutMs);
  if (outcome.ok) {
    rewardsGrantedTotal.inc({ path: 'sync' });
    await markRewardGranted(deps.db, req.claimId, deps.clock.now()).catch((err: unknown) =>
      deps.log.warn(
        { err, claimId: req.claimId },
        'reward granted but not recorded; the relay will repeat it (same key)',
      ),
    );
    return 'granted';
  }
  rewardGrantFailuresTotal.inc({ kind: outcome.permanent ? 'permanent' : 'retryable' });
  if (outcome.permanent) {
    await markDeadUnleased(deps.db, req.claimId, `permanent failure: ${outcome.message}`).catch(
      (err: unknown) =>
        deps.log.warn({ err, claimId: req.claimId }, 'could not mark reward dead; the relay will retry it'),
    );
    deps.log.error(
      { claimId: req.claimId, error: outcome.message },
      'reward dead: needs an operator (admin replay)',
    );
  } else {
    deps.log.info(
      { claimId: req.claimId, error: outcome.message },
      'reward pending: left to the outbox relay',
    );
  }
  return 'pending';
}
