// A periodic job of a module (bottom utility).
import type { Logger } from 'pino';

/** Runs `fn` every `ms` (never overlapping itself); stop() waits for a run in progress. */
export function every(
  ms: number,
  log: Logger,
  what: string,
  fn: () => Promise<unknown>,
): { stop(): Promise<void> } {
  let current: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const tick = () => {
    current = fn()
      .catch((err: unknown) => log.warn({ err }, `${what} failed`))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, ms).unref();
      });
  };
  let timer = setTimeout(tick, 0).unref();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current;
    },
  };
}
