// The one prom-client registry of the service. Every module records through the metric objects
// exported here; the ops server serves `registry.metrics()` on /metrics. Dashboards, alert rules
// and their tests read ALL_METRIC_NAMES, so a metric that is renamed or removed here breaks them.
//
// Labels are bounded: `route` is a route template ("/challenge/v1/players/:playerId/init"), never a
// concrete path; `pool`, `reason`, `result`, `path`, `kind` and `state` take the values listed in the
// exported union types. Player ids, challenge ids and event ids never appear in a label.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import {
  ADMISSION_QUEUE_METRIC,
  IN_FLIGHT_METRIC,
  STREAM_LAG_ENTRIES_METRIC,
  STREAM_LAG_SECONDS_METRIC,
} from './autoscaling';

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

/** Buckets for request latency: 1 ms to 5 s, dense around the 10-50 ms targets. */
export const HTTP_DURATION_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5,
];
/** Buckets for time spent in the admission queue (the deadline is 2 s). */
export const QUEUE_WAIT_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2,
];
/** Buckets for the number of events applied in one batch. */
export const BATCH_SIZE_BUCKETS: readonly number[] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
/** Buckets for applying one batch of events to PostgreSQL. */
export const APPLY_DURATION_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

export type AdmissionRejectionReason =
  'queue_full' | 'deadline' | 'rate_limited' | 'budget_exhausted' | 'draining' | 'connections';
export const ADMISSION_REJECTION_REASONS: readonly AdmissionRejectionReason[] = [
  'queue_full',
  'deadline',
  'rate_limited',
  'budget_exhausted',
  'draining',
  'connections',
];
export type IngestResult = 'accepted' | 'rejected';
export type ClaimResult = 'claimed' | 'conflict';
export type GrantPath = 'sync' | 'relay';
export type GrantFailureKind = 'retryable' | 'permanent';
export type CatalogReloadResult = 'success' | 'failure';
export type PgPoolState = 'total' | 'idle' | 'waiting';

const registers = [registry];

// --- HTTP (RED) --------------------------------------------------------------------------------

export const httpRequestsTotal = new Counter<'route' | 'method' | 'status'>({
  name: 'challenge_http_requests_total',
  help: 'Player and service HTTP requests answered, by route template, method and status code.',
  labelNames: ['route', 'method', 'status'],
  registers,
});

export const httpRequestDurationSeconds = new Histogram<'route' | 'method'>({
  name: 'challenge_http_request_duration_seconds',
  help: 'Time from receiving a request to sending the last byte of its answer, seconds.',
  labelNames: ['route', 'method'],
  buckets: [...HTTP_DURATION_BUCKETS],
  registers,
});

export const httpAcceptToAnswerSeconds = new Histogram({
  name: 'challenge_http_accept_to_answer_seconds',
  help: 'Estimated time from the kernel handing over a request to its last answer byte: the answer time plus the event-loop delay measured when the request was read (uWS does not expose the accept itself), seconds.',
  buckets: [...HTTP_DURATION_BUCKETS],
  registers,
});

export const httpRequestsInFlight = new Gauge({
  name: IN_FLIGHT_METRIC,
  help: 'Requests admitted and currently being served by this pod (autoscaling input).',
  registers,
});

// --- admission ---------------------------------------------------------------------------------

export const admissionLimit = new Gauge<'pool'>({
  name: 'challenge_admission_limit',
  help: 'Current adaptive concurrency limit of an admission pool.',
  labelNames: ['pool'],
  registers,
});

export const admissionInFlight = new Gauge<'pool'>({
  name: 'challenge_admission_in_flight',
  help: 'Requests holding an admission permit of a pool.',
  labelNames: ['pool'],
  registers,
});

// No labels on purpose: autoscaling.ts adds this gauge to IN_FLIGHT_METRIC one-to-one, which only
// matches when both carry the same label set (the pod's target labels).
export const admissionQueueDepth = new Gauge({
  name: ADMISSION_QUEUE_METRIC,
  help: 'Requests waiting in the admission deadline queue of this pod (autoscaling input).',
  registers,
});

