import { metricNames } from './promql-names';

describe('metricNames (PromQL metric name extraction used by the dashboard tests)', () => {
  it('finds metric names and skips functions, aggregations, grouping labels, strings and numbers', () => {
    const expr =
      'histogram_quantile(0.95, sum by (route, le) (rate(foo_seconds_bucket{route=~"a|b", x="bar_total"}[5m])))' +
      ' / sum without (pod) (bar_total) + on (namespace) group_left (version) baz_info' +
      ' and time() - max(qux_timestamp_seconds) > 1e3';
    expect(metricNames(expr).sort()).toEqual([
      'bar_total',
      'baz_info',
      'foo_seconds_bucket',
      'qux_timestamp_seconds',
    ]);
  });

  it('finds names inside Grafana variable queries and recorded series with colons', () => {
    expect(metricNames('label_values(foo_total{namespace=~"$namespace"}, route)')).toEqual(['foo_total']);
    expect(metricNames('label_values(foo_total{a="1", b="2"}, route)')).toEqual(['foo_total']);
    expect(metricNames('ns:foo:ratio_rate5m > (14.4 * 0.0005)')).toEqual(['ns:foo:ratio_rate5m']);
    expect(metricNames('rate(foo_total[$__rate_interval])')).toEqual(['foo_total']);
  });
});
