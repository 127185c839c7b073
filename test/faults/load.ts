// A steady, bounded mixed load against the stack's api processes (127.0.0.1 only): initialise,
// list, goal selection, claims, HTTP event batches and the platform's gRPC event delivery (one
// StatItemUpdated call per event, a real grpc-js client), at a fixed rate of operations whether or
// not answers come back. Every answer is recorded (status, body shape, latency) for the fault checks.
import * as grpc from '@grpc/grpc-js';
import { mintToken } from '../../app/api/auth';
import { loadProtos } from '../../app/events/grpc';
import { API_KEY, DEADLINE_MS, NAMESPACE, SECRET } from './stack';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- generated client constructors
const protos = grpc.loadPackageDefinition(loadProtos()) as any;

/** gRPC statuses as the HTTP status the same refusal has on the HTTP route (for the tables). */
const HTTP_OF: Partial<Record<grpc.status, number>> = {
  [grpc.status.OK]: 200,
  [grpc.status.INVALID_ARGUMENT]: 400,
  [grpc.status.UNAUTHENTICATED]: 401,
  [grpc.status.PERMISSION_DENIED]: 403,
  [grpc.status.RESOURCE_EXHAUSTED]: 429,
  [grpc.status.UNAVAILABLE]: 503,
};

/** A failure of the client's own (no connection, connection dropped): no answer from the server. */
const NO_ANSWER = /No connection established|Connection dropped|ECONNREFUSED|ECONNRESET|Failed to connect/i;

interface Batch {
  ids: string[];
  events: unknown[];
  attempts: number;
  via: 'http' | 'grpc';
}

export interface Answer {
  kind: string;
  status: number; // 0 = no HTTP answer (connection refused/reset, client timeout)
  ms: number;
  wellFormed: boolean;
  error?: string;
  /** When the request was sent (epoch ms). */
  sentAt?: number;
  /** A list answer: the starter-path challenge's description (which catalog version answered). */
  starterDescription?: string;
}

/** A 4xx/5xx body must be the error model: {code:number, message:string, error:string, details:object}. */
export function isErrorModel(body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return false;
  const b = body as Record<string, unknown>;
  return (
    typeof b.code === 'number' &&
    typeof b.message === 'string' &&
    b.message.length > 0 &&
    typeof b.error === 'string' &&
    typeof b.details === 'object' &&
    b.details !== null
  );
}

export class Load {
  readonly answers: Answer[] = [];
  /** eventId -> userId for every event the service acknowledged with 202. */
  readonly acked = new Map<string, string>();
  /** eventId -> when its 202 arrived (epoch ms). */
  readonly ackedAt = new Map<string, number>();
  /** Events sent but never acknowledged (every attempt failed): they may or may not be applied. */
  readonly unresolved = new Map<string, string>();
  /** claimId -> user for every claim answered 200. */
  readonly claims = new Map<string, string>();
  private tokens = new Map<string, string>();
  private running = false;
  private loop?: Promise<void>;
  private inflight = new Set<Promise<void>>();
  private seq = 0;
  private opSeq = 0;
  private readyToClaim: string[] = [];
  private pendingBatches: Batch[] = [];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- generated clients
  private readonly grpcClients: any[];
  private grpcSeq = 0;
  /** Events acknowledged by gRPC OK (a subset of `acked` and of the claimants' events). */
  grpcAcked = 0;

  constructor(
    private readonly bases: string[],
    readonly prefix: string,
    private readonly opsPerSec = 40,
    grpcTargets: string[] = [],
  ) {
    this.grpcClients = grpcTargets.map(
      (t) =>
        new protos.accelbyte.social.statistic.v1.StatisticStatItemUpdatedService(
          t,
          grpc.credentials.createInsecure(),
          // reconnect to a restarted api within about a second
          { 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 1000 },
        ),
    );
  }

  close(): void {
    for (const c of this.grpcClients) c.close();
  }

  private async token(user: string): Promise<string> {
    let t = this.tokens.get(user);
    if (!t) {
      t = (await mintToken(SECRET, user, { ttlSeconds: 3600 })).token;
      this.tokens.set(user, t);
    }
    return t;
  }

