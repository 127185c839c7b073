// Pure: turn queued events into the stat changes the store applies. A login becomes an increment of
// every login stat (same event id, so dedup treats it as one event); stat codes that no goal of
// the catalog uses are dropped (and counted by the caller); baselines are requested for the
// current period of every schedule a changed stat's relative rotating goals need.
import type { Catalog } from '../domain/catalog';
import { periodAt } from '../domain/periods';
import type { BaselineNeed, StatChange } from '../store/stats';
import type { GameEvent } from './event';

export function expandEvent(catalog: Catalog, e: GameEvent): { changes: StatChange[]; unknownStat: boolean } {
  if (e.type === 'login') {
    return {
      changes: catalog.loginStats.map((statCode) => ({
        eventId: e.eventId,
        userId: e.userId,
        statCode,
        mode: 'increment' as const,
        value: 1,
        occurredAt: e.occurredAt,
      })),
      unknownStat: false,
    };
  }
  if (!catalog.goalsByStat.has(e.statCode)) return { changes: [], unknownStat: true };
  return {
    changes: [
      {
        eventId: e.eventId,
        userId: e.userId,
        statCode: e.statCode,
        mode: e.mode,
        value: e.value,
        occurredAt: e.occurredAt,
      },
    ],
    unknownStat: false,
  };
}

export function baselineNeeds(catalog: Catalog, changes: readonly StatChange[], now: number): BaselineNeed[] {
  const stats = new Set<string>();
  for (const c of changes) stats.add(c.statCode);
  const out: BaselineNeed[] = [];
  for (const statCode of stats) {
    for (const schedule of catalog.baselineSchedulesByStat.get(statCode) ?? []) {
      out.push({ statCode, periodKey: periodAt(schedule, now).key });
    }
  }
  return out;
}

/** FNV-1a: a cheap, stable hash to partition players over concurrent apply transactions. */
export function playerPartition(userId: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < userId.length; i++) {
    h ^= userId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}
