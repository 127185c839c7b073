// Small wrappers over the foundation SDK builders so every dashboard looks and behaves the same:
// one Prometheus datasource variable, a namespace filter, explicit panel ids and sizes.

import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

export const DATASOURCE: common.DataSourceRef = { type: 'prometheus', uid: '${datasource}' };
/** Label matcher for the namespace variable; every service query carries it. */
export const NS = 'namespace=~"$namespace"';

export interface Query {
  expr: string;
  legend?: string;
}

export interface PanelOptions {
  unit?: string;
  description?: string;
  width?: number;
  height?: number;
  min?: number;
  max?: number;
  /** Red above this value (timeseries: dashed threshold line). */
  redAbove?: number;
  /** Red below this value (availability style). */
  redBelow?: number;
  stack?: boolean;
}

function target(q: Query, index: number): prometheus.DataqueryBuilder {
  const b = new prometheus.DataqueryBuilder()
    .datasource(DATASOURCE)
    .expr(q.expr)
    .refId(String.fromCharCode(65 + index))
    .range();
  return q.legend ? b.legendFormat(q.legend) : b;
}

function thresholds(o: PanelOptions): dashboard.ThresholdsConfigBuilder | undefined {
  if (o.redAbove !== undefined) {
    return new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps([
      { value: null, color: 'green' },
      { value: o.redAbove, color: 'red' },
    ]);
  }
  if (o.redBelow !== undefined) {
    return new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps([
      { value: null, color: 'red' },
      { value: o.redBelow, color: 'green' },
    ]);
  }
  return undefined;
}

/** Builds dashboards with sequential panel ids, so the generated JSON is stable. */
export class Board {
  private readonly builder: dashboard.DashboardBuilder;
  private nextId = 1;

  constructor(uid: string, title: string, description: string, opts: { namespaceFrom?: string } = {}) {
    this.builder = new dashboard.DashboardBuilder(title)
      .uid(uid)
      .description(description)
      .tags(['challenge-service'])
      .editable()
      .timezone('browser')
      .refresh('30s')
      .time({ from: 'now-6h', to: 'now' })
      .tooltip(dashboard.DashboardCursorSync.Crosshair)
      .withVariable(
        new dashboard.DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'),
      );
    const from = opts.namespaceFrom ?? 'challenge_http_requests_total';
    this.builder.withVariable(
      new dashboard.QueryVariableBuilder('namespace')
        .label('Namespace')
        .datasource(DATASOURCE)
        .query({ query: `label_values(${from}, namespace)`, refId: 'namespace' })
        .definition(`label_values(${from}, namespace)`)
        .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
        .sort(dashboard.VariableSort.AlphabeticalAsc)
        .includeAll(true)
        .allValue('.*')
        .multi(true),
    );
  }

  variable(v: dashboard.QueryVariableBuilder): this {
    this.builder.withVariable(v);
    return this;
  }

  row(title: string): this {
    this.builder.withRow(new dashboard.RowBuilder(title).id(this.nextId++));
    return this;
  }

  timeseries(title: string, queries: Query[], o: PanelOptions = {}): this {
    const p = new timeseries.PanelBuilder()
      .id(this.nextId++)
      .title(title)
      .datasource(DATASOURCE)
      .targets(queries.map(target))
      .span(o.width ?? 8)
      .height(o.height ?? 8)
      .lineWidth(1)
      .fillOpacity(o.stack ? 40 : 10)
      .legend(
        new common.VizLegendOptionsBuilder()
          .showLegend(true)
          .displayMode(common.LegendDisplayMode.List)
          .placement(common.LegendPlacement.Bottom),
      );
    if (o.description) p.description(o.description);
    if (o.unit) p.unit(o.unit);
    if (o.min !== undefined) p.min(o.min);
    if (o.max !== undefined) p.max(o.max);
    if (o.stack) p.stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
    const t = thresholds(o);
    if (t) {
      p.thresholds(t).thresholdsStyle(
        new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed),
      );
    }
    this.builder.withPanel(p);
    return this;
  }

  stat(title: string, query: Query, o: PanelOptions = {}): this {
    const p = new stat.PanelBuilder()
      .id(this.nextId++)
      .title(title)
      .datasource(DATASOURCE)
      .targets([target(query, 0)])
      .span(o.width ?? 4)
      .height(o.height ?? 4)
      .colorMode(common.BigValueColorMode.Value)
      .graphMode(common.BigValueGraphMode.Area)
      .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']));
    if (o.description) p.description(o.description);
    if (o.unit) p.unit(o.unit);
    if (o.min !== undefined) p.min(o.min);
    if (o.max !== undefined) p.max(o.max);
    const t = thresholds(o);
    if (t) p.thresholds(t);
    this.builder.withPanel(p);
    return this;
  }

  build(): dashboard.Dashboard {
    return this.builder.build();
  }
}