export const admissionQueueWaitSeconds = new Histogram<'pool'>({
  name: 'challenge_admission_queue_wait_seconds',
  help: 'Time a request waited in the admission queue before being admitted or rejected, seconds.',
  labelNames: ['pool'],
  buckets: [...QUEUE_WAIT_BUCKETS],
  registers,
});

export const admissionRejectionsTotal = new Counter<'pool' | 'reason'>({
  name: 'challenge_admission_rejections_total',
  help: 'Requests refused by admission (503/429), by pool and reason.',
  labelNames: ['pool', 'reason'],
  registers,
});

export const rateLimiterDegraded = new Gauge({
  name: 'challenge_rate_limiter_degraded',
  help: '1 while Redis rate limits have fallen back to per-pod in-memory limits, else 0.',
  registers,
});

// --- events ------------------------------------------------------------------------------------

export const eventsIngestedTotal = new Counter<'result'>({
  name: 'challenge_events_ingested_total',
  help: 'Game events received by the ingest endpoint, by result (accepted into the stream or rejected).',
  labelNames: ['result'],
  registers,
});

export const eventStreamLagEntries = new Gauge({
  name: STREAM_LAG_ENTRIES_METRIC,
  help: 'Entries in the event stream not yet delivered to the consumer group (autoscaling input).',
  registers,
});

export const eventStreamLagSeconds = new Gauge({
  name: STREAM_LAG_SECONDS_METRIC,
  help: 'Age of the oldest event not yet applied, seconds.',
  registers,
});

export const eventStreamPendingEntries = new Gauge({
  name: 'challenge_event_stream_pending_entries',
  help: 'Entries delivered to a consumer but not yet acknowledged (XPENDING count).',
  registers,
});

export const eventApplyBatchSize = new Histogram({
  name: 'challenge_event_apply_batch_size',
  help: 'Number of events applied to PostgreSQL in one batch.',
  buckets: [...BATCH_SIZE_BUCKETS],
  registers,
});

export const eventApplyDurationSeconds = new Histogram({
  name: 'challenge_event_apply_duration_seconds',
  help: 'Time to apply one batch of events to PostgreSQL, seconds.',
  buckets: [...APPLY_DURATION_BUCKETS],
  registers,
});

export const eventsAppliedTotal = new Counter({
  name: 'challenge_events_applied_total',
  help: 'Events applied to player progress.',
  registers,
});

export const eventsDuplicateTotal = new Counter({
  name: 'challenge_events_duplicate_total',
  help: 'Events skipped because their id was already applied.',
  registers,
});

export const eventsDeadLetteredTotal = new Counter({
  name: 'challenge_events_dead_lettered_total',
  help: 'Events moved to the dead-letter stream after repeated failures.',
  registers,
});

export const eventsUnknownStatTotal = new Counter({
  name: 'challenge_events_unknown_stat_total',
  help: 'Events whose stat code no challenge of the current catalog tracks.',
  registers,
});

export const eventStreamLength = new Gauge({
  name: 'challenge_event_stream_length',
  help: 'Entries currently held in the event stream (XLEN).',
  registers,
});

// --- rewards -----------------------------------------------------------------------------------

export const claimsTotal = new Counter<'result'>({
  name: 'challenge_claims_total',
  help: 'Reward claims, by result (claimed, or conflict when not claimable / already claimed).',
  labelNames: ['result'],
  registers,
});

export const rewardsGrantedTotal = new Counter<'path'>({
  name: 'challenge_rewards_granted_total',
  help: 'Rewards delivered to the granter, by path (sync in the claim request, relay from the outbox).',
  labelNames: ['path'],
  registers,
});

export const rewardGrantFailuresTotal = new Counter<'kind'>({
  name: 'challenge_reward_grant_failures_total',
  help: 'Failed reward grant attempts, by kind (retryable, or permanent which dead-letters the entry).',
  labelNames: ['kind'],
  registers,
});

