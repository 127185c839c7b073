// A steady, bounded mixed load against the stack's api processes (127.0.0.1 only): initialise,
// list, goal selection, claims and HTTP event batches, at a fixed rate of operations whether or not
// answers come back. Every answer is recorded (status, body shape, latency) for the fault checks.
import { mintToken } from '../../app/api/auth';
import { API_KEY, DEADLINE_MS, SECRET } from './stack';

export interface Answer {
  kind: string;
  status: number; // 0 = no HTTP answer (connection refused/reset, client timeout)
  ms: number;
  wellFormed: boolean;
  error?: string;
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
  private readyToClaim: string[] = [];
  private pendingBatches: { ids: string[]; events: unknown[]; attempts: number }[] = [];

  constructor(
    private readonly bases: string[],
    readonly prefix: string,
    private readonly opsPerSec = 40,
  ) {}

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
      this.answers.push({
        kind,
        status: res.status,
        ms: Date.now() - started,
        wellFormed,
        error: (json as { error?: string } | undefined)?.error,
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

  private async sendBatch(batch: { ids: string[]; events: unknown[]; attempts: number }): Promise<void> {
    batch.attempts++;
    const res = await this.request(
      'events',
      'POST',
      '/v1/events',
      { 'x-api-key': API_KEY },
      JSON.stringify({ events: batch.events }),
    );
    if (res.status === 202) {
      batch.events.forEach((e, i) => {
        const ev = e as { userId: string; statCode: string };
        this.unresolved.delete(batch.ids[i]!);
        if (ev.statCode === 'matches_finished') {
          this.acked.set(batch.ids[i]!, ev.userId);
          this.ackedAt.set(batch.ids[i]!, Date.now());
        } else this.readyToClaim.push(ev.userId);
      });
    } else {
      // A producer retries a batch that was not acknowledged, with the same event ids.
      batch.ids.forEach((id, i) => this.unresolved.set(id, (batch.events[i] as { userId: string }).userId));
      if (batch.attempts < 200) this.pendingBatches.push(batch);
    }
  }

  private op(): Promise<void> {
    const n = this.seq;
    const user = `${this.prefix}-p${n % 40}`;
    const r = n % 10;
    if (this.pendingBatches.length > 0 && r < 3) return this.sendBatch(this.pendingBatches.shift()!);
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
      return this.sendBatch({ ids, events, attempts: 0 });
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
      return this.sendBatch({ ids: [id], events, attempts: 0 });
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
