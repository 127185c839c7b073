// A real Prometheus (/usr/bin/prometheus) scrapes the in-process service every second and evaluates
// dashboards/rules/alerts.yaml; the autoscaling queries of app/ops/autoscaling.ts and the recording
// rules are then read back through Prometheus' HTTP API while a workload holds requests in flight (their
// facts reads blocked by a lock of the players table, with the service's real admission and its rate
// limits on real Redis) and while the event worker is paused (its apply statement blocked by a table
// lock), and after both end.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { serviceModules } from '../../app/modules';
import { apiLoadPerPodQuery, streamLagQuery, streamLagSecondsQuery } from '../../app/ops/autoscaling';
import { ROOT } from '../../app/paths';
import { RECORD } from '../../dashboards/src/rules';
import { dropEventKeys, eventsEnv, eventually, readStats, statEvent } from '../helpers/events';
import { startTestService, type TestService } from '../helpers/service';
import { freePort } from '../helpers/net';

jest.setTimeout(120_000);

const PROMETHEUS = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
const RULES = path.join(ROOT, 'dashboards/rules/alerts.yaml');

interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

describe('Prometheus reads the autoscaling inputs and recording rules from a live service', () => {
  let t: TestService;
  let env: Record<string, string>;
  let dir: string;
  let prom: ChildProcess;
  let promUrl: string;
  let promLog = '';
  /** While open, a transaction holding the players table (the held requests wait on it). */
  let gate: Client | undefined;

  /** Instant query; the single sample's value, or null when the result is empty. */
  const query = async (promql: string): Promise<number | null> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; data: { result: VectorSample[] }; error?: string };
    if (body.status !== 'success') throw new Error(`query ${promql} failed: ${body.error}`);
    if (body.data.result.length === 0) return null;
    expect(body.data.result).toHaveLength(1);
    return Number(body.data.result[0]!.value[1]);
  };
  /** Waits until Prometheus answers `promql` with a value satisfying `ok`; returns it. */
  const until = (promql: string, ok: (v: number) => boolean, what: string) =>
    eventually(
      async () => {
        const v = await query(promql);
        return v !== null && ok(v) ? v : undefined;
      },
      30_000,
      `${what} (${promql})${promLog ? `; prometheus said: ${promLog.slice(-500)}` : ''}`,
    );

  beforeAll(async () => {
    env = eventsEnv({
      REQUEST_DEADLINE_MS: '60000',
      EVENTS_READ_COUNT: '1',
      PROCESSED_EVENTS_PRUNE_INTERVAL_MS: '3600000',
    });
    t = await startTestService({
      modules: serviceModules(),
      env,
    });

    dir = mkdtempSync(path.join(os.tmpdir(), 'prometheus-test-'));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    writeFileSync(
      path.join(dir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 900ms',
        '  evaluation_interval: 1s',
        'rule_files:',
        `  - ${JSON.stringify(RULES)}`,
        'scrape_configs:',
        '  - job_name: challenge-service',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${t.svc.opsPort}']`,
        '        labels: {namespace: prom-test, pod: challenge-api-0}',
        '',
      ].join('\n'),
    );
    prom = spawn(
      PROMETHEUS,
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prom.stderr!.on('data', (c: Buffer) => (promLog = (promLog + c.toString()).slice(-4000)));
    await eventually(async () => ((await fetch(`${promUrl}/-/ready`)).ok ? true : undefined), 30_000);
    // The target is up once Prometheus has scraped it.
    await until('up{job="challenge-service"}', (v) => v === 1, 'first scrape');
  });

  afterAll(async () => {
    await gate?.end().catch(() => undefined);
    if (prom && prom.exitCode === null) {
      const exited = new Promise((r) => prom.once('exit', r));
      prom.kill('SIGTERM');
      await exited;
    }
    await t?.stop();
    if (env) await dropEventKeys(env);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('api load per pod counts the requests held in flight, then returns to 0; the recorded request rate is > 0', async () => {
    const held = 6;
    for (let i = 0; i < held; i++) await t.call(`prom-load-${i}`, 'POST', '/v1/challenges/initialize');
    // Hold the list calls in flight for real: their facts reads wait on a lock of the players table.
    gate = new Client({ connectionString: t.db.directUrl });
    await gate.connect();
    await gate.query('BEGIN');
    await gate.query('LOCK TABLE players IN ACCESS EXCLUSIVE MODE');
    const calls = Array.from({ length: held }, (_, i) => t.call(`prom-load-${i}`, 'GET', '/v1/challenges'));

    const load = apiLoadPerPodQuery();
    try {
      expect(await until(load, (v) => v === held, 'api load per pod under load')).toBe(held);
      expect(await until(RECORD.apiLoadPerPod, (v) => v === held, 'recorded api load per pod')).toBe(held);
    } finally {
      await gate.query('COMMIT');
      await gate.end();
      gate = undefined;
    }
    for (const c of await Promise.all(calls)) expect(c.status).toBe(200);

    expect(await until(load, (v) => v === 0, 'api load per pod after the load')).toBe(0);
    expect(await until(RECORD.apiLoadPerPod, (v) => v === 0, 'recorded api load after the load')).toBe(0);
    // The route's counter series was born at its current value; rate() needs it to grow between scrapes.
    const recordedRate = `${RECORD.routeRequestRate}{namespace="prom-test", route="list_challenges"}`;
    const rate = await eventually(async () => {
      expect((await t.call('prom-load-0', 'GET', '/v1/challenges')).status).toBe(200);
      const v = await query(recordedRate);
      return v !== null && v > 0 ? v : undefined;
    }, 30_000);
    expect(rate).toBeGreaterThan(0);
  });

  test('stream lag is > 0 while the worker is paused and 0 once it resumes', async () => {
    // Pause the worker: its apply statement waits for this lock; with EVENTS_READ_COUNT=1 the other
    // entries stay undelivered, which is the lag the worker HPA scales on.
    const lock = new Client({ connectionString: t.db.directUrl });
    await lock.connect();
    try {
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE processed_events IN ACCESS EXCLUSIVE MODE');
      const events = Array.from({ length: 20 }, (_, i) =>
        statEvent(`prom-ev-${i}`, `prom-ev-player-${i % 4}`, 'matches_finished', 1),
      );
      const res = await fetch(`${t.base}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await t.serviceToken()}` },
        body: JSON.stringify({ events }),
      });
      expect(res.status).toBe(202);

      const lag = await until(streamLagQuery(), (v) => v > 0, 'stream lag while paused');
      expect(lag).toBeGreaterThan(0);
      expect(lag).toBeLessThanOrEqual(20);
      expect(await until(RECORD.streamLagEntries, (v) => v > 0, 'recorded stream lag')).toBeGreaterThan(0);
      expect(await until(streamLagSecondsQuery(), (v) => v > 0, 'lag seconds')).toBeGreaterThan(0);
    } finally {
      await lock.query('ROLLBACK').catch(() => undefined);
      await lock.end();
    }

    expect(await until(streamLagQuery(), (v) => v === 0, 'stream lag after resuming')).toBe(0);
    expect(await until(RECORD.streamLagEntries, (v) => v === 0, 'recorded lag after resuming')).toBe(0);
    expect(await until(streamLagSecondsQuery(), (v) => v === 0, 'lag seconds after resuming')).toBe(0);
    const stats = await readStats(t.db.directUrl, 'prom-ev-player-');
    expect([...stats.values()].reduce((a, v) => a + v, 0)).toBe(20);
  });
});
