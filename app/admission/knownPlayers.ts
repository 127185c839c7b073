// Which initialize calls take the fleet-wide new-player budget: only players the database does not
// know yet. A bounded LRU of players this pod has seen answers most returning players without I/O;
// on a miss the initialize statement itself is first run without creating the player (one
// primary-key lookup), and only an unknown player takes the budget before it is created.
export class KnownPlayers {
  private readonly seen = new Map<string, true>();

  constructor(private readonly maxEntries: number) {}

  has(userId: string): boolean {
    if (!this.seen.has(userId)) return false;
    this.remember(userId); // refresh recency
    return true;
  }

  /** A player whose data was erased is unknown again. */
  forget(userId: string): void {
    this.seen.delete(userId);
  }

  remember(userId: string): void {
    if (this.maxEntries <= 0) return;
    this.seen.delete(userId);
    this.seen.set(userId, true);
    if (this.seen.size > this.maxEntries) this.seen.delete(this.seen.keys().next().value!);
  }
}
// One per service instance, created with admission (app/admission/setup.ts) and passed explicitly
// to the player use cases and the GDPR eraser (PlayerUseCaseDeps.knownPlayers,
// ModuleContext.knownPlayers);
// absent when admission is off (no budget to take).
