// POST {base}/v1/events: service credential only; validates every event, queues the good ones in
// one durable append, answers 202 {accepted, rejected:[{index, reason, errors}]}.
import type { Admission, RateLimits } from '../admission';
import { ApiError, unavailable } from '../errors';
import type { Authenticator } from '../auth/auth';
import { json, jitteredRetryAfter, parseJson, type HttpServer } from './http';
import type { Clock } from '../domain/clock';
import type { Catalog } from '../domain/catalog';
import { eventsIngestedTotal } from '../ops/metrics';
import { validateEvents } from '../events/event';
import { orThrow, parseEventsBody } from '../schemas/requests';
import type { EventQueue } from '../events/queue';

export interface IngestDeps {
  basePath: string;
  auth: Authenticator;
  queue: EventQueue;
  clock: Clock;
  /** The live catalog: its stat declarations decide which event modes are accepted. */
  catalog?: { readonly current: Catalog };
  maxBody: number;
  /** Per-client ingest budget and the events share of the pod's admission limit. */
  limits: RateLimits;
  admission: Admission;
  onAppendError?: (err: unknown) => void;
}

export function registerIngestRoute(http: HttpServer, deps: IngestDeps): void {
  http.route(
    'post',
    `${deps.basePath}/v1/events`,
    'ingest_events',
    async (ctx) => {
      const client = await deps.auth.service(ctx.headers.authorization, ctx.headers['x-api-key']);
      const events = orThrow(parseEventsBody(parseJson(ctx.body)));
      const aggregations = deps.catalog?.current.statAggregations;
      const { valid, rejected } = validateEvents(
        events,
        deps.clock.now(),
        aggregations ? (code) => aggregations.get(code) : undefined,
      );
      if (valid.length > 0) {
        await deps.limits.ingest(client.id, valid.length);
        try {
          await deps.admission.run('events', ctx.deadline, () => deps.queue.append(valid));
        } catch (err) {
          if (err instanceof ApiError) throw err; // admission refusal: already a 503 with Retry-After
          deps.onAppendError?.(err);
          throw unavailable(
            'the event queue is unavailable; retry',
            jitteredRetryAfter(1),
            'QUEUE_UNAVAILABLE',
          );
        }
      }
      if (valid.length) eventsIngestedTotal.inc({ result: 'accepted' }, valid.length);
      if (rejected.length) eventsIngestedTotal.inc({ result: 'rejected' }, rejected.length);
      return json(202, { accepted: valid.length, rejected });
    },
    { maxBody: deps.maxBody },
  );
}
