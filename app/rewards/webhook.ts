// The webhook granter: POST the grant as JSON to a URL the game operator runs, signed so the
// receiver can check it came from us and is fresh. Recipe (docs/REWARDS.md):
//   X-Challenge-Timestamp: <unix seconds>
//   X-Challenge-Signature: v1=<hex HMAC-SHA256(WEBHOOK_SECRET, `${timestamp}.${rawBody}`)>
//   Idempotency-Key: <claimId>   (the receiver must grant each key at most once)
// 2xx = granted; 408, 429, 5xx, 3xx and network errors = retry later; any other 4xx = permanent.
import { createHmac } from 'node:crypto';
import { GrantError, type Granter, type GrantRequest } from './granter';

export interface WebhookOptions {
  url: string;
  secret: string;
  /** Wall-clock seconds for the timestamp header (injectable for tests). */
  nowSeconds?: () => number;
}

export const SIGNATURE_HEADER = 'X-Challenge-Signature';
export const TIMESTAMP_HEADER = 'X-Challenge-Timestamp';

/** `v1=<hex>`: HMAC-SHA256 keyed with the secret over `${timestamp}.${body}`. */
export function webhookSignature(secret: string, timestamp: number | string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The JSON body the webhook receives (field order fixed, so equal grants give equal bodies). */
export function webhookBody(req: GrantRequest): string {
  return JSON.stringify({
    claimId: req.claimId,
    userId: req.userId,
    challengeId: req.challengeId,
    goalId: req.goalId,
    periodKey: req.periodKey,
    reward: { type: req.reward.type, rewardId: req.reward.rewardId, quantity: req.reward.quantity },
  });
}

/** true when a status means "try again later" rather than "this grant can never succeed". */
export function isRetryableStatus(status: number): boolean {
  if (status === 408 || status === 429) return true;
  return !(status >= 400 && status < 500);
}

export function webhookGranter(opts: WebhookOptions): Granter {
  const nowSeconds = opts.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  return {
    name: 'webhook',
    async grant(req, signal) {
      const body = webhookBody(req);
      const ts = nowSeconds();
      let res: Response;
      try {
        res = await fetch(opts.url, {
          method: 'POST',
          body,
          signal,
          redirect: 'manual',
          headers: {
            'content-type': 'application/json',
            'idempotency-key': req.claimId,
            [TIMESTAMP_HEADER]: String(ts),
            [SIGNATURE_HEADER]: webhookSignature(opts.secret, ts, body),
          },
        });
      } catch (err) {
        const cause = err instanceof Error ? err.message : String(err);
        throw new GrantError(`webhook unreachable: ${cause}`, false);
      }
      // Drain the answer so the connection can be reused; its content is not needed.
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return;
      throw new GrantError(`webhook answered ${res.status}`, !isRetryableStatus(res.status));
    },
  };
}
