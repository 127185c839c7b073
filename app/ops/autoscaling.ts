// The one place that defines what the autoscalers read. Dashboards, prometheus-adapter rules,
// KEDA triggers and the Prometheus test all import these, so they can never drift apart.

/** Gauge on the api pods: player requests currently being served (admitted, not queued). */
export const IN_FLIGHT_METRIC = 'challenge_http_requests_in_flight';
/** Gauge on the api pods: requests waiting in the admission queue. */
export const ADMISSION_QUEUE_METRIC = 'challenge_admission_queue_depth';
/** Gauge on the worker pods: entries in the event stream not yet delivered to the consumer group. */
export const STREAM_LAG_ENTRIES_METRIC = 'challenge_event_stream_lag_entries';
/** Gauge on the worker pods: age in seconds of the oldest entry not yet applied. */
export const STREAM_LAG_SECONDS_METRIC = 'challenge_event_stream_lag_seconds';

/** Name of the per-pod custom metric prometheus-adapter exposes to the api HPA. */
export const API_PODS_METRIC_NAME = 'challenge_api_load_per_pod';
/** Name of the external metric prometheus-adapter exposes to the worker HPA. */
export const WORKER_EXTERNAL_METRIC_NAME = 'challenge_event_stream_lag';

/** Per-pod load of the api: work in flight plus work waiting. Target a value per pod in the HPA. */
export function apiLoadPerPodQuery(selector = ''): string {
  const sel = selector ? `{${selector}}` : '';
  return `sum by (namespace, pod) (${IN_FLIGHT_METRIC}${sel} + ${ADMISSION_QUEUE_METRIC}${sel})`;
}

/** Fleet-wide stream lag in entries (max over workers: every worker reports the same group lag). */
export function streamLagQuery(selector = ''): string {
  const sel = selector ? `{${selector}}` : '';
  return `max(${STREAM_LAG_ENTRIES_METRIC}${sel})`;
}

/** Fleet-wide age of the oldest unapplied event, seconds. */
export function streamLagSecondsQuery(selector = ''): string {
  const sel = selector ? `{${selector}}` : '';
  return `max(${STREAM_LAG_SECONDS_METRIC}${sel})`;
}

export const AUTOSCALING_METRICS = [
  IN_FLIGHT_METRIC,
  ADMISSION_QUEUE_METRIC,
  STREAM_LAG_ENTRIES_METRIC,
  STREAM_LAG_SECONDS_METRIC,
] as const;
