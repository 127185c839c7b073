// Granter chosen from config (runtime.ts calls these; tests override them).
import type { Logger } from 'pino';
import { ConfigError, type Config } from '../config';
import { logGranter, type Granter } from './granter';
import { webhookGranter } from './webhook';

export function createGranter(cfg: Config, log: Logger): Granter {
  switch (cfg.GRANTER) {
    case 'webhook':
      if (!cfg.WEBHOOK_URL || !cfg.WEBHOOK_SECRET) {
        throw new ConfigError('invalid configuration: GRANTER=webhook needs WEBHOOK_URL and WEBHOOK_SECRET');
      }
      return webhookGranter({ url: cfg.WEBHOOK_URL, secret: cfg.WEBHOOK_SECRET });
    case 'log':
      return logGranter(log);
  }
}
