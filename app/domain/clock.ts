// The service clock. Dev mode can move it (POST /dev/clock); it then runs on from there.
export interface Clock {
  now(): number;
}

export class AdjustableClock implements Clock {
  private offsetMs = 0;
  now(): number {
    return Date.now() + this.offsetMs;
  }
  set(nowMs: number): void {
    this.offsetMs = nowMs - Date.now();
  }
  reset(): void {
    this.offsetMs = 0;
  }
}

export const systemClock: Clock = { now: () => Date.now() };
