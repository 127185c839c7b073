// The reference's k6 scenarios against a fake service whose admission sheds every other
// initialise: answers shed with Retry-After go to shed_rate and skip the reference's checks, which
// still judge every served answer; a 503 WITHOUT Retry-After is not shedding but a failure. Runs
// the real ref-init-only.ts in k6 (tiny rates, a few seconds); the threshold set of every ref-*
// scenario is checked against params.json.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
const k6 = path.join(root, '.tools/bin/k6');
const params = JSON.parse(readFileSync(path.join(root, 'loadtest/params.json'), 'utf8')) as {
  scenarios: Record<string, { script: string; thresholds: Record<string, string[]> }>;
  profiles: Record<string, { scenarios: Record<string, Record<string, unknown>> }>;
};

interface Summary {
  metrics: Record<string, { values: Record<string, number>; thresholds?: Record<string, { ok: boolean }> }>;
  root_group: { checks: { name: string; passes: number; fails: number }[] };
}

/**
 * A fake initialise: every other answer is 503 (with or without Retry-After), the rest 200; or, in
 * 'bad-shape' mode, every answer 200 with a body that is not an initialise answer (truncated, or
 * another document), which the generator's cheap checks must refuse as the full parse would.
 */
function fakeService(retryAfter: boolean | 'bad-shape'): Promise<{ server: Server; port: number }> {
  let n = 0;
  const bad = ['{"assignedGoals":[{"goalId":"g1"}],"newAssign', '{"challenges":[{"challengeId":"c"}]}'];
  const server = createServer((req, res) => {
    req.resume();
    if (retryAfter === 'bad-shape') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(bad[n++ % 2]);
      return;
    }
    if (n++ % 2 === 1) {
      res.writeHead(503, {
        'content-type': 'application/json',
        ...(retryAfter ? { 'retry-after': '1' } : {}),
      });
      res.end('{"error":"OVERLOADED","code":14,"message":"shed"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"assignedGoals":[{"goalId":"g1"}],"newAssignments":0,"totalActive":1}');
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port })),
  );
}

function runK6(script: string, env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(k6, ['run', '--quiet', script], {
      cwd: path.dirname(script),
      env: { ...process.env, K6_NO_USAGE_REPORT: 'true', ...env },
      stdio: 'ignore',
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? -1));
  });
}