export const rewardOutboxPending = new Gauge({
  name: 'challenge_reward_outbox_pending',
  help: 'Outbox entries waiting to be granted.',
  registers,
});

export const rewardOutboxDead = new Gauge({
  name: 'challenge_reward_outbox_dead',
  help: 'Outbox entries given up on after a permanent failure or too many attempts.',
  registers,
});

export const rewardOutboxOldestPendingSeconds = new Gauge({
  name: 'challenge_reward_outbox_oldest_pending_seconds',
  help: 'Age of the oldest pending outbox entry, seconds (0 when none).',
  registers,
});

// --- catalog -----------------------------------------------------------------------------------

export const catalogInfo = new Gauge<'version'>({
  name: 'challenge_catalog_info',
  help: 'Always 1; the version label names the catalog currently served.',
  labelNames: ['version'],
  registers,
});

export const catalogReloadsTotal = new Counter<'result'>({
  name: 'challenge_catalog_reloads_total',
  help: 'Catalog reload attempts, by result.',
  labelNames: ['result'],
  registers,
});

export const catalogLastReloadTimestampSeconds = new Gauge({
  name: 'challenge_catalog_last_reload_timestamp_seconds',
  help: 'Unix time of the last successful catalog (re)load, seconds.',
  registers,
});

// --- infrastructure ----------------------------------------------------------------------------

/** The counters of a `pg.Pool` that bindPgPoolMetrics reads. */
export interface PgPoolLike {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}

const boundPgPools = new Map<string, PgPoolLike>();

export const pgPoolConnections = new Gauge<'pool' | 'state'>({
  name: 'challenge_pg_pool_connections',
  help: 'Client-side pg pool connections, by pool and state (total, idle, waiting clients).',
  labelNames: ['pool', 'state'],
  registers,
  // Read at scrape time from every pool bound with bindPgPoolMetrics.
  collect() {
    for (const [name, pool] of boundPgPools) {
      this.set({ pool: name, state: 'total' }, pool.totalCount);
      this.set({ pool: name, state: 'idle' }, pool.idleCount);
      this.set({ pool: name, state: 'waiting' }, pool.waitingCount);
    }
  },
});

export const redisUp = new Gauge({
  name: 'challenge_redis_up',
  help: '1 while the Redis connection is ready, else 0.',
  registers,
});

export const websocketConnections = new Gauge({
  name: 'challenge_websocket_connections',
  help: 'Open player WebSocket connections on this pod.',
  registers,
});

export const websocketMessagesDroppedTotal = new Counter({
  name: 'challenge_websocket_messages_dropped_total',
  help: 'WebSocket push messages dropped because a client was too slow (backpressure).',
  registers,
});

// Series of bounded enum labels exist from the start, so rate() and ratio queries see 0, not nothing.
// --- drop-in for the reference (issue 14): GDPR erasure and retention ---
export const gdprDeletionsTotal = new Counter<'by'>({
  name: 'challenge_gdpr_deletions_total',
  help: 'Players whose data was erased, by who asked (the player or an operator).',
  labelNames: ['by'],
  registers,
});
export const retentionDeletedRowsTotal = new Counter<'table'>({
  name: 'challenge_retention_deleted_rows_total',
  help: 'Expired rows deleted by the retention job, by table.',
  labelNames: ['table'],
  registers,
});
export const retentionRunDurationSeconds = new Histogram({
  name: 'challenge_retention_run_duration_seconds',
  help: 'Duration of one retention run (all tables, all batches).',
  buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
  registers,
});
export const retentionLastSuccessSeconds = new Gauge({
  name: 'challenge_retention_last_success_timestamp_seconds',
  help: 'Unix time of the last retention run that finished without error.',
  registers,
});
for (const by of ['player', 'admin'] as const) gdprDeletionsTotal.inc({ by }, 0);
for (const table of [
  'stat_baselines',
  'goal_states',
  'goal_completions',
  'processed_events',
  'idempotency_keys',
] as const)
  retentionDeletedRowsTotal.inc({ table }, 0);

