/** The source of "now" for every time-based claim and cache; injected so tests can freeze it. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  nowMs(): number;
}

/** The real clock. */
export const systemClock: Clock = { nowMs: () => Date.now() };

/** A clock that only moves when told to; for tests and deterministic tools. */
export class FixedClock implements Clock {
  constructor(private current: number) {}
  nowMs(): number {
    return this.current;
  }
  /** Moves the clock forward by `ms` milliseconds. */
  advance(ms: number): void {
    this.current += ms;
  }
  /** Sets the clock to `ms`. */
  set(ms: number): void {
    this.current = ms;
  }
}
