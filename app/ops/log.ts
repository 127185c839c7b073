// pino JSON logs. Player ids are hashed before they reach a log line.
import { createHash } from 'node:crypto';
import pino, { type Logger } from 'pino';

export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: 'challenge-service', ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** Stable, non-reversible handle for a player id in logs. */
export function hashPlayerId(userId: string): string {
  return createHash('sha256').update(userId).digest('hex').slice(0, 16);
}