async function runInitOnly(retryAfter: boolean | 'bad-shape'): Promise<Summary> {
  const { server, port } = await fakeService(retryAfter);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ref-shed-'));
  try {
    // params.json with a tiny profile for this scenario: 20/s, 4 s in all
    const tiny = structuredClone(params);
    tiny.profiles.tiny = {
      ...tiny.profiles.quick,
      scenarios: {
        'ref-init-only': { rate: 20, warmup: '1s', rampUp: '1s', hold: '2s', pool: 10 },
      },
    };
    const paramsPath = path.join(dir, 'params.json');
    writeFileSync(paramsPath, JSON.stringify(tiny));
    const summaryPath = path.join(dir, 'summary.json');
    const code = await runK6(path.join(root, 'loadtest/scenarios/ref-init-only.ts'), {
      BASE_URL: `http://127.0.0.1:${port}/challenge`,
      SCENARIO: 'ref-init-only',
      PROFILE: 'tiny',
      PARAMS_PATH: paramsPath,
      SUMMARY_PATH: summaryPath,
      RUN_ID: 'shedtest',
    });
    expect([0, 99]).toContain(code); // 99: thresholds crossed
    return JSON.parse(readFileSync(summaryPath, 'utf8')) as Summary;
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const check = (s: Summary, name: string) => s.root_group.checks.find((c) => c.name === name)!;
const threshold = (s: Summary, metric: string, expr: string) => s.metrics[metric]?.thresholds?.[expr]?.ok;

describe('reference k6 scenarios: shed answers apart from failures', () => {
  jest.setTimeout(60_000);

  test('every ref-* scenario judges served answers and bounds shed_rate; no raw http_req_failed', () => {
    const refs = Object.keys(params.scenarios).filter((n) => n.startsWith('ref-'));
    expect(refs.sort()).toEqual([
      'ref-combined',
      'ref-combined-10x',
      'ref-init-only',
      'ref-init-only-10x',
      'ref-sessions',
      'ref-sessions-10x',
    ]);
    for (const name of refs) {
      const th = params.scenarios[name]!.thresholds;
      expect({ name, shed: th.shed_rate }).toEqual({ name, shed: ['rate<0.01'] });
      expect({ name, failed: th.served_req_failed }).toEqual({ name, failed: ['rate<0.01'] });
      expect({ name, checks: th.checks }).toEqual({ name, checks: ['rate>0.99'] });
      // k6's own metrics count shed answers; the reference's thresholds apply to the served ones
      expect(
        Object.keys(th).filter((k) => /^(http_req_duration|http_req_failed|grpc_req_duration)/.test(k)),
      ).toEqual([]);
    }
  });

  test('every reference check is in the scripts', () => {
    const src = (f: string) => readFileSync(path.join(root, 'loadtest/scenarios', f), 'utf8');
    const combined = src('ref-combined.ts');
    for (const c of [
      'init phase: has assignedGoals',
      'gameplay init: fast path',
      'newAssignments',
      'challenges: has data',
      'set_active: status 200',
      'claim: status 200 or 409',
    ])
      expect(combined).toContain(c);
    const grpc = src('lib/grpcEvents.ts');
    expect(grpc).toContain('Event: login OK');
    expect(grpc).toContain('Event: stat OK');
    expect(src('ref-init-only.ts')).toContain('response has assignedGoals');
    const sessions = src('ref-sessions.ts');
    for (const c of [
      'has assigned_goals',
      'has challenges',
      'has selected_goals',
      'Claim: status 200 or 409',
    ])
      expect(sessions).toContain(c);
  });

  (existsSync(k6) ? test : test.skip)(
    '503 with Retry-After is shed: counted in shed_rate, the checks judge only the served answers',
    async () => {
      const s = await runInitOnly(true);
      const served = s.metrics.served_answers!.values.count!;
      const shed = s.metrics.shed_rate!.values;
      expect(served).toBeGreaterThan(5);
      expect(shed.passes).toBeGreaterThan(5); // Rate: passes = shed answers
      expect(Math.abs(shed.passes! - served)).toBeLessThanOrEqual(1);
      expect(check(s, 'status is 200')).toMatchObject({ passes: served, fails: 0 });
      expect(check(s, 'response has assignedGoals')).toMatchObject({ passes: served, fails: 0 });
      expect(s.metrics.served_req_failed!.values.rate).toBe(0);
      expect(threshold(s, 'served_req_failed', 'rate<0.01')).toBe(true);
      expect(threshold(s, 'shed_rate', 'rate<0.01')).toBe(false); // half shed: over the bound
      // the phase tags of the scenario reach the served metrics (per-phase thresholds)
      expect(s.metrics['served_req_duration{phase:sustained}']!.values.count).toBeGreaterThan(0);
    },
  );

  (existsSync(k6) ? test : test.skip)(
    '503 without Retry-After is no shedding: a served failure the reference checks catch',
    async () => {
      const s = await runInitOnly(false);
      const served = s.metrics.served_answers!.values.count!;
      expect(s.metrics.shed_rate!.values.passes).toBe(0);
      const status = check(s, 'status is 200');
      expect(status.passes + status.fails).toBe(served);
      expect(status.fails).toBeGreaterThan(5);
      expect(threshold(s, 'served_req_failed', 'rate<0.01')).toBe(false);
      expect(threshold(s, 'checks', 'rate>0.99')).toBe(false);
      expect(s.metrics.retry_after_missing!.values.count).toBe(status.fails);
    },
  );

  (existsSync(k6) ? test : test.skip)(
    'answers of another shape fail "response has assignedGoals" (cheap checks and parsed samples alike)',
    async () => {
      const s = await runInitOnly('bad-shape');
      const served = s.metrics.served_answers!.values.count!;
      expect(served).toBeGreaterThan(20); // more than one full-parse sample (every 20th)
      expect(check(s, 'status is 200')).toMatchObject({ passes: served, fails: 0 });
      expect(check(s, 'response has assignedGoals')).toMatchObject({ passes: 0, fails: served });
      expect(threshold(s, 'checks', 'rate>0.99')).toBe(false);
    },
  );
});
