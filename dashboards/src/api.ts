import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { apiLoadPerPodQuery } from '../../app/ops/autoscaling';
import { Board, DATASOURCE, NS } from './panels';
import { LATENCY_THRESHOLD_SECONDS, errorRatio, latencyQuantile } from './slo';

const R = `${NS}, route=~"$route"`;

export function apiDashboard(): dashboard.Dashboard {
  const b = new Board(
    'challenge-api',
    'Challenge service / API',
    'Rate, errors and duration per route template, in-flight work and WebSocket push.',
  );
  b.variable(
    new dashboard.QueryVariableBuilder('route')
      .label('Route')
      .datasource(DATASOURCE)
      .query({ query: `label_values(challenge_http_requests_total{${NS}}, route)`, refId: 'route' })
      .definition(`label_values(challenge_http_requests_total{${NS}}, route)`)
      .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
      .sort(dashboard.VariableSort.AlphabeticalAsc)
      .includeAll(true)
      .allValue('.*')
      .multi(true),
  );
  b.row('Rate')
    .timeseries(
      'Requests by route',
      [
        {
          expr: `sum by (route, method) (rate(challenge_http_requests_total{${R}}[$__rate_interval]))`,
          legend: '{{method}} {{route}}',
        },
      ],
      { unit: 'reqps', width: 12 },
    )
    .timeseries(
      'Responses by status',
      [
        {
          expr: `sum by (status) (rate(challenge_http_requests_total{${R}}[$__rate_interval]))`,
          legend: '{{status}}',
        },
      ],
      { unit: 'reqps', width: 12, stack: true },
    );
  b.row('Errors')
    .timeseries('5xx ratio by route', [{ expr: errorRatio('5m', R, 'route'), legend: '{{route}}' }], {
      unit: 'percentunit',
      width: 12,
      min: 0,
    })
    .timeseries(
      '4xx rate by route and status',
      [
        {
          expr: `sum by (route, status) (rate(challenge_http_requests_total{${R}, status=~"4.."}[$__rate_interval]))`,
          legend: '{{status}} {{route}}',
        },
      ],
      {
        unit: 'reqps',
        width: 12,
        description: '429 and 503 answers from admission show up here and in 5xx.',
      },
    );
  b.row('Duration')
    .timeseries('p50 by route', [{ expr: latencyQuantile(0.5, '5m', R, 'route'), legend: '{{route}}' }], {
      unit: 's',
    })
    .timeseries('p95 by route', [{ expr: latencyQuantile(0.95, '5m', R, 'route'), legend: '{{route}}' }], {
      unit: 's',
      redAbove: LATENCY_THRESHOLD_SECONDS,
    })
    .timeseries('p99 by route', [{ expr: latencyQuantile(0.99, '5m', R, 'route'), legend: '{{route}}' }], {
      unit: 's',
    })
    .timeseries(
      'Accept to answer p95 per pod (estimate)',
      [
        {
          expr: `histogram_quantile(0.95, sum by (pod, le) (rate(challenge_http_accept_to_answer_seconds_bucket{${NS}}[$__rate_interval])))`,
          legend: '{{pod}}',
        },
      ],
      {
        unit: 's',
        width: 24,
        description:
          'Answer time plus the event-loop delay when the request was read: how long a client waits once its connection is accepted. Requests refused by the open-request cap are counted under route "capped".',
      },
    );
  b.row('Concurrency and push')
    .timeseries(
      'Requests in flight per pod',
      [{ expr: `sum by (pod) (challenge_http_requests_in_flight{${NS}})`, legend: '{{pod}}' }],
      {},
    )
    .timeseries('API load per pod (autoscaling)', [{ expr: apiLoadPerPodQuery(NS), legend: '{{pod}}' }], {})
    .timeseries(
      'WebSocket connections / dropped messages',
      [
        { expr: `sum(challenge_websocket_connections{${NS}})`, legend: 'connections' },
        {
          expr: `sum(rate(challenge_websocket_messages_dropped_total{${NS}}[$__rate_interval]))`,
          legend: 'dropped/s',
        },
      ],
      {},
    );
  return b.build();
}
