// Service level objectives and the PromQL that measures them. Dashboards and alert rules both build
// their expressions here, so a panel and the alert that pages on it always agree.

/** Availability objective: share of player/service requests not answered with a 5xx. */
export const AVAILABILITY_OBJECTIVE = 0.9995;
/** Latency threshold of the latency SLO, seconds; must be a bucket boundary of the histogram. */
export const LATENCY_THRESHOLD_SECONDS = 0.05;
/** Latency objective: share of requests answered within LATENCY_THRESHOLD_SECONDS (a p95 target). */
export const LATENCY_OBJECTIVE = 0.95;

export const AVAILABILITY_ERROR_BUDGET = round(1 - AVAILABILITY_OBJECTIVE);
export const LATENCY_ERROR_BUDGET = round(1 - LATENCY_OBJECTIVE);

/** Multi-window, multi-burn-rate pairs (Google SRE workbook, chapter 5). */
export const BURN_WINDOWS = [
  { name: 'fast', long: '1h', short: '5m', factor: 14.4, for: '2m' },
  { name: 'slow', long: '6h', short: '30m', factor: 6, for: '15m' },
] as const;

export const REQUESTS = 'challenge_http_requests_total';
export const DURATION = 'challenge_http_request_duration_seconds';

/** Avoid 0.0005000000000000004 in generated expressions. */
export function round(x: number): number {
  return Number(x.toPrecision(10));
}

/** `{a,b}` from non-empty matchers. */
export function sel(...matchers: string[]): string {
  const parts = matchers.filter((m) => m !== '');
  return parts.length ? `{${parts.join(', ')}}` : '';
}

/** Share of requests answered with a 5xx over `window`. */
export function errorRatio(window: string, matcher = '', by = ''): string {
  const grouping = by ? ` by (${by})` : '';
  return (
    `sum${grouping}(rate(${REQUESTS}${sel(matcher, 'status=~"5.."')}[${window}]))` +
    ` / sum${grouping}(rate(${REQUESTS}${sel(matcher)}[${window}]))`
  );
}

/** Share of requests slower than the latency threshold over `window`. */
export function slowRatio(window: string, matcher = '', by = ''): string {
  const grouping = by ? ` by (${by})` : '';
  return (
    `1 - (sum${grouping}(rate(${DURATION}_bucket${sel(matcher, `le="${LATENCY_THRESHOLD_SECONDS}"`)}[${window}]))` +
    ` / sum${grouping}(rate(${DURATION}_count${sel(matcher)}[${window}])))`
  );
}

/** Latency quantile from the request duration histogram. */
export function latencyQuantile(q: number, window: string, matcher = '', by = ''): string {
  const grouping = by ? `${by}, le` : 'le';
  return `histogram_quantile(${q}, sum by (${grouping}) (rate(${DURATION}_bucket${sel(matcher)}[${window}])))`;
}

/** Request rate, per second. */
export function requestRate(window: string, matcher = '', by = ''): string {
  const grouping = by ? ` by (${by})` : '';
  return `sum${grouping}(rate(${REQUESTS}${sel(matcher)}[${window}]))`;
}
