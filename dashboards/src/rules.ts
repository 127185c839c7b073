// Prometheus recording and alerting rules of the service. dashboards/generate.ts writes them to
// dashboards/rules/alerts.yaml (plain rules file) and dashboards/rules/prometheusrule.yaml
// (prometheus-operator), and lists the alerts in docs/DASHBOARDS.md.

import { stringify } from 'yaml';
import { apiLoadPerPodQuery, streamLagQuery, streamLagSecondsQuery } from '../../app/ops/autoscaling';
import {
  AVAILABILITY_ERROR_BUDGET,
  AVAILABILITY_OBJECTIVE,
  BURN_WINDOWS,
  LATENCY_ERROR_BUDGET,
  LATENCY_OBJECTIVE,
  LATENCY_THRESHOLD_SECONDS,
  errorRatio,
  latencyQuantile,
  requestRate,
  slowRatio,
} from './slo';

export interface RecordingRule {
  record: string;
  expr: string;
}

export interface AlertingRule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: 'page' | 'ticket' };
  annotations: { summary: string; description: string };
}

/** An alert plus what on-call does first; the latter goes to docs/DASHBOARDS.md, not to Prometheus. */
export interface AlertSpec {
  rule: AlertingRule;
  firstResponse: string;
}

export interface RuleGroup {
  name: string;
  interval?: string;
  rules: (RecordingRule | AlertingRule)[];
}

/** Names of recorded series, so dashboards, alerts and prometheus-adapter can refer to them. */
export const RECORD = {
  routeRequestRate: 'namespace_route:challenge_http_requests:rate5m',
  routeErrorRatio: 'namespace_route:challenge_http_errors:ratio_rate5m',
  routeLatencyP95: 'namespace_route:challenge_http_request_duration_seconds:p95_5m',
  sloErrors: (window: string) => `namespace:challenge_slo_errors:ratio_rate${window}`,
  sloSlow: (window: string) => `namespace:challenge_slo_latency_slow:ratio_rate${window}`,
  apiLoadPerPod: 'namespace_pod:challenge_api_load:sum',
  streamLagEntries: 'challenge:event_stream_lag_entries:max',
  streamLagSeconds: 'challenge:event_stream_lag_seconds:max',
} as const;

const SLO_WINDOWS = [...new Set(BURN_WINDOWS.flatMap((w) => [w.short, w.long]))];

/** Event stream lag, seconds, above which progress is visibly late for players. */
export const STREAM_LAG_ALERT_SECONDS = 30;
/** Share of requests refused by admission above which capacity is too small. */
export const REJECTION_ALERT_RATIO = 0.05;

function recordingGroup(): RuleGroup {
  const rules: RecordingRule[] = [
    { record: RECORD.routeRequestRate, expr: requestRate('5m', '', 'namespace, route') },
    { record: RECORD.routeErrorRatio, expr: errorRatio('5m', '', 'namespace, route') },
    { record: RECORD.routeLatencyP95, expr: latencyQuantile(0.95, '5m', '', 'namespace, route') },
  ];
  for (const w of SLO_WINDOWS)
    rules.push({ record: RECORD.sloErrors(w), expr: errorRatio(w, '', 'namespace') });
  for (const w of SLO_WINDOWS) rules.push({ record: RECORD.sloSlow(w), expr: slowRatio(w, '', 'namespace') });
  rules.push(
    { record: RECORD.apiLoadPerPod, expr: apiLoadPerPodQuery() },
    { record: RECORD.streamLagEntries, expr: streamLagQuery() },
    { record: RECORD.streamLagSeconds, expr: streamLagSecondsQuery() },
  );
  return { name: 'challenge-service.recording', rules };
}

function burnAlerts(): AlertSpec[] {
  const alerts: AlertSpec[] = [];
  for (const w of BURN_WINDOWS) {
    const speed = w.name === 'fast' ? 'Fast' : 'Slow';
    const availability = `${w.factor} * ${AVAILABILITY_ERROR_BUDGET}`;
    alerts.push(
      spec({
        alert: `ChallengeAvailabilityBudgetBurn${speed}`,
        expr:
          `${RECORD.sloErrors(w.long)} > (${availability})` +
          ` and ${RECORD.sloErrors(w.short)} > (${availability})`,
        for: w.for,
        labels: { severity: 'page' },
        annotations: {
          summary: `5xx answers burn the ${AVAILABILITY_OBJECTIVE * 100} % availability budget ${w.factor}x too fast`,
          description:
            `Over both ${w.long} and ${w.short} more than ${w.factor} x ${AVAILABILITY_ERROR_BUDGET * 100} % of ` +
            `requests in {{ $labels.namespace }} were answered with 5xx (now {{ $value | humanizePercentage }} ` +
            `over ${w.long}). At this rate the 30-day error budget is gone in ${Math.round(30 / w.factor)} days or less.`,
        },
        firstResponse:
          'Open the Overview and API dashboards: find the route and status. 503 with admission rejections ' +
          'means overload (check Admission, scale out, check PostgreSQL); 500s mean a fault (check logs, the ' +
          'last deploy and catalog reload; roll back if it started with a change).',
      }),
    );
  }
  for (const w of BURN_WINDOWS) {
    const speed = w.name === 'fast' ? 'Fast' : 'Slow';
    const latency = `${w.factor} * ${LATENCY_ERROR_BUDGET}`;
    alerts.push(
      spec({
        alert: `ChallengeLatencyBudgetBurn${speed}`,
        expr: `${RECORD.sloSlow(w.long)} > (${latency})` + ` and ${RECORD.sloSlow(w.short)} > (${latency})`,
        for: w.for,
        labels: { severity: 'page' },
        annotations: {
          summary: `Requests slower than ${LATENCY_THRESHOLD_SECONDS * 1000} ms burn the latency budget ${w.factor}x too fast`,
          description:
            `Objective: ${LATENCY_OBJECTIVE * 100} % of requests within ${LATENCY_THRESHOLD_SECONDS * 1000} ms (p95). ` +
            `Over both ${w.long} and ${w.short} more than ${w.factor} x ${LATENCY_ERROR_BUDGET * 100} % of requests ` +
            `in {{ $labels.namespace }} were slower (now {{ $value | humanizePercentage }} over ${w.long}).`,
        },
        firstResponse:
          'Open the API dashboard (p95 by route) and Admission (queue wait, limit). Check PostgreSQL and ' +
          'PgBouncer waits on the data stores dashboard; scale the api if the load per pod is above target.',
      }),
    );
  }
  return alerts;
}