for (const result of ['accepted', 'rejected'] as const) eventsIngestedTotal.inc({ result }, 0);
for (const result of ['claimed', 'conflict'] as const) claimsTotal.inc({ result }, 0);
for (const path of ['sync', 'relay'] as const) rewardsGrantedTotal.inc({ path }, 0);
for (const kind of ['retryable', 'permanent'] as const) rewardGrantFailuresTotal.inc({ kind }, 0);
for (const result of ['success', 'failure'] as const) catalogReloadsTotal.inc({ result }, 0);
// One series per rejection reason, under the pool it is usually recorded with, so that
// sum(rate(challenge_admission_rejections_total[5m])) reads 0 (not "no data") before the first one.
// `draining` is recorded by the api server (pool "api") for requests refused during shutdown.
const REJECTION_SERIES: readonly { pool: string; reason: AdmissionRejectionReason }[] = [
  { pool: 'player', reason: 'queue_full' },
  { pool: 'player', reason: 'deadline' },
  { pool: 'player', reason: 'rate_limited' },
  { pool: 'init', reason: 'budget_exhausted' },
  { pool: 'api', reason: 'draining' },
  { pool: 'api', reason: 'connections' },
];
for (const labels of REJECTION_SERIES) admissionRejectionsTotal.inc(labels, 0);
rateLimiterDegraded.set(0);

// --- helpers -----------------------------------------------------------------------------------

/** Marks `version` as the catalog being served; the previous version's series disappears. */
export function setCatalogVersion(version: string): void {
  catalogInfo.reset();
  catalogInfo.set({ version }, 1);
}

/**
 * Reports `pool`'s connection counts under `challenge_pg_pool_connections{pool=name}`, read at
 * scrape time. Binding the same name again replaces the previous pool. Returns an unbind function.
 */
export function bindPgPoolMetrics(name: string, pool: PgPoolLike): () => void {
  boundPgPools.set(name, pool);
  return () => {
    if (boundPgPools.get(name) === pool) {
      boundPgPools.delete(name);
      for (const state of ['total', 'idle', 'waiting'] as const)
        pgPoolConnections.remove({ pool: name, state });
    }
  };
}

/** Every metric this module registers (without prom-client's default process/nodejs metrics). */
export const ALL_METRIC_NAMES: readonly string[] = Object.freeze([
  'challenge_gdpr_deletions_total',
  'challenge_retention_deleted_rows_total',
  'challenge_retention_run_duration_seconds',
  'challenge_retention_last_success_timestamp_seconds',
  'challenge_http_requests_total',
  'challenge_http_request_duration_seconds',
  'challenge_http_accept_to_answer_seconds',
  IN_FLIGHT_METRIC,
  'challenge_admission_limit',
  'challenge_admission_in_flight',
  ADMISSION_QUEUE_METRIC,
  'challenge_admission_queue_wait_seconds',
  'challenge_admission_rejections_total',
  'challenge_rate_limiter_degraded',
  'challenge_events_ingested_total',
  STREAM_LAG_ENTRIES_METRIC,
  STREAM_LAG_SECONDS_METRIC,
  'challenge_event_stream_pending_entries',
  'challenge_event_apply_batch_size',
  'challenge_event_apply_duration_seconds',
  'challenge_events_applied_total',
  'challenge_events_duplicate_total',
  'challenge_events_dead_lettered_total',
  'challenge_events_unknown_stat_total',
  'challenge_event_stream_length',
  'challenge_claims_total',
  'challenge_rewards_granted_total',
  'challenge_reward_grant_failures_total',
  'challenge_reward_outbox_pending',
  'challenge_reward_outbox_dead',
  'challenge_reward_outbox_oldest_pending_seconds',
  'challenge_catalog_info',
  'challenge_catalog_reloads_total',
  'challenge_catalog_last_reload_timestamp_seconds',
  'challenge_pg_pool_connections',
  'challenge_redis_up',
  'challenge_websocket_connections',
  'challenge_websocket_messages_dropped_total',
]);
