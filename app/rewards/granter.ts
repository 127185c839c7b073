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

/** The result of one bounded grant attempt. */
export type GrantOutcome =
  { ok: true } | { ok: false; permanent: boolean; timedOut: boolean; message: string };

/**
 * One attempt bounded by `timeoutMs`. The granter's signal is aborted when the time is up; the
 * attempt then counts as a retryable failure whatever the granter does afterwards (a slow call that
 * still lands on the other side is harmless: the next attempt carries the same idempotency key).
 */
export async function attemptGrant(
  granter: Granter,
  req: GrantRequest,
  timeoutMs: number,
): Promise<GrantOutcome> {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<GrantOutcome>((resolve) => {
    timer = setTimeout(() => {
      ac.abort();
      resolve({
        ok: false,
        permanent: false,
        timedOut: true,
        message: `grant timed out after ${timeoutMs} ms`,
      });
    }, timeoutMs);
  });
  const call = granter.grant(req, ac.signal).then(
    (): GrantOutcome => ({ ok: true }),
    (err: unknown): GrantOutcome => ({
      ok: false,
      permanent: err instanceof GrantError && err.permanent,
      timedOut: false,
      message: err instanceof Error ? err.message : String(err),
    }),
  );
  try {
    return await Promise.race([call, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
