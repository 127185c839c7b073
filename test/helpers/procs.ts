// Process helpers for the tests that kill real servers.
import { readFileSync } from 'node:fs';

/** Child processes of `pid` (PostgreSQL's backends under the postmaster), from /proc. */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}
