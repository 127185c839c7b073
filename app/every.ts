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

/**
 * `fn` serialised: a call while it runs shares that run and asks for one more after it (so what
 * changed meanwhile is seen), until `stopped()`. `settled()` waits for a run in progress.
 */
export function coalesced(
  fn: () => Promise<void>,
  stopped: () => boolean,
): { run(): Promise<void>; settled(): Promise<void> } {
  let running: Promise<void> | undefined;
  let again = false;
  return {
    run() {
      if (running) {
        again = true;
        return running;
      }
      running = (async () => {
        do {
          again = false;
          await fn();
        } while (again && !stopped());
      })().finally(() => {
        running = undefined;
      });
      return running;
    },
    async settled() {
      await running?.catch(() => undefined);
    },
  };
}
