// Reward delivery behind one interface. The claim id is the idempotency key: a granter must make
// delivering the same claim twice a no-op on its side (the platform or the webhook receiver).
import type { Logger } from 'pino';

export interface GrantRequest {
  claimId: string;
  userId: string;
  challengeId: string;
  goalId: string;
  periodKey: string;
  reward: { type: string; rewardId: string; quantity: number };
}

export class GrantError extends Error {
  constructor(
    message: string,
    /** true: retrying cannot help (e.g. 4xx); the outbox row goes to dead for an operator. */
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'GrantError';
  }
}

export interface Granter {
  readonly name: string;
  grant(req: GrantRequest, signal: AbortSignal): Promise<void>;
}

/** Logs the grant. The default for `make run`. */
export function logGranter(log: Logger): Granter {
  return {
    name: 'log',
    async grant(req) {
      log.info({ grant: req }, 'reward granted (log granter)');
    },
  };
}

/** One attempt bounded by `timeoutMs`: true when granted, false when it failed or timed out. */
export async function grantWithTimeout(granter: Granter, req: GrantRequest, timeoutMs: number): Promise<boolean> {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => {
      ac.abort();
      resolve(false);
    }, timeoutMs);
  });
  try {
    return await Promise.race([granter.grant(req, ac.signal).then(() => true), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
