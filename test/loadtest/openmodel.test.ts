// The open-model generator's bookkeeping: FAILED when it fell short of the planned rate, its CPU,
// vegeta's CSV (status, latency, Retry-After), and one real vegeta run against a real server.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import uWS, { type us_listen_socket } from 'uWebSockets.js';
import {
  analyse,
  answersSvg,
  attack,
  generatorVerdict,
  hopStats,
  parseTimes,
  parseVegetaCsvLine,
  readResults,
  recoveryAfter,
  runLine,
  writeTargets,
  type Answer,
} from '../../loadtest/tools/openmodel';

const line = (ts: number, code: number, ms: number, err = '', headers = '') =>
  [
    String(BigInt(ts) * 1_000_000n),
    String(code),
    String(ms * 1e6),
    '0',
    '10',
    err,
    '',
    'x',
    '0',
    'POST',
    'http://127.0.0.1/x',
    Buffer.from(headers).toString('base64'),
  ].join(',');

describe('generator verdict', () => {
  it('marks the scenario FAILED when the generator achieved less than 0.95 x the planned rate', () => {
    expect(generatorVerdict(1000, 949).ok).toBe(false);
    expect(generatorVerdict(1000, 949).mark).toMatch(
      /^FAILED: generator achieved 949\.0\/s < 0\.95 x planned 1000\/s/,
    );
    expect(generatorVerdict(1000, 950)).toMatchObject({ ok: true, mark: '' });
    expect(generatorVerdict(0, 0).ok).toBe(false);
  });

  it('shows planned, achieved, generator CPU and the FAILED mark on the report line', () => {
    const answers: Answer[] = Array.from({ length: 900 }, (_, i) => ({
      ts: 1_000_000 + i,
      code: 200,
      latencyMs: 2,
      error: '',
      retryAfter: false,
    }));
    const a = analyse(answers, 1);
    const short = runLine({
      scenario: 'storm',
      target: 'api',
      verdict: generatorVerdict(1000, a.achievedRate),
      generatorCpuSeconds: 0.09,
      a,
      pass: true,
    });
    expect(short).toContain('| 1000 | 900.0 | 100 (0.09) |');
    expect(short).toContain('FAILED: generator achieved 900.0/s');
    const full = runLine({
      scenario: 'storm',
      target: 'api',
      verdict: generatorVerdict(900, a.achievedRate),
      generatorCpuSeconds: 0.09,
      a,
      pass: true,
    });
    expect(full).not.toContain('FAILED');
    expect(full.endsWith('| pass |')).toBe(true);
  });
});

describe('vegeta results', () => {
  it('aggregates the Server-Timing hops of the answers that carried them', () => {
    const a = parseVegetaCsvLine(
      line(1, 200, 3, '', 'Server-Timing: auth;dur=0.100, db;dur=2.000, total;dur=2.500\r\n'),
    )!;
    const b = parseVegetaCsvLine(
      line(2, 200, 3, '', 'Server-Timing: auth;dur=0.300, db;dur=1.000, total;dur=1.500\r\n'),
    )!;
    const c = parseVegetaCsvLine(line(3, 200, 3))!;
    const h = hopStats([a, b, c]);
    expect(h.map((x) => [x.hop, x.n, Number(x.mean.toFixed(3))])).toEqual([
      ['auth', 2, 0.2],
      ['db', 2, 1.5],
      ['total', 2, 2],
    ]);
  });

  it("reads bash's times (children line) as the generator's CPU seconds", () => {
    expect(parseTimes('0m0.010s 0m0.002s\n1m2.500s 0m0.500s\n')).toBeCloseTo(63);
  });

  it('reads status, latency, transport errors and Retry-After of 429/503', () => {
    const ok = parseVegetaCsvLine(line(1_700_000_000_123, 200, 3.5))!;
    expect(ok).toMatchObject({ ts: 1_700_000_000_123, code: 200, latencyMs: 3.5 });
    expect(parseVegetaCsvLine(line(1, 503, 1, '', 'Retry-After: 2\r\nContent-Type: x\r\n'))!.retryAfter).toBe(
      true,
    );
    expect(parseVegetaCsvLine(line(1, 503, 1, '', 'Content-Type: x\r\n'))!.retryAfter).toBe(false);
    const answers = [
      parseVegetaCsvLine(line(1000, 200, 2))!,
      parseVegetaCsvLine(line(1100, 503, 1, '', 'Retry-After: 1\r\n'))!,
      parseVegetaCsvLine(line(1200, 429, 1))!,
      parseVegetaCsvLine(line(2100, 0, 5000, '"Post ""http://x"": read tcp: connection reset by peer"'))!,
      parseVegetaCsvLine(
        line(2200, 0, 5000, 'Post "http://x": context deadline exceeded (Client.Timeout exceeded)'),
      )!,
    ];
    const a = analyse(answers, 2, 1000);
    expect(a.statusCounts).toEqual({ '200': 1, '503': 1, '429': 1, 'error:reset': 1, 'error:timeout': 1 });
    expect(a.errors).toEqual({ reset: 1, refused: 0, timeout: 1, other: 0 });
    expect(a.retryAfterMissing).toBe(1);
    expect(a.achievedRate).toBe(2.5);
    expect(a.perSecond.map((s) => s.t)).toEqual([0, 1]);
    expect(recoveryAfter(a.perSecond, 0, 20)).toBeNull();
    expect(answersSvg('t', a.perSecond, [{ t: 1, label: 'burst' }])).toContain('<polyline');
  });
});

const VEGETA = path.resolve(__dirname, '../../.tools/bin/vegeta');

(existsSync(VEGETA) ? describe : describe.skip)('a real vegeta run', () => {
  let listen: us_listen_socket;
  let port: number;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'openmodel-'));
    const app = uWS.App();
    app.post('/init', (res, req) => {
      const busy = req.getHeader('authorization').endsWith('b');
      res.onAborted(() => undefined);
      res.onData(() => undefined);
      res.cork(() => {
        if (busy) res.writeStatus('503 Service Unavailable').writeHeader('Retry-After', '1');
        res.end('{}');
      });
    });
    listen = await new Promise<us_listen_socket>((resolve, reject) =>
      app.listen('127.0.0.1', 0, (s) => (s ? resolve(s) : reject(new Error('listen failed')))),
    );
    port = uWS.us_socket_local_port(listen);
  });
  afterAll(() => {
    uWS.us_listen_socket_close(listen);
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends one request per target without connection reuse and reads every answer back', async () => {
    const targets = path.join(dir, 't.json');
    await writeTargets(targets, {
      method: 'POST',
      url: `http://127.0.0.1:${port}/init`,
      tokens: Array.from({ length: 40 }, (_, i) => (i % 2 ? 'b' : 'a')),
      body: '{}',
    });
    const results = path.join(dir, 'r.bin');
    const r = await attack({
      vegeta: VEGETA,
      targetsFile: targets,
      resultsFile: results,
      rate: 40,
      durationS: 1,
      keepalive: false,
      maxConnections: 0,
      timeoutS: 2,
      name: 't',
    });
    expect(r.exitCode).toBe(0);
    const answers = readResults(VEGETA, results);
    expect(answers.length).toBe(40);
    const a = analyse(answers, 1);
    expect(a.statusCounts).toEqual({ '200': 20, '503': 20 });
    expect(a.retryAfterMissing).toBe(0);
    expect(r.cpuSeconds).toBeGreaterThanOrEqual(0);
  });
});