  private async request(
    kind: string,
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<{ status: number; json: unknown }> {
    const base = this.bases[this.seq++ % this.bases.length]!;
    const started = Date.now();
    try {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...headers },
        body,
        signal: AbortSignal.timeout(DEADLINE_MS * 5),
      });
      const text = await res.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const wellFormed = res.status < 400 ? json !== undefined : isErrorModel(json);
      const starter =
        kind === 'list' && res.status === 200
          ? (json as { challenges?: { challengeId: string; description?: string }[] }).challenges?.find(
              (c) => c.challengeId === 'starter-path',
            )
          : undefined;
      this.answers.push({
        kind,
        status: res.status,
        ms: Date.now() - started,
        wellFormed,
        error: (json as { error?: string } | undefined)?.error,
        sentAt: started,
        starterDescription: starter?.description,
      });
      return { status: res.status, json };
    } catch (e) {
      this.answers.push({ kind, status: 0, ms: Date.now() - started, wellFormed: true, error: String(e) });
      return { status: 0, json: undefined };
    }
  }

  private async player(kind: string, user: string, method: string, path: string, body?: unknown) {
    return this.request(
      kind,
      method,
      path,
      { authorization: `Bearer ${await this.token(user)}` },
      body === undefined ? undefined : JSON.stringify(body),
    );
  }

  private accepted(id: string, ev: { userId: string; statCode: string }): void {
    this.unresolved.delete(id);
    if (ev.statCode === 'matches_finished') {
      this.acked.set(id, ev.userId);
      this.ackedAt.set(id, Date.now());
    } else this.readyToClaim.push(ev.userId);
  }

  private async sendBatch(batch: Batch): Promise<void> {
    batch.attempts++;
    if (batch.via === 'grpc') return this.sendGrpc(batch);
    const res = await this.request(
      'events',
      'POST',
      '/v1/events',
      { 'x-api-key': API_KEY },
      JSON.stringify({ events: batch.events }),
    );
    if (res.status === 202) {
      batch.events.forEach((e, i) => this.accepted(batch.ids[i]!, e as { userId: string; statCode: string }));
    } else {
      // A producer retries a batch that was not acknowledged, with the same event ids.
      batch.ids.forEach((id, i) => this.unresolved.set(id, (batch.events[i] as { userId: string }).userId));
      if (batch.attempts < 200) this.pendingBatches.push(batch);
    }
  }

  /** One StatItemUpdated call per event, as the platform delivers them; a refused one is retried. */
  private async grpcStat(e: {
    eventId: string;
    userId: string;
    statCode: string;
    mode: string;
    value: number;
    occurredAt: string;
  }): Promise<boolean> {
    const client = this.grpcClients[this.grpcSeq++ % this.grpcClients.length];
    const md = new grpc.Metadata();
    md.set('x-api-key', API_KEY);
    const started = Date.now();
    const msg = {
      id: e.eventId,
      userId: e.userId,
      namespace: NAMESPACE,
      timestamp: e.occurredAt,
      payload:
        e.mode === 'set'
          ? { statCode: e.statCode, latestValue: e.value }
          : { statCode: e.statCode, inc: e.value },
    };
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      client.OnMessage(msg, md, { deadline: Date.now() + DEADLINE_MS * 5 }, (x: grpc.ServiceError | null) =>
        resolve(x),
      ),
    );
    const ms = Date.now() - started;
    if (!err) {
      this.answers.push({ kind: 'grpc-events', status: 200, ms, wellFormed: true, sentAt: started });
      return true;
    }
    const clientSide =
      (err.code === grpc.status.UNAVAILABLE && NO_ANSWER.test(err.details)) ||
      err.code === grpc.status.DEADLINE_EXCEEDED; // the client's own deadline (5x the server's)
    this.answers.push({
      kind: 'grpc-events',
      status: clientSide ? 0 : (HTTP_OF[err.code] ?? 500),
      ms,
      // a server refusal: a status the HTTP route has too, with a message
      wellFormed: clientSide || (HTTP_OF[err.code] !== undefined && err.details.length > 0),
      error: `gRPC ${grpc.status[err.code]}${clientSide ? ` (${err.details.slice(0, 40)})` : ''}`,
      sentAt: started,
    });
    return false;
  }

  private async sendGrpc(batch: Batch): Promise<void> {
    const events = batch.events as Parameters<Load['grpcStat']>[0][];
    const ok = await Promise.all(events.map((e) => this.grpcStat(e)));
    const failed: number[] = [];
    ok.forEach((good, i) => {
      if (good) {
        this.grpcAcked++;
        this.accepted(batch.ids[i]!, events[i]!);
      } else {
        failed.push(i);
        this.unresolved.set(batch.ids[i]!, events[i]!.userId);
      }
    });
    if (failed.length && batch.attempts < 200)
      this.pendingBatches.push({
        ids: failed.map((i) => batch.ids[i]!),
        events: failed.map((i) => events[i]!),
        attempts: batch.attempts,
        via: 'grpc',
      });
  }

  private op(): Promise<void> {
    const n = this.opSeq++;
    const user = `${this.prefix}-p${n % 40}`;
    const r = n % 10;
    // Every other round of ten operations delivers its events over gRPC instead of HTTP.
    const via = this.grpcClients.length > 0 && Math.floor(n / 10) % 2 === 1 ? 'grpc' : 'http';
    // One slot in ten retries what was not acknowledged; the other event slots send new events.
    if (this.pendingBatches.length > 0 && r === 0) return this.sendBatch(this.pendingBatches.shift()!);
    if (r < 3) {
      const ids: string[] = [];
      const events = Array.from({ length: 5 }, (_, i) => {
        const id = `${this.prefix}-e${n}-${i}`;
        ids.push(id);
        return {
          eventId: id,
          userId: `${this.prefix}-p${(n + i) % 40}`,
          type: 'stat',
          statCode: 'matches_finished',
          mode: 'increment',
          value: 1,
          occurredAt: new Date().toISOString(),
        };
      });
      return this.sendBatch({ ids, events, attempts: 0, via });
    }
    if (r === 3) {
      // A claimant: its tutorial event completes starter-path/first-steps.
      const claimant = `${this.prefix}-c${n}`;
      const id = `${this.prefix}-t${n}`;
      const events = [
        {
          eventId: id,
          userId: claimant,
          type: 'stat',
          statCode: 'tutorial_steps_done',
          mode: 'set',
          value: 1,
          occurredAt: new Date().toISOString(),
        },
      ];
      return this.sendBatch({ ids: [id], events, attempts: 0, via });
    }
    if (r === 4 && this.readyToClaim.length > 0) {
      const claimant = this.readyToClaim.shift()!;
      return this.player(
        'claim',
        claimant,
        'POST',
        '/v1/challenges/starter-path/goals/first-steps/claim',
      ).then((res) => {
        const body = res.json as { claimId?: string; error?: string } | undefined;
        if (res.status === 200 && body?.claimId) this.claims.set(body.claimId, claimant);
        else if (body?.error !== 'GOAL_ALREADY_CLAIMED') this.readyToClaim.push(claimant); // not yet applied / failed: later
      });
    }
    if (r <= 6) return this.player('init', user, 'POST', '/v1/challenges/initialize').then(() => undefined);
    if (r <= 8) return this.player('list', user, 'GET', '/v1/challenges').then(() => undefined);
    return this.player('select', user, 'POST', '/v1/challenges/daily-bounties/goals/random-select', {
      count: 1,
    }).then(() => undefined);
  }

  start(): void {
    this.running = true;
    const interval = 1000 / this.opsPerSec;
    this.loop = (async () => {
      let next = Date.now();
      while (this.running) {
        // Bounded: at most 200 operations outstanding, so a frozen process cannot pile up sockets.
        if (this.inflight.size < 200) {
          const p = this.op().catch(() => undefined);
          this.inflight.add(p);
          void p.finally(() => this.inflight.delete(p));
        }
        next += interval;
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      }
    })();
  }

  /** Stop the steady load, then retry what was not acknowledged until it is (or attempts run out). */
  async stop(settleMs = 30_000): Promise<void> {
    this.running = false;
    await this.loop;
    await Promise.all([...this.inflight]);
    const until = Date.now() + settleMs;
    while ((this.pendingBatches.length > 0 || this.readyToClaim.length > 0) && Date.now() < until) {
      const b = this.pendingBatches.shift();
      if (b) await this.sendBatch(b);
      const c = this.readyToClaim.shift();
      if (c) {
        const res = await this.player(
          'claim',
          c,
          'POST',
          '/v1/challenges/starter-path/goals/first-steps/claim',
        );
        const body = res.json as { claimId?: string; error?: string } | undefined;
        if (res.status === 200 && body?.claimId) this.claims.set(body.claimId, c);
        else if (body?.error !== 'GOAL_ALREADY_CLAIMED') this.readyToClaim.push(c);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
