// Pulls metric names out of PromQL text, for the tests that check dashboards and rules only read
// metrics that exist. Deliberately simple: strip strings, label matchers, ranges and grouping
// clauses, then take identifiers followed by `{`, `[`, `)`, `,`, whitespace or the end.

const KEYWORDS = new Set([
  // aggregation operators and modifiers
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'and',
  'or',
  'unless',
  'atan2',
  // Grafana variable helpers
  'label_values',
  'query_result',
  'metrics',
  'label_names',
  // common functions (matched only when followed by whitespace, e.g. `rate (`)
  'rate',
  'irate',
  'increase',
  'delta',
  'idelta',
  'deriv',
  'histogram_quantile',
  'time',
  'vector',
  'scalar',
  'abs',
  'absent',
  'clamp_min',
  'clamp_max',
  'label_replace',
  'label_join',
  'avg_over_time',
  'max_over_time',
  'min_over_time',
  'sum_over_time',
  'count_over_time',
  'predict_linear',
  'round',
  'sort',
  'sort_desc',
  'timestamp',
  'changes',
  'resets',
  'humanize',
  'inf',
  'nan',
]);

export function metricNames(promql: string): string[] {
  const text = promql
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // string literals
    .replace(/\blabel_values\(([^,(){}]*(?:\{[^}]*\})?),\s*\w+\s*\)/g, 'label_values($1)') // label argument
    .replace(/\{[^{}]*\}/g, '{}') // label matchers
    .replace(/\[[^\]]*\]/g, '[]') // range / subquery durations, incl. [$__rate_interval]
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '$1 ') // grouping labels
    .replace(/\$\w+/g, ''); // Grafana variables outside matchers
  const names = new Set<string>();
  for (const m of text.matchAll(/(?<![\w.:$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?=\s*[{[),]|\s|$)/g)) {
    const name = m[1]!;
    if (!KEYWORDS.has(name.toLowerCase())) names.add(name);
  }
  return [...names];
}
