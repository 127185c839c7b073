// The rewards module. Worker role: the outbox relay, the outbox gauges and the pruning of old
// Idempotency-Key answers (the job lives in app/idempotency). API role: the operator routes under /admin/v1 on the ops port.
import type { Clock } from '../domain/clock';
import { rewardOutboxDead, rewardOutboxOldestPendingSeconds, rewardOutboxPending } from '../ops/metrics';
import type { Module, ModuleFactory } from '../runtime';
import type { Db } from '../store/db';
import { idempotencyPruneJob } from '../idempotency';
import { every } from '../every';
import { outboxStats } from '../store/outbox';
import { rewardsAdminRouter } from './admin';
import { OutboxRelay } from './relay';

export async function refreshOutboxGauges(db: Db, clock: Clock): Promise<void> {
  const s = await outboxStats(db);
  rewardOutboxPending.set(s.pending);
  rewardOutboxDead.set(s.dead);
  rewardOutboxOldestPendingSeconds.set(
    s.oldestPending === null ? 0 : Math.max(0, (clock.now() - s.oldestPending) / 1000),
  );
}

export const rewardsModule: ModuleFactory = async (ctx) => {
  const { cfg, db, clock, log } = ctx;
  if (ctx.role === 'api') {
    return { name: 'rewards-admin', admin: rewardsAdminRouter({ db, auth: ctx.auth, clock }) };
  }
  const relay = new OutboxRelay({
    db,
    granter: ctx.granter,
    clock,
    log: log.child({ component: 'reward-relay' }),
    pollMs: cfg.REWARD_RELAY_POLL_MS,
    batch: cfg.REWARD_RELAY_BATCH,
    leaseMs: cfg.REWARD_RELAY_LEASE_MS,
    grantTimeoutMs: cfg.REWARD_RELAY_GRANT_TIMEOUT_MS,
    freshMs: cfg.GRANT_TIMEOUT_MS + cfg.REWARD_RELAY_SYNC_GRACE_MS,
    retryBaseMs: cfg.REWARD_RETRY_BASE_MS,
    retryMaxMs: cfg.REWARD_RETRY_MAX_MS,
    maxAttempts: cfg.REWARD_MAX_ATTEMPTS,
    maxAgeMs: cfg.REWARD_MAX_AGE_MS,
  });
  relay.start();
  const gauges = every(cfg.REWARD_OUTBOX_METRICS_MS, log, 'reward outbox gauges', () =>
    refreshOutboxGauges(db, clock),
  );
  const pruner = idempotencyPruneJob(db, cfg, log);
  const mod: Module = {
    name: 'rewards-relay',
    async stop() {
      await Promise.all([relay.stop(), gauges.stop(), pruner.stop()]);
    },
  };
  return mod;
};
