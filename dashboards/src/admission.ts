import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { ADMISSION_QUEUE_METRIC, apiLoadPerPodQuery } from '../../app/ops/autoscaling';
import { Board, NS } from './panels';

export function admissionDashboard(): Dashboard {
  const b = new Board(
    'challenge-admission',
    'Challenge service / Admission',
    'Adaptive concurrency limits, the deadline queue, rejections and the Redis rate limiters.',
  );
  b.row('Limits and queue')
    .timeseries(
      'Concurrency limit per pod',
      [{ expr: `challenge_admission_limit{${NS}}`, legend: '{{pod}} {{pool}}' }],
      { description: 'The adaptive limit; it drops when database latency rises.' },
    )
    .timeseries(
      'Admitted in flight by pool',
      [{ expr: `sum by (pool) (challenge_admission_in_flight{${NS}})`, legend: '{{pool}}' }],
      {},
    )
    .timeseries(
      'Queue depth per pod',
      [{ expr: `sum by (pod) (${ADMISSION_QUEUE_METRIC}{${NS}})`, legend: '{{pod}}' }],
      {},
    )
    .timeseries(
      'Queue wait p95 by pool',
      [
        {
          expr: `histogram_quantile(0.95, sum by (pool, le) (rate(challenge_admission_queue_wait_seconds_bucket{${NS}}[$__rate_interval])))`,
          legend: '{{pool}}',
        },
      ],
      { unit: 's' },
    )
    .timeseries('API load per pod (autoscaling)', [{ expr: apiLoadPerPodQuery(NS), legend: '{{pod}}' }], {});
  b.row('Rejections')
    .timeseries(
      'Rejections by reason',
      [
        {
          expr: `sum by (reason) (rate(challenge_admission_rejections_total{${NS}}[$__rate_interval]))`,
          legend: '{{reason}}',
        },
      ],
      { unit: 'reqps', stack: true, width: 12 },
    )
    .timeseries(
      'Rejected share of requests',
      [
        {
          expr:
            `sum(rate(challenge_admission_rejections_total{${NS}}[5m]))` +
            ` / sum(rate(challenge_http_requests_total{${NS}}[5m]))`,
          legend: 'rejected',
        },
      ],
      { unit: 'percentunit', width: 12, redAbove: 0.05 },
    );
  b.row('Rate limiter')
    .timeseries(
      'Rate limiter degraded (local fallback)',
      [{ expr: `max by (pod) (challenge_rate_limiter_degraded{${NS}})`, legend: '{{pod}}' }],
      {
        min: 0,
        max: 1,
        redAbove: 1,
        width: 12,
        description: '1 while Redis limits fell back to per-pod limits.',
      },
    )
    .timeseries(
      'Redis reachable',
      [{ expr: `min by (pod) (challenge_redis_up{${NS}})`, legend: '{{pod}}' }],
      {
        min: 0,
        max: 1,
        width: 12,
      },
    );
  return b.build();
}
