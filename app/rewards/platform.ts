// The game platform's wallet and entitlement APIs, as the service needs them. An integrator
// implements PlatformRewardClient against their platform SDK and passes it to platformGranter();
// the service never depends on a particular platform.
import { GrantError, type Granter, type GrantRequest } from './granter';

/** Where a grant comes from; platforms usually store it with the transaction for support tools. */
export interface GrantSource {
  claimId: string;
  challengeId: string;
  goalId: string;
  periodKey: string;
}

export interface WalletCredit {
  userId: string;
  /** The catalog's rewardId of a WALLET reward, e.g. "COINS". */
  currencyCode: string;
  /** A positive whole amount. */
  amount: number;
  /** The claim id. The platform must apply each key at most once (a repeat is a success, not a second credit). */
  idempotencyKey: string;
  source: GrantSource;
}

export interface EntitlementGrant {
  userId: string;
  /** The catalog's rewardId of an ITEM reward (SKU / item id on the platform). */
  itemId: string;
  quantity: number;
  /** The claim id; same contract as WalletCredit.idempotencyKey. */
  idempotencyKey: string;
  source: GrantSource;
}

/**
 * What the service needs from the game platform. Contract for implementations:
 * - resolve when the credit/entitlement exists on the platform (newly or from an earlier call with
 *   the same idempotencyKey);
 * - reject with `new GrantError(msg, true)` when retrying can never help (unknown player, unknown
 *   item or currency, request refused as invalid): the outbox entry goes dead for an operator;
 * - reject with anything else (including `GrantError(msg, false)`) for transient trouble: the relay
 *   retries with backoff and the same idempotencyKey;
 * - stop work when `signal` aborts (the attempt's time is up; it will be retried).
 */
export interface PlatformRewardClient {
  creditWallet(credit: WalletCredit, signal: AbortSignal): Promise<void>;
  grantEntitlement(grant: EntitlementGrant, signal: AbortSignal): Promise<void>;
}

function sourceOf(req: GrantRequest): GrantSource {
  return { claimId: req.claimId, challengeId: req.challengeId, goalId: req.goalId, periodKey: req.periodKey };
}

/** Granter over a platform client: ITEM -> entitlement, WALLET -> wallet credit. */
export function platformGranter(client: PlatformRewardClient): Granter {
  return {
    name: 'platform',
    async grant(req, signal) {
      const { type, rewardId, quantity } = req.reward;
      switch (type) {
        case 'WALLET':
          return client.creditWallet(
            {
              userId: req.userId,
              currencyCode: rewardId,
              amount: quantity,
              idempotencyKey: req.claimId,
              source: sourceOf(req),
            },
            signal,
          );
        case 'ITEM':
          return client.grantEntitlement(
            {
              userId: req.userId,
              itemId: rewardId,
              quantity,
              idempotencyKey: req.claimId,
              source: sourceOf(req),
            },
            signal,
          );
        default:
          throw new GrantError(`reward type ${type} has no platform mapping`, true);
      }
    },
  };
}
