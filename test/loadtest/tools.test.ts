import { execFileSync, spawn } from 'node:child_process';
import {
  cpuSeconds,
  memory,
  parseProcStat,
  parseProcStatTree,
  parseProcStatus,
  treeCpuSeconds,
} from '../../loadtest/tools/procstat';
import { machineCoresText } from '../../loadtest/tools/report';
import {
  bucketDelta,
  histogramBuckets,
  histogramQuantile,
  parsePrometheus,
  sumOf,
} from '../../loadtest/tools/prom';
import { latencySvg, niceMax } from '../../loadtest/tools/svg';

describe('/proc sampling', () => {
  it('reads utime and stime even when the command name holds spaces and parentheses', () => {
    const stat = '4242 (node (api) x) S 1 4242 4242 0 -1 4194304 1000 0 0 0 1234 567 0 0 20 0 11 0 99 0 0';
    expect(parseProcStat(stat)).toEqual({ utime: 1234, stime: 567 });
  });

  it("reads the parent pid and the reaped children's CPU ticks", () => {
    const stat = '4242 (postgres) S 17 4242 4242 0 -1 4194304 1000 0 0 0 1234 567 89 12 20 0 11 0 99 0 0';
    expect(parseProcStatTree(stat)).toEqual({ utime: 1234, stime: 567, ppid: 17, cutime: 89, cstime: 12 });
  });

  it('counts the CPU of a process tree: live children and reaped ones', async () => {
    // a shell that burns CPU in a child it waits for, then idles with another child alive
    const sh = spawn(
      'sh',
      ['-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done & wait; sleep 30 & wait'],
      {
        stdio: 'ignore',
      },
    );
    try {
      let total = 0;
      for (let i = 0; i < 100 && total === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        const kids = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(sh.pid)], { encoding: 'utf8' });
        if (kids.includes('sleep')) total = treeCpuSeconds(sh.pid!);
      }
      // the busy child has been reaped by now: its time is in the shell's cutime/cstime
      expect(total).toBeGreaterThan(0);
      expect(treeCpuSeconds(999_999_999)).toBe(0);
    } finally {
      sh.kill('SIGKILL');
    }
  });

  it("writes where the machine's CPU went, with the total", () => {
    expect(machineCoresText({ k6: 0.96, postgres: 0.45, api: 0.4 })).toBe(
      'machine CPU (mean cores over the k6 run): k6 0.96, postgres 0.45, api 0.4; total 1.81',
    );
  });

  it('rejects a stat line without a command name', () => {
    expect(() => parseProcStat('garbage')).toThrow();
  });

  it('reads VmRSS and VmHWM in kB from /proc status text', () => {
    const status =
      'Name:\tnode\nVmPeak:\t 900000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t11\n';
    expect(parseProcStatus(status)).toEqual({ rssKb: 102400, hwmKb: 204800 });
  });

  it('samples this process: CPU seconds grow, RSS is positive and below its peak', () => {
    const before = cpuSeconds(process.pid);
    let x = 0;
    const end = Date.now() + 60;
    while (Date.now() < end) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    expect(cpuSeconds(process.pid)).toBeGreaterThanOrEqual(before);
    const m = memory(process.pid);
    expect(m.rssKb).toBeGreaterThan(0);
    expect(m.hwmKb).toBeGreaterThanOrEqual(m.rssKb);
  });
});

describe('Prometheus text reading', () => {
  const text = [
    '# HELP challenge_event_apply_lag_seconds lag',
    '# TYPE challenge_event_apply_lag_seconds histogram',
    'challenge_event_apply_lag_seconds_bucket{le="0.1"} 10',
    'challenge_event_apply_lag_seconds_bucket{le="0.5"} 60',
    'challenge_event_apply_lag_seconds_bucket{le="1"} 90',
    'challenge_event_apply_lag_seconds_bucket{le="+Inf"} 100',
    'challenge_event_apply_lag_seconds_count 100',
    'challenge_events_applied_total{pod="a b",x="q\\"uote"} 7',
    'challenge_events_applied_total{pod="c"} 3',
  ].join('\n');

  it('parses samples with labels, escaped quotes and +Inf', () => {
    const s = parsePrometheus(text);
    expect(s.find((x) => x.labels.le === '+Inf')!.value).toBe(100);
    expect(s.find((x) => x.labels.pod === 'a b')!.labels.x).toBe('q"uote');
    expect(sumOf(s, 'challenge_events_applied_total')).toBe(10);
  });

  it('interpolates histogram quantiles like histogram_quantile, over the delta of two scrapes', () => {
    const after = histogramBuckets(parsePrometheus(text), 'challenge_event_apply_lag_seconds');
    expect(histogramQuantile(0.5, after)).toBeCloseTo(0.1 + 0.4 * (40 / 50), 6);
    const before = after.map((b) => ({ le: b.le, count: Math.floor(b.count / 2) }));
    const d = bucketDelta(before, after);
    expect(d.map((b) => b.count)).toEqual([5, 30, 45, 50]);
    expect(histogramQuantile(0.99, d)).toBe(1);
    expect(histogramQuantile(0.5, [])).toBeNull();
  });
});

describe('latency SVG writer', () => {
  it('draws p50 and p95 polylines with one point per second, a target line and escaped title', () => {
    const points = [0, 1, 2, 3].map((t) => ({ t, p50: 2 + t, p95: 5 + t, count: 100 }));
    const svg = latencySvg('init <typical> & co', points, 20);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    const lines = [...svg.matchAll(/<polyline [^>]*points="([^"]+)"/g)].map((m) => m[1]!.split(' '));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toHaveLength(4);
    expect(svg).toContain('init &lt;typical&gt; &amp; co');
    expect(svg).toContain('target p95 20 ms');
  });

  it('says "no data" for an empty series and picks 1-2-5 axis maxima', () => {
    expect(latencySvg('x', [])).toContain('no data');
    expect([niceMax(0), niceMax(3), niceMax(13), niceMax(51), niceMax(0.3)]).toEqual([1, 5, 20, 100, 0.5]);
  });
});