function spec(alert: AlertingRule & { firstResponse: string }): AlertSpec {
  const { firstResponse, ...rule } = alert;
  return { rule, firstResponse };
}

export function alertSpecs(): AlertSpec[] {
  return [
    ...burnAlerts(),
    spec({
      alert: 'ChallengeEventStreamLagging',
      expr: `${RECORD.streamLagSeconds} > ${STREAM_LAG_ALERT_SECONDS}`,
      for: '5m',
      labels: { severity: 'page' },
      annotations: {
        summary: `Oldest unapplied game event is older than ${STREAM_LAG_ALERT_SECONDS} s`,
        description:
          'The oldest game event not yet applied is {{ $value | humanizeDuration }} old; players see ' +
          'stale progress. The target is apply lag p95 < 1 s.',
      },
      firstResponse:
        'Open the Events pipeline dashboard: are workers applying (Applied rate)? Check the worker HPA ' +
        'reached its maximum, apply duration (PostgreSQL slow?) and dead letters. Scale the worker; ' +
        'restart stuck workers (their pending entries are reclaimed).',
    }),
    spec({
      alert: 'ChallengeRewardOutboxDead',
      expr: 'max by (namespace) (challenge_reward_outbox_dead) > 0',
      for: '1m',
      labels: { severity: 'ticket' },
      annotations: {
        summary: 'Reward outbox holds entries the relay gave up on',
        description:
          '{{ $value }} claimed rewards in {{ $labels.namespace }} were not granted after a permanent ' +
          'failure or too many attempts.',
      },
      firstResponse:
        'Open the Rewards dashboard (failures by kind) and the worker logs for the granter error. Fix the ' +
        'granter or its credentials, then requeue the dead entries with the admin API.',
    }),
    spec({
      alert: 'ChallengeAdmissionRejectionsHigh',
      expr:
        'sum by (namespace) (rate(challenge_admission_rejections_total[5m]))' +
        ` / sum by (namespace) (rate(challenge_http_requests_total[5m])) > ${REJECTION_ALERT_RATIO}`,
      for: '10m',
      labels: { severity: 'ticket' },
      annotations: {
        summary: `More than ${REJECTION_ALERT_RATIO * 100} % of requests refused by admission`,
        description:
          'Admission refused {{ $value | humanizePercentage }} of requests in {{ $labels.namespace }} for ' +
          '10 minutes: sustained overload, not a burst.',
      },
      firstResponse:
        'Open the Admission dashboard: rejections by reason. queue_full/deadline: scale the api or check ' +
        'PostgreSQL latency (the adaptive limit shrinks when it rises). budget_exhausted: raise the global ' +
        'budget only if PostgreSQL has headroom. rate_limited: look for a misbehaving client.',
    }),
    spec({
      alert: 'ChallengeCatalogReloadFailing',
      expr: 'sum by (namespace) (increase(challenge_catalog_reloads_total{result="failure"}[15m])) > 0',
      labels: { severity: 'ticket' },
      annotations: {
        summary: 'Challenge catalog reload failed',
        description:
          'A catalog change in {{ $labels.namespace }} was rejected; pods keep serving the previous version.',
      },
      firstResponse:
        'Read the pod logs for the validation error, fix the catalog source (ConfigMap/CRD) and check the ' +
        'Catalog row of the Overview dashboard shows the new version on every pod.',
    }),
  ];
}

function alertGroup(): RuleGroup {
  return { name: 'challenge-service.alerts', rules: alertSpecs().map((a) => a.rule) };
}

export function ruleGroups(): RuleGroup[] {
  return [recordingGroup(), alertGroup()];
}

const HEADER = '# Generated by dashboards/generate.ts from dashboards/src/rules.ts. Do not edit.\n';

function toYaml(doc: unknown): string {
  return HEADER + stringify(doc, { lineWidth: 0 });
}

/** Plain Prometheus rules file (rule_files:, promtool). */
export function rulesFileYaml(): string {
  return toYaml({ groups: ruleGroups() });
}

/** The same groups as a prometheus-operator PrometheusRule. */
export function prometheusRuleYaml(): string {
  return toYaml({
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'challenge-service',
      labels: { 'app.kubernetes.io/name': 'challenge-service', 'app.kubernetes.io/component': 'alert-rules' },
    },
    spec: { groups: ruleGroups() },
  });
}
