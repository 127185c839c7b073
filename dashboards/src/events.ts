import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { streamLagQuery, streamLagSecondsQuery } from '../../app/ops/autoscaling';
import { Board, NS } from './panels';

const rate = (metric: string, by = ''): string =>
  `sum${by ? ` by (${by})` : ''}(rate(${metric}{${NS}}[$__rate_interval]))`;

export function eventsDashboard(): Dashboard {
  const b = new Board(
    'challenge-events',
    'Challenge service / Events pipeline',
    'Game events from ingest through the Redis stream to progress applied in PostgreSQL.',
    { namespaceFrom: 'challenge_events_applied_total' },
  );
  b.row('Throughput')
    .timeseries(
      'Ingested by result',
      [{ expr: rate('challenge_events_ingested_total', 'result'), legend: '{{result}}' }],
      { unit: 'ops', stack: true },
    )
    .timeseries('Applied', [{ expr: rate('challenge_events_applied_total'), legend: 'applied' }], {
      unit: 'ops',
    })
    .timeseries(
      'Duplicates / dead letters / unknown stats',
      [
        { expr: rate('challenge_events_duplicate_total'), legend: 'duplicate' },
        { expr: rate('challenge_events_dead_lettered_total'), legend: 'dead-lettered' },
        { expr: rate('challenge_events_unknown_stat_total'), legend: 'unknown stat' },
      ],
      { unit: 'ops', description: 'Dead letters should stay at zero; duplicates rise after redeliveries.' },
    );
  b.row('Stream')
    .timeseries('Stream lag (entries)', [{ expr: streamLagQuery(NS), legend: 'lag' }], {
      description: 'Entries not yet delivered to the consumer group; the worker autoscaler input.',
    })
    .timeseries('Stream lag (seconds)', [{ expr: streamLagSecondsQuery(NS), legend: 'oldest unapplied' }], {
      unit: 's',
      redAbove: 30,
    })
    .timeseries(
      'Pending (unacknowledged) and stream length',
      [
        { expr: `max(challenge_event_stream_pending_entries{${NS}})`, legend: 'pending' },
        { expr: `max(challenge_event_stream_length{${NS}})`, legend: 'length' },
      ],
      {},
    );
  b.row('Apply')
    .timeseries(
      'Batch size',
      [
        {
          expr: `histogram_quantile(0.5, sum by (le) (rate(challenge_event_apply_batch_size_bucket{${NS}}[$__rate_interval])))`,
          legend: 'p50',
        },
        {
          expr: `histogram_quantile(0.95, sum by (le) (rate(challenge_event_apply_batch_size_bucket{${NS}}[$__rate_interval])))`,
          legend: 'p95',
        },
        {
          expr: `${rate('challenge_event_apply_batch_size_sum')} / ${rate('challenge_event_apply_batch_size_count')}`,
          legend: 'mean',
        },
      ],
      { width: 12 },
    )
    .timeseries(
      'Apply duration per batch',
      [
        {
          expr: `histogram_quantile(0.95, sum by (le) (rate(challenge_event_apply_duration_seconds_bucket{${NS}}[$__rate_interval])))`,
          legend: 'p95',
        },
        {
          expr: `histogram_quantile(0.99, sum by (le) (rate(challenge_event_apply_duration_seconds_bucket{${NS}}[$__rate_interval])))`,
          legend: 'p99',
        },
      ],
      { unit: 's', width: 12 },
    );
  // issue 14: GDPR erasure and the retention job (docs/GDPR.md)
  b.row('GDPR erasure and retention')
    .timeseries(
      'Players erased',
      [{ expr: rate('challenge_gdpr_deletions_total', 'by'), legend: '{{by}}' }],
      { unit: 'ops', description: 'DELETE /v1/users/me/data (player) and the admin route (admin).' },
    )
    .timeseries(
      'Expired rows deleted by retention',
      [{ expr: rate('challenge_retention_deleted_rows_total', 'table'), legend: '{{table}}' }],
      { unit: 'ops' },
    )
    .timeseries(
      'Retention run duration and age of the last good run',
      [
        {
          expr: `histogram_quantile(0.95, sum by (le) (rate(challenge_retention_run_duration_seconds_bucket{${NS}}[$__rate_interval])))`,
          legend: 'run p95',
        },
        {
          expr: `time() - max(challenge_retention_last_success_timestamp_seconds{${NS}})`,
          legend: 'since last success',
        },
      ],
      {
        unit: 's',
        description: 'Runs every RETENTION_INTERVAL_MS (1 h); alert when the age passes a few intervals.',
      },
    );
  return b.build();
}
