// Admission seams the api calls on every request. The defaults admit everything; the burst
// protection (adaptive limit, deadline queue, Redis limiters) plugs in behind the same interfaces:
// setup.ts builds it from config; docs/ADMISSION.md explains it.

/** Priority classes: claims and returning players before new-player initialisation; events apart. */
export type AdmissionClass = 'claim' | 'player' | 'init' | 'events' | 'read';

export interface Admission {
  /** Run `fn` when capacity allows, before `deadline` (epoch ms); else throw an ApiError 503. */
  run<T>(cls: AdmissionClass, deadline: number, fn: () => Promise<T>): Promise<T>;
  /** The 503 `run` would answer at once right now (counted as a refusal), or null: lets a request
   * that cannot be served be refused before it spends anything else, such as Redis round trips. */
  check(cls: AdmissionClass, deadline: number): Error | null;
  /** Whether `run` would refuse at once right now; nothing is counted. */
  wouldRefuse(cls: AdmissionClass, deadline: number): boolean;
}

export interface RateLimits {
  /** Per-player request budget; throws ApiError 429 with Retry-After when exceeded. */
  player(userId: string): Promise<void>;
  /** Fleet-wide budget of new-player initialisations; waits up to `deadline`, else throws 503. */
  newPlayer(deadline: number): Promise<void>;
  /** A new-player slot if one is free at once (no wait); false when the budget is in use. */
  tryNewPlayer(): Promise<boolean>;
  /** Per-client event-ingest budget (events count); throws 429 when exceeded. */
  ingest(clientId: string, events: number): Promise<void>;
}

export const admitAll: Admission = {
  run: (_cls, _deadline, fn) => fn(),
  check: () => null,
  wouldRefuse: () => false,
};

export const noLimits: RateLimits = {
  player: async () => undefined,
  newPlayer: async () => undefined,
  tryNewPlayer: async () => true,
  ingest: async () => undefined,
};
