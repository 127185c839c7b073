// CPU time and memory of a process from /proc (Linux): parsers are pure, readers are thin.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export interface CpuTicks {
  utime: number;
  stime: number;
}

export interface Memory {
  /** Current resident set size, kB. */
  rssKb: number;
  /** Peak resident set size (high-water mark), kB. */
  hwmKb: number;
}

/** The fields of /proc/<pid>/stat text after the command name: [0] is field 3 (state). */
function statFields(text: string): string[] {
  // The command name (field 2) is parenthesised and may hold spaces or ')': split after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error('malformed /proc stat: no command name');
  return text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
}

/** utime and stime (clock ticks) from the text of /proc/<pid>/stat. */
export function parseProcStat(text: string): CpuTicks {
  return ticksOf(statFields(text));
}

/** utime and stime are fields 14 and 15. */
function ticksOf(rest: string[]): CpuTicks {
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime))
    throw new Error('malformed /proc stat: no utime/stime');
  return { utime, stime };
}

/** Parent pid and CPU ticks of the process and of its reaped children, from /proc/<pid>/stat text. */
export function parseProcStatTree(text: string): CpuTicks & { ppid: number; cutime: number; cstime: number } {
  const rest = statFields(text);
  // ppid is field 4; cutime and cstime are fields 16 and 17.
  return { ...ticksOf(rest), ppid: Number(rest[1]), cutime: Number(rest[13]), cstime: Number(rest[14]) };
}

/** VmRSS and VmHWM (kB) from the text of /proc/<pid>/status. */
export function parseProcStatus(text: string): Memory {
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
}

let ticksPerSecond: number | undefined;

/** Clock ticks per second (getconf CLK_TCK; 100 on Linux practically always). */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU seconds a process has used so far. */
export function cpuSeconds(pid: number): number {
  const t = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return (t.utime + t.stime) / clockTicks();
}

export function memory(pid: number): Memory {
  return parseProcStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

/** Resets the peak RSS of a process (writing 5 to clear_refs); false when not permitted. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The pids whose parent is `pid` right now (one pass over /proc). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (parseProcStatTree(readFileSync(`/proc/${entry}/stat`, 'utf8')).ppid === pid)
        out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * CPU seconds of a process and its direct children, live and reaped (a PostgreSQL postmaster and
 * its backends). 0 when the process is gone.
 */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  try {
    const t = parseProcStatTree(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    ticks += t.utime + t.stime + t.cutime + t.cstime;
  } catch {
    return 0;
  }
  // A child that exits in between is counted in the parent's reaped-children time once reaped.
  for (const child of childPids(pid)) ticks += cpuSecondsOr(child, 0) * clockTicks();
  return ticks / clockTicks();
}

/** cpuSeconds, or `fallback` when the process is gone. */
export function cpuSecondsOr(pid: number, fallback: number): number {
  try {
    return cpuSeconds(pid);
  } catch {
    return fallback;
  }
}
