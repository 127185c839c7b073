import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { apiLoadPerPodQuery, streamLagQuery, streamLagSecondsQuery } from '../../app/ops/autoscaling';
import { Board, NS } from './panels';
import {
  AVAILABILITY_ERROR_BUDGET,
  AVAILABILITY_OBJECTIVE,
  BURN_WINDOWS,
  LATENCY_ERROR_BUDGET,
  LATENCY_THRESHOLD_SECONDS,
  errorRatio,
  latencyQuantile,
  requestRate,
  slowRatio,
} from './slo';

const fast = BURN_WINDOWS[0];

export function overviewDashboard(): Dashboard {
  const b = new Board(
    'challenge-overview',
    'Challenge service / Overview & SLO',
    `Availability against the ${AVAILABILITY_OBJECTIVE * 100} % objective, latency, traffic, ` +
      'error-budget burn, autoscaling inputs and the served catalog.',
  );
  b.row('Service level')
    .stat(
      'Availability (time range)',
      { expr: `1 - (${errorRatio('$__range', NS)})` },
      {
        unit: 'percentunit',
        redBelow: AVAILABILITY_OBJECTIVE,
        description: `Share of requests not answered with 5xx. Objective ${AVAILABILITY_OBJECTIVE * 100} %.`,
      },
    )
    .stat(
      'Error budget left (time range)',
      { expr: `1 - ((${errorRatio('$__range', NS)}) / ${AVAILABILITY_ERROR_BUDGET})` },
      { unit: 'percentunit', redBelow: 0, description: 'Availability error budget not yet spent.' },
    )
    .stat('Request rate', { expr: requestRate('5m', NS) }, { unit: 'reqps' })
    .stat(
      'Latency p95',
      { expr: latencyQuantile(0.95, '5m', NS) },
      { unit: 's', redAbove: LATENCY_THRESHOLD_SECONDS },
    )
    .stat(
      'Latency p99',
      { expr: latencyQuantile(0.99, '5m', NS) },
      { unit: 's', redAbove: LATENCY_THRESHOLD_SECONDS * 4 },
    )
    .stat(
      `Burn rate (${fast.long})`,
      { expr: `(${errorRatio(fast.long, NS)}) / ${AVAILABILITY_ERROR_BUDGET}` },
      { unit: 'x', redAbove: fast.factor, description: 'Availability budget burn; pages above 14.4x.' },
    );
  b.row('Traffic and errors')
    .timeseries(
      'Requests by status',
      [
        {
          expr: `sum by (status) (rate(challenge_http_requests_total{${NS}}[$__rate_interval]))`,
          legend: '{{status}}',
        },
      ],
      { unit: 'reqps', stack: true },
    )
    .timeseries('Error ratio (5xx / all)', [{ expr: errorRatio('5m', NS), legend: '5xx ratio' }], {
      unit: 'percentunit',
      min: 0,
      redAbove: AVAILABILITY_ERROR_BUDGET,
      description: `Dashed line: the ${AVAILABILITY_ERROR_BUDGET * 100} % error budget.`,
    })
    .timeseries(
      'Latency p50 / p95 / p99',
      [
        { expr: latencyQuantile(0.5, '5m', NS), legend: 'p50' },
        { expr: latencyQuantile(0.95, '5m', NS), legend: 'p95' },
        { expr: latencyQuantile(0.99, '5m', NS), legend: 'p99' },
      ],
      { unit: 's', redAbove: LATENCY_THRESHOLD_SECONDS },
    );
  b.row('Error budget burn')
    .timeseries(
      'Availability burn rate',
      ['5m', '30m', '1h', '6h'].map((w) => ({
        expr: `(${errorRatio(w, NS)}) / ${AVAILABILITY_ERROR_BUDGET}`,
        legend: w,
      })),
      {
        unit: 'x',
        width: 12,
        redAbove: fast.factor,
        description: 'Multiples of the sustainable error rate. 1h+5m above 14.4x or 6h+30m above 6x pages.',
      },
    )
    .timeseries(
      `Latency burn rate (requests slower than ${LATENCY_THRESHOLD_SECONDS * 1000} ms)`,
      ['5m', '30m', '1h', '6h'].map((w) => ({
        expr: `(${slowRatio(w, NS)}) / ${LATENCY_ERROR_BUDGET}`,
        legend: w,
      })),
      { unit: 'x', width: 12, redAbove: fast.factor },
    );
  b.row('Autoscaling inputs')
    .timeseries(
      'API load per pod (in flight + queued)',
      [{ expr: apiLoadPerPodQuery(NS), legend: '{{pod}}' }],
      {
        description: 'The custom metric the api HorizontalPodAutoscaler targets.',
      },
    )
    .timeseries('Event stream lag (entries)', [{ expr: streamLagQuery(NS), legend: 'lag' }], {
      description: 'The external metric the worker HorizontalPodAutoscaler targets.',
    })
    .timeseries(
      'Event stream lag (seconds)',
      [{ expr: streamLagSecondsQuery(NS), legend: 'oldest unapplied' }],
      {
        unit: 's',
        redAbove: 30,
      },
    );
  b.row('Catalog')
    .timeseries(
      'Catalog version served',
      [{ expr: `count by (version) (challenge_catalog_info{${NS}})`, legend: '{{version}}' }],
      {
        description: 'Pods serving each catalog version; more than one line means a rollout is in progress.',
      },
    )
    .timeseries(
      'Catalog reloads',
      [
        {
          expr: `sum by (result) (increase(challenge_catalog_reloads_total{${NS}}[$__rate_interval]))`,
          legend: '{{result}}',
        },
      ],
      { stack: true },
    )
    .stat(
      'Since last catalog reload',
      { expr: `time() - max(challenge_catalog_last_reload_timestamp_seconds{${NS}})` },
      { unit: 's', width: 8 },
    );
  return b.build();
}
